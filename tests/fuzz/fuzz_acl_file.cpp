// The ACL file parser and its evaluation (broker/auth/acl_file.hpp, acl_match.hpp). The input is an ACL file, a NUL
// byte, then a client (its id and username picked by the first byte after the NUL) and filters, one a line. The
// file is accepted or refused with AuthFileError; when accepted, each valid filter's readable() answer is checked
// against may_read() for topics the filter matches (each '+' and '#' filled in several ways): "all" must allow
// every one of them and "none" deny every one, as ClientAccess promises.
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "broker/auth/acl_file.hpp"
#include "broker/protocol/topic.hpp"
#include "tests/fuzz/fuzz_input.hpp"

namespace a = tern::auth;

namespace {

constexpr std::array<const char*, 4> client_ids{"s7", "alice", "+", "%c"};
constexpr std::array<const char*, 3> levels{"x", "s7", "alice"};

// Topics `filter` matches: each wildcard level replaced by levels[choice], '#' also by nothing (it matches its parent).
std::vector<std::string> topics_of(std::string_view filter) {
  std::vector<std::string> out;
  for (std::size_t choice = 0; choice <= levels.size(); ++choice) {
    std::string topic;
    std::size_t pos = 0;
    bool first = true;
    while (pos <= filter.size()) {
      const std::string_view level = tern::protocol::next_level(filter, pos);
      if (level == "#" && choice == levels.size()) break;  // "a/#" as "a"; "#" alone has no such topic
      if (!first) topic += '/';
      topic += (level == "+" || level == "#") ? levels[choice % levels.size()] : std::string(level);
      first = false;
    }
    if (!first && tern::protocol::valid_topic_name(topic) && tern::protocol::topic_matches(filter, topic)) {
      out.push_back(std::move(topic));
    }
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const std::size_t nul = input.find('\0');
  const std::string_view text = input.substr(0, nul);
  std::string_view queries = nul == std::string_view::npos ? std::string_view() : input.substr(nul + 1);
  std::shared_ptr<const a::AclFile> acl;
  try {
    acl = a::AclFile::parse(text, "fuzz.acl");
  } catch (const a::AuthFileError&) {
    return 0;
  }
  const std::uint8_t who = queries.empty() ? 0 : static_cast<std::uint8_t>(queries.front());
  if (!queries.empty()) queries.remove_prefix(1);
  std::optional<std::string> username;
  if (who & 4) username = client_ids[(who >> 3) & 3];
  const std::shared_ptr<const tern::core::ClientAccess> access = acl->client(client_ids[who & 3], username);
  TERN_FUZZ_CHECK(access != nullptr);
  while (!queries.empty()) {
    const std::size_t end = queries.find('\n');
    const std::string_view filter = queries.substr(0, end);
    queries.remove_prefix(end == std::string_view::npos ? queries.size() : end + 1);
    if (!tern::protocol::valid_topic_filter(filter) || tern::protocol::parse_shared(filter)) continue;
    const auto coverage = access->readable(filter);
    for (const std::string& topic : topics_of(filter)) {
      const bool readable = access->may_read(topic);
      if (coverage == tern::core::ClientAccess::Coverage::all) TERN_FUZZ_CHECK(readable);
      if (coverage == tern::core::ClientAccess::Coverage::none) TERN_FUZZ_CHECK(!readable);
      access->may_publish(topic);
    }
  }
  return 0;
}
