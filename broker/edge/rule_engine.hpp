// The rules in force and the aggregation windows, shared by every shard and the ticker.
//
// The network layer evaluates rules on the shard that decoded a PUBLISH, outside the core's lock (rules() once per
// read batch), hands the outcome to the core with the packet, and after the core accepted the message adds its
// window samples here (add_samples()). The ticker calls due() and routes what it returns as the broker's own
// messages; a reload installs a new RuleSet with replace(), which closes every open window of the old one at once, so
// that no sample is lost to a reload.
//
// Windows. One per (rule, window action, source topic): it opens at its first sample and closes `period` later,
// publishing {"count":N,"min":..,"max":..,"mean":..,"last":..}; a topic with no samples in a period publishes nothing.
// Example, window 60 payload.t avg/${topic}: samples 20 at t=0 s, 22 at t=30 s on s/a give at t=60 s, on avg/s/a,
// {"count":2,"min":20,"max":22,"mean":21,"last":22}.
//
// Time is an argument everywhere (core::TimePoint, the steady clock in production).
//
// Thread safety: every member may be called from any thread. The rule set pointer and the windows each have a mutex
// of their own, never held while calling out, and never the core's lock.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <tuple>
#include <vector>

#include "broker/core/message.hpp"
#include "broker/core/rule_outcome.hpp"
#include "broker/edge/rule_set.hpp"

namespace tern::edge {

// Where `store` actions' records go (the server's adapter over persistence::HistoryStore): called on the shards,
// outside the broker's lock; must not block.
class HistorySink {
 public:
  virtual void store(std::span<HistoryEntry> records) = 0;

 protected:
  ~HistorySink() = default;
};

class RuleEngine {
 public:
  RuleEngine();

  // The set in force (never null; empty when no rules are configured).
  std::shared_ptr<const RuleSet> rules() const;
  // Builds a set from `rules` with a new generation number.
  std::shared_ptr<const RuleSet> make_set(std::vector<Rule> rules);
  // Installs `next`; returns the old set's open windows, closed at `now`.
  std::vector<core::DerivedMessage> replace(std::shared_ptr<const RuleSet> next, core::TimePoint now);

  // Samples of messages the core accepted; those of a set no longer in force are ignored.
  void add_samples(std::span<const WindowSample> samples, core::TimePoint now);
  // The windows that closed by `now`.
  std::vector<core::DerivedMessage> due(core::TimePoint now);
  // When the next window closes (TimePoint::max() when none is open).
  core::TimePoint next_due() const;

  RuleStats& stats() noexcept { return stats_; }

  // The local history that rules' `store` actions write to (the server sets it when a rule stores; it outlives the
  // engine's users); null: records are dropped and counted.
  void set_history(HistorySink* history) noexcept { history_.store(history, std::memory_order_release); }
  void store(std::span<edge::HistoryEntry> records);

 private:
  struct Accumulator {
    core::TimePoint closes;
    std::uint64_t count = 0;
    double min = 0, max = 0, sum = 0, last = 0;
  };
  using Key = std::tuple<std::uint32_t, std::uint32_t, std::string>;  // rule, action, source topic

  std::vector<core::DerivedMessage> close_locked(const RuleSet& set, core::TimePoint now, bool all);

  mutable std::mutex rules_mutex_;
  std::shared_ptr<const RuleSet> rules_;
  std::uint64_t next_generation_ = 1;  // under rules_mutex_

  mutable std::mutex windows_mutex_;
  std::shared_ptr<const RuleSet> window_rules_;  // the set the windows belong to
  std::map<Key, Accumulator> windows_;
  core::TimePoint next_due_ = core::TimePoint::max();

  RuleStats stats_;
  std::atomic<HistorySink*> history_{nullptr};
};

// The JSON a window publishes: {"count":2,"min":20,"max":22,"mean":21,"last":22}.
std::string window_payload(std::uint64_t count, double min, double max, double sum, double last);

}  // namespace tern::edge
