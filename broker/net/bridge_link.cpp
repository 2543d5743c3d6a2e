#include "broker/net/bridge_link.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/connect.hpp>
#include <cstdio>
#include <mutex>
#include <random>
#include <utility>

#include "broker/protocol/codec.hpp"
#include "platform/log.hpp"

namespace tern::net {

namespace {

// Packets of the upstream handed to the broker under one turn of its lock, as a client connection's (connection.cpp).
constexpr std::size_t max_batch_packets = 128;

bridge::BridgeSettings with_defaults(bridge::BridgeSettings settings) {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0 || host[0] == '\0') std::snprintf(host, sizeof host, "tern");
  bridge::fill_defaults(settings, host);
  return settings;
}

}  // namespace

BridgeLink::BridgeLink(bridge::BridgeSettings settings, Executor executor, SharedBroker& shared)
    : bridge_(with_defaults(std::move(settings))),
      executor_(executor),
      shared_(shared),
      resolver_(executor),
      socket_(executor),
      retry_timer_(executor),
      keepalive_timer_(executor),
      lazy_timer_(executor),
      probe_timer_(executor),
      probe_resolver_(executor),
      probe_socket_(executor) {
  const auto& s = bridge_.settings();
  if (s.tls_enabled()) {
    tls::ClientSettings client;
    client.cafile = s.tls.cafile;
    client.capath = s.tls.capath;
    client.alpn = s.tls.alpn;
    client.certfile = s.tls.certfile;
    client.keyfile = s.tls.keyfile;
    client.psk_identity = s.tls.psk_identity;
    client.psk_hex_key = s.tls.psk_hex_key;
    try {
      tls_context_ = tls::Context::client(client);
    } catch (const std::exception& e) {
      throw std::runtime_error("bridge " + s.name + ": " + e.what());
    }
  }
}

BridgeLink::~BridgeLink() = default;

std::string BridgeLink::where() const {
  const auto& a = bridge_.settings().addresses[address_];
  return a.host + ":" + std::to_string(a.port);
}

void BridgeLink::start() {
  {
    std::lock_guard lock(shared_.mutex);
    shared_.broker.set_backlog_limit(bridge_.settings().local_clientid, bridge_.settings().queue_max_bytes);
  }
  bridge::Bridge::Output out;
  bridge_.prime(out);
  apply(out);
  if (bridge_.settings().start == bridge::BridgeSettings::Start::lazy) {
    wait_for_threshold();
  } else {
    connect();
  }
}

std::size_t BridgeLink::backlog() const {
  std::lock_guard lock(shared_.mutex);
  return shared_.broker.queued_for(bridge_.settings().local_clientid);
}

void BridgeLink::stop() {
  if (stopped_) return;
  stopped_ = true;
  ++generation_;
  error_code ignored;
  socket_.close(ignored);
  resolver_.cancel();
  retry_timer_.cancel();
  keepalive_timer_.cancel();
  lazy_timer_.cancel();
  probe_timer_.cancel();
  probe_resolver_.cancel();
  probe_socket_.close(ignored);
  connected_ = false;
  tls_.reset();
  bridge::Bridge::Output out;
  bridge_.remote_lost(out);
  apply(out);  // the local notification, and the local client detached: its session keeps what waits to go out
}

// --- The upstream connection ---------------------------------------------------------------------------------------

template <class Done>
void BridgeLink::open_to(std::size_t index, asio::basic_stream_socket<tcp, Executor>& socket,
                         asio::ip::basic_resolver<tcp, Executor>& resolver, Done done) {
  const auto& address = bridge_.settings().addresses[index];
  const std::uint64_t generation = generation_;
  auto connected = [this, generation, done](const error_code& error) {
    if (generation != generation_) return;
    done(error ? "cannot connect: " + error.message() : std::string());
  };
  error_code not_numeric;
  const auto ip = asio::ip::make_address(address.host, not_numeric);
  if (!not_numeric) {
    // A numeric address needs no resolver (and the static build no NSS).
    socket.async_connect(tcp::endpoint(ip, address.port), connected);
    return;
  }
  resolver.async_resolve(address.host, std::to_string(address.port),
                         [this, generation, &socket, connected, done](const error_code& error, const auto& results) {
                           if (generation != generation_) return;
                           if (error) {
                             done("cannot resolve the address: " + error.message());
                             return;
                           }
                           if (socket.is_open()) {
                             // Bound to bridge_bind_address: the first address of the same family (trying others would
                             // close the socket and lose the binding).
                             error_code ignored;
                             const bool v6 = socket.local_endpoint(ignored).address().is_v6();
                             for (const auto& entry : results) {
                               if (entry.endpoint().address().is_v6() == v6) {
                                 socket.async_connect(entry.endpoint(), connected);
                                 return;
                               }
                             }
                             done("no address of the upstream in the family of bridge_bind_address");
                             return;
                           }
                           asio::async_connect(socket, results,
                                               [connected](const error_code& e, const auto&) { connected(e); });
                         });
}

