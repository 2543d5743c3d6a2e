#include "broker/core/mount_point.hpp"

#include "broker/protocol/topic.hpp"

namespace tern::core {

std::string mount_topic(std::string_view mount_point, std::string_view topic) {
  std::string out;
  out.reserve(mount_point.size() + topic.size());
  out.append(mount_point).append(topic);
  return out;
}

std::string mount_filter(std::string_view mount_point, std::string_view filter) {
  const auto shared = protocol::parse_shared(filter);
  if (!shared) return mount_topic(mount_point, filter);
  const std::string_view head = filter.substr(0, filter.size() - shared->filter.size());  // "$share/GROUP/"
  std::string out;
  out.reserve(filter.size() + mount_point.size());
  out.append(head).append(mount_point).append(shared->filter);
  return out;
}

std::optional<std::string_view> unmount_topic(std::string_view mount_point, std::string_view topic) noexcept {
  if (topic.size() <= mount_point.size() || !topic.starts_with(mount_point)) return std::nullopt;
  return topic.substr(mount_point.size());
}

}  // namespace tern::core
