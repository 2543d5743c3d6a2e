// A listener's authentication and authorisation as one immutable object: allow_anonymous, the password file and the
// ACL file, read together. It authenticates CONNECTs for the network layer (off the broker's lock) and is the
// core's AccessPolicy for the clients it let in. A reload reads the files into a new ListenerSecurity; the old one
// stays in force if that fails, and the broker moves its clients over with Broker::replace_policy().
//
//   no password_file: any username is accepted (as mosquitto); anonymous only with allow_anonymous
//   password_file:    a username must be in it with the right password; anonymous only with allow_anonymous
//   certificate or PSK identity as username (use_identity_as_username): accepted without a password, as mosquitto
//   no acl_file:      every client may publish and subscribe to everything
//
// Thread safety: immutable after load(); any thread.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "broker/auth/acl_file.hpp"
#include "broker/auth/password_file.hpp"
#include "broker/auth/security_settings.hpp"
#include "broker/core/access.hpp"

namespace tern::auth {

class ListenerSecurity final : public core::AccessPolicy {
 public:
  // Reads the files the settings name; throws AuthFileError ("FILE:LINE: ..." or "cannot read FILE: ...").
  static std::shared_ptr<const ListenerSecurity> load(const SecuritySettings& settings);

  // The verdict on a CONNECT. `identity`: the username came from the client's certificate or PSK identity, so no
  // password is checked. Costs a password hash when a password file is in force: call it off the broker's lock.
  // In mosquitto's order: the client id rules (allow_zero_length_clientid, clientid_prefixes), the username and
  // password, then use_username_as_clientid.
  core::Authentication authenticate(std::string_view client_id, const std::optional<std::string>& username,
                                    const std::optional<std::string>& password, bool identity) const;

  std::shared_ptr<const core::ClientAccess> client(std::string_view client_id,
                                                   const std::optional<std::string>& username) const override;
  bool still_accepts(const core::AccessPolicy& previous, const std::optional<std::string>& username,
                     bool password_checked) const override;

  const SecuritySettings& settings() const noexcept { return settings_; }
  // Warnings the files gave (an ACL pattern without %c or %u), "FILE:LINE: ..." each, for the log.
  std::vector<std::string> warnings() const;

 private:
  SecuritySettings settings_;
  std::shared_ptr<const PasswordFile> passwords_;  // null: no password_file
  std::shared_ptr<const AclFile> acl_;             // null: no acl_file
};

}  // namespace tern::auth