void BridgeLink::connect() {
  if (stopped_ || shared_.shutting_down.load(std::memory_order_relaxed)) return;
  TERN_LOG(information, "Bridge ", name(), ": connecting to ", where(), '.');
  if (const auto& local = bridge_.settings().bind_address; !local.empty()) {
    // bridge_bind_address: the link leaves from there (the family of the local address decides the upstream's).
    error_code error;
    const auto from = asio::ip::make_address(local, error);
    if (!error) socket_.open(from.is_v6() ? tcp::v6() : tcp::v4(), error);
    if (!error) socket_.bind(tcp::endpoint(from, 0), error);
    if (error) {
      lost("cannot bind to bridge_bind_address " + local + ": " + error.message());
      return;
    }
  }
  open_to(address_, socket_, resolver_, [this](const std::string& failure) {
    if (!failure.empty()) {
      lost(failure);
      return;
    }
    on_connected();
  });
}

// --- start_type lazy and the main address ---------------------------------------------------------------------------

void BridgeLink::wait_for_threshold() {
  lazy_timer_.expires_after(std::chrono::seconds(1));
  lazy_timer_.async_wait([this](const error_code& error) {
    if (error || stopped_ || connected_) return;
    const std::size_t waiting = backlog();
    if (waiting < bridge_.settings().threshold) {
      wait_for_threshold();
      return;
    }
    TERN_LOG(notice, "Bridge ", name(), ": ", waiting, " messages wait to go out (threshold ",
             bridge_.settings().threshold, "): connecting.");
    connect();
  });
}

void BridgeLink::check_idle() {
  const std::uint64_t generation = generation_;
  lazy_timer_.expires_after(std::chrono::seconds(1));
  lazy_timer_.async_wait([this, generation](const error_code& error) {
    if (error || generation != generation_ || idle_ending_) return;
    const auto idle = bridge_.settings().idle_timeout;
    if (core::Clock::now() - last_relayed_ < idle || backlog() != 0 || bridge_.held() != 0) {
      check_idle();
      return;
    }
    TERN_LOG(notice, "Bridge ", name(), ": no message for ", idle.count(),
             " s (idle_timeout): ending the link until the threshold is reached.");
    bridge::Bridge::Output out;
    bridge_.disconnect(out);
    idle_ending_ = true;
    apply(out);  // lost() follows once the DISCONNECT is written (write_remote)
  });
}

void BridgeLink::probe_main() {
  const std::uint64_t generation = generation_;
  probe_timer_.expires_after(bridge_.settings().restart_base);
  probe_timer_.async_wait([this, generation](const error_code& error) {
    if (error || generation != generation_) return;
    error_code ignored;
    probe_socket_.close(ignored);
    open_to(0, probe_socket_, probe_resolver_, [this](const std::string& failure) {
      error_code ignored;
      probe_socket_.close(ignored);
      if (!failure.empty()) {
        probe_main();
        return;
      }
      const auto& main = bridge_.settings().addresses[0];
      lost("the main address " + main.host + ":" + std::to_string(main.port) + " answers again: moving back to it");
    });
  });
}

void BridgeLink::on_connected() {
  connected_ = true;
  error_code ignored;
  socket_.set_option(tcp::no_delay(true), ignored);
  arm_keepalive();  // until the CONNACK, it bounds the TLS handshake too
  read_remote();
  if (!tls_context_) {
    opened();
    return;
  }
  tls_ = std::make_unique<tls::Engine>(tls_context_);
  const auto& s = bridge_.settings();
  if (!s.tls.insecure && s.tls.psk_identity.empty()) tls_->set_peer_name(s.addresses[address_].host);
  // A reconnecting bridge resumes its TLS session (an abbreviated handshake, if the upstream still knows it).
  if (!tls_session_.empty() && tls_session_address_ == address_) tls_->resume_session(tls_session_);
  tls_step();
}

