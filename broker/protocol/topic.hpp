// Topic names and topic filters (MQTT 3.1.1 section 4.7, 5.0 section 4.7 and 4.8.2).
//
//   topic name    "sensors/kitchen/temp"   no '+' or '#', at least one character
//   topic filter  "sensors/+/temp", "sensors/#", "#", "+"   '+' fills a whole level, '#' only as the whole last level
//   shared        "$share/GROUP/FILTER"   GROUP: at least one character, no '/', '+' or '#'; FILTER a valid filter
//   $-topics      "$SYS/broker/uptime" is not matched by a filter starting with '+' or '#' ([MQTT-4.7.2-1])
//
// UTF-8 well-formedness is checked by the codec when strings are decoded; these functions check structure only.
//
// Thread safety: stateless functions.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

namespace tern::protocol {

bool valid_topic_name(std::string_view topic) noexcept;
// Accepts plain filters and well-formed "$share/GROUP/FILTER".
bool valid_topic_filter(std::string_view filter) noexcept;

struct SharedFilter {
  std::string_view group;
  std::string_view filter;
};
// "$share/g/a/+" -> {group "g", filter "a/+"}; anything not starting with "$share/" -> nullopt. Only meaningful for
// filters that passed valid_topic_filter().
std::optional<SharedFilter> parse_shared(std::string_view filter) noexcept;

bool has_wildcard(std::string_view filter) noexcept;

// The reference matcher: does `filter` (not shared) match `topic`? Used directly for retained messages and as the
// oracle in the subscription index's randomized tests.
bool topic_matches(std::string_view filter, std::string_view topic) noexcept;

// Returns the level of `s` starting at `pos` and moves `pos` to the next level, or to npos after the last one.
// Start with pos = 0 and stop at npos: "a//b" gives "a", "", "b"; "/" gives "", "". Walking this way instead of
// building a vector of levels keeps matching allocation-free; inline because it sits on the per-message path.
inline std::string_view next_level(std::string_view s, std::size_t& pos) noexcept {
  const std::size_t slash = s.find('/', pos);
  const std::string_view level = s.substr(pos, slash == std::string_view::npos ? slash : slash - pos);
  pos = slash == std::string_view::npos ? slash : slash + 1;
  return level;
}

}  // namespace tern::protocol
