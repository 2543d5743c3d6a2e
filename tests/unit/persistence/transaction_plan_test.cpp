// plan_transaction(): which ops of one SQLite transaction are skipped because a later op of the same transaction
// overwrites or undoes them. What the tables look like after such a transaction is checked in
// sqlite_store_test.cpp; here, the plan itself.
#include "persistence/transaction_plan.hpp"

#include <gtest/gtest.h>

#include "broker/core/store_codec.hpp"
#include "store_test_support.hpp"

namespace tern::persistence::test {
namespace {

op::PutQueueEntry fresh_put(std::string client_id, std::uint64_t seq, std::uint64_t message_id,
                            std::uint16_t packet_id = 0) {
  return op::PutQueueEntry{entry(std::move(client_id), seq, message_id, packet_id), true};
}

op::PutQueueEntry update(std::string client_id, std::uint64_t seq, std::uint64_t message_id,
                         std::uint16_t packet_id) {
  return op::PutQueueEntry{entry(std::move(client_id), seq, message_id, packet_id), false};
}

// The plan of `ops` as one transaction, and the ops (which the plan may mark fresh).
struct Planned {
  std::vector<StoreOp> ops;
  TransactionPlan plan;
};

// The transaction is ops [0, cut); the ops after the cut stay in the journal (a partial compaction). Planned as
// the store plans: over the views of the ops' encoding; the puts the plan makes fresh are marked in `ops`.
Planned plan_of(std::vector<StoreOp> ops, std::size_t cut = SIZE_MAX) {
  Planned p{std::move(ops), {}};
  core::StoreBatch batch;
  for (const auto& o : p.ops) batch.add(o);
  std::vector<core::StoreOpView> views;
  core::scan_store_ops(batch.bytes(), views);
  p.plan = plan_transaction(views, cut);
  for (std::size_t i = 0; i < p.ops.size(); ++i) {
    if (auto* put = std::get_if<op::PutQueueEntry>(&p.ops[i])) put->fresh = views[i].fresh;
  }
  return p;
}

std::vector<bool> skips(std::initializer_list<bool> flags) { return flags; }

TEST(TransactionPlan, ADeliveryPutAndAcknowledgedInOneTransactionWritesNothing) {
  const auto p = plan_of(batch(op::PutMessage{message(7, "a")}, fresh_put("s", 3, 7, 1), op::DeleteQueueEntry{"s", 3}));
  EXPECT_EQ(p.plan.skip, skips({true, true, true}));
  EXPECT_TRUE(p.plan.referenced.empty());
}

TEST(TransactionPlan, AnEntryStillThereAtTheEndIsWrittenWithItsMessage) {
  const auto p = plan_of(batch(op::PutMessage{message(7, "a")}, fresh_put("s", 3, 7)));
  EXPECT_EQ(p.plan.skip, skips({false, false}));
  EXPECT_TRUE(p.plan.referenced.contains(7));
}

TEST(TransactionPlan, OnlyTheLastPutOfAnEntryRunsAndStaysFreshIfTheFirstWas) {
  auto p = plan_of(batch(op::PutMessage{message(7, "a")}, fresh_put("s", 3, 7), update("s", 3, 7, 9)));
  EXPECT_EQ(p.plan.skip, skips({false, true, false}));
  EXPECT_TRUE(std::get<op::PutQueueEntry>(p.ops[2]).fresh);  // no row was written before it
  EXPECT_TRUE(p.plan.referenced.contains(7));
}

TEST(TransactionPlan, ADeleteOfAnEntryThatMayBeStoredAlreadyRuns) {
  // Not fresh: the row may have been committed by an earlier transaction, so the delete must reach it.
  const auto p = plan_of(batch(update("s", 3, 7, 9), op::DeleteQueueEntry{"s", 3}));
  EXPECT_EQ(p.plan.skip, skips({true, false}));
}

TEST(TransactionPlan, AnUpdateOfAStoredEntryStaysNotFresh) {
  auto p = plan_of(batch(update("s", 3, 7, 9), update("s", 3, 7, 10)));
  EXPECT_EQ(p.plan.skip, skips({true, false}));
  EXPECT_FALSE(std::get<op::PutQueueEntry>(p.ops[1]).fresh);
}

TEST(TransactionPlan, EntriesAreKeyedByClientAndSeq) {
  const auto p = plan_of(batch(fresh_put("s", 3, 7), fresh_put("t", 3, 7), fresh_put("s", 4, 7),
                               op::DeleteQueueEntry{"s", 3}));
  EXPECT_EQ(p.plan.skip, skips({true, false, false, true}));
}

TEST(TransactionPlan, ADeleteSessionBetweenPutsKeepsItsPlace) {
  // The last put of "s"/3 runs after the DeleteSession, so the row exists at the end; the put of "s"/4 is its
  // key's last op and runs before the DeleteSession, which then removes it.
  const auto p = plan_of(batch(fresh_put("s", 3, 7), fresh_put("s", 4, 7), op::DeleteSession{"s"},
                               update("s", 3, 7, 2)));
  EXPECT_EQ(p.plan.skip, skips({true, false, false, false}));
}

TEST(TransactionPlan, IncomingIdsKeepOnlyTheirLastOp) {
  const auto p = plan_of(batch(op::PutIncoming{{"s", 5}}, op::DeleteIncoming{"s", 5}, op::PutIncoming{{"s", 6}},
                               op::DeleteIncoming{"s", 7}));
  EXPECT_EQ(p.plan.skip, skips({true, false, false, false}));
}

TEST(TransactionPlan, AQueueSeqAndAnIncomingIdWithTheSameNumberAreDifferentRows) {
  const auto p = plan_of(batch(fresh_put("s", 5, 7), op::DeleteIncoming{"s", 5}));
  EXPECT_EQ(p.plan.skip, skips({false, false}));
}

TEST(TransactionPlan, AMessageARetainedTopicReferencesIsWritten) {
  const auto p = plan_of(batch(op::PutMessage{message(7, "a")}, op::SetRetained{{"a", 7}}, op::PutMessage{message(8, "b")}));
  EXPECT_EQ(p.plan.skip, skips({false, false, true}));
  EXPECT_TRUE(p.plan.referenced.contains(7));
}

TEST(TransactionPlan, AMessageSharedByEntriesIsWrittenIfOneOfThemStays) {
  const auto p = plan_of(batch(op::PutMessage{message(7, "a")}, fresh_put("s", 1, 7), fresh_put("t", 1, 7),
                               op::DeleteQueueEntry{"s", 1}));
  EXPECT_EQ(p.plan.skip, skips({false, true, false, true}));
}

// Partial compaction: the rows before the cut are applied, planned against the rows that stay.

TEST(TransactionPlan, ADeliveryAcknowledgedAfterTheCutIsNotWrittenAndItsFreshPutIsCarried) {
  const auto p = plan_of(batch(op::PutMessage{message(7, "a")}, fresh_put("s", 3, 7, 1), op::DeleteQueueEntry{"s", 3}),
                         2);
  EXPECT_EQ(p.plan.skip, skips({true, true}));  // only the ops before the cut are planned
  EXPECT_EQ(p.plan.carry, std::vector<std::size_t>{1});
  EXPECT_TRUE(p.plan.referenced.empty());
}

TEST(TransactionPlan, AnEntryUpdatedAfterTheCutIsLeftToTheRowsThatStay) {
  // The put after the cut writes the row later; its message must be in the tables by then, since the rows holding
  // the PutMessage go now.
  const auto p = plan_of(batch(op::PutMessage{message(7, "a")}, fresh_put("s", 3, 7), update("s", 3, 7, 1)), 2);
  EXPECT_EQ(p.plan.skip, skips({false, true}));
  EXPECT_EQ(p.plan.carry, std::vector<std::size_t>{1});
  EXPECT_FALSE(std::get<op::PutQueueEntry>(p.ops[2]).fresh);  // after the cut: untouched (the carried put tells)
  EXPECT_TRUE(p.plan.later_referenced.contains(7));
  EXPECT_TRUE(p.plan.referenced.contains(7));
}

TEST(TransactionPlan, AStoredEntryDeletedAfterTheCutIsNotCarried) {
  // Not fresh: a row may exist, so the delete that stays must reach it.
  const auto p = plan_of(batch(update("s", 3, 7, 1), update("s", 3, 7, 2), op::DeleteQueueEntry{"s", 3}), 2);
  EXPECT_EQ(p.plan.skip, skips({true, true}));
  EXPECT_TRUE(p.plan.carry.empty());
}

TEST(TransactionPlan, AnEntryWhoseLastOpIsBeforeTheCutRunsAsInOneTransaction) {
  const auto p = plan_of(batch(op::PutMessage{message(7, "a")}, fresh_put("s", 3, 7), update("s", 3, 7, 1),
                               op::PutMessage{message(8, "b")}, fresh_put("t", 1, 8)),
                         3);
  EXPECT_EQ(p.plan.skip, skips({false, true, false}));
  EXPECT_TRUE(std::get<op::PutQueueEntry>(p.ops[2]).fresh);
  EXPECT_TRUE(p.plan.carry.empty());
  EXPECT_TRUE(p.plan.later_referenced.contains(8));
  EXPECT_FALSE(p.plan.later_referenced.contains(7));
}

TEST(TransactionPlan, AnEntryPutAfterTheCutButDeletedThereDoesNotKeepItsMessage) {
  // Message 7 is shared by "s"/1 (acknowledged after the cut) and "t"/1 (put and acknowledged after it).
  const auto p = plan_of(batch(op::PutMessage{message(7, "a")}, fresh_put("s", 1, 7), op::DeleteQueueEntry{"s", 1},
                               fresh_put("t", 1, 7), op::DeleteQueueEntry{"t", 1}),
                         2);
  EXPECT_EQ(p.plan.skip, skips({true, true}));
  EXPECT_TRUE(p.plan.later_referenced.empty());
}

TEST(TransactionPlan, ARetainedTopicSetAfterTheCutKeepsItsMessage) {
  const auto p = plan_of(batch(op::PutMessage{message(7, "a")}, fresh_put("s", 1, 7), op::DeleteQueueEntry{"s", 1},
                               op::SetRetained{{"a", 7}}),
                         2);
  EXPECT_EQ(p.plan.skip, skips({false, true}));
  EXPECT_TRUE(p.plan.later_referenced.contains(7));
}

}  // namespace
}  // namespace tern::persistence::test
