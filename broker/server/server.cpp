#include "broker/server/server.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "broker/auth/security.hpp"
#include "broker/core/broker.hpp"
#include "broker/net/asio.hpp"
#include "broker/net/bridge_link.hpp"
#include "broker/net/endpoint.hpp"
#include "broker/net/http_endpoint.hpp"
#include "broker/net/listener.hpp"
#include "broker/net/security_slot.hpp"
#include "broker/net/shard.hpp"
#include "broker/net/shared_broker.hpp"
#include "broker/net/ticker.hpp"
#include "broker/net/transport.hpp"
#include "broker/server/history_service.hpp"
#include "broker/server/metrics.hpp"
#include "broker/server/store_bridge.hpp"
#include "persistence/history_store.hpp"
#include "persistence/sqlite_store.hpp"
#include "persistence/test_switches.hpp"
#include "platform/clock.hpp"
#include "platform/cpu.hpp"
#include "platform/log.hpp"
#include "platform/privileges.hpp"
#include "platform/signals.hpp"
#include "platform/sysinfo.hpp"
#include "platform/systemd.hpp"
#include "tls/resumption.hpp"

#ifndef TERN_VERSION
#define TERN_VERSION "0.1.0"
#endif

namespace tern {

namespace {

namespace asio = net::asio;
using server::HistoryService;

// Rules' `store` records into the history store, stamped with the wall clock as they are accepted.
class HistoryWriter final : public edge::HistorySink {
 public:
  explicit HistoryWriter(persistence::HistoryStore& store) : store_(store) {}
  void store(std::span<edge::HistoryEntry> records) override {
    const std::int64_t now = platform::unix_millis();
    std::vector<persistence::HistoryRecord> batch;
    batch.reserve(records.size());
    for (edge::HistoryEntry& r : records) {
      batch.push_back({.rule = std::move(r.rule),
                       .time_ms = now,
                       .topic = std::move(r.topic),
                       .payload = std::move(r.payload),
                       .qos = static_cast<std::uint8_t>(r.qos)});
    }
    store_.add(std::move(batch));  // one lock per read batch
  }

