// One store's worth of content that uses every op kind and every field, with awkward values (NUL and high bytes,
// empty strings, ids above 2^32). The contract tests submit it to each backend; the golden-file generator writes it
// to golden/v1.db, and the golden test checks that v1.db (and, later, its migrations) still loads exactly this.
//
// Never change what known_batches() produces once a golden file holds it: add new content in a new function.
#pragma once

#include <string>
#include <vector>

#include "store_test_support.hpp"

namespace tern::persistence::test {

inline std::string binary(std::string_view text) { return std::string(text) + std::string("\0\xff\x01", 3); }

inline std::vector<std::vector<StoreOp>> known_batches() {
  core::StoredMessage will = message(9, "clients/alpha/status", binary("offline"), QoS::exactly_once);
  will.retain = true;
  will.forward_properties = std::string("\x03\x00\x04text", 7);
  will.expires_at = 1'700'000'123'456;

  core::StoredSession alpha = session("alpha", std::nullopt);
  alpha.version = protocol::Version::v5;
  alpha.disconnected_at = 1'700'000'000'000;
  alpha.will = will;
  alpha.will_delay = 30;
  core::StoredSession beta = session("beta", 60);
  beta.version = protocol::Version::v311;
  core::StoredSession gamma = session("gamma", 0xffffffff);  // deleted below, with everything of it
  gamma.version = protocol::Version::v31;

  core::StoredSubscription alpha_sub = subscription("alpha", "sensors/+/temp", QoS::exactly_once);
  alpha_sub.options.no_local = true;
  alpha_sub.options.retain_as_published = true;
  alpha_sub.options.retain_handling = 2;
  alpha_sub.options.subscription_id = 268'435'455;

  core::StoredMessage m1 = message(1, "sensors/1/temp", binary("21.5"), QoS::at_least_once);
  m1.forward_properties = std::string("\x01\x01", 2);
  m1.expires_at = 1'800'000'000'000;
  core::StoredMessage m2 = message(2, "sensors/2/temp", "", QoS::exactly_once);
  core::StoredMessage m3 = message(3, "status/gateway", "up", QoS::at_most_once);
  m3.retain = true;
  core::StoredMessage big_id = message(5'000'000'000, "big/id", std::string(3000, 'x'), QoS::at_least_once);
  core::StoredMessage dropped = message(6, "only/gamma", "gone");

  core::StoredQueueEntry a1 = entry("alpha", 1, 1, 17);
  a1.subscription_ids = {1, 268'435'455};
  core::StoredQueueEntry a2 = entry("alpha", 2, 2);
  a2.qos = QoS::exactly_once;
  a2.packet_id = 65535;
  a2.released = true;
  core::StoredQueueEntry a_big = entry("alpha", 6'000'000'000, big_id.id);
  a_big.retain = true;
  core::StoredQueueEntry b1 = entry("beta", 1, 1);
  core::StoredQueueEntry g1 = entry("gamma", 1, dropped.id);

  core::StoredMessage replaced = message(4, "status/gateway", "starting", QoS::at_least_once);

  return {
      batch(op::PutSession{alpha}, op::PutSession{beta}, op::PutSession{gamma}),
      batch(op::PutSubscription{alpha_sub}, op::PutSubscription{subscription("alpha", "$share/g/x/#")},
            op::PutSubscription{subscription("beta", "#", QoS::at_most_once)},
            op::PutSubscription{subscription("gamma", "g")}),
      batch(op::PutMessage{m1}, op::PutMessage{m2}, op::PutMessage{big_id}, op::PutMessage{dropped},
            op::PutQueueEntry{a_big}, op::PutQueueEntry{a2}, op::PutQueueEntry{a1}, op::PutQueueEntry{b1},
            op::PutQueueEntry{g1}),
      batch(op::PutMessage{replaced}, op::SetRetained{{"status/gateway", replaced.id}}),
      batch(op::PutMessage{m3}, op::SetRetained{{"status/gateway", m3.id}}),  // replaces: message 4 unreferenced
      batch(op::PutIncoming{{"alpha", 7}}, op::PutIncoming{{"alpha", 3}}, op::PutIncoming{{"gamma", 1}},
            op::PutIncoming{{"beta", 65535}}),
      batch(op::DeleteSession{"gamma"}),  // its subscription, queue entry (message 6) and incoming id go too
  };
}

// What a store holds after known_batches().
inline core::StoreSnapshot known_snapshot() {
  const auto batches = known_batches();
  const auto get = [&](std::size_t b, std::size_t i) -> const StoreOp& { return batches[b][i]; };
  const auto session_of = [&](std::size_t i) { return std::get<op::PutSession>(get(0, i)).session; };
  const auto sub_of = [&](std::size_t i) { return std::get<op::PutSubscription>(get(1, i)).subscription; };
  const auto msg_of = [&](std::size_t b, std::size_t i) { return std::get<op::PutMessage>(get(b, i)).message; };
  const auto entry_of = [&](std::size_t i) { return std::get<op::PutQueueEntry>(get(2, i)).entry; };

  core::StoreSnapshot s;
  s.sessions = {session_of(0), session_of(1)};
  s.subscriptions = {sub_of(1), sub_of(0), sub_of(2)};  // "$share..." sorts before "sensors..."
  s.messages = {msg_of(2, 0), msg_of(2, 1), msg_of(4, 0), msg_of(2, 2)};
  s.queue = {entry_of(6), entry_of(5), entry_of(4), entry_of(7)};
  s.incoming = {{"alpha", 3}, {"alpha", 7}, {"beta", 65535}};
  s.retained = {{"status/gateway", 3}};
  s.next_message_id = 5'000'000'001;
  return s;
}

// Field-by-field comparison with readable failures.
inline void expect_snapshot_eq(const core::StoreSnapshot& actual, const core::StoreSnapshot& expected) {
  EXPECT_EQ(actual.sessions, expected.sessions);
  EXPECT_EQ(actual.subscriptions, expected.subscriptions);
  EXPECT_EQ(actual.messages, expected.messages);
  EXPECT_EQ(actual.queue, expected.queue);
  EXPECT_EQ(actual.incoming, expected.incoming);
  EXPECT_EQ(actual.retained, expected.retained);
  EXPECT_EQ(actual.next_message_id, expected.next_message_id);
}

}  // namespace tern::persistence::test
