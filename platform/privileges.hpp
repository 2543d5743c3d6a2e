// Dropping root privileges to a configured user (mosquitto's `user` directive).
//
//   std::string error;
//   switch (tern::platform::drop_privileges("mosquitto", error)) { ... }
//
// As mosquitto: only a process whose effective uid is 0 changes user (anyone else keeps running as itself); the user
// "root", or none, keeps root; the user "mosquitto", when it does not exist, falls back to "nobody" (mosquitto's
// default user). The change is initgroups(), setgid(), setuid(), in that order, so that no root group survives.
// Unlike mosquitto 2.0, which drops right after reading its configuration, Tern calls this after binding its
// listeners and opening its pid file, log file and database (mosquitto 1.x's order), so ports below 1024 and
// root-only certificates work; files re-read on SIGHUP must be readable by the user.
//
// How the user is looked up. The dynamically linked build asks glibc (getpwnam_r, initgroups: NSS, so users from a
// directory service work). The static build (TERN_STATIC) reads /etc/passwd and /etc/group itself: a static binary
// cannot safely load NSS modules (glibc dlopens them; libnss_systemd, in Debian's default nsswitch.conf, crashes a
// static process), so there a user must be in those files, as system users are.
//
// Thread safety: call once; glibc applies set*id() to every thread of the process.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tern::platform {

// The files' side (the static build), exposed for tests: `name`'s uid and gid from passwd(5) text, and the groups
// whose member list in group(5) text names `name`, with `gid` first.
struct Account {
  uid_t uid = 0;
  gid_t gid = 0;
};
std::optional<Account> find_account(std::string_view passwd_text, std::string_view name);
std::vector<gid_t> find_groups(std::string_view group_text, std::string_view name, gid_t gid);

enum class PrivilegeDrop {
  dropped,      // now running as the user (`error` holds "uid U, gid G" for the log)
  not_root,     // not started as root: nothing to do
  stayed_root,  // started as root and asked to stay root (no user, or "root")
  failed,       // `error` says why: an unknown user, or a set*id() call failed
};

PrivilegeDrop drop_privileges(const std::string& user, std::string& error);

}  // namespace tern::platform
