// mosquitto's ACL file, with mosquitto 2.0's meaning (src/security_default.c): each client's rights as a
// core::ClientAccess (auth::ListenerSecurity, the core's AccessPolicy, asks it for them).
//
//   # comment
//   topic read $SYS/#             <- before any `user` line: rules for anonymous clients
//   pattern readwrite devices/%c/# <- patterns apply to every client; %c is its client id, %u its username
//   user alice                    <- the following `topic` lines are alice's
//   topic sensors/#               <- no access word: readwrite
//   topic deny sensors/secret/#
//   topic write commands/+
//
// `topic [read|write|readwrite|deny] FILTER`, `pattern [read|write|readwrite|deny] FILTER`, `user NAME`. The filter
// is the rest of the line (it may contain spaces, then the access word is needed) and must be a valid MQTT topic
// filter ("$share/..." is plain text here: it is matched against topic names). NAME is the rest of the line. Blank
// lines and comments (first non-blank character '#') are skipped; tokens are separated by spaces or tabs.
//
// Decision for a client and a topic (mosquitto's order): the client's own rules (those under `user NAME` with its
// username; the anonymous rules when it has none), deny rules first, then the others in file order; then the
// patterns, deny first, then the others in file order. The first rule whose filter matches the topic decides: a deny
// rule denies; a rule that grants the access asked for allows; a rule that matches but grants only the other access
// is passed over. No rule decides: denied. A user rule whose filter does not start with '$' never matches a topic
// that does. No pattern applies to a client whose username or client id contains '+' or '#' (expanded into a
// pattern they would widen it): its own rules still decide and what they leave is denied, as in mosquitto. A
// pattern using %u does not apply to a client without a username. A client with no rules of its own, in a file
// without patterns, is denied everything; so is every client of an empty file.
//
//   with the file above:
//   client "s7", no username:  read  $SYS/broker/uptime  allowed (anonymous rule)
//                              write devices/s7/led      allowed (pattern)
//   client "s7", "alice":      read  sensors/secret/key  denied  (alice's deny comes first)
//                              read  commands/reboot     denied  (write-only rule passed over; nothing else matches)
//                              read  $SYS/broker/uptime  denied  (the anonymous rules are not alice's)
//                              read  devices/s7/led      allowed (pattern)
//   client "+", no username:   write devices/s7/led      denied  (no patterns for it: devices/+/# would match)
//
// Errors, "NAME:LINE: ..." (AuthFileError): an unknown keyword, an unknown access word, a missing filter or
// username, an invalid filter; mosquitto stops at these lines too. Tern differs in three places, each accepting a
// harmless form or refusing a likely mistake: a tab separates tokens and an indented '#' starts a comment (mosquitto
// refuses both lines), and `topic read` with no filter is an error (mosquitto grants readwrite on the topic "read").
// A pattern with neither %c nor %u gives every client the same rights: accepted with a warning, as in mosquitto.
//
// Data: each user's rules are compiled once, in evaluation order, into a vector shared by every ClientAccess of that
// user; client() finds it by hash, copies the shared_ptr and expands only the patterns. A file of 1,000 rules for
// 500 users costs a connecting client its patterns, not 1,000 copied rules.
//
// Thread safety: immutable after parse(); AclFile and ClientAccess may be called from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "broker/auth/acl_match.hpp"
#include "broker/auth/password_file.hpp"  // AuthFileError
#include "broker/core/access.hpp"

namespace tern::auth {

class AclFile final {
 public:
  enum Access : std::uint8_t { none = 0, read = 1, write = 2, readwrite = 3 };  // none: deny
  struct Rule {
    std::string filter;  // a pattern's still has %c / %u
    Access access = readwrite;
    int line = 0;
  };

  // Throws AuthFileError. `name` is used in messages.
  static std::shared_ptr<const AclFile> parse(std::string_view text, const std::string& name);
  static std::shared_ptr<const AclFile> load(const std::string& path);

  std::shared_ptr<const core::ClientAccess> client(std::string_view client_id,
                                                   const std::optional<std::string>& username) const;

  // For tests and the log: rules of `username` (nullopt: the anonymous rules; null: it has none), in the file's
  // order, and the patterns.
  const std::vector<Rule>* user_rules(const std::optional<std::string>& username) const;
  const std::vector<Rule>& patterns() const noexcept { return patterns_; }
  // "NAME:LINE: ..." for lines accepted but likely not meant (a pattern without %c or %u), for the log.
  const std::vector<std::string>& warnings() const noexcept { return warnings_; }

 private:
  struct User {
    std::optional<std::string> name;  // nullopt: the anonymous rules
    std::vector<Rule> rules;          // file order
    // Denies first, then the others, each in file order: what a client of this user walks; shared with every one.
    std::shared_ptr<const std::vector<acl::AclEntry>> evaluation;
  };
  struct Pattern {
    acl::AclEntry entry;  // the filter still has %c / %u
    bool uses_username = false;
  };
  struct NameHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
  };

  class Parser;
  const User* find_user(const std::optional<std::string>& username) const;
  void compile();

  std::vector<User> users_;                                                             // in order of first appearance
  std::unordered_map<std::string, std::size_t, NameHash, std::equal_to<>> user_index_;  // name -> index in users_
  std::optional<std::size_t> anonymous_;                                                // index in users_
  std::vector<Rule> patterns_;                                                          // file order
  std::vector<Pattern> pattern_evaluation_;  // denies first, then the others, each in file order
  std::vector<std::string> warnings_;
};

}  // namespace tern::auth
