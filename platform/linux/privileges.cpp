#include "platform/privileges.hpp"

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <vector>

#include "platform/text_file.hpp"

namespace tern::platform {
namespace {

// The fields of one line of passwd(5) or group(5) text, split at ':'.
std::vector<std::string_view> fields_of(std::string_view line) {
  std::vector<std::string_view> fields;
  for (std::size_t at = 0;;) {
    const std::size_t colon = line.find(':', at);
    fields.push_back(line.substr(at, colon == std::string_view::npos ? std::string_view::npos : colon - at));
    if (colon == std::string_view::npos) return fields;
    at = colon + 1;
  }
}

template <class Id>
std::optional<Id> id_of(std::string_view text) {
  unsigned long value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return static_cast<Id>(value);
}

#ifdef TERN_STATIC
// The static build: /etc/passwd and /etc/group, read here (see privileges.hpp).
std::optional<Account> look_up(const std::string& name) {
  std::string ignored;
  const std::optional<std::string> text = read_whole_file("/etc/passwd", ignored);
  return text ? find_account(*text, name) : std::nullopt;
}

bool set_groups(const std::string& name, gid_t gid, std::string& error) {
  std::string ignored;
  const std::vector<gid_t> groups =
      find_groups(read_whole_file("/etc/group", ignored).value_or(""), name, gid);  // no file: the primary group alone
  if (::setgroups(groups.size(), groups.data()) != 0) {
    error = "cannot set the groups of " + name + ": " + std::strerror(errno);
    return false;
  }
  return true;
}
#else
// The dynamic build: glibc's NSS (getpwnam_r with a buffer that grows when the entry does not fit, up to 1 MiB).
std::optional<Account> look_up(const std::string& name) {
  passwd entry{};
  passwd* found = nullptr;
  std::vector<char> buffer;
  for (std::size_t size = 1024; size <= (1u << 20); size *= 2) {
    buffer.resize(size);
    const int rc = ::getpwnam_r(name.c_str(), &entry, buffer.data(), buffer.size(), &found);
    if (rc == ERANGE) continue;
    if (rc != 0 || found == nullptr) return std::nullopt;
    return Account{entry.pw_uid, entry.pw_gid};
  }
  return std::nullopt;
}

bool set_groups(const std::string& name, gid_t gid, std::string& error) {
  if (::initgroups(name.c_str(), gid) != 0) {
    error = "cannot set the groups of " + name + ": " + std::strerror(errno);
    return false;
  }
  return true;
}
#endif

}  // namespace

std::optional<Account> find_account(std::string_view passwd_text, std::string_view name) {
  for (const std::string_view line : split_lines(passwd_text)) {
    const auto fields = fields_of(line);
    if (fields.size() < 4 || fields[0] != name) continue;
    const auto uid = id_of<uid_t>(fields[2]);
    const auto gid = id_of<gid_t>(fields[3]);
    if (uid && gid) return Account{*uid, *gid};
  }
  return std::nullopt;
}

std::vector<gid_t> find_groups(std::string_view group_text, std::string_view name, gid_t gid) {
  std::vector<gid_t> groups{gid};
  for (const std::string_view line : split_lines(group_text)) {
    const auto fields = fields_of(line);
    if (fields.size() < 4) continue;
    const auto group = id_of<gid_t>(fields[2]);
    if (!group || std::find(groups.begin(), groups.end(), *group) != groups.end()) continue;
    for (std::string_view members = fields[3]; !members.empty();) {
      const std::size_t comma = members.find(',');
      if (members.substr(0, comma) == name) {
        groups.push_back(*group);
        break;
      }
      if (comma == std::string_view::npos) break;
      members.remove_prefix(comma + 1);
    }
  }
  return groups;
}

PrivilegeDrop drop_privileges(const std::string& user, std::string& error) {
  if (::geteuid() != 0) return PrivilegeDrop::not_root;
  if (user.empty() || user == "root") return PrivilegeDrop::stayed_root;
  std::string name = user;
  std::optional<Account> account = look_up(name);
  if (!account && name == "mosquitto") {
    name = "nobody";
    account = look_up(name);
  }
  if (!account) {
    error = "user " + user + " does not exist";
    return PrivilegeDrop::failed;
  }
  if (!set_groups(name, account->gid, error)) return PrivilegeDrop::failed;
  if (::setgid(account->gid) != 0) {
    error = "cannot change to group " + std::to_string(account->gid) + ": " + std::strerror(errno);
    return PrivilegeDrop::failed;
  }
  if (::setuid(account->uid) != 0) {
    error = "cannot change to user " + name + ": " + std::strerror(errno);
    return PrivilegeDrop::failed;
  }
  error = name + " (uid " + std::to_string(account->uid) + ", gid " + std::to_string(account->gid) + ")";
  return PrivilegeDrop::dropped;
}

}  // namespace tern::platform
