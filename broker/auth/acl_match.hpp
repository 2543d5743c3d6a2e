// The ACL's filter algebra and the evaluation of one client's rule list (internal to broker/auth).
//
// A client's rule list is two spans walked as one, in mosquitto's order (see acl_file.hpp):
//
//   user      [deny a/secret] [readwrite a/#] [write cmd/+]          shared by every client with this username
//   patterns  [deny %c/private -> "s7/private"] [read %c/# -> "s7/#"]   expanded for this client
//
//   decide(.., "a/secret", read)  -> deny a/secret matches first: denied
//   decide(.., "cmd/x", read)     -> write cmd/+ matches but grants only write: passed over; nothing else: denied
//   decide(.., "s7/t", read)      -> read s7/# : allowed
//
// coverage() answers the same question for every topic a SUBSCRIBE filter F matches at once, from two relations
// between filters (M(X) is the set of topics X matches, by protocol::topic_matches):
//
//   covers(A, F)      M(F) ⊆ M(A)       covers("a/#", "a/+/b"), covers("a/#", "a"), covers("+/#", "#")
//   intersects(A, F)  M(A) ∩ M(F) ≠ ∅   intersects("a/+", "+/b"), not intersects("+/x", "$SYS/x")
//
// Only deny rules and rules granting read take part in a read decision (a write-only rule is passed over), so:
//   all   if some read rule k covers F and no deny rule before k intersects F: every topic of F meets rule k or an
//         earlier read rule first;
//   none  if no read rule intersects F, or a deny rule k covers F and no read rule before k intersects F;
//   some  otherwise (also when a union of rules would decide: `some` only costs a check per delivery).
//
// Both relations walk the two filters level by level. Two facts of MQTT matching shape them:
//   - '#' also matches its parent level ("a/#" matches "a"), and as a whole filter "#" matches what "+/#" matches,
//     so "#" is read as "+/#": after that a '#' stands only at a level >= 1, where it matches zero or more levels.
//   - a '+' or '#' at the first level does not match a topic starting with '$', so at level 0 a '+' stands for any
//     level not starting with '$'.
// mosquitto also passes over a user rule whose filter does not start with '$' for a '$' topic; that rule's filter
// cannot match such a topic anyway (its first level is a wildcard or a literal without '$'), so the relations need
// no third case, and decide() keeps the check only to read like mosquitto.
//
// Thread safety: stateless functions over immutable data.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "broker/core/access.hpp"

namespace tern::auth::acl {

// Access bits, as AclFile::Access: 0 is deny.
inline constexpr std::uint8_t deny = 0;
inline constexpr std::uint8_t read_bit = 1;
inline constexpr std::uint8_t write_bit = 2;

struct AclEntry {
  std::string filter;  // a valid topic filter (patterns already expanded)
  std::uint8_t access = read_bit | write_bit;
  bool user_rule = false;  // a `topic` line: mosquitto passes it over for a '$' topic unless it starts with '$'
};

// A filter as an ACL line may write it: the structural rules of a topic filter, with "$share/..." taken as plain
// text (an ACL filter is matched against topic names, which may well start with "$share/").
bool valid_acl_filter(std::string_view filter) noexcept;

// The pattern with "%c" replaced by the client id and "%u" by the username, scanning left to right as mosquitto
// does ("%%c" -> "%" + id). Callers skip a pattern using %u for a client without a username; for one, "%u" stays.
std::string expand_pattern(std::string_view pattern, std::string_view client_id,
                           const std::optional<std::string>& username);

bool covers(std::string_view a, std::string_view f) noexcept;
bool intersects(std::string_view a, std::string_view f) noexcept;

// The decision for `topic` when asking for `asked` (read_bit or write_bit): the first entry of user, then patterns,
// that matches and either denies or grants `asked`. No such entry: false.
bool decide(std::span<const AclEntry> user, std::span<const AclEntry> patterns, std::string_view topic,
            std::uint8_t asked) noexcept;

core::ClientAccess::Coverage coverage(std::span<const AclEntry> user, std::span<const AclEntry> patterns,
                                      std::string_view filter) noexcept;

}  // namespace tern::auth::acl
