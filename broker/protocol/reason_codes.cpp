#include "broker/protocol/reason_codes.hpp"

#include <string>

namespace tern::protocol {
namespace {

class ReasonCodeCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "mqtt"; }
  std::string message(int value) const override {
    if (value < 0 || value > 0xFF) return "Unknown reason code";
    return reason_code_name(static_cast<ReasonCode>(value));
  }
};

}  // namespace

const std::error_category& reason_code_category() noexcept {
  static const ReasonCodeCategory category;
  return category;
}

const char* reason_code_name(ReasonCode rc) noexcept {
  // Wording of the MQTT 5.0 spec, table 2-6. 0x00 is also "Normal disconnection" and "Granted QoS 0".
  switch (rc) {
    case ReasonCode::success:
      return "Success";
    case ReasonCode::granted_qos1:
      return "Granted QoS 1";
    case ReasonCode::granted_qos2:
      return "Granted QoS 2";
    case ReasonCode::disconnect_with_will:
      return "Disconnect with Will Message";
    case ReasonCode::no_matching_subscribers:
      return "No matching subscribers";
    case ReasonCode::no_subscription_existed:
      return "No subscription existed";
    case ReasonCode::continue_authentication:
      return "Continue authentication";
    case ReasonCode::reauthenticate:
      return "Re-authenticate";
    case ReasonCode::unspecified_error:
      return "Unspecified error";
    case ReasonCode::malformed_packet:
      return "Malformed Packet";
    case ReasonCode::protocol_error:
      return "Protocol Error";
    case ReasonCode::implementation_specific_error:
      return "Implementation specific error";
    case ReasonCode::unsupported_protocol_version:
      return "Unsupported Protocol Version";
    case ReasonCode::client_identifier_not_valid:
      return "Client Identifier not valid";
    case ReasonCode::bad_user_name_or_password:
      return "Bad User Name or Password";
    case ReasonCode::not_authorized:
      return "Not authorized";
    case ReasonCode::server_unavailable:
      return "Server unavailable";
    case ReasonCode::server_busy:
      return "Server busy";
    case ReasonCode::banned:
      return "Banned";
    case ReasonCode::server_shutting_down:
      return "Server shutting down";
    case ReasonCode::bad_authentication_method:
      return "Bad authentication method";
    case ReasonCode::keep_alive_timeout:
      return "Keep Alive timeout";
    case ReasonCode::session_taken_over:
      return "Session taken over";
    case ReasonCode::topic_filter_invalid:
      return "Topic Filter invalid";
    case ReasonCode::topic_name_invalid:
      return "Topic Name invalid";
    case ReasonCode::packet_identifier_in_use:
      return "Packet Identifier in use";
    case ReasonCode::packet_identifier_not_found:
      return "Packet Identifier not found";
    case ReasonCode::receive_maximum_exceeded:
      return "Receive Maximum exceeded";
    case ReasonCode::topic_alias_invalid:
      return "Topic Alias invalid";
    case ReasonCode::packet_too_large:
      return "Packet too large";
    case ReasonCode::message_rate_too_high:
      return "Message rate too high";
    case ReasonCode::quota_exceeded:
      return "Quota exceeded";
    case ReasonCode::administrative_action:
      return "Administrative action";
    case ReasonCode::payload_format_invalid:
      return "Payload format invalid";
    case ReasonCode::retain_not_supported:
      return "Retain not supported";
    case ReasonCode::qos_not_supported:
      return "QoS not supported";
    case ReasonCode::use_another_server:
      return "Use another server";
    case ReasonCode::server_moved:
      return "Server moved";
    case ReasonCode::shared_subscriptions_not_supported:
      return "Shared Subscriptions not supported";
    case ReasonCode::connection_rate_exceeded:
      return "Connection rate exceeded";
    case ReasonCode::maximum_connect_time:
      return "Maximum connect time";
    case ReasonCode::subscription_identifiers_not_supported:
      return "Subscription Identifiers not supported";
    case ReasonCode::wildcard_subscriptions_not_supported:
      return "Wildcard Subscriptions not supported";
  }
  return "Unknown reason code";
}

ConnackCode311 to_connack_311(ReasonCode rc) noexcept {
  // Decoded 3.1.1 return codes are stored as their numeric value (0..5), so those map to themselves and a decoded
  // 3.1.1 CONNACK encodes back to the same bytes.
  const auto value = static_cast<std::uint8_t>(rc);
  if (value <= 5) return static_cast<ConnackCode311>(value);
  switch (rc) {
    case ReasonCode::unsupported_protocol_version:
      return ConnackCode311::unacceptable_protocol_version;
    case ReasonCode::client_identifier_not_valid:
      return ConnackCode311::identifier_rejected;
    case ReasonCode::server_unavailable:
    case ReasonCode::server_busy:
    case ReasonCode::server_shutting_down:
    case ReasonCode::use_another_server:
    case ReasonCode::server_moved:
    case ReasonCode::connection_rate_exceeded:
      return ConnackCode311::server_unavailable;
    case ReasonCode::bad_user_name_or_password:
      return ConnackCode311::bad_user_name_or_password;
    default:  // not_authorized, banned, bad_authentication_method and every other error
      return ConnackCode311::not_authorized;
  }
}

}  // namespace tern::protocol
