#include "broker/net/listener.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <utility>

#include "broker/net/connection.hpp"
#include "broker/net/endpoint.hpp"
#include "broker/net/layered_transport.hpp"
#include "broker/net/tls_transport.hpp"
#include "platform/log.hpp"

namespace tern::net {

namespace {

constexpr std::chrono::milliseconds accept_backoff{100};

// Connections accepted in a row before the accepting shard's other handlers get a turn. Few: a connect flood then
// waits in the kernel's backlog rather than ahead of the clients already served (bench/README.md, row 17).
constexpr int max_accepts_per_turn = 8;

std::string describe(const std::string& address, std::uint16_t port) {
  std::string text = address.find(':') != std::string::npos ? '[' + address + ']' : address;
  return text + ':' + std::to_string(port);
}

// Errors that say nothing about the listening socket: a client gave up while queued, a signal, or (accept(2), "Error
// handling") a network error already pending on the new connection.
bool transient(const error_code& error) {
  switch (error.value()) {
    case ECONNABORTED:
    case EINTR:
    case ECONNRESET:
    case EPROTO:
    case ENETDOWN:
    case ENOPROTOOPT:
    case EHOSTDOWN:
    case ENONET:
    case EHOSTUNREACH:
    case EOPNOTSUPP:
    case ENETUNREACH:
      return true;
    default:
      return false;
  }
}

}  // namespace

// bind_interface: SO_BINDTODEVICE, as mosquitto sets it, so that only connections arriving on that interface are
// accepted. Linux before 5.7 lets only CAP_NET_RAW set it; the error says so rather than a bare EPERM.
void Listener::bind_to_interface(int fd, const tcp::endpoint& endpoint) {
  const std::string& name = config_.bind_interface;
  // The name is checked first on its own, in /sys/class/net (Linux's list of interfaces): the kernel's answer to
  // SO_BINDTODEVICE is the same (ENODEV), but not every environment passes that option, or the interface ioctls,
  // through (qemu-user, on which the ARM builds are tested, accepts any name for both).
  std::error_code ignored;
  const bool known = name.find('/') == std::string::npos && std::filesystem::exists("/sys/class/net/" + name, ignored);
  if (known &&
      ::setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, name.c_str(), static_cast<socklen_t>(name.size() + 1)) == 0) {
    return;
  }
  const int error = known ? errno : ENODEV;
  std::string why = std::strerror(error);
  if (error == ENODEV) why = "no network interface of that name";
  if (error == EPERM) why += " (this kernel lets only root or CAP_NET_RAW bind a socket to an interface)";
  throw ListenError("cannot listen on " + describe(endpoint.address().to_string(), config_.port) + ": bind_interface " +
                    name + ": " + why);
}

Listener::Listener(const ListenerConfig& config, Shard& accept_shard, ShardPicker pick_shard, SharedBroker& shared,
                   SecuritySlot* security)
    : config_(config), accept_shard_(accept_shard), pick_shard_(std::move(pick_shard)), shared_(shared) {
  link_.security = security;
  link_.accepted_versions = config_.accepted_versions;
  if (!config_.mount_point.empty()) link_.mount_point = std::make_shared<const std::string>(config_.mount_point);
  if (config_.rate_limit_count != 0)
    rate_.emplace(config_.rate_limit_count, std::chrono::seconds(config_.rate_limit_seconds));
  if (config_.protocol == ListenerConfig::Protocol::websockets) websockets_ = websocket_settings();
  if (config_.tls.enabled()) {
    try {
      resumption_ = tls::Resumption::make(config_.tls.resumption, tls::Resumption::binding_of(config_.tls));
      tls_ = tls::Context::server(config_.tls, resumption_);
    } catch (const tls::ContextError& e) {
      throw ListenError("TLS listener on port " + std::to_string(config_.port) + ": " + e.what());
    }
  }
  if (config_.bind_address.empty()) {
    try {
      bind(tcp::endpoint(tcp::v6(), config_.port), true);
    } catch (const boost::system::system_error& e) {
      // No IPv6 on this machine (module not loaded, or disabled): IPv4 alone.
      if (e.code() != asio::error::address_family_not_supported &&
          e.code() != boost::system::errc::address_not_available) {
        throw ListenError("cannot listen on " + describe("::", config_.port) + ": " + e.code().message());
      }
      endpoints_.clear();
      try {
        bind(tcp::endpoint(tcp::v4(), config_.port), false);
      } catch (const boost::system::system_error& e4) {
        throw ListenError("cannot listen on " + describe("0.0.0.0", config_.port) + ": " + e4.code().message());
      }
    }
  } else {
    std::vector<tcp::endpoint> targets;
    bool resolved = false;  // a host name rather than an address: the error names the address it resolved to
    error_code error;
    const asio::ip::address literal = asio::ip::make_address(config_.bind_address, error);
    if (!error) {
      targets.emplace_back(literal, config_.port);
    } else {
      resolved = true;
      tcp::resolver resolver(accept_shard_.context());
      const auto results = resolver.resolve(config_.bind_address, std::to_string(config_.port),
                                            tcp::resolver::passive | tcp::resolver::numeric_service, error);
      if (error) {
        throw ListenError("cannot listen on " + describe(config_.bind_address, config_.port) + ": " + error.message());
      }
      for (const auto& entry : results) {
        if (std::find(targets.begin(), targets.end(), entry.endpoint()) == targets.end()) {
          targets.push_back(entry.endpoint());
        }
      }
    }
    std::uint16_t port = config_.port;
    for (tcp::endpoint target : targets) {
      if (port != 0) target.port(port);  // with port 0, every address gets the port the first one was given
      try {
        bind(target, false);
      } catch (const boost::system::system_error& e) {
        throw ListenError("cannot listen on " + describe(config_.bind_address, target.port()) +
                          (resolved ? " (" + to_string(target) + ")" : std::string()) + ": " + e.code().message());
      }
      port = endpoints_.back()->acceptor.local_endpoint().port();
    }
  }
}

