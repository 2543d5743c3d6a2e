// A listener's security settings, with mosquitto's directive names: who may connect, and under which client id.
// Without `per_listener_settings true` one set applies to every listener; with it, each listener has its own
// (mosquitto 2.0's meaning; Tern also makes use_username_as_clientid and clientid_prefixes follow that switch).
//
// Thread safety: a plain value type.
#pragma once

#include <string>

namespace tern::auth {

struct SecuritySettings {
  bool allow_anonymous = false;  // allow_anonymous: clients without a username may connect
  std::string password_file;     // password_file: mosquitto's format (see password_file.hpp); empty: none
  std::string acl_file;          // acl_file: mosquitto's format (see acl_file.hpp); empty: every client may do all
  bool allow_zero_length_clientid = true;  // allow_zero_length_clientid: an empty client id is given one
  std::string auto_id_prefix = "auto-";    // auto_id_prefix: how given client ids begin
  bool use_username_as_clientid = false;   // use_username_as_clientid: the username replaces the client id
  std::string clientid_prefixes;           // clientid_prefixes: client ids must begin with this; empty: any

  bool operator==(const SecuritySettings&) const = default;
};

}  // namespace tern::auth
