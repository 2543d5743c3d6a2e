// DeliveryQueue and Exchanges on their own (memory only: their store ops are checked through a real broker in
// tests/unit/persistence/broker_persistence_test.cpp): the queue's byte count, its spilled tail and paging, the
// in-flight window's packet ids, release and completion.
#include "broker/core/delivery_queue.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "broker/core/exchanges.hpp"
#include "broker/core/packet_id_map.hpp"
#include "broker/core/session.hpp"

namespace tern::core {
namespace {

using protocol::QoS;

Delivery delivery(const std::string& topic, std::size_t payload, std::uint64_t seq = 0, QoS qos = QoS::at_least_once) {
  auto m = std::make_shared<Message>();
  m->topic = topic;
  m->payload.assign(payload, 'x');
  m->qos = qos;
  return Delivery{std::move(m), qos, false, {}, seq};
}

TEST(DeliveryQueue, CountsBytesInOnePlace) {
  Session s("c");
  SessionStore store = SessionStore::memory_only(s);
  DeliveryQueue q;
  q.push(delivery("a", 10), store, 0);   // 11 bytes
  q.push(delivery("bb", 20), store, 0);  // 22 bytes
  EXPECT_EQ(q.size(), 2u);
  EXPECT_EQ(q.bytes(), 33u);
  const Delivery first = q.pop_front();
  EXPECT_EQ(first.message->topic, "a");
  EXPECT_EQ(q.bytes(), 22u);
  q.pop_front();
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.bytes(), 0u);
}

TEST(DeliveryQueue, NotStoredNeverSpills) {
  Session s("c");
  SessionStore store = SessionStore::memory_only(s);
  DeliveryQueue q;
  for (int i = 0; i < 5; ++i) q.push(delivery("t", 1), store, 2);  // no seq: it can only live in memory
  EXPECT_EQ(q.in_memory(), 5u);
  EXPECT_FALSE(q.spills());
}

// Stored entries beyond the in-memory limit live only in the store, counted; a page brings them back in order.
TEST(DeliveryQueue, SpilledTailIsPagedBackIn) {
  DeliveryQueue q;
  for (std::uint64_t seq = 1; seq <= 5; ++seq) q.restore(delivery("t", 9, seq), 3);  // 10 bytes each
  EXPECT_EQ(q.in_memory(), 3u);
  EXPECT_EQ(q.size(), 5u);
  EXPECT_EQ(q.bytes(), 50u);
  EXPECT_TRUE(q.spills());
  EXPECT_EQ(q.spill_after_seq(), 3u);
  EXPECT_FALSE(q.page_wanted(3));  // 3 in memory > 3 / 2

  q.pop_front();
  q.pop_front();
  EXPECT_EQ(q.bytes(), 30u);
  ASSERT_TRUE(q.page_wanted(3));
  q.page_requested(7);
  EXPECT_FALSE(q.page_wanted(3));  // one page at a time
  EXPECT_EQ(q.page_token(), 7u);

  std::vector<Delivery> page;
  page.push_back(delivery("t", 9, 4));
  page.push_back(delivery("t", 9, 5));
  q.add_page(std::move(page), 5, 2);
  EXPECT_FALSE(q.spills());
  EXPECT_EQ(q.page_token(), 0u);
  EXPECT_EQ(q.in_memory(), 3u);
  EXPECT_EQ(q.bytes(), 30u);
  std::vector<std::uint64_t> seqs;
  while (!q.empty()) seqs.push_back(q.pop_front().seq);
  EXPECT_EQ(seqs, (std::vector<std::uint64_t>{3, 4, 5}));
}

// An entry whose message is gone counts as read; an empty page means the store holds nothing more.
TEST(DeliveryQueue, PagesWithMissingMessagesAndEmptyPages) {
  DeliveryQueue q;
  for (std::uint64_t seq = 1; seq <= 6; ++seq) q.restore(delivery("t", 9, seq), 2);
  ASSERT_EQ(q.size(), 6u);
  std::vector<Delivery> page;
  page.push_back(delivery("t", 9, 4));  // seq 3's message was missing
  q.add_page(std::move(page), 4, 2);
  EXPECT_EQ(q.size(), 5u);  // 3 in memory, 2 still spilled
  EXPECT_EQ(q.spill_after_seq(), 4u);
  q.add_page({}, 0, 0);
  EXPECT_FALSE(q.spills());
  EXPECT_EQ(q.size(), 3u);
  EXPECT_EQ(q.bytes(), 30u);
}

TEST(DeliveryQueue, UnstoredForgetsTheStoresSide) {
  DeliveryQueue q;
  for (std::uint64_t seq = 1; seq <= 4; ++seq) q.restore(delivery("t", 9, seq), 2);
  q.page_requested(3);
  q.unstored();
  EXPECT_FALSE(q.spills());
  EXPECT_EQ(q.page_token(), 0u);
  EXPECT_EQ(q.size(), 2u);
  EXPECT_EQ(q.bytes(), 20u);
  q.for_each([](const Delivery& d) { EXPECT_EQ(d.seq, 0u); });
}

TEST(Exchanges, PacketIdsSkipThoseInFlightAndWrap) {
  Session s("c");
  SessionStore store = SessionStore::memory_only(s);
  Exchanges x;
  x.restore_inflight(65534, delivery("t", 1, 1), false);  // the next id follows the last restored one
  EXPECT_EQ(x.next_packet_id(), 65535);
  EXPECT_EQ(x.next_packet_id(), 1);
  x.send(2, delivery("t", 1), store);
  EXPECT_EQ(x.next_packet_id(), 3);  // 2 is in flight
  EXPECT_EQ(x.inflight_count(), 2u);
}

TEST(Exchanges, ReleaseAndComplete) {
  Session s("c");
  SessionStore store = SessionStore::memory_only(s);
  Exchanges x;
  x.send(1, delivery("a", 1, 0, QoS::exactly_once), store);
  x.send(2, delivery("b", 1), store);
  InflightOut* f = x.find(1);
  ASSERT_NE(f, nullptr);
  x.release(*f, store);
  EXPECT_TRUE(f->released);
  EXPECT_EQ(f->delivery.message, nullptr);  // only the PUBREL is left to send
  std::vector<std::uint16_t> order;
  x.for_each_inflight([&](InflightOut& e) { order.push_back(e.packet_id); });
  EXPECT_EQ(order, (std::vector<std::uint16_t>{1, 2}));  // send order
  x.complete(1, store);
  x.complete(9, store);  // unknown: nothing
  EXPECT_EQ(x.find(1), nullptr);
  EXPECT_EQ(x.inflight_count(), 1u);

  x.await_pubrel(7, store);
  EXPECT_TRUE(x.awaiting_pubrel(7));
  EXPECT_EQ(x.incoming_count(), 1u);
  EXPECT_TRUE(x.pubrel(7, store));
  EXPECT_FALSE(x.pubrel(7, store));
}

// max_inflight_bytes' bookkeeping: payload bytes (not topics) from send to completion, the PUBREL phase included; a
// restored entry counts as a sent one.
TEST(Exchanges, CountsPayloadBytesInFlight) {
  Session s("c");
  SessionStore store = SessionStore::memory_only(s);
  Exchanges x;
  EXPECT_TRUE(x.has_room(2, 100));
  x.send(1, delivery("topic", 60, 0, QoS::exactly_once), store);
  EXPECT_EQ(x.inflight_bytes(), 60u);
  EXPECT_TRUE(x.has_room(2, 100));
  x.send(2, delivery("t", 60), store);
  EXPECT_EQ(x.inflight_bytes(), 120u);
  EXPECT_FALSE(x.has_room(20, 100));  // over the bytes
  EXPECT_TRUE(x.has_room(20, 0));     // 0: no byte limit
  EXPECT_FALSE(x.has_room(2, 0));     // the count
  x.release(*x.find(1), store);
  EXPECT_EQ(x.inflight_bytes(), 120u);
  x.complete(1, store);
  EXPECT_EQ(x.inflight_bytes(), 60u);
  x.restore_inflight(7, delivery("t", 30, 1, QoS::exactly_once), true);
  EXPECT_EQ(x.inflight_bytes(), 90u);
  EXPECT_EQ(x.find(7)->delivery.message, nullptr);  // only the PUBREL is resent
  x.complete(7, store);
  x.complete(2, store);
  EXPECT_EQ(x.inflight_bytes(), 0u);
}

// PacketIdMap against std::map: inserts, finds and erases of clustered and wrapping ids (so that deletion shifts
// cells back across the table's end), growth and shrinking, and the table given back when empty.
TEST(PacketIdMap, AgreesWithAMap) {
  std::mt19937 random(7);
  PacketIdMap m;
  std::map<std::uint16_t, std::uint64_t> model;
  for (int round = 0; round < 20'000; ++round) {
    // Ids near 0/65535 and in a narrow band: long probe runs that wrap around the table.
    const auto id = static_cast<std::uint16_t>((round % 3 == 0)   ? 1 + random() % 40
                                               : (round % 3 == 1) ? 65535 - random() % 40
                                                                  : 1 + random() % 3000);
    if (random() % 3 != 0) {
      EXPECT_EQ(m.insert(id, static_cast<std::uint64_t>(round)), model.emplace(id, round).second);
    } else {
      EXPECT_EQ(m.erase(id), model.erase(id) == 1);
    }
    ASSERT_EQ(m.size(), model.size());
    if (round % 97 == 0) {
      for (std::uint16_t probe = 1; probe != 0; probe = static_cast<std::uint16_t>(probe + 1)) {
        const auto it = model.find(probe);
        const std::uint64_t* found = m.find(probe);
        ASSERT_EQ(found != nullptr, it != model.end()) << probe;
        if (found) {
          EXPECT_EQ(*found, it->second);
        }
      }
    }
  }
  std::size_t visited = 0;
  m.for_each([&](std::uint16_t id, std::uint64_t value) {
    ++visited;
    EXPECT_EQ(model.at(id), value);
  });
  EXPECT_EQ(visited, model.size());
  while (!model.empty()) {
    EXPECT_TRUE(m.erase(model.begin()->first));
    model.erase(model.begin());
  }
  EXPECT_TRUE(m.empty());
  EXPECT_EQ(m.displaced(), 0u);
  EXPECT_FALSE(m.erase(5));
  EXPECT_EQ(m.find(5), nullptr);
}

// A sliding window of consecutive ids, as the broker hands them out, across the wrap from 65535 to 1: every cell sits
// at its home, so no erase has to look past its own cell (PacketIdMap's header).
TEST(PacketIdMap, ConsecutiveIdsSitAtTheirHome) {
  for (const std::size_t window : {std::size_t{1'000}, std::size_t{40'000}}) {
    PacketIdMap m;
    std::uint16_t next = 1;
    std::uint16_t oldest = 1;
    const auto advance = [](std::uint16_t id) { return static_cast<std::uint16_t>(id == 65535 ? 1 : id + 1); };
    for (int sent = 0; sent < 3 * 65535; ++sent) {
      if (m.size() == window) {
        ASSERT_TRUE(m.erase(oldest));
        oldest = advance(oldest);
      }
      ASSERT_TRUE(m.insert(next, static_cast<std::uint64_t>(sent)));
      next = advance(next);
      ASSERT_EQ(m.displaced(), 0u) << "window " << window << ", sent " << sent;
    }
    ASSERT_NE(m.find(oldest), nullptr);
    EXPECT_EQ(m.size(), window);
  }
}

// The window completed out of order, as clients acknowledge: find() and the send order stay right through the dead
// entries and the compactions, with a large window and a stuck first entry (its ids keep being reused around it).
TEST(Exchanges, WindowCompletedOutOfOrder) {
  Session s("c");
  SessionStore store = SessionStore::memory_only(s);
  Exchanges x;
  std::mt19937 random(11);
  std::vector<std::uint16_t> model;  // in flight, in send order
  std::map<std::uint16_t, std::string> topics;
  for (int round = 0; round < 30'000; ++round) {
    if (model.size() < 2000 && (model.empty() || random() % 2 == 0)) {
      const std::uint16_t id = x.next_packet_id();
      const std::string topic = "t/" + std::to_string(round);
      x.send(id, delivery(topic, 1), store);
      model.push_back(id);
      topics[id] = topic;
    } else if (model.size() > 1) {
      // Never the first one: it stays in flight for the whole test.
      const std::size_t at = 1 + random() % (model.size() - 1);
      x.complete(model[at], store);
      EXPECT_EQ(x.find(model[at]), nullptr);
      model.erase(model.begin() + static_cast<std::ptrdiff_t>(at));
    }
    ASSERT_EQ(x.inflight_count(), model.size());
    const std::uint16_t probe = model[random() % model.size()];
    ASSERT_NE(x.find(probe), nullptr);
    EXPECT_EQ(x.find(probe)->delivery.message->topic, topics[probe]);
    if (round % 1000 == 0) {
      std::vector<std::uint16_t> order;
      x.for_each_inflight([&](InflightOut& f) { order.push_back(f.packet_id); });
      ASSERT_EQ(order, model);
    }
  }
  for (const std::uint16_t id : model) x.complete(id, store);
  EXPECT_EQ(x.inflight_count(), 0u);
  EXPECT_EQ(x.inflight_bytes(), 0u);
}

}  // namespace
}  // namespace tern::core
