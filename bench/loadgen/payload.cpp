#include "bench/loadgen/payload.hpp"

#include <algorithm>
#include <cstdio>
#include <random>

namespace loadgen {
namespace {

constexpr std::size_t pool_bytes = 512 * 1024;

// One reading of exactly `size` bytes (or, below the smallest object, spaces inside "{}").
std::string reading(std::size_t size, std::size_t index, std::mt19937& rng, double& temperature, double& humidity) {
  std::uniform_real_distribution<double> step(-0.15, 0.15);
  temperature = std::clamp(temperature + step(rng), 15.0, 30.0);
  humidity = std::clamp(humidity + 2 * step(rng), 30.0, 70.0);
  const unsigned long long ts = 1765000000000ull + index * 1000u + rng() % 1000u;
  char head[320];
  const int n = std::snprintf(
      head, sizeof head,
      "{\"device\":\"sensor-%04zu\",\"site\":\"plant-%u/line-%u\",\"ts\":%llu,\"temperature\":%.2f,\"humidity\":%.1f,"
      "\"pressure\":%.1f,\"co2\":%u,\"battery\":%.2f,\"rssi\":%d,\"status\":\"%s\",\"readings\":[",
      index % 50, static_cast<unsigned>(index % 7), static_cast<unsigned>(index % 3), ts, temperature, humidity,
      1000.0 + static_cast<double>(rng() % 300) / 10.0, 400u + static_cast<unsigned>(rng() % 600),
      0.5 + static_cast<double>(rng() % 50) / 100.0, -90 + static_cast<int>(rng() % 50),
      rng() % 8 == 0 ? "warn" : "ok");
  std::string s(head, static_cast<std::size_t>(n));
  if (s.size() + 2 > size) {  // too small for a reading: a valid, empty object
    s = "{";
    s.append(size >= 2 ? size - 2 : 0, ' ');
    if (size >= 2) s += "}";
    return s.substr(0, size);
  }
  bool first = true;
  while (true) {
    char value[16];
    const int k = std::snprintf(value, sizeof value, "%s%.2f", first ? "" : ",", temperature + step(rng));
    if (s.size() + static_cast<std::size_t>(k) + 2 > size) break;
    s.append(value, static_cast<std::size_t>(k));
    first = false;
  }
  s += "]";
  s.append(size - 1 - s.size(), ' ');
  s += "}";
  return s;
}

}  // namespace

JsonBodies::JsonBodies(std::size_t body_size)
    : size_(std::max<std::size_t>(body_size, 1)), count_(std::max<std::size_t>(64, pool_bytes / size_ + 1)) {
  std::mt19937 rng(20261207);
  double temperature = 21.5, humidity = 48.0;
  pool_.reserve(size_ * count_);
  for (std::size_t i = 0; i < count_; ++i) pool_ += reading(size_, i, rng, temperature, humidity);
}

}  // namespace loadgen
