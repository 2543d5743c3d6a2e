#include "bench/loadgen/worker.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>

namespace loadgen {
namespace {

constexpr std::size_t read_size = 65536;
constexpr std::size_t buffer_size = 2 * read_size;  // an unfinished packet, then one read
constexpr int max_reads_per_turn = 16;
constexpr std::size_t filters_per_subscribe = 10;

std::string errno_text(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

}  // namespace

std::uint64_t mono_ns() noexcept {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000000000u + static_cast<std::uint64_t>(ts.tv_nsec);
}

Worker::Worker(const Settings& settings, Control& control, int id)
    : settings_(settings),
      control_(control),
      id_(id),
      buffer_(new char[buffer_size]),
      ws_options_{settings.host, settings.port, settings.ws_path, settings.ws_deflate},
      nonce_rng_(std::random_device{}()) {
  if (settings_.tls) {
    tls_config_ = std::make_unique<tls::Config>(
        tls::Options{settings_.tls_ca, settings_.tls_server_name, settings_.tls_resume, settings_.tls_tickets});
  }
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  timer_fd_ = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = nullptr;  // the timer
  epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, timer_fd_, &ev);
}

Worker::~Worker() {
  for (auto& c : clients_) {
    if (c->fd >= 0) ::close(c->fd);
  }
  ::close(timer_fd_);
  ::close(epoll_fd_);
}

void Worker::start() {
  thread_ = std::thread([this] { run(); });
}

void Worker::join() {
  if (thread_.joinable()) thread_.join();
}

void Worker::run() {
  prctl(PR_SET_TIMERSLACK, 1UL);  // fixed-rate sends wake within a microsecond, not the default 50
  for (auto& c : clients_) {
    if (c->role == Role::publisher || c->role == Role::retain_pub) publishers_.push_back(c.get());
  }
  start_pending_connects();

  std::vector<Client*> turn;
  epoll_event events[256];
  while (true) {
    const Phase phase = control_.phase.load(std::memory_order_acquire);
    if (phase != phase_) {
      phase_ = phase;
      on_phase(phase);
    }
    if (phase == Phase::stop) break;
    window_start_ = control_.measure_start_ns.load(std::memory_order_relaxed);
    window_end_ = control_.measure_end_ns.load(std::memory_order_relaxed);

    if (settings_.rate > 0 && phase_ == Phase::publish) send_due(mono_ns());
    if (!retrying_.empty()) {
      const std::uint64_t now = mono_ns();
      std::vector<Client*> waiting;
      waiting.swap(retrying_);
      for (Client* c : waiting) {
        if (c->retry_at_ns <= now) {
          c->retry_at_ns = 0;
          start_connect(*c);
        } else {
          retrying_.push_back(c);
        }
      }
    }

    if (!window_blocked_.empty()) {
      // Subscribers on any worker may have moved the window; publishers still blocked re-register here.
      std::vector<Client*> blocked;
      blocked.swap(window_blocked_);
      std::sort(blocked.begin(), blocked.end());
      blocked.erase(std::unique(blocked.begin(), blocked.end()), blocked.end());
      for (Client* c : blocked) {
        if (c->fd >= 0 && c->writable && can_fill(*c)) make_ready(*c);
      }
    }

    turn.swap(ready_);
    for (Client* c : turn) {
      c->queued = false;
      service(*c);
    }
    turn.clear();

    if (expected_unflushed_ != 0) control_.expected.fetch_add(expected_unflushed_, std::memory_order_relaxed);
    if (received_unflushed_ != 0) control_.received.fetch_add(received_unflushed_, std::memory_order_relaxed);
    if (inflight_unflushed_ != 0) control_.inflight.fetch_add(inflight_unflushed_, std::memory_order_relaxed);
    expected_unflushed_ = received_unflushed_ = 0;
    inflight_unflushed_ = 0;

    if (settings_.rate > 0 && phase_ == Phase::publish) arm_timer();
    // The phase is polled at least every 2 ms; a publisher blocked on another worker's subscribers every 1 ms.
    const int timeout_ms = !ready_.empty() ? 0 : window_blocked_.empty() ? 2 : 1;
    const int n = epoll_wait(epoll_fd_, events, 256, timeout_ms);
    for (int i = 0; i < n; ++i) {
      if (events[i].data.ptr == nullptr) {
        std::uint64_t expirations;
        [[maybe_unused]] auto r = ::read(timer_fd_, &expirations, sizeof expirations);
        timer_armed_ns_ = 0;
        continue;
      }
      on_event(*static_cast<Client*>(events[i].data.ptr), events[i].events);
    }
  }
  for (auto& c : clients_) close_client(*c);
}

void Worker::on_phase(Phase phase) {
  const std::uint64_t now = mono_ns();
  if (phase == Phase::publish) {
    for (auto& c : clients_) {
      if (c->role == Role::storm) {
        start_connect(*c);
      } else if (c->role == Role::publisher || c->role == Role::retain_pub) {
        // Fixed rate: spread the publishers' first sends evenly over one period.
        const auto n = static_cast<std::uint64_t>(std::max(settings_.pubs, 1));
        c->next_send_ns = now + c->period_ns * static_cast<std::uint64_t>(c->index) / n;
        make_ready(*c);
      }
    }
  } else if (phase == Phase::retained_subscribe) {
    for (auto& c : clients_) {
      if (c->role != Role::retain_sub || c->fd < 0) continue;
      std::vector<std::string_view> views(c->filters.begin(), c->filters.end());
      mqtt::encode_subscribe(c->out, settings_.version, 1, views.data(), views.size(), 0);
      c->subacks_pending = 1;
      control_.retain_sub_start_ns.store(mono_ns());
      flush(*c);
    }
  }
}

void Worker::start_pending_connects() {
  while (next_connect_ < clients_.size() && pending_connects_ < settings_.max_pending_connects) {
    Client& c = *clients_[next_connect_++];
    if (c.role == Role::storm) continue;
    ++pending_connects_;
    start_connect(c);
  }
}

void Worker::start_connect(Client& c) {
  c.out.clear();
  c.out_offset = 0;
  c.in.clear();
  c.read_more = false;
  c.writable = false;
  c.inflight = 0;
  c.connect_start_ns = mono_ns();
  c.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c.fd < 0) return client_error(c, errno_text("socket"));
  if (settings_.tls) {
    if (!c.tls) c.tls = std::make_unique<tls::Session>(*tls_config_);
    c.tls->reset(c.fd);
  }
  if (settings_.ws && !c.ws) c.ws = std::make_unique<websocket::Channel>(ws_options_);
  int one = 1;
  setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (settings_.spread_sources) {
    // The kernel picks the port at connect() time, per destination, so 250 source addresses give 250 times the
    // ephemeral port range.
    setsockopt(c.fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    sockaddr_in local{};
    local.sin_family = AF_INET;
    local.sin_addr.s_addr = htonl(0x7f000001u + (source_++ % 250));
    if (::bind(c.fd, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0) {
      return client_error(c, errno_text("bind"));
    }
  }
  sockaddr_in remote{};
  remote.sin_family = AF_INET;
  remote.sin_port =
      htons(c.role == Role::subscriber && settings_.sub_port != 0 ? settings_.sub_port : settings_.port);
  inet_pton(AF_INET, settings_.host.c_str(), &remote.sin_addr);
  if (::connect(c.fd, reinterpret_cast<sockaddr*>(&remote), sizeof remote) != 0 && errno != EINPROGRESS) {
    return client_error(c, errno_text("connect"));
  }
  c.state = Client::State::connecting;
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  ev.data.ptr = &c;
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, c.fd, &ev) != 0) return client_error(c, errno_text("epoll_ctl"));
}

