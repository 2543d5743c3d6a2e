#include "broker/protocol/topic.hpp"

#include <cstddef>

namespace tern::protocol {
namespace {

constexpr std::size_t max_length = 65535;  // a UTF-8 string's 16-bit length prefix
constexpr std::string_view share_prefix = "$share/";

bool valid_plain_filter(std::string_view filter) noexcept {
  if (filter.empty() || filter.size() > max_length) return false;
  std::size_t pos = 0;
  while (pos != std::string_view::npos) {
    const std::string_view level = next_level(filter, pos);
    if (!has_wildcard(level)) continue;
    if (level == "+") continue;
    if (level == "#" && pos == std::string_view::npos) continue;
    return false;
  }
  return true;
}

}  // namespace

bool valid_topic_name(std::string_view topic) noexcept {
  return !topic.empty() && topic.size() <= max_length && !has_wildcard(topic);
}

bool valid_topic_filter(std::string_view filter) noexcept {
  if (filter.empty() || filter.size() > max_length) return false;
  const auto shared = parse_shared(filter);
  if (!shared) return valid_plain_filter(filter);
  // "$share/GROUP" without a filter leaves shared->filter empty, which valid_plain_filter rejects.
  return !shared->group.empty() && !has_wildcard(shared->group) && valid_plain_filter(shared->filter);
}

std::optional<SharedFilter> parse_shared(std::string_view filter) noexcept {
  if (!filter.starts_with(share_prefix)) return std::nullopt;
  const std::string_view rest = filter.substr(share_prefix.size());
  const std::size_t slash = rest.find('/');
  // Anything under "$share/" is shared, even when malformed, so that a caller never mistakes "$share/g" for a plain
  // filter; valid_topic_filter() is what rejects it.
  if (slash == std::string_view::npos) return SharedFilter{rest, {}};
  return SharedFilter{rest.substr(0, slash), rest.substr(slash + 1)};
}

// Two memchr scans. std::string_view::find_first_of("+#") calls memchr on the set once per byte of the text, and every
// PUBLISH topic is checked under the core lock: a flood of long topics then costs every client (bench/README.md,
// row 17).
bool has_wildcard(std::string_view text) noexcept {
  return text.find('+') != std::string_view::npos || text.find('#') != std::string_view::npos;
}

bool topic_matches(std::string_view filter, std::string_view topic) noexcept {
  std::size_t fpos = 0;
  std::size_t tpos = 0;
  if (topic.starts_with('$')) {
    std::size_t probe = 0;
    const std::string_view first = next_level(filter, probe);
    if (first == "+" || first == "#") return false;  // [MQTT-4.7.2-1]
  }
  while (fpos != std::string_view::npos) {
    const std::string_view flevel = next_level(filter, fpos);
    // '#' also matches the parent level: "a/#" matches "a" (4.7.1.2), so it is checked before running out of topic.
    if (flevel == "#") return true;
    if (tpos == std::string_view::npos) return false;
    const std::string_view tlevel = next_level(topic, tpos);
    if (flevel != "+" && flevel != tlevel) return false;
  }
  return tpos == std::string_view::npos;
}

}  // namespace tern::protocol