void BridgeLink::tls_step() {
  const tls::error_code result = tls_->handshake();
  remote_out_ += tls_->output();
  std::string().swap(tls_->output());
  write_remote();
  if (result == tls::error::want_read) return;
  if (result) {
    std::string reason = result.message();
    if (const std::string verify = tls_->verify_failure(); !verify.empty()) reason += " (" + verify + ")";
    lost("TLS handshake failed: " + reason);
    return;
  }
  tls_session_ = tls_->saved_session();
  tls_session_address_ = address_;
  opened();
}

void BridgeLink::opened() {
  bridge::Bridge::Output out;
  bridge_.remote_opened(out);
  apply(out);
}

void BridgeLink::arm_keepalive() {
  const std::uint64_t generation = generation_;
  // Until the CONNACK, the same interval bounds the wait for it.
  keepalive_timer_.expires_after(std::chrono::seconds(std::max<std::uint16_t>(bridge_.settings().keepalive, 1)));
  keepalive_timer_.async_wait([this, generation](const error_code& error) {
    if (error || generation != generation_) return;
    if (!bridge_.up()) {
      lost("no CONNACK within keepalive_interval");
      return;
    }
    bridge::Bridge::Output out;
    bridge_.keepalive(out);
    apply(out);
    if (generation == generation_) arm_keepalive();
  });
}

void BridgeLink::read_remote() {
  const std::uint64_t generation = generation_;
  socket_.async_read_some(asio::buffer(read_buffer_), [this, generation](const error_code& error, std::size_t n) {
    if (generation != generation_) return;
    if (error) {
      lost(error == asio::error::eof ? std::string("the upstream closed the connection") : error.message());
      return;
    }
    on_remote_bytes(n);
    if (generation == generation_) read_remote();
  });
}

void BridgeLink::on_remote_bytes(std::size_t n) {
  const std::uint64_t generation = generation_;
  if (tls_) {
    tls_->feed({read_buffer_.data(), n});
    if (!tls_->handshake_done()) {
      tls_step();
      if (generation != generation_ || !tls_->handshake_done()) return;
    }
    for (;;) {
      tls::error_code error;
      char plain[16 * 1024];
      const std::size_t got = tls_->read(plain, error);
      if (got != 0) {
        remote_in_.append(plain, got);
        continue;
      }
      if (error == tls::error::want_read) break;
      lost(error == tls::error::closed ? std::string("the upstream closed the TLS stream")
                                       : "TLS error: " + error.message());
      return;
    }
  } else {
    remote_in_.append(read_buffer_.data(), n);
  }
  // The packets of this read in batches of at most max_batch_packets, each applied at once: one turn of the broker's
  // lock per batch, in a reused Output (a 64 KiB read holds up to 16,384 acknowledgements).
  std::size_t used = 0;
  std::string bad;
  bool more = true;
  while (more) {
    bridge::Bridge::Output& out = batch_;
    out.clear();
    while (out.failure.empty() && out.local.size() < max_batch_packets) {
      protocol::DecodeResult result =
          protocol::decode(std::string_view(remote_in_).substr(used), bridge_.remote_version(), 0);
      if (result.status == protocol::DecodeResult::Status::need_more) {
        more = false;
        break;
      }
      if (result.status == protocol::DecodeResult::Status::error) {
        bad = std::string("the upstream sent a bad packet: ") + protocol::reason_code_name(result.error);
        more = false;
        break;
      }
      used += result.consumed;
      bridge_.on_remote(std::move(result.packet), out);
    }
    apply(out);
    if (generation != generation_) return;
  }
  if (!bad.empty()) {
    lost(bad);
    return;
  }
  remote_in_.erase(0, used);
}

