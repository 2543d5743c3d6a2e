#include "broker/edge/rule_engine.hpp"

#include <algorithm>
#include <cmath>

#include "broker/protocol/topic.hpp"

namespace tern::edge {
namespace {

// Integral values print as integers (21, not 21.0).
Json number(double v) {
  if (std::floor(v) == v && std::fabs(v) < 9.0e15) return static_cast<std::int64_t>(v);
  return v;
}

}  // namespace

std::string window_payload(std::uint64_t count, double min, double max, double sum, double last) {
  Json j = Json::object();
  j["count"] = count;
  j["min"] = number(min);
  j["max"] = number(max);
  j["mean"] = number(count ? sum / static_cast<double>(count) : 0);
  j["last"] = number(last);
  return dump(j);
}

RuleEngine::RuleEngine() : rules_(std::make_shared<RuleSet>(std::vector<Rule>{}, 0)), window_rules_(rules_) {}

std::shared_ptr<const RuleSet> RuleEngine::rules() const {
  std::lock_guard lock(rules_mutex_);
  return rules_;
}

std::shared_ptr<const RuleSet> RuleEngine::make_set(std::vector<Rule> rules) {
  std::lock_guard lock(rules_mutex_);
  return std::make_shared<RuleSet>(std::move(rules), next_generation_++);
}

std::vector<core::DerivedMessage> RuleEngine::replace(std::shared_ptr<const RuleSet> next, core::TimePoint now) {
  {
    std::lock_guard lock(rules_mutex_);
    rules_ = next;
  }
  std::lock_guard lock(windows_mutex_);
  auto out = close_locked(*window_rules_, now, true);
  window_rules_ = std::move(next);
  return out;
}

void RuleEngine::add_samples(std::span<const WindowSample> samples, core::TimePoint now) {
  if (samples.empty()) return;
  std::lock_guard lock(windows_mutex_);
  for (const WindowSample& s : samples) {
    if (s.generation != window_rules_->generation()) continue;
    const auto& window = std::get<Window>(window_rules_->rules()[s.rule].actions[s.action]);
    auto [it, inserted] = windows_.try_emplace(Key{s.rule, s.action, s.topic});
    Accumulator& a = it->second;
    if (inserted) {
      a.closes = now + window.period;
      a.min = a.max = s.value;
      next_due_ = std::min(next_due_, a.closes);
    }
    ++a.count;
    a.min = std::min(a.min, s.value);
    a.max = std::max(a.max, s.value);
    a.sum += s.value;
    a.last = s.value;
  }
}

std::vector<core::DerivedMessage> RuleEngine::due(core::TimePoint now) {
  std::lock_guard lock(windows_mutex_);
  if (now < next_due_) return {};
  return close_locked(*window_rules_, now, false);
}

core::TimePoint RuleEngine::next_due() const {
  std::lock_guard lock(windows_mutex_);
  return next_due_;
}

std::vector<core::DerivedMessage> RuleEngine::close_locked(const RuleSet& set, core::TimePoint now, bool all) {
  std::vector<core::DerivedMessage> out;
  next_due_ = core::TimePoint::max();
  for (auto it = windows_.begin(); it != windows_.end();) {
    const Accumulator& a = it->second;
    if (!all && a.closes > now) {
      next_due_ = std::min(next_due_, a.closes);
      ++it;
      continue;
    }
    const auto& [rule, action, topic] = it->first;
    const auto& window = std::get<Window>(set.rules()[rule].actions[action]);
    // The template names only topic and topic[N] (parse_template with topic_only).
    const Statement empty;
    const MessageView source{.topic = topic};
    PayloadJson none;
    Evaluation evaluation(empty, source, none);
    std::string out_topic = window.topic.render(evaluation);
    if (protocol::valid_topic_name(out_topic)) {
      out.push_back(
          {std::move(out_topic), window_payload(a.count, a.min, a.max, a.sum, a.last), window.qos, window.retain});
      stats_.windows_published.fetch_add(1, std::memory_order_relaxed);
    } else {
      stats_.bad_topic.fetch_add(1, std::memory_order_relaxed);
    }
    it = windows_.erase(it);
  }
  return out;
}

void RuleEngine::store(std::span<HistoryEntry> records) {
  if (records.empty()) return;
  HistorySink* history = history_.load(std::memory_order_acquire);
  if (history == nullptr) {
    stats_.store_dropped.fetch_add(records.size(), std::memory_order_relaxed);
    return;
  }
  history->store(records);
  stats_.stored.fetch_add(records.size(), std::memory_order_relaxed);
}

}  // namespace tern::edge
