// MQTT 5.0 properties (spec section 2.2.2.2).
//
// The decoded form is a struct with one optional member per property: code reads `props.topic_alias` rather than
// searching a list; string properties are OptionalStrings (a pointer each: every packet carries a Properties, and
// most carry none). User properties and subscription identifiers may repeat and keep their order.
// Encoding writes the present properties in ascending identifier order, user properties last in their
// original order. Which packet may carry which property is checked by the codec (properties.cpp).
//
// Thread safety: a plain value type.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "broker/protocol/optional_string.hpp"

namespace tern::protocol {

enum class PropertyId : std::uint8_t {
  payload_format_indicator = 0x01,           // byte
  message_expiry_interval = 0x02,            // four-byte integer
  content_type = 0x03,                       // UTF-8 string
  response_topic = 0x08,                     // UTF-8 string
  correlation_data = 0x09,                   // binary data
  subscription_identifier = 0x0B,            // variable byte integer
  session_expiry_interval = 0x11,            // four-byte integer
  assigned_client_identifier = 0x12,         // UTF-8 string
  server_keep_alive = 0x13,                  // two-byte integer
  authentication_method = 0x15,              // UTF-8 string
  authentication_data = 0x16,                // binary data
  request_problem_information = 0x17,        // byte
  will_delay_interval = 0x18,                // four-byte integer
  request_response_information = 0x19,       // byte
  response_information = 0x1A,               // UTF-8 string
  server_reference = 0x1C,                   // UTF-8 string
  reason_string = 0x1F,                      // UTF-8 string
  receive_maximum = 0x21,                    // two-byte integer
  topic_alias_maximum = 0x22,                // two-byte integer
  topic_alias = 0x23,                        // two-byte integer
  maximum_qos = 0x24,                        // byte
  retain_available = 0x25,                   // byte
  user_property = 0x26,                      // UTF-8 string pair
  maximum_packet_size = 0x27,                // four-byte integer
  wildcard_subscription_available = 0x28,    // byte
  subscription_identifier_available = 0x29,  // byte
  shared_subscription_available = 0x2A,      // byte
};

using UserProperties = std::vector<std::pair<std::string, std::string>>;

struct Properties {
  std::optional<std::uint8_t> payload_format_indicator;
  std::optional<std::uint32_t> message_expiry_interval;
  OptionalString content_type;
  OptionalString response_topic;
  OptionalString correlation_data;
  std::vector<std::uint32_t> subscription_identifiers;
  std::optional<std::uint32_t> session_expiry_interval;
  OptionalString assigned_client_identifier;
  std::optional<std::uint16_t> server_keep_alive;
  OptionalString authentication_method;
  OptionalString authentication_data;
  std::optional<std::uint8_t> request_problem_information;
  std::optional<std::uint32_t> will_delay_interval;
  std::optional<std::uint8_t> request_response_information;
  OptionalString response_information;
  OptionalString server_reference;
  OptionalString reason_string;
  std::optional<std::uint16_t> receive_maximum;
  std::optional<std::uint16_t> topic_alias_maximum;
  std::optional<std::uint16_t> topic_alias;
  std::optional<std::uint8_t> maximum_qos;
  std::optional<std::uint8_t> retain_available;
  UserProperties user_properties;
  std::optional<std::uint32_t> maximum_packet_size;
  std::optional<std::uint8_t> wildcard_subscription_available;
  std::optional<std::uint8_t> subscription_identifier_available;
  std::optional<std::uint8_t> shared_subscription_available;

  bool operator==(const Properties&) const = default;
};

}  // namespace tern::protocol
