// tern_loadgen: an MQTT load generator for comparing brokers side by side (bench/README.md).
//
//   tern_loadgen --port 1883 --scenario fanin [--mqtt 5] [--qos 1] [--payload 1024] [--duration 5] ...
//
// It connects its clients, waits until every one is connected and subscribed, runs the scenario for a warm-up and a
// measured window, drains, and prints one JSON line of results on stdout. Progress events go to stderr as
// "EVENT <name>" lines, so a driver (bench/run.py) can sample the broker's CPU time and memory at exactly the start
// and end of the measured window. It always stops by itself: every wait has a deadline.
#include <poll.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench/loadgen/payload.hpp"
#include "bench/loadgen/settings.hpp"
#include "bench/loadgen/worker.hpp"

namespace loadgen {
namespace {

[[noreturn]] void usage(const std::string& problem) {
  std::cerr << "tern_loadgen: " << problem << "\n"
            << "usage: tern_loadgen --port N [--sub-port N] [--host 127.0.0.1] --scenario "
               "fanin|fanout|pairs|latency|wildcard|idle|storm|retained|connect|reconnect\n"
               "  [--mqtt 3|5] [--threads N] [--tls] [--tls-ca FILE] [--tls-server-name NAME] [--tls-resume]\n"
               "  [--tls-no-tickets] [--retry-ms MS] [--reconnect-timeout S]\n"
               "  [--ws (MQTT over WebSockets; with --tls: wss)] [--ws-path /mqtt] [--ws-deflate]\n"
               "  [--username NAME (%i: the client's index)] [--password PASSWORD]\n"
               "  [--pubs N] [--subs N] [--qos 0|1|2] [--payload BYTES] [--json-payload]\n"
               "  [--rate MSGS_PER_S] [--window N] [--qos0-window N] [--batch BYTES] [--warmup S] [--duration S] [--drain S]\n"
               "  [--noise-subs N] [--noise-filters N] [--connections N] [--max-pending N] [--slots N] [--persistent]\n"
               "  [--spread-sources] [--hold S] [--topics N] [--retain-pubs N] [--retained-timeout S]\n"
               "  [--setup-timeout S] [--long-names] [--wide-filters] [--until-stdin]\n";
  std::exit(2);
}

Scenario parse_scenario(const std::string& name) {
  static const std::pair<const char*, Scenario> names[] = {
      {"fanin", Scenario::fanin},       {"fanout", Scenario::fanout}, {"pairs", Scenario::pairs},
      {"latency", Scenario::latency},   {"wildcard", Scenario::wildcard}, {"idle", Scenario::idle},
      {"storm", Scenario::storm},       {"retained", Scenario::retained}, {"connect", Scenario::connect},
      {"reconnect", Scenario::reconnect}};
  for (const auto& [n, s] : names) {
    if (name == n) return s;
  }
  usage("unknown scenario " + name);
}

const char* scenario_name(Scenario s) {
  switch (s) {
    case Scenario::fanin: return "fanin";
    case Scenario::fanout: return "fanout";
    case Scenario::pairs: return "pairs";
    case Scenario::latency: return "latency";
    case Scenario::wildcard: return "wildcard";
    case Scenario::idle: return "idle";
    case Scenario::storm: return "storm";
    case Scenario::retained: return "retained";
    case Scenario::connect: return "connect";
    case Scenario::reconnect: return "reconnect";
  }
  return "?";
}

void apply_defaults(Settings& s) {
  switch (s.scenario) {
    case Scenario::fanin: s.pubs = 10; s.subs = 1; s.payload = 16; break;
    case Scenario::fanout: s.pubs = 1; s.subs = 100; s.payload = 16; break;
    case Scenario::pairs: s.pubs = s.subs = 50; s.pairs = true; s.qos = 1; s.payload = 64; break;
    case Scenario::latency: s.pubs = s.subs = 10; s.pairs = true; s.rate = 10000; s.payload = 64; break;
    case Scenario::wildcard: s.pubs = s.subs = 10; s.pairs = true; s.payload = 16; break;
    case Scenario::idle: s.spread_sources = true; break;
    case Scenario::storm: s.spread_sources = true; break;
    case Scenario::retained: s.payload = 16; break;
    case Scenario::connect: s.connections = 2000; s.max_pending_connects = 32; s.spread_sources = true; break;
    case Scenario::reconnect: s.connections = 2000; s.max_pending_connects = 32; s.spread_sources = true; break;
  }
}

Settings parse(int argc, char** argv) {
  Settings s;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::string(argv[i]) == "--scenario") s.scenario = parse_scenario(argv[i + 1]);
  }
  apply_defaults(s);
  for (int i = 1; i < argc; ++i) {
    const std::string key = argv[i];
    if (key == "--help" || key == "-h") usage("an MQTT load generator (bench/README.md)");
    if (key == "--persistent") { s.persistent = true; continue; }
    if (key == "--spread-sources") { s.spread_sources = true; continue; }
    if (key == "--tls") { s.tls = true; continue; }
    if (key == "--tls-resume") { s.tls_resume = true; continue; }
    if (key == "--tls-no-tickets") { s.tls_tickets = false; continue; }
    if (key == "--ws") { s.ws = true; continue; }
    if (key == "--ws-deflate") { s.ws_deflate = true; continue; }
    if (key == "--json-payload") { s.json_payload = true; continue; }
    if (key == "--long-names") { s.long_names = true; continue; }
    if (key == "--wide-filters") { s.wide_filters = true; continue; }
    if (key == "--until-stdin") { s.until_stdin = true; continue; }
    if (i + 1 >= argc) usage("missing value for " + key);
    const std::string value = argv[++i];
    auto num = [&] {
      char* end = nullptr;
      const double v = std::strtod(value.c_str(), &end);
      if (end == value.c_str() || *end != '\0' || v < 0) usage("bad value for " + key + ": " + value);
      return v;
    };
    if (key == "--scenario") continue;
    else if (key == "--host") s.host = value;
    else if (key == "--port") s.port = static_cast<std::uint16_t>(num());
    else if (key == "--sub-port") s.sub_port = static_cast<std::uint16_t>(num());
    else if (key == "--mqtt") {
      if (value == "3" || value == "4" || value == "3.1.1") s.version = mqtt::Version::v311;
      else if (value == "5" || value == "5.0") s.version = mqtt::Version::v5;
      else usage("bad --mqtt " + value);
    }
    else if (key == "--threads") s.threads = std::max(1, static_cast<int>(num()));
    else if (key == "--tls-ca") s.tls_ca = value;
    else if (key == "--tls-server-name") s.tls_server_name = value;
    else if (key == "--retry-ms") s.retry_ms = num();
    else if (key == "--reconnect-timeout") s.reconnect_timeout_s = num();
    else if (key == "--ws-path") s.ws_path = value;
    else if (key == "--username") s.username = value;
    else if (key == "--password") s.password = value;
    else if (key == "--max-pending") s.max_pending_connects = std::max(1, static_cast<int>(num()));
    else if (key == "--pubs") s.pubs = static_cast<int>(num());
    else if (key == "--subs") s.subs = static_cast<int>(num());
    else if (key == "--qos") s.qos = std::min(2, static_cast<int>(num()));
    else if (key == "--payload") s.payload = static_cast<std::size_t>(num());
    else if (key == "--rate") s.rate = num();
    else if (key == "--window") s.window = std::clamp(static_cast<unsigned>(num()), 1u, 65535u);
    else if (key == "--qos0-window") s.qos0_window = static_cast<unsigned>(num());
    else if (key == "--batch") s.batch = std::max<std::size_t>(1, static_cast<std::size_t>(num()));
    else if (key == "--warmup") s.warmup_s = num();
    else if (key == "--duration") s.duration_s = num();
    else if (key == "--drain") s.drain_s = num();
    else if (key == "--noise-subs") s.noise_subs = static_cast<int>(num());
    else if (key == "--noise-filters") s.noise_filters = static_cast<int>(num());
    else if (key == "--connections") s.connections = static_cast<int>(num());
    else if (key == "--slots") s.slots = std::max(1, static_cast<int>(num()));
    else if (key == "--hold") s.hold_s = num();
    else if (key == "--topics") s.topics = static_cast<int>(num());
    else if (key == "--retain-pubs") s.retain_pubs = std::max(1, static_cast<int>(num()));
    else if (key == "--retained-timeout") s.retained_timeout_s = num();
    else if (key == "--setup-timeout") s.setup_timeout_s = num();
    else usage("unknown option " + key);
  }
  if (s.pairs && s.pubs != s.subs) usage("this scenario pairs publishers with subscribers: --pubs must equal --subs");
  if (s.pubs > 65535) usage("at most 65535 publishers");
  if (!s.password.empty() && s.username.empty()) usage("--password needs --username (MQTT 3.1.1 sends none without)");
  if (s.ws_deflate && !s.ws) usage("--ws-deflate needs --ws");
  if (s.ws_path.empty() || s.ws_path.front() != '/') usage("--ws-path must start with /");
  return s;
}

