// Reason codes as std::error_code values, their names, and the 5.0 -> 3.1.1 CONNACK mapping.
#include "broker/protocol/reason_codes.hpp"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace tern::protocol {
namespace {

TEST(ReasonCodes, ErrorCodeCategory) {
  const std::error_code ec = ReasonCode::malformed_packet;  // implicit: is_error_code_enum
  EXPECT_STREQ(ec.category().name(), "mqtt");
  EXPECT_EQ(ec.value(), 0x81);
  EXPECT_EQ(ec.message(), "Malformed Packet");
  EXPECT_EQ(ec, make_error_code(ReasonCode::malformed_packet));
  EXPECT_NE(ec, make_error_code(ReasonCode::protocol_error));
  EXPECT_EQ(&ec.category(), &reason_code_category());
  EXPECT_EQ(make_error_code(static_cast<ReasonCode>(0x05)).message(), "Unknown reason code");
  EXPECT_EQ(reason_code_category().message(-1), "Unknown reason code");
  EXPECT_EQ(reason_code_category().message(0x1000), "Unknown reason code");
}

TEST(ReasonCodes, SpecWording) {
  EXPECT_STREQ(reason_code_name(ReasonCode::success), "Success");
  EXPECT_STREQ(reason_code_name(ReasonCode::disconnect_with_will), "Disconnect with Will Message");
  EXPECT_STREQ(reason_code_name(ReasonCode::reauthenticate), "Re-authenticate");
  EXPECT_STREQ(reason_code_name(ReasonCode::protocol_error), "Protocol Error");
  EXPECT_STREQ(reason_code_name(ReasonCode::unsupported_protocol_version), "Unsupported Protocol Version");
  EXPECT_STREQ(reason_code_name(ReasonCode::client_identifier_not_valid), "Client Identifier not valid");
  EXPECT_STREQ(reason_code_name(ReasonCode::bad_user_name_or_password), "Bad User Name or Password");
  EXPECT_STREQ(reason_code_name(ReasonCode::keep_alive_timeout), "Keep Alive timeout");
  EXPECT_STREQ(reason_code_name(ReasonCode::topic_alias_invalid), "Topic Alias invalid");
  EXPECT_STREQ(reason_code_name(ReasonCode::packet_too_large), "Packet too large");
  EXPECT_STREQ(reason_code_name(ReasonCode::wildcard_subscriptions_not_supported),
               "Wildcard Subscriptions not supported");
}

TEST(ReasonCodes, EveryDefinedCodeHasItsOwnName) {
  std::set<std::string> names;
  int defined = 0;
  for (int v = 0; v <= 0xFF; ++v) {
    const std::string name = reason_code_name(static_cast<ReasonCode>(v));
    if (name == "Unknown reason code") continue;
    ++defined;
    EXPECT_TRUE(names.insert(name).second) << name;
  }
  EXPECT_EQ(defined, 43);  // every value of the enum, each with a distinct name
}

TEST(ReasonCodes, IsError) {
  EXPECT_FALSE(is_error(ReasonCode::success));
  EXPECT_FALSE(is_error(ReasonCode::granted_qos2));
  EXPECT_FALSE(is_error(ReasonCode::reauthenticate));
  EXPECT_TRUE(is_error(ReasonCode::unspecified_error));
  EXPECT_TRUE(is_error(ReasonCode::wildcard_subscriptions_not_supported));
}

TEST(ReasonCodes, ConnackMappingTo311) {
  EXPECT_EQ(to_connack_311(ReasonCode::success), ConnackCode311::accepted);
  EXPECT_EQ(to_connack_311(ReasonCode::unsupported_protocol_version), ConnackCode311::unacceptable_protocol_version);
  EXPECT_EQ(to_connack_311(ReasonCode::client_identifier_not_valid), ConnackCode311::identifier_rejected);
  for (ReasonCode rc :
       {ReasonCode::server_unavailable, ReasonCode::server_busy, ReasonCode::server_shutting_down,
        ReasonCode::use_another_server, ReasonCode::server_moved, ReasonCode::connection_rate_exceeded}) {
    EXPECT_EQ(to_connack_311(rc), ConnackCode311::server_unavailable) << reason_code_name(rc);
  }
  EXPECT_EQ(to_connack_311(ReasonCode::bad_user_name_or_password), ConnackCode311::bad_user_name_or_password);
  for (ReasonCode rc : {ReasonCode::not_authorized, ReasonCode::banned, ReasonCode::bad_authentication_method,
                        ReasonCode::unspecified_error, ReasonCode::malformed_packet, ReasonCode::protocol_error,
                        ReasonCode::implementation_specific_error, ReasonCode::quota_exceeded}) {
    EXPECT_EQ(to_connack_311(rc), ConnackCode311::not_authorized) << reason_code_name(rc);
  }
  // Decoded 3.1.1 return codes (stored as their numeric value) map to themselves.
  for (int v = 0; v <= 5; ++v) {
    EXPECT_EQ(static_cast<int>(to_connack_311(static_cast<ReasonCode>(v))), v);
  }
}

}  // namespace
}  // namespace tern::protocol