 private:
  persistence::HistoryStore& store_;
};

// Each storing rule's retention (its last `store` action's).
std::map<std::string, persistence::HistoryRetention> history_retention(const std::vector<edge::Rule>& rules) {
  std::map<std::string, persistence::HistoryRetention> out;
  for (const edge::Rule& rule : rules) {
    for (const edge::Action& action : rule.actions) {
      if (const auto* s = std::get_if<edge::Store>(&action)) out[rule.name] = {s->max_age, s->max_rows};
    }
  }
  return out;
}
using net::error_code;

constexpr std::chrono::seconds shutdown_grace{1};
constexpr std::chrono::milliseconds shutdown_poll{20};

unsigned shard_count(unsigned configured) { return configured != 0 ? configured : platform::cpu_count(); }

// persistence true: the SQLite store, opened (an unusable database is moved aside and a new one made: sqlite_open.hpp)
// before any listener binds; null with persistence false. Throws persistence::StoreError, and the server does not
// start, when no database can be had at all or the journal a crash left cannot be applied.
std::unique_ptr<persistence::SqliteStore> open_store(const Config::Persistence& config) {
  if (!config.enabled) return nullptr;
  persistence::SqliteOptions options;
  options.directory = config.location.empty() ? std::filesystem::path(".") : std::filesystem::path(config.location);
  options.file_name = config.file;
  options.sync = config.sync_full ? persistence::SyncMode::full : persistence::SyncMode::normal;
  persistence::apply_test_switches(options);
  auto store = std::make_unique<persistence::SqliteStore>(std::move(options));
  TERN_LOG(notice, "persistence: ", store->path().string(), " (persistence_sync ", config.sync_full ? "full" : "normal",
           ")");
  return store;
}

// One per set of security settings: every listener shares one without per_listener_settings.
struct SecurityDomain {
  auth::SecuritySettings settings;
  std::unique_ptr<net::SecuritySlot> slot;
  std::vector<std::uint16_t> ports;  // for the log
};

std::string describe_ports(const std::vector<std::uint16_t>& ports) {
  std::string out = ports.size() == 1 ? "listener " : "listeners ";
  for (std::size_t i = 0; i < ports.size(); ++i) out += (i ? ", " : "") + std::to_string(ports[i]);
  return out;
}

// Reads the files of `settings`; logs what they warn about. Throws auth::AuthFileError.
std::shared_ptr<const auth::ListenerSecurity> load_security(const auth::SecuritySettings& settings) {
  auto security = auth::ListenerSecurity::load(settings);
  for (const std::string& warning : security->warnings()) TERN_LOG(warning, warning);
  return security;
}

// Everything that runs, in construction order; destroyed in reverse, so the listeners, the timers and the signal
// set go before the shards whose io_contexts they use, and the shards (with any connection still in them) before
// the Broker, and the store last.
class Running {
 public:
  explicit Running(const Config& config)
      : store_(open_store(config.persistence)),
        broker_(config.broker),
        shared_(broker_),
        source_(config.source),
        history_file_((config.persistence.location.empty() ? std::filesystem::path(".")
                                                           : std::filesystem::path(config.persistence.location)) /
                      "tern-history.db") {
    const unsigned count = shard_count(config.threads);
    for (unsigned i = 0; i < count; ++i) shards_.push_back(std::make_unique<net::Shard>(i, shared_));
    // Before the MQTT listeners: a port in use stops the start before any "listening on" line.
    if (config.http_listener) {
      try {
        http_ = std::make_unique<net::HttpEndpoint>(shards_[0]->context(), config.http_listener->address,
                                                    config.http_listener->port, http_handlers());
      } catch (const std::exception& e) {
        throw std::runtime_error("http_listener " + std::to_string(config.http_listener->port) + ": " + e.what());
      }
    }
    for (const ListenerConfig& listener : config.listeners) {
      net::SecuritySlot* slot = security_slot(config.security_of(listener), listener.port);
      listeners_.push_back(std::make_unique<net::Listener>(
          listener, *shards_[0], [this]() -> net::Shard& { return next_shard(); }, shared_, slot));
    }
    for (const SecurityDomain& domain : security_) {
      const auth::SecuritySettings& s = domain.settings;
      TERN_LOG(notice, describe_ports(domain.ports), ": ",
               s.allow_anonymous ? "open to anonymous clients (allow_anonymous true)" : "anonymous clients refused",
               s.password_file.empty() ? "" : ", passwords from " + s.password_file,
               s.acl_file.empty() ? "; no acl_file: every client may use every topic" : ", ACL from " + s.acl_file);
    }
    install_rules(config.rules, "");
    ticker_ = std::make_unique<net::Ticker>(
        shards_[0]->executor(), shared_,
        net::SysPublishing{std::chrono::seconds(config.sys_interval), TERN_VERSION, &shards_});
    for (const bridge::BridgeSettings& settings : config.bridges) {
      bridge_links_.push_back(std::make_unique<net::BridgeLink>(settings, shards_[0]->executor(), shared_));
    }
    grace_timer_ = std::make_unique<net::Timer>(shards_[0]->executor());
    signals_ = std::make_unique<asio::signal_set>(shards_[0]->context(), SIGINT, SIGTERM, SIGHUP);
  }

