#include "broker/core/session_access.hpp"

namespace tern::core {

void SessionAccess::bind(std::string_view client_id, std::shared_ptr<const AccessPolicy> policy) {
  if (policy) policy_ = std::move(policy);
  rights_ = policy_ ? policy_->client(client_id, username_) : nullptr;
  cache_.clear();
}

bool SessionAccess::decide(std::string_view topic, std::uint8_t known, std::uint8_t allowed) {
  if (!rights_) return true;
  auto it = cache_.find(topic);
  if (it != cache_.end() && (it->second & known) != 0) return (it->second & allowed) != 0;
  const bool ok = known == read_known ? rights_->may_read(topic) : rights_->may_publish(topic);
  const std::uint8_t bits = static_cast<std::uint8_t>(known | (ok ? allowed : 0));
  if (it != cache_.end()) {
    it->second |= bits;
  } else {
    if (cache_.size() >= cache_limit) cache_.clear();
    cache_.emplace(std::string(topic), bits);
  }
  return ok;
}

}  // namespace tern::core
