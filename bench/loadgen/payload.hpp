// Payload bodies for --json-payload: what follows the 16-byte stamp (mqtt.hpp) when a run measures compression, so
// that the bytes compress as a real deployment's do instead of as the default zero fill, which any compressor
// shrinks to almost nothing.
//
// Each body is one sensor reading as a device would publish it, exactly `body_size` bytes of JSON, e.g. (200 B):
//   {"device":"sensor-0017","site":"plant-3/line-2","ts":1765000017342,"temperature":21.84,"humidity":48.1,
//    "pressure":1012.7,"co2":612,"battery":0.87,"rssi":-67,"status":"ok","readings":[21.84,21.79,21.91]}
// with values from a seeded random walk (the same bytes in every run), padded with spaces before the closing brace
// where the last reading does not fit. A publisher cycles through a pool of at least 512 KiB of such bodies, far more
// than deflate's 32 KiB window, so a message never finds an identical earlier one in the window: it compresses by
// its keys and its number formats, as real telemetry does, not by repetition.
//
// Thread safety: immutable after construction; shared by every worker.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace loadgen {

class JsonBodies {
 public:
  explicit JsonBodies(std::size_t body_size);

  // The body publisher `publisher` sends with sequence number `seq`; publishers start at different places.
  std::string_view body(std::uint32_t seq, std::uint16_t publisher) const noexcept {
    const std::size_t i = (seq + static_cast<std::size_t>(publisher) * 131u) % count_;
    return std::string_view(pool_.data() + i * size_, size_);
  }

 private:
  std::size_t size_;
  std::size_t count_;
  std::string pool_;
};

}  // namespace loadgen