void event(const char* name) {
  std::fprintf(stderr, "EVENT %s %llu\n", name, static_cast<unsigned long long>(mono_ns()));
  std::fflush(stderr);
}

// Sleeps up to `seconds`, returning early (false) when a client failed or `done` turns true (true).
bool wait_for(Control& control, double seconds, const std::function<bool()>& done = {}) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    if (control.failed.load() != 0) return false;
    if (done && done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return !done;
}

std::string fmt(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

std::string quote(const std::string& s) {
  std::string out = "\"";
  for (char ch : s) {
    if (ch == '"' || ch == '\\') out.push_back('\\');
    if (static_cast<unsigned char>(ch) < 0x20) ch = ' ';
    out.push_back(ch);
  }
  return out + "\"";
}

std::string percentiles(const Histogram& h) {
  std::ostringstream o;
  o << "{\"count\":" << h.count() << ",\"p50\":" << fmt(static_cast<double>(h.percentile(0.5)) / 1e3)
    << ",\"p99\":" << fmt(static_cast<double>(h.percentile(0.99)) / 1e3)
    << ",\"p999\":" << fmt(static_cast<double>(h.percentile(0.999)) / 1e3)
    << ",\"max\":" << fmt(static_cast<double>(h.max()) / 1e3) << "}";
  return o.str();
}

// This process's CPU time so far (every thread, user + system), in seconds.
double own_cpu_s() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

// Reads a line from stdin, waiting at most `seconds`.
void wait_stdin(double seconds) {
  pollfd p{0, POLLIN, 0};
  if (poll(&p, 1, static_cast<int>(seconds * 1000)) > 0) {
    char buf[256];
    [[maybe_unused]] auto r = ::read(0, buf, sizeof buf);
  }
}

int run(const Settings& s) {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }

  Control control;
  std::vector<std::unique_ptr<Worker>> workers;
  try {
    for (int i = 0; i < s.threads; ++i) workers.push_back(std::make_unique<Worker>(s, control, i));
  } catch (const std::exception& e) {
    std::cout << "{\"scenario\":\"" << scenario_name(s.scenario) << "\",\"ok\":false,\"error\":" << quote(e.what())
              << "}" << std::endl;
    return 1;
  }
  int next_worker = 0;
  std::vector<Client*> pubs, subs, noise;
  Client* retain_sub = nullptr;
  std::unique_ptr<std::atomic<std::uint32_t>[]> progress;  // QoS 0 window: publisher x subscriber
  std::unique_ptr<JsonBodies> json;
  if (s.json_payload && s.payload > mqtt::stamp_size) json = std::make_unique<JsonBodies>(s.payload - mqtt::stamp_size);
  const std::string tag = (s.long_names ? "edge-gateway-" : "lg") + std::to_string(getpid()) +
                          (s.long_names ? "-mqtt-client-" : "-");
  auto add = [&](Role role, int index, const char* kind) {
    auto c = std::make_unique<Client>();
    c->role = role;
    c->index = index;
    c->client_id = tag + kind + std::to_string(index);
    c->username = s.username;
    if (const auto at = c->username.find("%i"); at != std::string::npos) {
      c->username.replace(at, 2, std::to_string(index));
    }
    Client* raw = c.get();
    workers[static_cast<std::size_t>(next_worker++ % s.threads)]->add(std::move(c));
    return raw;
  };

  int expected_ready = 0;
  switch (s.scenario) {
    case Scenario::idle:
    case Scenario::connect:
    case Scenario::reconnect:
      for (int i = 0; i < s.connections; ++i) add(Role::idle, i, "i");
      expected_ready = s.connections;
      break;
    case Scenario::storm:
      for (int i = 0; i < s.slots; ++i) add(Role::storm, i, "k");
      break;
    case Scenario::retained: {
      for (int i = 0; i < s.retain_pubs; ++i) {
        Client* c = add(Role::retain_pub, i, "r");
        c->retain_first = static_cast<std::uint32_t>(i);
        c->retain_step = static_cast<std::uint32_t>(s.retain_pubs);
        c->packet_id_used.assign(65536, 0);
      }
      retain_sub = add(Role::retain_sub, 0, "rs");
      retain_sub->filters = {"#"};
      expected_ready = s.retain_pubs + 1;
      break;
    }
    default: {
      const bool wildcard = s.scenario == Scenario::wildcard;
      const auto pair_topic = [&](const std::string& n) {
        return s.long_names ? "site/building-a/floor-2/pair-" + n + "/telemetry" : "bench/pair/" + n;
      };
      for (int i = 0; i < s.subs; ++i) {
        Client* c = add(Role::subscriber, i, "s");
        const std::string n = std::to_string(i);
        c->filters = {s.pairs ? (wildcard ? "w/hot/" + n + "/+" : pair_topic(n)) : "bench/all"};
        if (s.wide_filters) c->filters.front() += "/#";
        subs.push_back(c);
      }
      for (int i = 0; i < s.pubs; ++i) {
        Client* c = add(Role::publisher, i, "p");
        const std::string n = std::to_string(i);
        const std::string topic = s.pairs ? (wildcard ? "w/hot/" + n + "/x" : pair_topic(n)) : "bench/all";
        c->publish = mqtt::PublishTemplate(s.version, topic, s.qos, false, s.payload, json.get());
        c->fan = s.pairs ? 1 : s.subs;
        if (s.qos > 0) {
          c->packet_id_used.assign(65536, 0);
          c->sent_ns = std::make_unique<std::uint64_t[]>(65536);
        }
        if (s.rate > 0) c->period_ns = static_cast<std::uint64_t>(1e9 * s.pubs / s.rate);
        pubs.push_back(c);
      }
      if (s.qos == 0 && s.rate <= 0 && s.qos0_window > 0) {
        const int per_pub = s.pairs ? 1 : s.subs;
        progress = std::make_unique<std::atomic<std::uint32_t>[]>(static_cast<std::size_t>(s.pubs * per_pub));
        for (Client* p : pubs) {
          p->progress = &progress[static_cast<std::size_t>(p->index * per_pub)];
          p->progress_count = per_pub;
        }
        for (Client* c : subs) {
          c->progress_to.assign(static_cast<std::size_t>(s.pubs), nullptr);
          for (Client* p : pubs) {
            if (s.pairs && p->index != c->index) continue;
            c->progress_to[static_cast<std::size_t>(p->index)] = &p->progress[s.pairs ? 0 : c->index];
          }
        }
      }
      if (wildcard && s.noise_subs > 0) {
        // Filters that share the hot path's prefixes and wildcards but never match a published topic, so routing
        // walks a big trie and delivers nothing extra.
        for (int i = 0; i < s.noise_subs; ++i) noise.push_back(add(Role::noise, i, "n"));
        for (int i = 0; i < s.noise_filters; ++i) {
          const std::string n = "n" + std::to_string(i);
          std::string f;
          switch (i % 5) {
            case 0: f = "w/+/" + n + "/#"; break;
            case 1: f = "w/hot/" + n + "/+"; break;
            case 2: f = "+/hot/+/" + n; break;
            case 3: f = "w/" + n + "/#"; break;
            default: f = "w/hot/" + std::to_string(i % 10) + "/" + n; break;
          }
          noise[static_cast<std::size_t>(i % s.noise_subs)]->filters.push_back(f);
        }
      }
      expected_ready = static_cast<int>(pubs.size() + subs.size() + noise.size());
      break;
    }
  }

  const std::uint64_t t0 = mono_ns();
  // connect: the measured window is the set-up itself, from the first socket() to the last CONNACK.
  if (s.scenario == Scenario::connect) event("measure_start");
  for (auto& w : workers) w->start();
  const bool set_up = wait_for(control, s.setup_timeout_s, [&] { return control.ready.load() >= expected_ready; });
  const double setup_s = static_cast<double>(mono_ns() - t0) / 1e9;
  if (!set_up && control.failed.load() == 0) {
    control.fail("setup timed out: " + std::to_string(control.ready.load()) + " of " +
                 std::to_string(expected_ready) + " clients ready");
  }
  if (s.scenario == Scenario::connect) event("measure_end");
  // Reconnect: closes count as the broker going away from now on, before the driver hears "ready" and kills it.
  if (s.scenario == Scenario::reconnect && set_up) control.phase.store(Phase::publish, std::memory_order_seq_cst);
  event("ready");

  double measured_s = 0;
  double own_cpu_window_s = 0;  // the generator's own CPU time in the measured window
  double retained_s = 0;
  auto measure_window = [&] {
    control.phase.store(Phase::publish, std::memory_order_release);
    if (!wait_for(control, s.warmup_s)) return;
    const std::uint64_t start = mono_ns();
    const double cpu_start = own_cpu_s();
    control.measure_start_ns.store(start);
    event("measure_start");
    if (s.until_stdin) {
      wait_for(control, s.duration_s, [] {
        pollfd p{0, POLLIN, 0};
        return poll(&p, 1, 0) > 0;
      });
    } else {
      wait_for(control, s.duration_s);
    }
    const std::uint64_t end = mono_ns();
    own_cpu_window_s = own_cpu_s() - cpu_start;
    control.measure_end_ns.store(end);
    event("measure_end");
    measured_s = static_cast<double>(end - start) / 1e9;
  };
  if (control.failed.load() == 0) {
    switch (s.scenario) {
      case Scenario::idle:
        wait_stdin(s.hold_s);
        break;
      case Scenario::connect:
        break;
      case Scenario::reconnect:
        // Connected: the driver restarts the broker now. The window is from the first lost connection to the last
        // one back.
        if (!wait_for(control, s.reconnect_timeout_s, [&] { return control.lost_ns.load() != 0; })) {
          control.fail("no connection was lost within " + fmt(s.reconnect_timeout_s) + " s");
          break;
        }
        event("measure_start");
        if (!wait_for(control, s.reconnect_timeout_s, [&] { return control.all_back_ns.load() != 0; })) {
          control.fail("reconnect timed out: " + std::to_string(control.ready.load()) + " of " +
                       std::to_string(s.connections) + " clients back");
        }
        event("measure_end");
        break;
      case Scenario::storm:
        measure_window();
        break;
      case Scenario::retained: {
        control.phase.store(Phase::publish, std::memory_order_release);
        if (!wait_for(control, 300, [&] { return control.retain_pubs_done.load() >= s.retain_pubs; })) {
          control.fail("storing the retained messages timed out");
          break;
        }
        event("stored");
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        control.phase.store(Phase::retained_subscribe, std::memory_order_release);
        event("measure_start");
        if (!wait_for(control, s.retained_timeout_s, [&] { return control.retain_sub_done_ns.load() != 0; })) {
          control.fail("the # subscriber did not receive every retained message within " +
                       fmt(s.retained_timeout_s) + " s");
        }
        event("measure_end");
        const auto done = control.retain_sub_done_ns.load();
        const auto start = control.retain_sub_start_ns.load();
        if (done != 0 && start != 0) retained_s = static_cast<double>(done - start) / 1e9;
        break;
      }
      default:
        measure_window();
        control.phase.store(Phase::drain, std::memory_order_release);
        {
          // Until everything owed has arrived, or nothing has arrived for a while: half a second at QoS 0 (the
          // broker may have dropped), 3 s at QoS 1/2 (a broker with a deep queue is still draining it).
          const auto quiet = std::chrono::milliseconds(s.qos == 0 ? 500 : 3000);
          std::uint64_t last = control.received.load();
          auto last_change = std::chrono::steady_clock::now();
          wait_for(control, s.qos == 0 ? s.drain_s : std::max(s.drain_s, 15.0), [&] {
            const std::uint64_t now = control.received.load();
            if (now >= control.expected.load() && control.inflight.load() == 0) return true;
            if (now != last) {
              last = now;
              last_change = std::chrono::steady_clock::now();
            }
            return std::chrono::steady_clock::now() - last_change > quiet;
          });
        }
        break;
    }
  }
  control.phase.store(Phase::stop, std::memory_order_release);
  for (auto& w : workers) w->join();

  WorkerResults total;
  for (auto& w : workers) {
    const auto& r = w->results();
    total.latency.merge(r.latency);
    total.connect_latency.merge(r.connect_latency);
    total.ack_latency.merge(r.ack_latency);
    total.acked_in_window += r.acked_in_window;
    total.last_connack_ns = std::max(total.last_connack_ns, r.last_connack_ns);
    if (total.tls_ciphersuite.empty()) total.tls_ciphersuite = r.tls_ciphersuite;
    if (total.ws_extensions.empty()) total.ws_extensions = r.ws_extensions;
    total.ws_upgrades += r.ws_upgrades;
    total.ws_compressing += r.ws_compressing;
    total.mqtt_bytes_out += r.mqtt_bytes_out;
    total.mqtt_bytes_in += r.mqtt_bytes_in;
    total.socket_bytes_out += r.socket_bytes_out;
    total.socket_bytes_in += r.socket_bytes_in;
    total.published_in_window += r.published_in_window;
    total.delivered_in_window += r.delivered_in_window;
    total.connacks_in_window += r.connacks_in_window;
    total.session_present += r.session_present;
    total.storm_errors += r.storm_errors;
    total.tls_full += r.tls_full;
    total.tls_resumed += r.tls_resumed;
    total.ack_errors += r.ack_errors;
  }

  std::ostringstream o;
  std::string error = control.first_error;
  o << "{\"scenario\":\"" << scenario_name(s.scenario) << "\",\"mqtt\":\""
    << (s.version == mqtt::Version::v5 ? "5.0" : "3.1.1") << "\",\"threads\":" << s.threads
    << ",\"tls\":" << (s.tls ? "true" : "false");
  if (s.tls) {
    o << ",\"tls_ciphersuite\":" << quote(total.tls_ciphersuite) << ",\"tls_resume\":" << (s.tls_resume ? "true" : "false")
      << ",\"tls_tickets\":" << (s.tls_resume && s.tls_tickets ? "true" : "false")
      << ",\"tls_full\":" << total.tls_full << ",\"tls_resumed\":" << total.tls_resumed;
  }
  o << ",\"transport\":\"" << (s.ws ? (s.tls ? "wss" : "ws") : (s.tls ? "tls" : "tcp")) << "\"";
  if (s.ws) {
    o << ",\"ws_deflate_offered\":" << (s.ws_deflate ? "true" : "false") << ",\"ws_extensions\":"
      << quote(total.ws_extensions) << ",\"ws_upgrades\":" << total.ws_upgrades
      << ",\"ws_compressing\":" << total.ws_compressing;
  }
  o << ",\"bytes\":{\"mqtt_out\":" << total.mqtt_bytes_out << ",\"mqtt_in\":" << total.mqtt_bytes_in
    << ",\"socket_out\":" << total.socket_bytes_out << ",\"socket_in\":" << total.socket_bytes_in << "}";
  o << ",\"persistent\":" << (s.persistent ? "true" : "false")
    << ",\"setup_s\":" << fmt(setup_s);
  switch (s.scenario) {
    case Scenario::idle:
      o << ",\"connections\":" << control.ready.load();
      break;
    case Scenario::connect: {
      const int connected = control.ready.load();
      const double took = total.last_connack_ns > t0 ? static_cast<double>(total.last_connack_ns - t0) / 1e9 : 0;
      o << ",\"connections\":" << connected << ",\"in_flight\":" << s.max_pending_connects * s.threads
        << ",\"duration_s\":" << fmt(took) << ",\"connacks\":" << connected
        << ",\"connacks_per_s\":" << fmt(took > 0 ? connected / took : 0)
        << ",\"connect_latency_us\":" << percentiles(total.connect_latency);
      break;
    }
    case Scenario::reconnect: {
      const auto ms = [](std::uint64_t from, std::uint64_t to) {
        return from != 0 && to > from ? static_cast<double>(to - from) / 1e9 : 0.0;
      };
      // storm_s: from the first connect the restarted broker accepted to the last CONNACK (the broker's own start-up
      // and the clients' retry interval left out); outage_s: from the first lost connection.
      o << ",\"connections\":" << s.connections << ",\"back\":" << control.ready.load()
        << ",\"storm_s\":" << fmt(ms(control.first_back_ns.load(), control.all_back_ns.load()))
        << ",\"outage_s\":" << fmt(ms(control.lost_ns.load(), control.all_back_ns.load()))
        << ",\"retry_ms\":" << fmt(s.retry_ms) << ",\"connect_latency_us\":" << percentiles(total.connect_latency);
      break;
    }
    case Scenario::storm:
      o << ",\"slots\":" << s.slots << ",\"duration_s\":" << fmt(measured_s) << ",\"connacks\":" << total.connacks_in_window
        << ",\"connacks_per_s\":" << fmt(measured_s > 0 ? static_cast<double>(total.connacks_in_window) / measured_s : 0)
        << ",\"connect_latency_us\":" << percentiles(total.connect_latency)
        << ",\"session_present\":" << total.session_present << ",\"errors\":" << total.storm_errors;
      break;
    case Scenario::retained: {
      std::uint64_t unique = 0, dups = 0;
      for (const auto& f : retain_sub->from) {
        unique += f.unique;
        dups += f.duplicates;
      }
      o << ",\"topics\":" << s.topics << ",\"received\":" << unique << ",\"duplicates\":" << dups
        << ",\"time_s\":" << fmt(retained_s)
        << ",\"per_s\":" << fmt(retained_s > 0 ? static_cast<double>(unique) / retained_s : 0);
      break;
    }
    default: {
      std::uint64_t sent = 0, received = 0, lost = 0, dups = 0, ooo = 0, foreign = 0, unexpected = 0;
      std::uint64_t unacked = 0;  // QoS 1/2 publishes the broker never completed (PUBACK / PUBCOMP)
      for (Client* p : pubs) {
        sent += p->seq;
        unacked += p->inflight;
      }
      for (Client* c : subs) {
        foreign += c->foreign;
        for (std::size_t p = 0; p < c->from.size(); ++p) {
          received += c->from[p].unique;
          dups += c->from[p].duplicates;
          ooo += c->from[p].out_of_order;
        }
        for (Client* p : pubs) {
          if (s.pairs && p->index != c->index) continue;
          const std::uint64_t got =
              static_cast<std::size_t>(p->index) < c->from.size() ? c->from[static_cast<std::size_t>(p->index)].unique : 0;
          if (p->seq > got) lost += p->seq - got;
        }
      }
      for (Client* c : noise) {
        for (const auto& f : c->from) unexpected += f.unique;
      }
      if (s.qos > 0 && lost > 0 && error.empty()) {
        error = "lost " + std::to_string(lost) + " QoS " + std::to_string(s.qos) + " messages";
      }
      if (unexpected > 0 && error.empty()) error = "noise subscriptions received " + std::to_string(unexpected);
      o << ",\"qos\":" << s.qos << ",\"payload\":" << s.payload
        << ",\"payload_kind\":\"" << (json ? "json" : "zeros") << "\",\"pubs\":" << s.pubs << ",\"subs\":" << s.subs
        << ",\"rate\":" << fmt(s.rate) << ",\"duration_s\":" << fmt(measured_s)
        << ",\"published\":" << total.published_in_window << ",\"delivered\":" << total.delivered_in_window
        << ",\"published_per_s\":"
        << fmt(measured_s > 0 ? static_cast<double>(total.published_in_window) / measured_s : 0)
        << ",\"delivered_per_s\":"
        << fmt(measured_s > 0 ? static_cast<double>(total.delivered_in_window) / measured_s : 0)
        << ",\"latency_us\":" << percentiles(total.latency) << ",\"loadgen_cpu_s\":" << fmt(own_cpu_window_s);
      if (s.qos > 0) {
        o << ",\"acked\":" << total.acked_in_window << ",\"acked_per_s\":"
          << fmt(measured_s > 0 ? static_cast<double>(total.acked_in_window) / measured_s : 0)
          << ",\"ack_latency_us\":" << percentiles(total.ack_latency);
      }
      o << ",\"sent\":" << sent << ",\"expected\":"
        << control.expected.load() << ",\"received\":" << received << ",\"lost\":" << lost << ",\"unacked\":" << unacked
        << ",\"duplicates\":" << dups << ",\"out_of_order\":" << ooo << ",\"foreign\":" << foreign
        << ",\"ack_errors\":" << total.ack_errors
        << ",\"qos0_window\":" << (progress ? s.qos0_window : 0);
      if (!noise.empty()) o << ",\"noise_filters\":" << s.noise_filters;
      break;
    }
  }
  o << ",\"ok\":" << (error.empty() ? "true" : "false");
  if (!error.empty()) o << ",\"error\":" << quote(error);
  o << "}";
  std::cout << o.str() << std::endl;
  return error.empty() ? 0 : 1;
}

}  // namespace
}  // namespace loadgen

int main(int argc, char** argv) { return loadgen::run(loadgen::parse(argc, argv)); }