  void run() {
    if (store_) {
      // Before the first client: the state the store holds becomes the broker's, and every change from here on is
      // committed before it is acknowledged.
      const core::StoreSnapshot snapshot = store_->load();
      bridge_ = std::make_unique<StoreBridge>(*store_, shared_, shards_[0]->executor());
      std::lock_guard lock(shared_.mutex);
      broker_.restore(snapshot, *bridge_, core::Clock::now(), platform::unix_millis());
    }
    running_ = true;
    start_history_service();
    for (auto& listener : listeners_) listener->start();
    if (http_) {
      http_->start();
      TERN_LOG(notice, "http_listener: metrics on http://", http_->name(), "/metrics, health on /healthz");
    }
    // After every "listening on" line (the tests' harness reads the ports up to this one).
    TERN_LOG(information, "running ", shards_.size(), shards_.size() == 1 ? " network thread" : " network threads");
    ticker_->start();
    for (auto& link : bridge_links_) link->start();  // on shard 0, once it runs
    wait_for_signal();
    platform::notify_ready();  // the listeners are bound: clients can connect
    start_watchdog();
    for (std::size_t i = 1; i < shards_.size(); ++i) shards_[i]->start_thread();
    shards_[0]->run();  // the main thread is shard 0's
    for (auto& shard : shards_) shard->stop();
    for (auto& shard : shards_) shard->join();
    log_lock_stats();
    // Every batch the broker submitted is committed before the process exits; their callbacks post to the stopped
    // shards and are dropped (no client is left to answer).
    if (store_) store_->flush();
  }

 private:
  // The core lock's counters over the broker's life (bench/run.py and bench/drain.py read this line).
  void log_lock_stats() {
    const net::LockStats l = shared_.mutex.stats();
    char line[160];
    std::snprintf(line, sizeof line, "core lock: held %.3f %% of %.3f s, longest hold %.1f us, %llu acquisitions",
                  100 * l.hold_fraction(), static_cast<double>(l.wall_ns) / 1e9,
                  static_cast<double>(l.longest_hold_ns) / 1e3, static_cast<unsigned long long>(l.acquisitions));
    TERN_LOG(notice, line);
  }

  // The slot for `settings`: shared by every listener with the same settings (all of them without
  // per_listener_settings). Throws auth::AuthFileError.
  net::SecuritySlot* security_slot(const auth::SecuritySettings& settings, std::uint16_t port) {
    for (SecurityDomain& domain : security_) {
      if (domain.settings == settings) {
        domain.ports.push_back(port);
        return domain.slot.get();
      }
    }
    security_.push_back({settings, std::make_unique<net::SecuritySlot>(load_security(settings)), {port}});
    return security_.back().slot.get();
  }

  // SIGHUP: each domain's files are read again; a file with an error leaves that domain's rules as they were. The
  // broker then moves the domain's clients to the new rules (disconnecting those no longer let in).
  void reload_security() {
    for (SecurityDomain& domain : security_) {
      std::shared_ptr<const auth::ListenerSecurity> next;
      try {
        next = load_security(domain.settings);
      } catch (const std::exception& e) {
        TERN_LOG(error, describe_ports(domain.ports), ": reload failed, the previous rules stay in force: ", e.what());
        continue;
      }
      const auto previous = domain.slot->exchange(next);
      {
        std::lock_guard lock(shared_.mutex);
        broker_.replace_policy(*previous, next, core::Clock::now());
      }
      TERN_LOG(notice, describe_ports(domain.ports), ": password and ACL files reloaded");
    }
  }

