// The composition root: from a Config, the log, the Broker, the shards, the listeners, the Broker's timer and the
// signals, wired together and run.
//
//   SIGINT, SIGTERM  graceful shutdown: stop accepting, Broker::shutdown() (DISCONNECT to every client), let the
//                    writes flush for at most a second, stop. A second signal stops at once.
//   SIGHUP           TLS listeners re-read their certificates, keys, CRL and PSK file for new connections (open
//                    ones keep theirs); the config file is read again for its local rules only (rule blocks
//                    and rules_file), which replace the rules in force as one set unless it has an error.
//   SIGPIPE, SIGXFSZ ignored (a write to a closed socket, or past the file size limit, is an error code, not a
//                    signal).
//
// Thread safety: run() once, from the main thread, which serves as shard 0.
#pragma once

#include "broker/config.hpp"

namespace tern {

class Server {
 public:
  explicit Server(Config config);

  // Runs until a signal ends it. Returns the process exit code: 0 after a graceful shutdown, 1 when start-up fails
  // (log file, a listener that cannot bind, an unusable certificate or key).
  int run();

 private:
  Config config_;
};

}  // namespace tern