void BridgeLink::write_remote() {
  if (remote_write_active_ || remote_out_.empty() || !connected_) return;
  remote_writing_.swap(remote_out_);
  remote_write_active_ = true;
  const std::uint64_t generation = generation_;
  asio::async_write(socket_, asio::buffer(remote_writing_), [this, generation](const error_code& error, std::size_t) {
    if (generation != generation_) return;
    remote_write_active_ = false;
    remote_writing_.clear();
    if (error) {
      lost("cannot write to the upstream: " + error.message());
      return;
    }
    if (idle_ending_ && remote_out_.empty()) {
      lost("idle");
      return;
    }
    write_remote();
  });
}

// --- Between the two sides -----------------------------------------------------------------------------------------

void BridgeLink::apply(bridge::Bridge::Output& out) {
  const core::TimePoint now = core::Clock::now();
  if (out.attach_local && !local_attached_) {
    std::lock_guard lock(shared_.mutex);
    local_id_ = shared_.broker.attach(*this, "bridge " + name(), now);
    // The bridge is the broker's own client: no password, no ACL (null policy).
    shared_.broker.authenticate(local_id_, core::Authentication{});
    local_attached_ = true;
    failures_ = 0;
  }
  std::size_t backlog = 0;
  if (!out.local.empty() && local_attached_) {
    std::lock_guard lock(shared_.mutex);
    if (out.attach_local) backlog = shared_.broker.queued_for(bridge_.settings().local_clientid);  // before the flow
    shared_.broker.on_packets(local_id_, out.local, now);
  }
  if (out.relayed) last_relayed_ = now;
  if (out.attach_local && !out.priming) {
    TERN_LOG(notice, "Bridge ", name(), ": connected to ", where(), " as ", bridge_.settings().remote_clientid,
             "; backlog ", backlog, backlog == 1 ? " message." : " messages.");
    const auto& s = bridge_.settings();
    last_relayed_ = now;
    if (s.start == bridge::BridgeSettings::Start::lazy) check_idle();
    if (!s.round_robin && address_ != 0) probe_main();
  }
  if (!out.remote.empty() && connected_) {
    if (tls_) {
      tls::error_code error;
      tls_->write(out.remote, remote_out_, error);
      if (error && out.failure.empty()) out.failure = "TLS encryption failed: " + error.message();
    } else {
      remote_out_ += out.remote;
    }
    write_remote();
  }
  if (out.detach_local && local_attached_) {
    local_attached_ = false;
    {
      std::lock_guard lock(shared_.mutex);
      shared_.broker.detach(local_id_, now);
    }
    std::lock_guard lock(local_mutex_);
    local_in_.clear();  // what the broker sent the detached client: its session resends what needs it
    local_pending_.store(0, std::memory_order_relaxed);
    local_close_ = false;
  }
  if (!out.local_state.empty()) {
    std::lock_guard lock(shared_.mutex);
    shared_.broker.publish_own(bridge_.settings().notification_topic, out.local_state, true, now);
  }
  if (out.refused_upstream) {
    TERN_LOG(notice, "Bridge ", name(), ": the upstream refused a forwarded message (",
             protocol::reason_code_name(*out.refused_upstream), "); it is not sent again.");
  }
  if (out.dropped_oversize) {
    TERN_LOG(notice, "Bridge ", name(), ": a message over bridge_max_packet_size (", bridge_.settings().max_packet_size,
             " bytes) was not forwarded.");
  }
  if (!out.failure.empty()) lost(out.failure);
}

void BridgeLink::send(std::string_view bytes) {
  std::lock_guard lock(local_mutex_);
  local_in_.append(bytes);
  local_pending_.store(local_in_.size(), std::memory_order_relaxed);
  if (local_posted_) return;
  local_posted_ = true;
  asio::post(executor_, [this] { process_local(); });
}

void BridgeLink::close() {
  std::lock_guard lock(local_mutex_);
  local_close_ = true;
  if (local_posted_) return;
  local_posted_ = true;
  asio::post(executor_, [this] { process_local(); });
}

std::size_t BridgeLink::pending_bytes() const noexcept { return local_pending_.load(std::memory_order_relaxed); }

void BridgeLink::wake() {
  asio::post(executor_, [this] {
    if (!local_attached_) return;
    std::lock_guard lock(shared_.mutex);
    shared_.broker.resume(local_id_, core::Clock::now());
  });
}