void Worker::on_connected(Client& c) {
  int error = 0;
  socklen_t len = sizeof error;
  getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &error, &len);
  if (error != 0) {
    errno = error;
    return client_error(c, errno_text("connect"));
  }
  if (settings_.scenario == Scenario::reconnect && phase_ == Phase::publish) {
    std::uint64_t none = 0;
    control_.first_back_ns.compare_exchange_strong(none, mono_ns());
  }
  c.writable = true;
  if (c.tls) {
    c.state = Client::State::handshaking;
    return step_handshake(c);
  }
  start_session(c);
}

// The byte stream is up (TCP, or TLS after its handshake): the WebSocket upgrade first under --ws, else CONNECT.
void Worker::start_session(Client& c) {
  if (!c.ws) return send_connect(c);
  c.state = Client::State::upgrading;
  std::array<std::uint8_t, 16> nonce;
  for (std::size_t i = 0; i < nonce.size(); i += 8) {
    const std::uint64_t r = nonce_rng_();
    std::memcpy(nonce.data() + i, &r, 8);
  }
  c.ws->start(nonce);
  flush(c);
}

// A TLS handshake step: send what is left of our last flight, go on with the handshake, send its records; CONNECT
// once it is done. The handshake's time counts in the connect latency (from socket() to CONNACK).
void Worker::step_handshake(Client& c) {
  if (c.tls->cipher_offset < c.tls->cipher_out().size()) {
    flush_tls(c);
    if (c.fd < 0 || !c.writable) return;
  }
  const tls::Session::Status status = c.tls->handshake();
  if (status == tls::Session::Status::error) return client_error(c, c.tls->error());
  flush_tls(c);
  if (c.fd < 0) return;
  if (status == tls::Session::Status::done) {
    const std::uint64_t now = mono_ns();
    if (now >= window_start_ && now < window_end_) ++(c.tls->resumed() ? results_.tls_resumed : results_.tls_full);
    if (results_.tls_ciphersuite.empty() && c.tls->ciphersuite() != nullptr) {
      results_.tls_ciphersuite = c.tls->ciphersuite();
    }
    start_session(c);
  }
}

