#include "bench/loadgen/tls.hpp"

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>

namespace loadgen::tls {
namespace {

constexpr std::size_t recv_size = 65536;

std::string mbedtls_text(int rc) {
  char buf[160];
  mbedtls_strerror(rc, buf, sizeof buf);
  return std::string(buf) + " (-0x" + [rc] {
    char hex[16];
    std::snprintf(hex, sizeof hex, "%04x", static_cast<unsigned>(-rc));
    return std::string(hex);
  }() + ")";
}

}  // namespace

struct Config::Impl {
  mbedtls_ssl_config conf;
  mbedtls_entropy_context entropy;
  mbedtls_ctr_drbg_context drbg;
  mbedtls_x509_crt ca;
  std::string server_name;
  bool resume = false;

  Impl() {
    mbedtls_ssl_config_init(&conf);
    mbedtls_entropy_init(&entropy);
    mbedtls_ctr_drbg_init(&drbg);
    mbedtls_x509_crt_init(&ca);
  }
  ~Impl() {
    mbedtls_ssl_config_free(&conf);
    mbedtls_x509_crt_free(&ca);
    mbedtls_ctr_drbg_free(&drbg);
    mbedtls_entropy_free(&entropy);
  }
};

Config::Config(const Options& options) : impl_(std::make_unique<Impl>()) {
  Impl& i = *impl_;
  i.server_name = options.server_name;
  static const unsigned char personalization[] = "tern_loadgen";
  if (int rc = mbedtls_ctr_drbg_seed(&i.drbg, mbedtls_entropy_func, &i.entropy, personalization,
                                     sizeof personalization - 1);
      rc != 0) {
    throw std::runtime_error("TLS random generator: " + mbedtls_text(rc));
  }
  if (int rc = mbedtls_ssl_config_defaults(&i.conf, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM,
                                           MBEDTLS_SSL_PRESET_DEFAULT);
      rc != 0) {
    throw std::runtime_error("TLS config: " + mbedtls_text(rc));
  }
  // TLS 1.2 only: what mbedTLS 2.28 (and so Tern) implements; the peers (OpenSSL) then negotiate 1.2 as well.
  mbedtls_ssl_conf_min_version(&i.conf, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
  mbedtls_ssl_conf_max_version(&i.conf, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
  mbedtls_ssl_conf_rng(&i.conf, mbedtls_ctr_drbg_random, &i.drbg);
  // The key exchange groups a typical client offers, in its order (OpenSSL 3: X25519 first), instead of mbedTLS
  // 2.28's default, which starts with secp521r1: the server's choice among them is part of what is measured.
  static const mbedtls_ecp_group_id curves[] = {MBEDTLS_ECP_DP_CURVE25519, MBEDTLS_ECP_DP_SECP256R1,
                                                MBEDTLS_ECP_DP_SECP384R1, MBEDTLS_ECP_DP_SECP521R1,
                                                MBEDTLS_ECP_DP_NONE};
  mbedtls_ssl_conf_curves(&i.conf, curves);
  // Likewise the cipher suites: OpenSSL 3's TLS 1.2 ECDHE suites in its order (AES-GCM first, as on AES-NI
  // hardware), not mbedTLS's, which starts with ChaCha20-Poly1305.
  static const int suites[] = {MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
                               MBEDTLS_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
                               MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
                               MBEDTLS_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
                               MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
                               MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
                               0};
  mbedtls_ssl_conf_ciphersuites(&i.conf, suites);
  // Without --tls-resume every connection is a full handshake: no session tickets, and Session::reset() offers no
  // session. With it, the session of the last full handshake is offered (by ticket, or by id without tickets).
  i.resume = options.resume;
  mbedtls_ssl_conf_session_tickets(&i.conf, options.resume && options.tickets ? MBEDTLS_SSL_SESSION_TICKETS_ENABLED
                                                                              : MBEDTLS_SSL_SESSION_TICKETS_DISABLED);
  if (!options.ca_file.empty()) {
    if (int rc = mbedtls_x509_crt_parse_file(&i.ca, options.ca_file.c_str()); rc != 0) {
      throw std::runtime_error("TLS CA file " + options.ca_file + ": " + mbedtls_text(rc));
    }
    mbedtls_ssl_conf_ca_chain(&i.conf, &i.ca, nullptr);
    mbedtls_ssl_conf_authmode(&i.conf, MBEDTLS_SSL_VERIFY_REQUIRED);
  } else {
    mbedtls_ssl_conf_authmode(&i.conf, MBEDTLS_SSL_VERIFY_NONE);
  }
}

Config::~Config() = default;

struct Session::Impl {
  Session* owner = nullptr;
  Config::Impl* config = nullptr;
  mbedtls_ssl_context ssl;
  int fd = -1;
  std::unique_ptr<unsigned char[]> in{new unsigned char[recv_size]};
  std::size_t in_pos = 0;
  std::size_t in_len = 0;
  bool drained = false;  // a recv() in this call came back short (or EAGAIN): do not ask the socket again
  bool closed = false;   // the peer closed the TCP connection or sent close_notify
  int sys_errno = 0;
  std::uint64_t received = 0;
  mbedtls_ssl_session saved;  // --tls-resume: the session to offer
  bool have_saved = false;
  bool resumed = false;

  static int bio_send(void* ctx, const unsigned char* buf, std::size_t len) {
    auto* self = static_cast<Impl*>(ctx);
    self->owner->cipher_out_.append(reinterpret_cast<const char*>(buf), len);
    return static_cast<int>(len);
  }

  static int bio_recv(void* ctx, unsigned char* buf, std::size_t len) {
    auto* self = static_cast<Impl*>(ctx);
    if (self->in_pos == self->in_len) {
      if (self->drained || self->closed) return self->closed ? 0 : MBEDTLS_ERR_SSL_WANT_READ;
      ssize_t n;
      do {
        n = ::recv(self->fd, self->in.get(), recv_size, 0);
      } while (n < 0 && errno == EINTR);
      if (n == 0) {
        self->closed = true;
        return 0;  // mbedTLS: MBEDTLS_ERR_SSL_CONN_EOF
      }
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
          self->drained = true;
          return MBEDTLS_ERR_SSL_WANT_READ;
        }
        self->sys_errno = errno;
        return MBEDTLS_ERR_NET_RECV_FAILED;
      }
      self->in_pos = 0;
      self->in_len = static_cast<std::size_t>(n);
      self->received += self->in_len;
      if (self->in_len < recv_size) self->drained = true;
    }
    const std::size_t k = std::min(len, self->in_len - self->in_pos);
    std::memcpy(buf, self->in.get() + self->in_pos, k);
    self->in_pos += k;
    return static_cast<int>(k);
  }
};

Session::Session(Config& config) : impl_(std::make_unique<Impl>()) {
  Impl& i = *impl_;
  i.owner = this;
  i.config = &config.impl();
  mbedtls_ssl_session_init(&i.saved);
  mbedtls_ssl_init(&i.ssl);
  if (int rc = mbedtls_ssl_setup(&i.ssl, &i.config->conf); rc != 0) {
    mbedtls_ssl_free(&i.ssl);
    throw std::runtime_error("TLS session: " + mbedtls_text(rc));
  }
  mbedtls_ssl_set_hostname(&i.ssl, i.config->server_name.c_str());
  mbedtls_ssl_set_bio(&i.ssl, &i, Impl::bio_send, Impl::bio_recv, nullptr);
}

Session::~Session() {
  mbedtls_ssl_free(&impl_->ssl);
  mbedtls_ssl_session_free(&impl_->saved);
}

void Session::reset(int fd) {
  Impl& i = *impl_;
  mbedtls_ssl_session_reset(&i.ssl);
  mbedtls_ssl_set_hostname(&i.ssl, i.config->server_name.c_str());
  i.fd = fd;
  i.in_pos = i.in_len = 0;
  i.drained = i.closed = false;
  i.sys_errno = 0;
  i.resumed = false;
  if (i.have_saved) mbedtls_ssl_set_session(&i.ssl, &i.saved);
  cipher_out_.clear();
  cipher_offset = 0;
  error_.clear();
}

Session::Status Session::handshake() {
  Impl& i = *impl_;
  i.drained = false;
  const int rc = mbedtls_ssl_handshake(&i.ssl);
  if (rc == 0) {
    if (i.config->resume) {
      // Resumed: the master secret is the offered session's. Full: keep this session for the next connection.
      const mbedtls_ssl_session* now = mbedtls_ssl_get_session_pointer(&i.ssl);
      i.resumed = i.have_saved && now != nullptr && std::memcmp(now->master, i.saved.master, sizeof now->master) == 0;
      if (!i.resumed) {
        mbedtls_ssl_session_free(&i.saved);
        mbedtls_ssl_session_init(&i.saved);
        i.have_saved = mbedtls_ssl_get_session(&i.ssl, &i.saved) == 0;
      }
    }
    return Status::done;
  }
  if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE) return Status::want;
  error_ = "TLS handshake: " + mbedtls_text(rc);
  if (rc == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED) {
    char info[256];
    mbedtls_x509_crt_verify_info(info, sizeof info, "", mbedtls_ssl_get_verify_result(&i.ssl));
    error_ += ": ";
    error_ += info;
    while (!error_.empty() && error_.back() == '\n') error_.pop_back();
  } else if (i.sys_errno != 0) {
    error_ += std::string(": ") + std::strerror(i.sys_errno);
  } else if (i.closed) {
    error_ += ": connection closed by the broker";
  }
  return Status::error;
}