void BridgeLink::process_local() {
  std::string bytes;
  bool close = false;
  {
    std::lock_guard lock(local_mutex_);
    local_posted_ = false;
    bytes.swap(local_in_);
    local_pending_.store(0, std::memory_order_relaxed);
    close = std::exchange(local_close_, false);
  }
  if (!local_attached_) return;
  local_leftover_.append(bytes);
  const std::uint64_t generation = generation_;
  std::size_t used = 0;
  bridge::Bridge::Output& out = batch_;  // all of them at once, as for the upstream's packets
  out.clear();
  while (out.failure.empty()) {
    const std::string_view rest = std::string_view(local_leftover_).substr(used);
    // A PUBLISH goes upstream straight from the broker's bytes; the rest (and a PUBLISH the bridge holds) decoded.
    protocol::PublishView publish;
    if (const std::size_t n = protocol::read_publish_view(rest, protocol::Version::v5, publish);
        n != 0 && bridge_.on_local_publish(publish, out)) {
      used += n;
      continue;
    }
    protocol::DecodeResult result = protocol::decode(rest, protocol::Version::v5, 0);
    if (result.status != protocol::DecodeResult::Status::packet) break;  // need_more (the broker's bytes are valid)
    used += result.consumed;
    bridge_.on_local(std::move(result.packet), out);
  }
  apply(out);
  if (generation == generation_ && local_attached_) {
    local_leftover_.erase(0, used);
  } else {
    local_leftover_.clear();
  }
  if (close && local_attached_) lost("the broker closed the bridge's local session");
}

// --- Ending and retrying -------------------------------------------------------------------------------------------

void BridgeLink::lost(const std::string& why) {
  ++generation_;
  error_code ignored;
  socket_.close(ignored);
  resolver_.cancel();
  keepalive_timer_.cancel();
  lazy_timer_.cancel();
  probe_timer_.cancel();
  probe_resolver_.cancel();
  probe_socket_.close(ignored);
  connected_ = false;
  tls_.reset();
  remote_in_.clear();
  remote_out_.clear();
  remote_writing_.clear();
  remote_write_active_ = false;
  local_leftover_.clear();
  const bool was_up = bridge_.up();
  bridge::Bridge::Output out;
  bridge_.remote_lost(out);
  apply(out);
  if (stopped_) return;
  if (std::exchange(idle_ending_, false)) {
    wait_for_threshold();  // start_type lazy: until enough waits again
    return;
  }
  if (was_up) {
    TERN_LOG(warning, "Bridge ", name(), ": the link to ", where(), " ended: ", why, '.');
    // round_robin false: the main address first again (then the others in turn); true: the one that worked.
    if (!bridge_.settings().round_robin) address_ = 0;
  } else {
    TERN_LOG(notice, "Bridge ", name(), ": ", where(), ": ", why, '.');
    address_ = (address_ + 1) % bridge_.settings().addresses.size();  // fail over to the next address
  }
  schedule_retry(was_up);
}

void BridgeLink::schedule_retry(bool after_link) {
  if (stopped_ || shared_.shutting_down.load(std::memory_order_relaxed)) return;
  const auto& s = bridge_.settings();
  if (s.start == bridge::BridgeSettings::Start::once && after_link) {
    TERN_LOG(notice, "Bridge ", name(), ": start_type once: not connecting again.");
    return;
  }
  failures_ = after_link ? 0 : failures_ + 1;
  // BASE, then doubling up to CAP while attempts fail, each delay drawn from its upper half (jitter, so that many
  // gateways that lost the same upstream do not all come back at once). BASE alone (= CAP): always BASE.
  const auto ceiling =
      std::min<std::int64_t>(s.restart_cap.count(), s.restart_base.count() << std::min(failures_, 16u));
  std::int64_t delay_ms = std::max<std::int64_t>(s.restart_base.count(), ceiling) * 1000;
  if (s.restart_cap > s.restart_base) {
    thread_local std::minstd_rand random(std::random_device{}());
    delay_ms = delay_ms / 2 + static_cast<std::int64_t>(random() % static_cast<unsigned>(delay_ms / 2 + 1));
  }
  TERN_LOG(information, "Bridge ", name(), ": next attempt in ", delay_ms, " ms.");
  const std::uint64_t generation = generation_;
  retry_timer_.expires_after(std::chrono::milliseconds(delay_ms));
  retry_timer_.async_wait([this, generation](const error_code& error) {
    if (error || generation != generation_) return;
    connect();
  });
}

}  // namespace tern::net