void Worker::send_connect(Client& c) {
  c.state = Client::State::connack_wait;
  const bool persistent = settings_.persistent;
  mqtt::ConnectOptions o;
  o.version = settings_.version;
  o.client_id = c.client_id;
  o.clean = !persistent;
  o.session_expiry = persistent && settings_.version == mqtt::Version::v5 ? 3600 : 0;
  o.username = c.username;
  o.password = settings_.password;
  mqtt::encode_connect(c.out, o);
  flush(c);
}

void Worker::on_event(Client& c, std::uint32_t events) {
  if (c.fd < 0) return;
  if (c.state == Client::State::connecting) {
    if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) on_connected(c);
    return;
  }
  if (c.state == Client::State::handshaking) {
    if (events & EPOLLOUT) c.writable = true;
    return step_handshake(c);
  }
  if (events & EPOLLOUT) c.writable = true;
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) do_read(c);
  if (c.fd < 0) return;
  if (c.writable) {
    fill(c, mono_ns());
    flush(c);
  }
  if (c.fd >= 0 && (c.read_more || (c.writable && can_fill(c)))) make_ready(c);
}

void Worker::service(Client& c) {
  if (c.fd < 0) {
    if (c.role == Role::storm && phase_ == Phase::publish) start_connect(c);  // retry after an error
    return;
  }
  if (c.read_more) {
    c.read_more = false;
    do_read(c);
    if (c.fd < 0) return;
  }
  if (c.writable) {
    fill(c, mono_ns());
    flush(c);
  }
  if (c.fd >= 0 && (c.read_more || (c.writable && can_fill(c)))) make_ready(c);
}

void Worker::make_ready(Client& c) {
  if (c.queued) return;
  c.queued = true;
  ready_.push_back(&c);
}