long Session::read(char* out, std::size_t size) {
  Impl& i = *impl_;
  i.drained = false;
  std::size_t got = 0;
  bool failed = false;
  while (got < size) {
    const int rc = mbedtls_ssl_read(&i.ssl, reinterpret_cast<unsigned char*>(out + got), size - got);
    if (rc > 0) {
      got += static_cast<std::size_t>(rc);
      continue;
    }
    if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE) break;
    if (rc == 0 || rc == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY || rc == MBEDTLS_ERR_SSL_CONN_EOF) {
      i.closed = true;
      break;
    }
    error_ = "TLS read: " + mbedtls_text(rc);
    if (i.sys_errno != 0) error_ += std::string(": ") + std::strerror(i.sys_errno);
    failed = true;
    break;
  }
  if (got > 0) return static_cast<long>(got);
  if (i.closed) return 0;
  errno = failed ? EIO : EAGAIN;
  return -1;
}

bool Session::write(std::string_view plaintext) {
  Impl& i = *impl_;
  const auto* p = reinterpret_cast<const unsigned char*>(plaintext.data());
  std::size_t left = plaintext.size();
  while (left > 0) {
    const int rc = mbedtls_ssl_write(&i.ssl, p, left);  // at most one record (16 KiB) per call
    if (rc < 0) {
      error_ = "TLS write: " + mbedtls_text(rc);
      return false;
    }
    p += rc;
    left -= static_cast<std::size_t>(rc);
  }
  return true;
}

bool Session::peer_closed() const noexcept { return impl_->closed; }

std::uint64_t Session::received_bytes() const noexcept { return impl_->received; }

const char* Session::ciphersuite() const noexcept { return mbedtls_ssl_get_ciphersuite(&impl_->ssl); }

bool Session::resumed() const noexcept { return impl_->resumed; }

void Session::close_notify() { mbedtls_ssl_close_notify(&impl_->ssl); }

}  // namespace loadgen::tls
