// Measurement state of the load generator: a latency histogram and per-(publisher, subscriber) delivery tracking.
// Both are owned by one worker thread while a run goes on and merged by the main thread after the workers stop.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <vector>

namespace loadgen {

// Log-linear histogram of nanosecond values, like HdrHistogram with 6 significant bits: values below 128 are exact,
// above that every power of two is split into 64 buckets, so a percentile is within 1/64 (1.6 %) of the truth.
// Covers up to 2^63 ns.
//
// Worked example: 1000 ns has its top bit at 9, shift = 3, 1000 >> 3 = 125, bucket 128 + 2 * 64 + (125 - 64) = 317,
// which stands for [1000, 1008).
class Histogram {
 public:
  static constexpr int sub_bits = 6;
  static constexpr std::uint64_t linear = 2u << sub_bits;  // 128
  static constexpr std::size_t bucket_count = linear + 58 * (1u << sub_bits);

  void record(std::uint64_t v) noexcept {
    ++counts_[index(v)];
    ++total_;
    max_ = std::max(max_, v);
  }

  void merge(const Histogram& o) noexcept {
    for (std::size_t i = 0; i < bucket_count; ++i) counts_[i] += o.counts_[i];
    total_ += o.total_;
    max_ = std::max(max_, o.max_);
  }

  std::uint64_t count() const noexcept { return total_; }
  std::uint64_t max() const noexcept { return max_; }

  // The value at quantile q (0..1): the middle of the bucket holding the ceil(q * count)-th smallest value.
  std::uint64_t percentile(double q) const noexcept {
    if (total_ == 0) return 0;
    auto rank = static_cast<std::uint64_t>(q * static_cast<double>(total_) + 0.999999);
    rank = std::clamp<std::uint64_t>(rank, 1, total_);
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < bucket_count; ++i) {
      seen += counts_[i];
      if (seen >= rank) return std::min(middle(i), max_);
    }
    return max_;
  }

 private:
  static std::size_t index(std::uint64_t v) noexcept {
    if (v < linear) return static_cast<std::size_t>(v);
    const int top = 63 - std::countl_zero(v);
    const int shift = top - sub_bits;
    return static_cast<std::size_t>(linear + static_cast<std::uint64_t>(shift - 1) * (1u << sub_bits) +
                                    ((v >> shift) - (1u << sub_bits)));
  }
  static std::uint64_t middle(std::size_t i) noexcept {
    if (i < linear) return i;
    const std::size_t k = i - linear;
    const int shift = static_cast<int>(k >> sub_bits) + 1;
    const std::uint64_t low = ((k & ((1u << sub_bits) - 1)) + (1u << sub_bits)) << shift;
    return low + (std::uint64_t{1} << shift) / 2;
  }

  std::array<std::uint64_t, bucket_count> counts_{};
  std::uint64_t total_ = 0;
  std::uint64_t max_ = 0;
};

// What one subscriber received from one publisher. A bitmap of sequence numbers tells a duplicate (seen before)
// from a late arrival (lower than the highest seen, not seen before: out of order).
struct PairTracker {
  std::vector<std::uint64_t> seen;
  std::uint64_t unique = 0;
  std::uint64_t duplicates = 0;
  std::uint64_t out_of_order = 0;
  std::uint32_t next = 0;  // highest sequence seen + 1

  void on_message(std::uint32_t seq) {
    const std::size_t word = seq >> 6;
    if (word >= seen.size()) seen.resize(std::max<std::size_t>(word + 1, seen.size() * 2), 0);
    const std::uint64_t bit = std::uint64_t{1} << (seq & 63);
    if (seen[word] & bit) {
      ++duplicates;
      return;
    }
    seen[word] |= bit;
    ++unique;
    if (seq < next) {
      ++out_of_order;
    } else {
      next = seq + 1;
    }
  }
};

}  // namespace loadgen