Listener::~Listener() = default;

void Listener::bind(const tcp::endpoint& endpoint, bool dual_stack) {
  auto entry = std::make_unique<Endpoint>(accept_shard_.executor());
  Acceptor& acceptor = entry->acceptor;
  acceptor.open(endpoint.protocol());
  if (!config_.bind_interface.empty()) bind_to_interface(acceptor.native_handle(), endpoint);
  if (dual_stack) acceptor.set_option(asio::ip::v6_only(false));
  acceptor.set_option(Acceptor::reuse_address(true));
  acceptor.bind(endpoint);
  acceptor.listen(Acceptor::max_listen_connections);
  acceptor.non_blocking(true);  // accept_ready() accepts until EAGAIN
  entry->name = to_string(acceptor.local_endpoint());
  endpoints_.push_back(std::move(entry));
}

// The "listening on" lines come here, once every listener (and the http_listener) is bound: a start-up that fails
// on a later one never announces an earlier one.
void Listener::start() {
  const char* kind = websockets_ ? (tls_ ? " (WebSocket, TLS)" : " (WebSocket)") : (tls_ ? " (TLS)" : "");
  for (const auto& endpoint : endpoints_) TERN_LOG(notice, "listening on ", endpoint->name, kind);
  for (auto& endpoint : endpoints_) accept(*endpoint);
}

void Listener::stop() {
  asio::dispatch(accept_shard_.executor(), [this] {
    for (auto& endpoint : endpoints_) {
      error_code ignored;
      endpoint->acceptor.close(ignored);
      endpoint->backoff.cancel();
    }
  });
}

void Listener::reload_tls() {
  if (!tls_) return;
  try {
    // Tickets and cached sessions survive a reload, unless it brought other CA or CRL files for client certificates
    // (a resumed session's certificate is not verified again): then new keys and an empty cache.
    const std::string binding = tls::Resumption::binding_of(config_.tls);
    std::shared_ptr<tls::Resumption> resumption = !resumption_ || resumption_->binding() == binding
                                                      ? resumption_
                                                      : tls::Resumption::make(config_.tls.resumption, binding, false);
    tls_ = tls::Context::server(config_.tls, resumption);
    resumption_ = std::move(resumption);
    TERN_LOG(notice, "TLS listener on port ", config_.port, ": certificates and keys reloaded for new connections");
  } catch (const tls::ContextError& e) {
    TERN_LOG(error, "TLS listener on port ", config_.port,
             ": reload failed, keeping the previous settings: ", e.what());
  }
}

std::vector<tcp::endpoint> Listener::local_endpoints() const {
  std::vector<tcp::endpoint> result;
  for (const auto& endpoint : endpoints_) {
    error_code ignored;
    result.push_back(endpoint->acceptor.local_endpoint(ignored));
  }
  return result;
}

void Listener::accept(Endpoint& endpoint) {
  endpoint.acceptor.async_wait(Acceptor::wait_read, [this, &endpoint](const error_code& error) {
    if (error == asio::error::operation_aborted || !endpoint.acceptor.is_open()) return;
    accept_ready(endpoint);
  });
}