  // Installs `rules` as one new set; the windows of the set it replaces are closed and published now. The history
  // opens with the first rule that stores (and stays open); each storing rule's retention is set.
  void install_rules(std::vector<edge::Rule> rules, std::string_view why) {
    const auto retention = history_retention(rules);
    if (!retention.empty() && !history_) {
      try {
        history_ = std::make_unique<persistence::HistoryStore>(history_file_, persistence::HistoryStore::Options{});
      } catch (const std::exception& e) {
        if (!running_) throw std::runtime_error("cannot open the history " + history_file_.string() + ": " + e.what());
        TERN_LOG(error, "cannot open the history ", history_file_.string(), ": ", e.what(),
                 "; store actions keep nothing");
      }
      if (history_) {
        history_writer_ = std::make_unique<HistoryWriter>(*history_);
        shared_.rules.set_history(history_writer_.get());
        TERN_LOG(notice, "history in ", history_file_.string(), ", queried on ", HistoryService::query_topic);
        if (running_) start_history_service();
      }
    }
    if (history_) history_->set_retention(retention);
    const std::size_t count = rules.size();
    const auto now = core::Clock::now();
    const auto flushed = shared_.rules.replace(shared_.rules.make_set(std::move(rules)), now);
    if (!flushed.empty()) {
      std::lock_guard lock(shared_.mutex);
      broker_.publish_derived(flushed, now);
    }
    if (count != 0 || !why.empty()) TERN_LOG(notice, why, count, count == 1 ? " rule" : " rules", " in force");
  }

  void start_history_service() {
    if (!history_ || history_service_) return;
    history_service_ = std::make_unique<HistoryService>(shared_, *history_);
    history_service_->start();
  }

  // SIGHUP: the config file is read again for its rules (rule blocks and rules_file); with an error anywhere in it
  // the rules in force stay.
  void reload_rules() {
    if (source_.empty()) return;
    std::vector<edge::Rule> rules;
    try {
      rules = load_config_file(source_).rules;
    } catch (const std::exception& e) {
      TERN_LOG(error, "rules: reload failed, the previous rules stay in force: ", e.what());
      return;
    }
    install_rules(std::move(rules), "rules reloaded: ");
  }

  net::Shard& next_shard() { return *shards_[next_shard_.fetch_add(1, std::memory_order_relaxed) % shards_.size()]; }

  void wait_for_signal() {
    signals_->async_wait([this](const error_code& error, int number) {
      if (error) return;
      if (number == SIGHUP) {
        // The log file first, so that what follows goes to the new one (logrotate moved the old one away).
        std::string log_error;
        if (!platform::reopen_log_file(log_error)) TERN_LOG(error, "SIGHUP: ", log_error, "; logging to the old file");
        TERN_LOG(notice,
                 "SIGHUP: log file reopened; reloading password and ACL files, rules, TLS certificates and keys");
        reload_security();
        reload_rules();
        for (auto& listener : listeners_) listener->reload_tls();
      } else if (shutting_down_) {
        TERN_LOG(notice, "received ", number == SIGINT ? "SIGINT" : "SIGTERM", " again: stopping now");
        stop_shards();
        return;
      } else {
        TERN_LOG(notice, "received ", number == SIGINT ? "SIGINT" : "SIGTERM", ": shutting down");
        begin_shutdown();
      }
      wait_for_signal();
    });
  }

  // What GET /metrics shows: the core's counters under its lock (a copy, taken in a microsecond), the rest from
  // atomics. Runs on shard 0.
  net::HttpEndpoint::Handlers http_handlers() {
    net::HttpEndpoint::Handlers h;
    h.metrics = [this] {
      MetricsSnapshot s;
      {
        std::lock_guard lock(shared_.mutex);
        s.broker = broker_.stats();
      }
      s.lock = shared_.mutex.stats();
      for (const auto& listener : listeners_) {
        for (const auto& endpoint : listener->local_endpoints()) {
          s.listeners.push_back({net::to_string(endpoint), listener->open_connections()});
        }
      }
      for (const auto& link : bridge_links_) s.bridges.push_back({link->name(), link->up(), link->backlog()});
      s.open_sockets = shared_.open_sockets.load(std::memory_order_relaxed);
      using Layer = net::Transport::Layer;
      s.tls_handshake_failures = shared_.opening_failures[std::size_t(Layer::tls)].load(std::memory_order_relaxed);
      s.websocket_upgrade_failures =
          shared_.opening_failures[std::size_t(Layer::websocket)].load(std::memory_order_relaxed);
      const tls::HandshakeCounts handshakes = tls::handshake_counts();
      s.tls_handshakes_full = handshakes.full;
      s.tls_handshakes_resumed = handshakes.resumed;
      for (const auto& shard : shards_) {
        s.bytes_received += shard->bytes_received();
        s.bytes_sent += shard->bytes_sent();
      }
      s.heap_bytes = platform::heap_in_use();
      const edge::RuleStats& rules = shared_.rules.stats();
      s.rules = {rules.evaluated.load(std::memory_order_relaxed), rules.matched.load(std::memory_order_relaxed),
                 rules.not_json.load(std::memory_order_relaxed), rules.bad_topic.load(std::memory_order_relaxed),
                 rules.windows_published.load(std::memory_order_relaxed)};
      if (history_) {
        const persistence::HistoryStore::Stats h = history_->stats();
        const std::uint64_t unstored = rules.store_dropped.load(std::memory_order_relaxed);
        s.history = MetricsSnapshot::History{h.written, h.dropped + unstored, h.expired};
      }
      if (store_) s.store = store_->stats();
      s.uptime_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
      return render_metrics(s);
    };
    h.health = [this](std::string& reason) {
      if (!shutting_down_) return true;
      reason = "shutting down";
      return false;
    };
    return h;
  }