void Worker::do_read(Client& c) {
  char* buf = buffer_.get();
  bool storm_connacked = false;
  for (int i = 0; i < max_reads_per_turn; ++i) {
    // Plain: the unfinished packet, then one read, in `buf`. WebSocket: the read in `buf`, unframed onto `in`.
    const std::size_t have = c.ws ? 0 : c.in.size();
    if (c.in.size() > buffer_size - read_size) return client_error(c, "packet larger than 64 KiB");
    if (!c.ws) std::memcpy(buf, c.in.data(), have);
    const std::uint64_t tls_before = c.tls ? c.tls->received_bytes() : 0;
    const ssize_t n = c.tls ? c.tls->read(buf + have, read_size) : ::read(c.fd, buf + have, read_size);
    if (c.tls) {
      results_.socket_bytes_in += c.tls->received_bytes() - tls_before;
    } else if (n > 0) {
      results_.socket_bytes_in += static_cast<std::uint64_t>(n);
    }
    if (n > 0) {
      std::string_view data(buf, have + static_cast<std::size_t>(n));
      if (c.ws) {
        const std::size_t before = c.in.size();
        const websocket::Channel::Status status = c.ws->receive(data, c.in);
        if (status == websocket::Channel::Status::error) return client_error(c, "WebSocket: " + c.ws->error());
        if (status == websocket::Channel::Status::closed) {
          flush(c);  // our close frame
          if (c.fd < 0) return;
          return client_error(c, "WebSocket close from the broker, code " + std::to_string(c.ws->close_code()));
        }
        if (c.state == Client::State::upgrading && status == websocket::Channel::Status::open) {
          ++results_.ws_upgrades;
          if (c.ws->compressing()) ++results_.ws_compressing;
          if (results_.ws_extensions.empty()) results_.ws_extensions = c.ws->extensions();
          send_connect(c);
          if (c.fd < 0) return;
        }
        results_.mqtt_bytes_in += c.in.size() - before;
        data = c.in;
      } else {
        c.in.clear();
        results_.mqtt_bytes_in += static_cast<std::uint64_t>(n);
      }
      const std::uint64_t now = mono_ns();
      bool ok = true;
      const long used = mqtt::split_packets(data, [&](const mqtt::Packet& p) {
        if (!ok) return;
        if (c.role == Role::storm && p.type == mqtt::connack) {
          storm_connacked = true;
        }
        ok = handle_packet(c, p, now);
      });
      if (!ok || c.fd < 0) return;
      if (used < 0) return client_error(c, "malformed remaining length");
      if (c.ws) {
        c.in.erase(0, static_cast<std::size_t>(used));
      } else {
        c.in.assign(buf + used, have + static_cast<std::size_t>(n) - static_cast<std::size_t>(used));
      }
      if (c.tls && c.tls->peer_closed()) return client_error(c, "connection closed by the broker");
      if (storm_connacked) break;
      if (static_cast<std::size_t>(n) < read_size) break;  // drained: edge-triggered epoll tells us of more
      if (i == max_reads_per_turn - 1) c.read_more = true;
    } else if (n == 0) {
      return client_error(c, "connection closed by the broker");
    } else if (errno == EINTR) {
      --i;
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      break;
    } else {
      return client_error(c, c.tls && !c.tls->error().empty() ? c.tls->error() : errno_text("read"));
    }
  }
  if (c.out_offset < c.out.size() || (c.ws && c.ws->wire_offset < c.ws->wire().size())) flush(c);
  if (storm_connacked && c.fd >= 0) recycle_storm(c);
}

