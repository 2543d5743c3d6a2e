#include "platform/privileges.hpp"

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace tern::platform {
namespace {

// getpwnam_r with a buffer that grows when the entry does not fit (bounded: 1 MiB).
bool look_up(const std::string& name, passwd& entry, std::vector<char>& buffer) {
  passwd* found = nullptr;
  for (std::size_t size = 1024; size <= (1u << 20); size *= 2) {
    buffer.resize(size);
    const int rc = ::getpwnam_r(name.c_str(), &entry, buffer.data(), buffer.size(), &found);
    if (rc == ERANGE) continue;
    return rc == 0 && found != nullptr;
  }
  return false;
}

}  // namespace

PrivilegeDrop drop_privileges(const std::string& user, std::string& error) {
  if (::geteuid() != 0) return PrivilegeDrop::not_root;
  if (user.empty() || user == "root") return PrivilegeDrop::stayed_root;
  passwd entry{};
  std::vector<char> buffer;
  std::string name = user;
  if (!look_up(name, entry, buffer)) {
    if (name != "mosquitto" || !look_up("nobody", entry, buffer)) {
      error = "user " + user + " does not exist";
      return PrivilegeDrop::failed;
    }
    name = "nobody";
  }
  const uid_t uid = entry.pw_uid;
  const gid_t gid = entry.pw_gid;
  if (::initgroups(name.c_str(), gid) != 0) {
    error = "cannot set the groups of " + name + ": " + std::strerror(errno);
    return PrivilegeDrop::failed;
  }
  if (::setgid(gid) != 0) {
    error = "cannot change to group " + std::to_string(gid) + ": " + std::strerror(errno);
    return PrivilegeDrop::failed;
  }
  if (::setuid(uid) != 0) {
    error = "cannot change to user " + name + ": " + std::strerror(errno);
    return PrivilegeDrop::failed;
  }
  error = name + " (uid " + std::to_string(uid) + ", gid " + std::to_string(gid) + ")";
  return PrivilegeDrop::dropped;
}

}  // namespace tern::platform