  // systemd's watchdog (WatchdogSec=): a ping at half the period from shard 0's event loop, after taking the
  // broker's lock, so a stuck loop or a lock never released stops the pings and systemd restarts the broker.
  void start_watchdog() {
    const auto period = platform::watchdog_interval();
    if (!period) return;
    watchdog_timer_ = std::make_unique<net::Timer>(shards_[0]->executor());
    ping_watchdog(std::max<std::chrono::microseconds>(*period / 2, std::chrono::milliseconds(10)));
  }

  void ping_watchdog(std::chrono::microseconds every) {
    { std::lock_guard lock(shared_.mutex); }
    platform::notify_watchdog();
    watchdog_timer_->expires_after(every);
    watchdog_timer_->async_wait([this, every](const error_code& error) {
      if (!error) ping_watchdog(every);
    });
  }

  void begin_shutdown() {
    platform::notify_stopping();
    shutting_down_ = true;
    shared_.shutting_down.store(true, std::memory_order_relaxed);
    for (auto& listener : listeners_) listener->stop();
    if (http_) http_->stop();
    for (auto& link : bridge_links_) link->stop();  // before the broker closes everyone: the local sessions just detach
    if (history_service_) history_service_->stop();
    ticker_->stop();
    const core::TimePoint now = core::Clock::now();
    {
      std::lock_guard lock(shared_.mutex);
      broker_.shutdown(now);
    }
    wait_for_flush(now + shutdown_grace);
  }

  // The sockets close as their last bytes are written; stop when all are gone or the grace period is over.
  void wait_for_flush(core::TimePoint deadline) {
    const core::TimePoint now = core::Clock::now();
    const std::size_t open = shared_.open_sockets.load(std::memory_order_relaxed);
    if (open == 0 || now >= deadline) {
      if (open != 0) TERN_LOG(information, "closing ", open, " connection(s) that did not flush in time");
      stop_shards();
      return;
    }
    grace_timer_->expires_after(shutdown_poll);
    grace_timer_->async_wait([this, deadline](const error_code& error) {
      if (!error) wait_for_flush(deadline);
    });
  }

  void stop_shards() {
    signals_->cancel();
    if (watchdog_timer_) watchdog_timer_->cancel();
    for (auto& shard : shards_) shard->stop();
  }

