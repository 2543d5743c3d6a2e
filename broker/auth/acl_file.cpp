#include "broker/auth/acl_file.hpp"

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <span>
#include <utility>

#include "broker/protocol/topic.hpp"
#include "platform/text_file.hpp"

namespace tern::auth {
namespace {

static_assert(AclFile::none == acl::deny && AclFile::read == acl::read_bit && AclFile::write == acl::write_bit);

using platform::next_token;
using platform::trim;

std::optional<AclFile::Access> access_word(std::string_view word) {
  if (word == "read") return AclFile::read;
  if (word == "write") return AclFile::write;
  if (word == "readwrite") return AclFile::readwrite;
  if (word == "deny") return AclFile::none;
  return std::nullopt;
}

std::string quoted(std::string_view s) {
  std::string out = "'";
  out.append(s);
  out += '\'';
  return out;
}

// A client's rights: its user's shared rule list and its own expanded patterns, walked in that order.
class FileClientAccess final : public core::ClientAccess {
 public:
  FileClientAccess(std::shared_ptr<const std::vector<acl::AclEntry>> user, std::vector<acl::AclEntry> patterns)
      : user_(std::move(user)), patterns_(std::move(patterns)) {}

  bool may_publish(std::string_view topic) const override {
    return acl::decide(user_span(), patterns_, topic, acl::write_bit);
  }
  bool may_read(std::string_view topic) const override {
    return acl::decide(user_span(), patterns_, topic, acl::read_bit);
  }
  Coverage readable(std::string_view filter) const override { return acl::coverage(user_span(), patterns_, filter); }

 private:
  std::span<const acl::AclEntry> user_span() const noexcept {
    return user_ ? std::span<const acl::AclEntry>(*user_) : std::span<const acl::AclEntry>();
  }

  std::shared_ptr<const std::vector<acl::AclEntry>> user_;  // null: no rules of its own
  std::vector<acl::AclEntry> patterns_;
};

}  // namespace

// One pass over the text: each line is a rule added where it belongs, or an error naming it.
class AclFile::Parser {
 public:
  Parser(AclFile& file, const std::string& name) : file_(file), name_(name) {}

  void line(int number, std::string_view text) {
    line_ = number;
    std::string_view rest = trim(text);
    if (rest.empty() || rest.front() == '#') return;
    const std::string_view keyword = next_token(rest);
    if (keyword == "topic" || keyword == "pattern") {
      rule(keyword, rest);
    } else if (keyword == "user") {
      if (rest.empty()) fail("user: missing username");
      user_ = std::string(rest);
    } else {
      fail("unknown keyword " + quoted(keyword) + " (expected topic, pattern or user)");
    }
  }

 private:
  // `topic [ACCESS] FILTER` or `pattern [ACCESS] FILTER`; `rest` is what follows the keyword.
  void rule(std::string_view keyword, std::string_view rest) {
    const std::string what(keyword);
    if (rest.empty()) fail(what + ": missing filter");
    const std::string_view first = next_token(rest);
    Rule r{.filter = {}, .access = readwrite, .line = line_};
    if (rest.empty()) {
      // One token: the filter alone, unless it is an access word, which is far likelier a filter forgotten than a
      // topic named "deny".
      if (access_word(first)) fail(what + ": missing filter after " + quoted(first));
      r.filter = std::string(first);
    } else {
      const auto access = access_word(first);
      if (!access) {
        fail(what + ": unknown access " + quoted(first) +
             " (expected read, write, readwrite or deny; a filter with spaces needs one before it)");
      }
      r.access = *access;
      r.filter = std::string(rest);
    }
    if (!acl::valid_acl_filter(r.filter)) fail(what + ": invalid topic filter " + quoted(r.filter));
    if (keyword == "pattern") {
      if (r.filter.find("%c") == std::string::npos && r.filter.find("%u") == std::string::npos) {
        file_.warnings_.push_back(prefix() + "pattern " + quoted(r.filter) +
                                  " contains neither %c nor %u: it gives every client the same access");
      }
      file_.patterns_.push_back(std::move(r));
      return;
    }
    std::size_t index = 0;
    if (!user_) {
      if (!file_.anonymous_) file_.anonymous_ = new_user();
      index = *file_.anonymous_;
    } else if (const auto it = file_.user_index_.find(*user_); it != file_.user_index_.end()) {
      index = it->second;  // a user named again further down: mosquitto appends to the same list
    } else {
      index = new_user();
      file_.user_index_.emplace(*user_, index);
    }
    file_.users_[index].rules.push_back(std::move(r));
  }

