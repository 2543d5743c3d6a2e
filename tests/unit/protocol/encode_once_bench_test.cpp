// A measurement, not a check (DISABLED_: run by hand): DESIGN.md's "encode a PUBLISH once and share the bytes"
// against what the core does, encoding each delivery straight into its subscriber's output buffer. Per delivery of
// one message to 100 subscribers: encode_publish() into each subscriber's buffer, against appending bytes encoded
// once (the least a shared encoding could cost while each connection keeps one contiguous write buffer). The result
// and the decision are in bench/README.md, "Decisions log".
//
//   build/tests/tern_protocol_tests --gtest_also_run_disabled_tests --gtest_filter='EncodeOnce.*'
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "broker/protocol/codec.hpp"

namespace tern::protocol {
namespace {

double nanoseconds_per_delivery(std::size_t payload_size, bool shared) {
  constexpr int subscribers = 100;
  constexpr int rounds = 20000;
  const std::string topic = "site/7/sensors/temperature";
  const std::string payload(payload_size, 'x');
  std::vector<std::string> buffers(subscribers);
  PublishView v;
  v.topic = topic;
  v.payload = payload;
  v.qos = QoS::at_least_once;
  v.packet_id = 1;
  std::string encoded;
  std::size_t check = 0;
  const auto start = std::chrono::steady_clock::now();
  for (int r = 0; r < rounds; ++r) {
    if (shared) {
      encoded.clear();
      encode_publish(v, Version::v311, encoded);
    }
    for (auto& buffer : buffers) {
      buffer.clear();
      if (shared) {
        buffer.append(encoded);
      } else {
        v.packet_id = static_cast<std::uint16_t>(r + 1);  // what differs per subscriber
        encode_publish(v, Version::v311, buffer);
      }
      check += buffer.size();
    }
  }
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_GT(check, 0u);
  return std::chrono::duration<double, std::nano>(elapsed).count() / (double{rounds} * subscribers);
}

TEST(EncodeOnce, DISABLED_PerSubscriberEncodingAgainstSharedBytes) {
  for (const std::size_t size : {std::size_t{16}, std::size_t{100}, std::size_t{1024}, std::size_t{16384}}) {
    for (int repeat = 0; repeat < 3; ++repeat) {
      const double each = nanoseconds_per_delivery(size, false);
      const double shared = nanoseconds_per_delivery(size, true);
      std::printf("payload %5zu B: encode per subscriber %6.1f ns, copy shared bytes %6.1f ns\n", size, each, shared);
    }
  }
}

}  // namespace
}  // namespace tern::protocol