  std::unique_ptr<persistence::SqliteStore> store_;  // first: flushed in run(), destroyed last
  core::Broker broker_;
  net::SharedBroker shared_;
  std::vector<std::unique_ptr<net::Shard>> shards_;
  std::vector<SecurityDomain> security_;  // before the listeners, which point into it
  std::vector<std::unique_ptr<net::Listener>> listeners_;
  std::unique_ptr<net::Ticker> ticker_;
  std::unique_ptr<net::HttpEndpoint> http_;                     // http_listener: /metrics and /healthz
  std::vector<std::unique_ptr<net::BridgeLink>> bridge_links_;  // connection sections
  const std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  std::unique_ptr<net::Timer> grace_timer_;
  std::unique_ptr<net::Timer> watchdog_timer_;
  std::unique_ptr<asio::signal_set> signals_;
  std::unique_ptr<StoreBridge> bridge_;
  std::atomic<std::size_t> next_shard_{0};
  const std::string source_;  // the config file, read again on SIGHUP for the rules
  bool shutting_down_ = false;
  bool running_ = false;  // run() has restored the store: the broker's own clients may attach
  // The local history, open once a rule stores. The service goes after the store (destroyed before the service):
  // the store's thread answers the last queries through it; the shards that write through history_writer_ have
  // stopped by then.
  const std::filesystem::path history_file_;
  std::unique_ptr<HistoryService> history_service_;
  std::unique_ptr<persistence::HistoryStore> history_;
  std::unique_ptr<HistoryWriter> history_writer_;
};

// pid_file: the process id in decimal, as mosquitto writes it (no newline). False, logged, if it cannot be written.
bool write_pid_file(const std::string& path) {
  std::FILE* file = std::fopen(path.c_str(), "w");
  const bool ok = file != nullptr && std::fprintf(file, "%d", static_cast<int>(::getpid())) > 0;
  const bool closed = file != nullptr && std::fclose(file) == 0;
  if (!ok || !closed) {
    TERN_LOG(error, "cannot write pid_file ", path, ": ", std::strerror(errno));
    return false;
  }
  return true;
}

// user: after the listeners are bound and the files are open (platform/privileges.hpp). False, logged, when the
// change failed: running on as root would be worse than not starting.
bool change_user(const std::string& user) {
  std::string detail;
  switch (platform::drop_privileges(user, detail)) {
    case platform::PrivilegeDrop::dropped:
      TERN_LOG(notice, "running as user ", detail);
      return true;
    case platform::PrivilegeDrop::not_root:
      return true;
    case platform::PrivilegeDrop::stayed_root:
      TERN_LOG(warning, "running as root: set 'user' to run as an unprivileged user once the listeners are bound");
      return true;
    case platform::PrivilegeDrop::failed:
      TERN_LOG(error, "user ", user, ": ", detail);
      return false;
  }
  return false;
}

}  // namespace

Server::Server(Config config) : config_(std::move(config)) {}

int Server::run() {
  std::string log_error;
  if (!platform::configure_log(config_.log, log_error)) {
    std::fprintf(stderr, "tern: %s\n", log_error.c_str());
    return 1;
  }
  TERN_LOG(notice, "tern " TERN_VERSION " starting");
  for (const ConfigNote& note : config_.notes) platform::log(note.level, note.text);
  platform::ignore_write_signals();

  std::unique_ptr<Running> running;
  try {
    running = std::make_unique<Running>(config_);
  } catch (const net::ListenError& e) {
    TERN_LOG(error, e.what());
    return 1;
  } catch (const persistence::StoreError& e) {
    TERN_LOG(error, "persistence: ", e.what());
    return 1;
  } catch (const auth::AuthFileError& e) {
    TERN_LOG(error, e.what());
    return 1;
  } catch (const std::exception& e) {
    TERN_LOG(error, "cannot start: ", e.what());
    return 1;
  }
  if (!config_.pid_file.empty() && !write_pid_file(config_.pid_file)) return 1;
  if (!change_user(config_.user)) return 1;
  running->run();
  running.reset();
  if (!config_.pid_file.empty()) std::remove(config_.pid_file.c_str());
  TERN_LOG(notice, "tern " TERN_VERSION " stopped");
  return 0;
}

}  // namespace tern