bool Worker::handle_packet(Client& c, const mqtt::Packet& p, std::uint64_t now) {
  switch (p.type) {
    case mqtt::connack: {
      mqtt::Connack ack;
      if (!mqtt::decode_connack(p, settings_.version, ack)) return client_error(c, "malformed CONNACK"), false;
      if (ack.code != 0) return client_error(c, "CONNACK refused, code " + std::to_string(ack.code)), false;
      c.window = std::min<unsigned>(settings_.window, ack.receive_maximum);
      if (c.role == Role::idle) {
        results_.connect_latency.record(now - c.connect_start_ns);
        results_.last_connack_ns = std::max(results_.last_connack_ns, now);
      }
      if (c.role == Role::storm) {
        if (now >= window_start_ && now < window_end_) {
          ++results_.connacks_in_window;
          results_.connect_latency.record(now - c.connect_start_ns);
        }
        if (ack.session_present && now >= window_start_ && now < window_end_) ++results_.session_present;
        mqtt::encode_disconnect(c.out);
        return true;
      }
      --pending_connects_;
      if ((c.role == Role::subscriber || c.role == Role::noise) && !c.filters.empty()) {
        c.state = Client::State::subscribing;
        std::uint16_t packet_id = 1;
        for (std::size_t at = 0; at < c.filters.size(); at += filters_per_subscribe) {
          const std::size_t count = std::min(filters_per_subscribe, c.filters.size() - at);
          std::vector<std::string_view> views(c.filters.begin() + static_cast<long>(at),
                                              c.filters.begin() + static_cast<long>(at + count));
          mqtt::encode_subscribe(c.out, settings_.version, packet_id++, views.data(), count, settings_.qos);
          ++c.subacks_pending;
        }
      } else {
        c.state = Client::State::ready;
        const int ready = control_.ready.fetch_add(1) + 1;
        if (settings_.scenario == Scenario::reconnect && phase_ == Phase::publish && ready == settings_.connections) {
          control_.all_back_ns.store(now);
        }
      }
      start_pending_connects();
      return true;
    }
    case mqtt::suback: {
      std::uint16_t id;
      bool granted;
      if (!mqtt::decode_suback(p, settings_.version, id, granted)) return client_error(c, "malformed SUBACK"), false;
      if (!granted) return client_error(c, "subscription refused"), false;
      if (--c.subacks_pending == 0 && c.state == Client::State::subscribing) {
        c.state = Client::State::ready;
        control_.ready.fetch_add(1);
      }
      return true;
    }
    case mqtt::publish: {
      mqtt::Publish pub;
      if (!mqtt::decode_publish(p, settings_.version, pub)) return client_error(c, "malformed PUBLISH"), false;
      on_publish(c, pub, now);
      return true;
    }
    case mqtt::puback:
    case mqtt::pubrec:
    case mqtt::pubcomp: {
      std::uint16_t id;
      std::uint8_t reason;
      if (!mqtt::decode_ack(p, id, reason)) return client_error(c, "malformed ack"), false;
      if (reason >= 0x80) ++results_.ack_errors;
      if (p.type == mqtt::pubrec && reason < 0x80) {
        mqtt::encode_ack(c.out, mqtt::pubrel, id);
      } else {
        if (c.sent_ns && reason < 0x80 && now >= window_start_ && now < window_end_ && c.packet_id_used[id]) {
          ++results_.acked_in_window;
          results_.ack_latency.record(now >= c.sent_ns[id] ? now - c.sent_ns[id] : 0);
        }
        release_packet_id(c, id);
      }
      return true;
    }
    case mqtt::pubrel: {
      std::uint16_t id;
      std::uint8_t reason;
      if (!mqtt::decode_ack(p, id, reason)) return client_error(c, "malformed PUBREL"), false;
      mqtt::encode_ack(c.out, mqtt::pubcomp, id);
      return true;
    }
    case mqtt::pingresp:
      return true;
    case mqtt::disconnect: {
      const int reason = p.body.empty() ? 0 : static_cast<std::uint8_t>(p.body[0]);
      return client_error(c, "DISCONNECT from the broker, reason " + std::to_string(reason)), false;
    }
    default:
      return client_error(c, "unexpected packet type " + std::to_string(p.type)), false;
  }
}