  std::size_t new_user() {
    file_.users_.push_back(User{.name = user_, .rules = {}, .evaluation = nullptr});
    return file_.users_.size() - 1;
  }

  std::string prefix() const { return name_ + ':' + std::to_string(line_) + ": "; }
  [[noreturn]] void fail(const std::string& what) const { throw AuthFileError(prefix() + what); }

  AclFile& file_;
  const std::string& name_;
  int line_ = 0;
  std::optional<std::string> user_;  // the last `user` line's name; nullopt before the first
};

std::shared_ptr<const AclFile> AclFile::parse(std::string_view text, const std::string& name) {
  auto file = std::make_shared<AclFile>();
  Parser parser(*file, name);
  int number = 0;
  for (const std::string_view line : platform::split_lines(text)) parser.line(++number, line);
  file->compile();
  return file;
}

std::shared_ptr<const AclFile> AclFile::load(const std::string& path) {
  std::string error;
  const auto text = platform::read_whole_file(path, error);
  if (!text) throw AuthFileError(error);
  return parse(*text, path);
}

// Puts deny rules first, as mosquitto's add__acl does. mosquitto prepends each deny, reversing them among
// themselves; the first matching deny denies whatever its place, so file order gives the same decisions.
void AclFile::compile() {
  const auto denies_first = [](const std::vector<Rule>& rules, auto&& add) {
    for (const Rule& r : rules) {
      if (r.access == none) add(r);
    }
    for (const Rule& r : rules) {
      if (r.access != none) add(r);
    }
  };
  for (User& user : users_) {
    auto evaluation = std::make_shared<std::vector<acl::AclEntry>>();
    evaluation->reserve(user.rules.size());
    denies_first(user.rules, [&](const Rule& r) {
      evaluation->push_back(acl::AclEntry{.filter = r.filter, .access = r.access, .user_rule = true});
    });
    user.evaluation = std::move(evaluation);
  }
  pattern_evaluation_.reserve(patterns_.size());
  denies_first(patterns_, [&](const Rule& r) {
    pattern_evaluation_.push_back(Pattern{.entry = {.filter = r.filter, .access = r.access, .user_rule = false},
                                          .uses_username = r.filter.find("%u") != std::string::npos});
  });
}

const AclFile::User* AclFile::find_user(const std::optional<std::string>& username) const {
  if (!username) return anonymous_ ? &users_[*anonymous_] : nullptr;
  const auto it = user_index_.find(*username);
  return it == user_index_.end() ? nullptr : &users_[it->second];
}

const std::vector<AclFile::Rule>* AclFile::user_rules(const std::optional<std::string>& username) const {
  const User* user = find_user(username);
  return user ? &user->rules : nullptr;
}

std::shared_ptr<const core::ClientAccess> AclFile::client(std::string_view client_id,
                                                          const std::optional<std::string>& username) const {
  const User* user = find_user(username);
  std::vector<acl::AclEntry> patterns;
  // A '+' or '#' expanded into a pattern would widen it (client id "+" turning devices/%c/# into devices/+/#), so
  // such a client gets no patterns; mosquitto denies it at the same point, after its own rules.
  using protocol::has_wildcard;
  if (!pattern_evaluation_.empty() && !has_wildcard(client_id) && !(username && has_wildcard(*username))) {
    patterns.reserve(pattern_evaluation_.size());
    for (const Pattern& p : pattern_evaluation_) {
      if (p.uses_username && !username) continue;
      std::string filter = acl::expand_pattern(p.entry.filter, client_id, username);
      // Only an empty client id or username can empty a pattern ("%c"); mosquitto's matcher matches nothing then.
      if (filter.empty()) continue;
      patterns.push_back(acl::AclEntry{.filter = std::move(filter), .access = p.entry.access, .user_rule = false});
    }
  }
  return std::make_shared<FileClientAccess>(user ? user->evaluation : nullptr, std::move(patterns));
}

}  // namespace tern::auth
