#include "broker/auth/acl_match.hpp"

#include <cstddef>

#include "broker/protocol/topic.hpp"

namespace tern::auth::acl {
namespace {

using protocol::next_level;
constexpr std::size_t end = std::string_view::npos;
constexpr std::size_t max_length = 65535;  // a filter longer than any topic name could not match one

// "#" matches exactly what "+/#" matches (every topic with at least one level, none starting with '$'); reading it
// so leaves '#' only at levels >= 1, where it matches zero or more levels, and lets the walks treat level 0 alike.
std::string_view normalized(std::string_view filter) noexcept { return filter == "#" ? "+/#" : filter; }

// Can a '+' at level `depth` stand for the literal `level`? Everywhere but at the first level of a '$' topic.
bool plus_takes(std::size_t depth, std::string_view level) noexcept { return depth > 0 || !level.starts_with('$'); }

}  // namespace

bool valid_acl_filter(std::string_view filter) noexcept {
  if (filter.empty() || filter.size() > max_length) return false;
  std::size_t pos = 0;
  while (pos != end) {
    const std::string_view level = next_level(filter, pos);
    if (!protocol::has_wildcard(level) || level == "+") continue;
    if (level == "#" && pos == end) continue;
    return false;
  }
  return true;
}

std::string expand_pattern(std::string_view pattern, std::string_view client_id,
                           const std::optional<std::string>& username) {
  std::string out;
  out.reserve(pattern.size() + client_id.size() + (username ? username->size() : 0));
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] == '%' && i + 1 < pattern.size()) {
      if (pattern[i + 1] == 'c') {
        out += client_id;
        ++i;
        continue;
      }
      if (pattern[i + 1] == 'u' && username) {
        out += *username;
        ++i;
        continue;
      }
    }
    out += pattern[i];
  }
  return out;
}

// The walks below also count "" as a topic (one empty level), which is not a valid topic name. That changes the
// answer for two forms only, fixed up front: "/#" matches "" only as its parent level, so it covers what "/+/#"
// matches plus ""; and "+" shares nothing but "" with "/#".

// Walks A and F together. At each level: a '#' in A takes every rest F can have, including none (F's topics at this
// depth all have the prefix both matched so far); a '#' in F needs one in A; otherwise the level of A must take
// every value F's level can have.
bool covers(std::string_view a, std::string_view f) noexcept {
  if (f == "/#") f = "/+/#";
  a = normalized(a);
  f = normalized(f);
  std::size_t apos = 0;
  std::size_t fpos = 0;
  for (std::size_t depth = 0;; ++depth) {
    if (apos == end) return fpos == end;  // A's topics end here; so must every one of F's
    const std::string_view alevel = next_level(a, apos);
    if (alevel == "#") return true;
    if (fpos == end) return false;  // F matches a topic ending here; A needs another level
    const std::string_view flevel = next_level(f, fpos);
    if (flevel == "#") return false;  // F matches the topic ending here ('#' takes the parent); A does not
    if (alevel == "+") {
      if (flevel != "+" && !plus_takes(depth, flevel)) return false;
    } else if (flevel != alevel) {
      return false;  // A's literal against F's other literal or '+' (which takes other values too)
    }
  }
}

// Builds a common topic level by level: a '#' on either side accepts whatever the other still needs (each later
// '+' filled with an ordinary literal); filters ending together share the topic built so far.
bool intersects(std::string_view a, std::string_view f) noexcept {
  if ((a == "+" && f == "/#") || (a == "/#" && f == "+")) return false;
  a = normalized(a);
  f = normalized(f);
  std::size_t apos = 0;
  std::size_t fpos = 0;
  for (std::size_t depth = 0;; ++depth) {
    if (apos == end || fpos == end) {
      if (apos == end && fpos == end) return true;
      // One filter ends here; the other shares that topic only if its next level is '#' (which takes the parent).
      return apos == end ? next_level(f, fpos) == "#" : next_level(a, apos) == "#";
    }
    const std::string_view alevel = next_level(a, apos);
    const std::string_view flevel = next_level(f, fpos);
    if (alevel == "#" || flevel == "#") return true;
    if (alevel == "+" && flevel == "+") continue;
    if (alevel == "+") {
      if (!plus_takes(depth, flevel)) return false;
    } else if (flevel == "+") {
      if (!plus_takes(depth, alevel)) return false;
    } else if (alevel != flevel) {
      return false;
    }
  }
}

namespace {

// The outcome of one entry for a topic: nullopt when it is passed over.
std::optional<bool> verdict(const AclEntry& entry, std::string_view topic, std::uint8_t asked) noexcept {
  if (entry.user_rule && topic.starts_with('$') && !entry.filter.starts_with('$')) return std::nullopt;
  if (!protocol::topic_matches(entry.filter, topic)) return std::nullopt;
  if (entry.access == deny) return false;
  if ((entry.access & asked) != 0) return true;
  return std::nullopt;  // matches, but grants only the other access
}

}  // namespace

bool decide(std::span<const AclEntry> user, std::span<const AclEntry> patterns, std::string_view topic,
            std::uint8_t asked) noexcept {
  for (const auto list : {user, patterns}) {
    for (const AclEntry& entry : list) {
      if (const auto v = verdict(entry, topic, asked)) return *v;
    }
  }
  return false;
}

core::ClientAccess::Coverage coverage(std::span<const AclEntry> user, std::span<const AclEntry> patterns,
                                      std::string_view filter) noexcept {
  using Coverage = core::ClientAccess::Coverage;
  // all: a read rule covering F with no deny before it touching F (read rules before it only allow more).
  bool deny_touches = false;
  for (const auto list : {user, patterns}) {
    for (const AclEntry& entry : list) {
      if (entry.access == deny) {
        deny_touches = deny_touches || intersects(entry.filter, filter);
      } else if ((entry.access & read_bit) != 0 && !deny_touches && covers(entry.filter, filter)) {
        return Coverage::all;
      }
    }
  }
  // none: a deny rule covering F before any read rule touching F, or no read rule touching F at all.
  for (const auto list : {user, patterns}) {
    for (const AclEntry& entry : list) {
      if (entry.access == deny) {
        if (covers(entry.filter, filter)) return Coverage::none;
      } else if ((entry.access & read_bit) != 0 && intersects(entry.filter, filter)) {
        return Coverage::some;
      }
    }
  }
  return Coverage::none;
}

}  // namespace tern::auth::acl