void Worker::on_publish(Client& c, const mqtt::Publish& pub, std::uint64_t now) {
  if (pub.qos == 1) mqtt::encode_ack(c.out, mqtt::puback, pub.packet_id);
  if (pub.qos == 2) mqtt::encode_ack(c.out, mqtt::pubrec, pub.packet_id);
  mqtt::Stamp s;
  if (!mqtt::read_stamp(pub.payload, s)) {
    ++c.foreign;
    return;
  }
  if (s.publisher >= c.from.size()) c.from.resize(s.publisher + 1u);
  PairTracker& t = c.from[s.publisher];
  const std::uint64_t before = t.unique;
  t.on_message(s.seq);
  if (t.unique == before) return;
  ++received_unflushed_;
  if (s.publisher < c.progress_to.size() && c.progress_to[s.publisher] != nullptr) {
    c.progress_to[s.publisher]->store(t.next, std::memory_order_relaxed);
  }
  if (c.role == Role::retain_sub) {
    std::uint64_t total = 0;
    for (const auto& f : c.from) total += f.unique;
    if (total == static_cast<std::uint64_t>(settings_.topics)) control_.retain_sub_done_ns.store(now);
    return;
  }
  if (now >= window_start_ && now < window_end_) {
    ++results_.delivered_in_window;
    results_.latency.record(now >= s.sent_ns ? now - s.sent_ns : 0);
  }
}

bool Worker::window_open(Client& c) {
  if (c.progress == nullptr || c.seq < c.allowed) return true;
  std::uint32_t slowest = UINT32_MAX;
  for (int i = 0; i < c.progress_count; ++i) {
    slowest = std::min(slowest, c.progress[i].load(std::memory_order_relaxed));
  }
  c.allowed = slowest + settings_.qos0_window;
  if (c.seq < c.allowed) return true;
  if (!c.queued) window_blocked_.push_back(&c);
  return false;
}

bool Worker::can_fill(Client& c) {
  if (c.state != Client::State::ready || phase_ != Phase::publish) return false;
  if (c.role == Role::publisher) {
    if (settings_.rate > 0) return false;
    return settings_.qos == 0 ? window_open(c) : c.inflight < c.window;
  }
  if (c.role == Role::retain_pub) {
    const std::uint64_t topic = c.retain_first + static_cast<std::uint64_t>(c.seq) * c.retain_step;
    return topic < static_cast<std::uint64_t>(settings_.topics) && c.inflight < c.window;
  }
  return false;
}

void Worker::fill(Client& c, std::uint64_t now) {
  if (!can_fill(c) || c.out.size() - c.out_offset >= settings_.batch) return;
  const int qos = c.role == Role::retain_pub ? 1 : settings_.qos;
  mqtt::Stamp s{now, c.seq, static_cast<std::uint16_t>(c.index)};
  std::uint64_t n = 0;
  std::string topic;
  do {
    std::uint16_t id = 0;
    if (qos > 0) {
      while (c.packet_id_used[c.next_packet_id]) c.next_packet_id = c.next_packet_id == 65535 ? 1 : c.next_packet_id + 1;
      id = c.next_packet_id;
      c.packet_id_used[id] = 1;
      c.next_packet_id = c.next_packet_id == 65535 ? 1 : c.next_packet_id + 1;
      ++c.inflight;
      ++inflight_unflushed_;
      if (c.sent_ns) c.sent_ns[id] = now;
    }
    if (c.role == Role::retain_pub) {
      const std::uint32_t t = c.retain_first + c.seq * c.retain_step;
      topic = "r/" + std::to_string(t / 1000) + "/" + std::to_string(t % 1000);
      s.seq = t;
      mqtt::PublishTemplate(settings_.version, topic, 1, true, settings_.payload).append(c.out, s, id);
      ++c.seq;
    } else {
      c.publish.append(c.out, s, id);
      s.seq = ++c.seq;
    }
    ++n;
  } while (c.out.size() - c.out_offset < settings_.batch && can_fill(c));
  if (c.role == Role::publisher) {
    if (now >= window_start_ && now < window_end_) results_.published_in_window += n;
    expected_unflushed_ += n * static_cast<std::uint64_t>(c.fan);
  }
}

