// Which ops of one SQLite transaction need not run: the writer commits a group of batches as one transaction (one
// journal row, sqlite_journal.hpp), and compaction applies many such rows as one transaction; only the state at a
// COMMIT is ever seen (after a crash too), so an op whose effect a later op of the same transaction undoes or
// overwrites is work for nothing.
//
// Under load most of that work is a QoS 1/2 delivery's whole life: the message and its queue entry are put when it
// is published and the entry deleted when the subscriber acknowledges it, often before the writer gets to the
// first batch. Then the transaction writes nothing for that message.
//
//   group: PutMessage{7}  PutQueueEntry{"s", 3 -> 7, fresh}  ...  DeleteQueueEntry{"s", 3}
//   plan:  skip           skip                                    skip    (no row for "s"/3 before, none after)
//
// The rules (a key is a queue entry's (client_id, seq), an incoming QoS 2 id's (client_id, packet_id)):
//   - Of the puts and deletes of one key, only the last runs, in its own place (so a DeleteSession between them
//     still comes before a last put, and after a put it deletes).
//   - If that last op is a delete and the key's first op in the transaction is a fresh put (the core's first put
//     of that entry: no row can exist before it), the delete is skipped too: there was no row and will be none.
//   - A put that runs after a fresh put of its key (skipped) is itself made fresh: still no row before it, so the
//     store need not look up the message the row referenced.
//   - A PutMessage is skipped if nothing that runs in the transaction references the message (a queue entry put or
//     a retained topic set); the core puts a message in the same batch as its first reference, so no older row
//     can need it. Otherwise its message is known to be referenced at the end of the put that references it, and
//     needs no garbage-collection probe for having been put (`referenced`).
//
// Message garbage collection then runs once, at the end of the transaction (SqliteTables::commit): the
// state a later batch of the group leaves is the one that counts.
//
// Compaction may apply only the older journal rows (sqlite_journal.hpp) and plan them against every row, so that
// an acknowledgement in a newer row cancels a delivery put in an older one. Then `ops` is the transaction [0, cut)
// followed by ops that stay in the journal, to run in a later transaction, and:
//   - A key whose last op lies after the cut has all its ops before the cut skipped: the rows that stay decide it.
//     If its first op is a fresh put, that put is carried (`carry`): the journal keeps it in memory, in front of
//     the rows that stay, so that the later plan still knows no row exists (and skips the delete). It has no
//     durable effect: after a crash the rows that stay are replayed without it and reach the same state.
//   - A message referenced by an op after the cut that may still run (its key's last put, or any SetRetained:
//     `later_referenced`) is put now if its PutMessage is before the cut, and is not garbage-collected now: the
//     journal rows holding its PutMessage go away with this transaction, the reference stays in the journal.
//
//   rows 1-2 (applied): PutMessage{7}  PutQueueEntry{"s", 3 -> 7, fresh}     row 3 (stays): DeleteQueueEntry{"s", 3}
//   plan:               skip           skip, carried                        later: the carried put and the delete
//                                                                            cancel; nothing is ever written
//
// Thread safety: plain functions and values.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string_view>
#include <vector>

#include "broker/core/store_codec.hpp"
#include "persistence/message_id_set.hpp"

namespace tern::persistence {

struct TransactionPlan {
  std::vector<bool> skip;          // per op of the transaction [0, cut), in order
  MessageIdSet referenced;         // messages a put that runs or an op after the cut references
  MessageIdSet later_referenced;   // of those, the ones an op after the cut references
  std::vector<std::size_t> carry;  // fresh puts before the cut whose key's last op is after it
};

// The plan reads each op as a core::StoreOpView (its kind and keys, viewing the op's encoding: store_codec.hpp): the
// store gets its batches, and the journal keeps its ops, as bytes.

// Frees the capacity of a vector of op views kept for reuse once it passes what an ordinary group or compaction
// needs (65,536 ops, 3.5 MiB), so that one unusual plan does not hold its memory for the life of the store.
inline void release_if_large(std::vector<core::StoreOpView>& ops) {
  if (ops.capacity() > (std::size_t{1} << 16)) std::vector<core::StoreOpView>().swap(ops);
}

// `ops`: every op of the transaction, in order, then (from `cut` on) the ops known to follow it. Puts that run
// after a skipped fresh put of their key are marked fresh (hence the non-const ops).
TransactionPlan plan_transaction(std::vector<core::StoreOpView>& ops,
                                 std::size_t cut = std::numeric_limits<std::size_t>::max());

}  // namespace tern::persistence
