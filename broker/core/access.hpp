// Authorisation: the core's port to the ACL. The network layer authenticates a CONNECT before the core sees it (off
// the core's lock: password hashing costs tens to hundreds of microseconds) and hands the core its verdict with
// Broker::authenticate(); the core then asks the verdict's AccessPolicy for the client's rights once its client id
// is final, and checks every PUBLISH it accepts, every SUBSCRIBE filter and every delivery against them.
//
//   AccessPolicy (one per listener, immutable; a reload makes a new one)
//     └ client("sensor-7", "alice") -> ClientAccess (immutable: the rules that apply to this client, patterns
//                                       expanded with its client id and username)
//          may_publish("sensors/sensor-7/temp")  -> true
//          may_read("sensors/other/temp")        -> false
//          readable("sensors/#")                 -> Coverage::some (checked per topic at delivery, then cached)
//
// The core caches the answers per connection (topic -> decision), so a rule set of any size costs one hash lookup
// per delivery on a subscription whose filter is only partly readable, and nothing on one that is wholly readable.
//
// Thread safety: AccessPolicy and ClientAccess are immutable after construction; any thread may call them.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace tern::core {

class ClientAccess {
 public:
  virtual ~ClientAccess() = default;

  // May the client publish to `topic` (a valid topic name)? A will counts as a publish by its client.
  virtual bool may_publish(std::string_view topic) const = 0;
  // May the client receive a message published on `topic`?
  virtual bool may_read(std::string_view topic) const = 0;

  // Of the topics that `filter` (a valid, non-shared topic filter) matches, how many may the client read? The answer
  // may be conservative: `some` is always correct; `all` and `none` only when they hold for every such topic.
  enum class Coverage { none, some, all };
  virtual Coverage readable(std::string_view filter) const = 0;
};

class AccessPolicy {
 public:
  virtual ~AccessPolicy() = default;
  // The rights of a client connecting with this client id and username (nullopt: anonymous). nullptr: no ACL is
  // configured, so everything is allowed.
  virtual std::shared_ptr<const ClientAccess> client(std::string_view client_id,
                                                     const std::optional<std::string>& username) const = 0;
  // After a reload: does this policy still let in a client that `previous` let in as `username` (nullopt:
  // anonymous)? `password_checked`: it proved a password then (not a certificate or PSK identity). A client it no
  // longer lets in is disconnected (5.0: DISCONNECT 0x87).
  virtual bool still_accepts(const AccessPolicy& previous, const std::optional<std::string>& username,
                             bool password_checked) const = 0;
};

// The network layer's verdict on a CONNECT, made before the core sees it.
struct Authentication {
  enum class Result {
    accepted,
    bad_credentials,  // unknown user or wrong password: CONNACK 0x04 (3.1.1) / 0x86 (5.0)
    not_authorized,   // anonymous where that is not allowed, a client id outside clientid_prefixes: 0x05 / 0x87
    client_id_not_valid,  // an empty client id where allow_zero_length_clientid is false: 0x02 / 0x85
    unsupported_version,  // a protocol version the listener does not accept (accept_protocol_versions): 0x01 / 0x84
  };
  Result result = Result::accepted;
  // The name the client is known by from now on: the CONNECT's username, or the certificate's or PSK identity.
  std::optional<std::string> username;
  // The listener's policy at the time of the CONNECT; null: everything allowed and nothing revocable.
  std::shared_ptr<const AccessPolicy> policy;
  bool password_checked = false;  // a password proved the username (see AccessPolicy::still_accepts)
  // Why it was refused, for the log and a 5.0 reason string.
  std::string reason;
  // The client id to use instead of the CONNECT's (use_username_as_clientid).
  std::optional<std::string> client_id;
  // How a client id the broker assigns begins (auto_id_prefix).
  std::string auto_id_prefix = "auto-";
};

}  // namespace tern::core