void Worker::send_due(std::uint64_t now) {
  for (Client* c : publishers_) {
    if (c->fd < 0 || c->state != Client::State::ready || c->role != Role::publisher) continue;
    std::uint64_t n = 0;
    while (c->next_send_ns <= now && (settings_.qos == 0 || c->inflight < c->window)) {
      std::uint16_t id = 0;
      if (settings_.qos > 0) {
        while (c->packet_id_used[c->next_packet_id]) {
          c->next_packet_id = c->next_packet_id == 65535 ? 1 : c->next_packet_id + 1;
        }
        id = c->next_packet_id;
        c->packet_id_used[id] = 1;
        c->next_packet_id = c->next_packet_id == 65535 ? 1 : c->next_packet_id + 1;
        ++c->inflight;
        ++inflight_unflushed_;
        if (c->sent_ns) c->sent_ns[id] = now;
      }
      c->publish.append(c->out, mqtt::Stamp{now, c->seq++, static_cast<std::uint16_t>(c->index)}, id);
      c->next_send_ns += c->period_ns;
      ++n;
    }
    if (n == 0) continue;
    if (now >= window_start_ && now < window_end_) results_.published_in_window += n;
    expected_unflushed_ += n * static_cast<std::uint64_t>(c->fan);
    flush(*c);
  }
}

void Worker::arm_timer() {
  std::uint64_t next = Control::never;
  for (Client* c : publishers_) {
    if (c->fd >= 0 && c->state == Client::State::ready) next = std::min(next, c->next_send_ns);
  }
  if (next == Control::never || next == timer_armed_ns_) return;
  itimerspec spec{};
  spec.it_value.tv_sec = static_cast<time_t>(next / 1000000000u);
  spec.it_value.tv_nsec = static_cast<long>(next % 1000000000u);
  timerfd_settime(timer_fd_, TFD_TIMER_ABSTIME, &spec, nullptr);
  timer_armed_ns_ = next;
}

bool Worker::send_all(Client& c, const std::string& bytes, std::size_t& offset) {
  while (offset < bytes.size()) {
    const ssize_t n = ::send(c.fd, bytes.data() + offset, bytes.size() - offset, MSG_NOSIGNAL);
    if (n > 0) {
      offset += static_cast<std::size_t>(n);
      results_.socket_bytes_out += static_cast<std::uint64_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      c.writable = false;  // the socket buffer is full; EPOLLOUT comes when it drains
      return false;
    } else {
      client_error(c, errno_text("write"));
      return false;
    }
  }
  return true;
}

void Worker::flush(Client& c) {
  if (c.tls) return flush_tls(c);
  if (c.ws) return flush_ws(c);
  const std::size_t before = c.out_offset;
  const bool done = send_all(c, c.out, c.out_offset);
  results_.mqtt_bytes_out += c.out_offset - before;
  if (!done) return;
  c.out.clear();
  c.out_offset = 0;
}

// TLS: first the records not yet sent, then the plaintext as new records, one send() per batch as on a plain
// connection. While records are left unsent, nothing more is encrypted (the plaintext waits in `out`). Under --ws the
// plaintext is the channel's wire(): the upgrade request, control frames, and `out` framed.
void Worker::flush_tls(Client& c) {
  tls::Session& t = *c.tls;
  std::string& records = t.cipher_out();
  while (true) {
    if (!send_all(c, records, t.cipher_offset)) return;
    records.clear();
    t.cipher_offset = 0;
    if (c.state == Client::State::handshaking) return;
    if (c.ws) {
      frame_out(c);
    } else {
      results_.mqtt_bytes_out += c.out.size() - std::min(c.out_offset, c.out.size());
    }
    std::string& plain = c.ws ? c.ws->wire() : c.out;
    std::size_t& offset = c.ws ? c.ws->wire_offset : c.out_offset;
    if (offset >= plain.size()) return;
    if (!t.write(std::string_view(plain).substr(offset))) return client_error(c, t.error());
    plain.clear();
    offset = 0;
  }
}

