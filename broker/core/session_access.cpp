#include "broker/core/session_access.hpp"

#include <utility>

namespace tern::core {

void SessionAccess::bind(std::string_view client_id, std::shared_ptr<const AccessPolicy> policy) {
  if (policy) policy_ = std::move(policy);
  bind(policy_ ? policy_->client(client_id, username_) : nullptr);
}

void SessionAccess::bind(std::shared_ptr<const ClientAccess> rights) {
  rights_ = std::move(rights);
  cache_.clear();
}

bool SessionAccess::decide(std::string_view topic, std::size_t hash, std::uint8_t known, std::uint8_t allowed) {
  if (!rights_) return true;
  const std::uint8_t bits = cache_.find(topic, hash);
  if ((bits & known) != 0) return (bits & allowed) != 0;
  const bool ok = known == read_known ? rights_->may_read(topic) : rights_->may_publish(topic);
  cache_.add(topic, hash, static_cast<std::uint8_t>(known | (ok ? allowed : 0)));
  return ok;
}

std::uint8_t SessionAccess::Decisions::find(std::string_view topic, std::size_t hash) const noexcept {
  if (size_ == 0) return 0;
  const std::size_t mask = size_ - 1u;
  for (std::size_t i = hash & mask;; i = (i + 1) & mask) {
    const Slot& slot = slots_[i];
    if (slot.bits == 0) return 0;  // the table is never full, so an empty slot ends every probe
    if (slot.hash == hash && slot.topic == topic) return slot.bits;
  }
}

void SessionAccess::Decisions::add(std::string_view topic, std::size_t hash, std::uint8_t bits) {
  if (used_ >= max_entries) clear();
  if (2u * (used_ + 1u) > size_) grow();
  const std::size_t mask = size_ - 1u;
  for (std::size_t i = hash & mask;; i = (i + 1) & mask) {
    Slot& slot = slots_[i];
    if (slot.bits == 0) {
      slot.hash = hash;
      slot.topic.assign(topic);
      slot.bits = bits;
      ++used_;
      return;
    }
    if (slot.hash == hash && slot.topic == topic) {
      slot.bits |= bits;
      return;
    }
  }
}

void SessionAccess::Decisions::clear() noexcept {
  slots_.reset();
  size_ = 0;
  used_ = 0;
}

void SessionAccess::Decisions::grow() {
  const std::uint16_t old_size = size_;
  std::unique_ptr<Slot[]> old = std::exchange(slots_, std::make_unique<Slot[]>(old_size == 0 ? 8u : 2u * old_size));
  size_ = old_size == 0 ? 8 : static_cast<std::uint16_t>(2 * old_size);
  used_ = 0;
  for (std::uint16_t i = 0; i < old_size; ++i) {
    if (old[i].bits != 0) add(old[i].topic, old[i].hash, old[i].bits);
  }
}

}  // namespace tern::core