// The listening socket is readable: accept what is queued, up to max_accepts_per_turn, with accept4() (the new
// socket is non-blocking from birth and never becomes an Asio socket: see poller.hpp).
void Listener::accept_ready(Endpoint& endpoint) {
  for (int accepted = 0; accepted < max_accepts_per_turn; ++accepted) {
    sockaddr_storage address{};
    socklen_t length = sizeof address;
    const int fd = ::accept4(endpoint.acceptor.native_handle(), reinterpret_cast<sockaddr*>(&address), &length,
                             SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      const error_code error(errno, boost::system::system_category());
      if (error == asio::error::would_block || error == asio::error::try_again) {
        accept(endpoint);
        return;
      }
      if (transient(error)) continue;
      // EMFILE, ENFILE, ENOBUFS, ENOMEM: the pending connection stays queued, so retrying now would spin.
      TERN_LOG(warning, "accepting on ", endpoint.name, ": ", error.message(), "; retrying in ", accept_backoff.count(),
               " ms");
      endpoint.backoff.expires_after(accept_backoff);
      endpoint.backoff.async_wait([this, &endpoint](const error_code& wait_error) {
        if (!wait_error && endpoint.acceptor.is_open()) accept(endpoint);
      });
      return;
    }
    tcp::endpoint remote;
    std::memcpy(remote.data(), &address, std::min<std::size_t>(length, remote.capacity()));
    remote.resize(std::min<std::size_t>(length, remote.capacity()));
    on_accept(endpoint, fd, remote);
  }
  // More may be queued: carry on after the handlers already waiting on this shard.
  asio::post(accept_shard_.executor(), [this, &endpoint] {
    if (endpoint.acceptor.is_open()) accept_ready(endpoint);
  });
}

void Listener::on_accept(Endpoint& endpoint, int fd, const tcp::endpoint& remote) {
  if (shared_.shutting_down.load(std::memory_order_relaxed)) {
    ::close(fd);
    return;
  }
  if (rate_) {
    const auto verdict = rate_->admit(remote.address(), ConnectionRate::Clock::now());
    if (verdict != ConnectionRate::Verdict::accept) {
      if (verdict == ConnectionRate::Verdict::refuse_first) {
        TERN_LOG(notice, "refusing connections from ", remote.address().to_string(), " on ", endpoint.name,
                 ": more than ", config_.rate_limit_count, " in ", config_.rate_limit_seconds,
                 " s (connection_rate_limit)");
      }
      ::close(fd);
      return;
    }
  }
  if (config_.max_connections >= 0 && link_.connections.load(std::memory_order_relaxed) >= config_.max_connections) {
    TERN_LOG(notice, "refusing a connection on ", endpoint.name, ": max_connections (", config_.max_connections,
             ") reached");
    ::close(fd);
    return;
  }
  link_.connections.fetch_add(1, std::memory_order_relaxed);
  Shard& target = pick_shard_();
  ConnectionRef connection = Connection::create(fd, target, &link_, make_transport());
  asio::post(target.executor(), [connection = std::move(connection), remote] { connection->start(remote); });
}

std::shared_ptr<const WebSocketTransport::Settings> Listener::websocket_settings() const {
  auto settings = std::make_shared<WebSocketTransport::Settings>();
  const auto& ws = config_.websockets;
  settings->path = ws.path;
  settings->compression = ws.compression;
  settings->headers_size = ws.headers_size;
  settings->max_frame = shared_.max_packet_size;
  if (!ws.http_dir.empty()) {
    // The folder's real path, once: every file served must resolve to a path under it.
    char* real = ::realpath(ws.http_dir.c_str(), nullptr);
    struct stat status {};
    if (real == nullptr || ::stat(real, &status) != 0 || !S_ISDIR(status.st_mode)) {
      const int error = errno;
      std::free(real);
      throw ListenError("websockets listener on port " + std::to_string(config_.port) + ": http_dir " + ws.http_dir +
                        ": " + (real == nullptr ? std::strerror(error) : "not a directory"));
    }
    settings->http_dir = real;
    std::free(real);
    if (settings->http_dir == "/") {
      throw ListenError("websockets listener on port " + std::to_string(config_.port) +
                        ": http_dir / would serve the whole file system");
    }
  }
  return settings;
}

std::unique_ptr<Transport> Listener::make_transport() const {
  if (!websockets_) return tls_ ? std::make_unique<TlsTransport>(tls_) : nullptr;
  auto websocket = std::make_unique<WebSocketTransport>(websockets_);
  if (!tls_) return websocket;
  return std::make_unique<LayeredTransport>(std::make_unique<TlsTransport>(tls_), std::move(websocket));
}

}  // namespace tern::net
