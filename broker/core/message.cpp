#include "broker/core/message.hpp"

#include "broker/protocol/codec.hpp"

namespace tern::core {

std::optional<std::uint32_t> Message::remaining_expiry(TimePoint now) const noexcept {
  if (!expires_at) return std::nullopt;
  if (*expires_at <= now) return 0;
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(*expires_at - now).count();
  return static_cast<std::uint32_t>((left + 999) / 1000);
}

MessagePtr make_message(std::string topic, std::string payload, protocol::QoS qos, bool retain,
                        const protocol::Properties& properties, std::uint64_t origin_session, TimePoint now) {
  auto m = std::make_shared<Message>();
  m->topic = std::move(topic);
  m->payload = std::move(payload);
  m->qos = qos;
  m->retain = retain;
  m->origin_session = origin_session;
  if (properties.message_expiry_interval)
    m->expires_at = now + std::chrono::seconds(*properties.message_expiry_interval);

  // Only these travel with the message to subscribers [MQTT-3.3.2-15..20]; the rest belong to one hop.
  const bool any = properties.payload_format_indicator || properties.content_type || properties.response_topic ||
                   properties.correlation_data || !properties.user_properties.empty();
  if (any) {
    protocol::Properties forwarded;
    forwarded.payload_format_indicator = properties.payload_format_indicator;
    forwarded.content_type = properties.content_type;
    forwarded.response_topic = properties.response_topic;
    forwarded.correlation_data = properties.correlation_data;
    forwarded.user_properties = properties.user_properties;
    protocol::encode_properties(forwarded, m->forward_properties);
  }
  return m;
}

}  // namespace tern::core