// WebSocket over TCP: first the frames not yet sent, then `out` as one new frame, as flush_tls does with records.
void Worker::flush_ws(Client& c) {
  websocket::Channel& w = *c.ws;
  while (true) {
    if (!send_all(c, w.wire(), w.wire_offset)) return;
    w.wire().clear();
    w.wire_offset = 0;
    if (!w.open() || c.out_offset >= c.out.size()) return;
    frame_out(c);
  }
}

// Hands the MQTT bytes waiting in `out` to the WebSocket channel as one binary frame, once the upgrade is done.
void Worker::frame_out(Client& c) {
  if (!c.ws->open() || c.out_offset >= c.out.size()) return;
  const std::string_view message = std::string_view(c.out).substr(c.out_offset);
  results_.mqtt_bytes_out += message.size();
  c.ws->send(message);
  c.out.clear();
  c.out_offset = 0;
}

void Worker::release_packet_id(Client& c, std::uint16_t id) {
  if (c.packet_id_used.empty() || !c.packet_id_used[id]) {
    ++results_.ack_errors;  // an ack for nothing we sent
    return;
  }
  c.packet_id_used[id] = 0;
  --c.inflight;
  --inflight_unflushed_;
  if (c.role == Role::retain_pub && !c.retain_done && c.inflight == 0 &&
      c.retain_first + static_cast<std::uint64_t>(c.seq) * c.retain_step >= static_cast<std::uint64_t>(settings_.topics)) {
    c.retain_done = true;
    control_.retain_pubs_done.fetch_add(1);
  }
  if (c.writable && can_fill(c)) make_ready(c);
}

void Worker::recycle_storm(Client& c) {
  if (c.ws) {
    frame_out(c);  // DISCONNECT, then the close frame
    c.ws->close(1000);
  }
  std::string& plain = c.ws ? c.ws->wire() : c.out;
  std::size_t& offset = c.ws ? c.ws->wire_offset : c.out_offset;
  if (c.tls && offset < plain.size() && c.tls->write(std::string_view(plain).substr(offset))) {
    plain.clear();  // DISCONNECT and close_notify leave in one send()
    offset = 0;
    c.tls->close_notify();
  }
  flush(c);
  close_client(c);
  if (phase_ == Phase::publish) start_connect(c);
}

void Worker::close_client(Client& c) {
  if (c.fd >= 0) {
    ::close(c.fd);
    c.fd = -1;
  }
  c.state = Client::State::off;
}

void Worker::client_error(Client& c, const std::string& what) {
  const bool was_connecting = c.state == Client::State::connecting || c.state == Client::State::handshaking ||
                              c.state == Client::State::upgrading || c.state == Client::State::connack_wait;
  const bool was_ready = c.state == Client::State::ready;
  close_client(c);
  // The shared phase, not this thread's copy of it: the broker may be killed right after the phase changed, before
  // this loop's next turn.
  if (settings_.scenario == Scenario::reconnect && control_.phase.load() == Phase::publish) {
    // The broker went away (or is not back yet): try again after retry_ms.
    const std::uint64_t now = mono_ns();
    if (was_ready) {
      control_.ready.fetch_sub(1);
      std::uint64_t none = 0;
      if (control_.lost_ns.compare_exchange_strong(none, now)) control_.measure_start_ns.store(now);
    }
    c.retry_at_ns = now + static_cast<std::uint64_t>(settings_.retry_ms * 1e6);
    retrying_.push_back(&c);
    return;
  }
  if (c.role == Role::storm) {
    ++results_.storm_errors;
    make_ready(c);  // reconnects on the next turn, not recursively
    return;
  }
  control_.fail(c.client_id + ": " + what);
  if (was_connecting) {
    --pending_connects_;
    start_pending_connects();
  }
}

}  // namespace loadgen
