#include "broker/auth/security.hpp"

namespace tern::auth {

using core::Authentication;

std::shared_ptr<const ListenerSecurity> ListenerSecurity::load(const SecuritySettings& settings) {
  auto s = std::make_shared<ListenerSecurity>();
  s->settings_ = settings;
  if (!settings.password_file.empty()) {
    s->passwords_ = std::make_shared<const PasswordFile>(PasswordFile::load(settings.password_file));
  }
  if (!settings.acl_file.empty()) s->acl_ = AclFile::load(settings.acl_file);
  return s;
}

Authentication ListenerSecurity::authenticate(std::string_view client_id, const std::optional<std::string>& username,
                                              const std::optional<std::string>& password, bool identity) const {
  Authentication a;
  a.username = username;
  a.auto_id_prefix = settings_.auto_id_prefix;
  const auto refuse = [&a](Authentication::Result result, std::string reason) {
    a.result = result;
    a.reason = std::move(reason);
    return a;
  };
  if (client_id.empty() && !settings_.allow_zero_length_clientid) {
    return refuse(Authentication::Result::client_id_not_valid, "empty client id (allow_zero_length_clientid false)");
  }
  const std::string_view given_or_assigned = client_id.empty() ? std::string_view(a.auto_id_prefix) : client_id;
  if (!settings_.clientid_prefixes.empty() && !given_or_assigned.starts_with(settings_.clientid_prefixes)) {
    return refuse(Authentication::Result::not_authorized,
                  "client id does not begin with '" + settings_.clientid_prefixes + "' (clientid_prefixes)");
  }
  if (!username) {
    if (!settings_.allow_anonymous) return refuse(Authentication::Result::not_authorized, "anonymous clients are not allowed");
    if (settings_.use_username_as_clientid) {
      return refuse(Authentication::Result::not_authorized, "no username to use as client id (use_username_as_clientid)");
    }
    return a;
  }
  if (settings_.use_username_as_clientid) a.client_id = *username;
  if (identity || !passwords_) return a;
  switch (passwords_->check(*username, password)) {
    case PasswordFile::Check::ok:
      a.password_checked = true;
      return a;
    case PasswordFile::Check::unknown_user:
      a.reason = "unknown username";
      break;
    case PasswordFile::Check::no_password:
      a.reason = "no password given";
      break;
    case PasswordFile::Check::wrong_password:
      a.reason = "wrong password";
      break;
  }
  a.result = Authentication::Result::bad_credentials;
  return a;
}

std::shared_ptr<const core::ClientAccess> ListenerSecurity::client(std::string_view client_id,
                                                                   const std::optional<std::string>& username) const {
  return acl_ ? acl_->client(client_id, username) : nullptr;
}

bool ListenerSecurity::still_accepts(const core::AccessPolicy& previous, const std::optional<std::string>& username,
                                     bool password_checked) const {
  if (!username) return settings_.allow_anonymous;
  if (!password_checked || !passwords_) return true;
  // The password the client proved is not kept (no plain-text secrets in memory), so an entry that changed at all,
  // a new salt for the same password included, counts as a changed password.
  const auto* before = dynamic_cast<const ListenerSecurity*>(&previous);
  const PasswordHash* now = passwords_->find(*username);
  if (now == nullptr) return false;
  const PasswordHash* then = before && before->passwords_ ? before->passwords_->find(*username) : nullptr;
  return then != nullptr && *then == *now;
}

std::vector<std::string> ListenerSecurity::warnings() const { return acl_ ? acl_->warnings() : std::vector<std::string>{}; }

}  // namespace tern::auth
