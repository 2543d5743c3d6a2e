// The last step of every Store::load(): makes a snapshot self-consistent before the broker rebuilds from it.
//
// Queue entries and retained topics must name a stored message; messages must be referenced. A store that works
// never breaks this, but a batch that failed to commit (store.hpp, "Failure") can leave a queue entry whose message
// was in the failed batch. Such references are dropped with a warning rather than handed to the core.
//
//   messages {7, 8}, queue {("s", 1) -> 7, ("s", 2) -> 9}, retained {"t" -> 7}
//     -> messages {7}, queue {("s", 1) -> 7}, retained {"t" -> 7}   (9 missing: entry dropped; 8 unreferenced)
//
// Thread safety: a free function over a value.
#pragma once

#include "broker/core/store_ops.hpp"

namespace tern::persistence {

// Returns the number of rows dropped (queue entries, retained topics and messages).
std::size_t drop_dangling(core::StoreSnapshot& snapshot);

}  // namespace tern::persistence
