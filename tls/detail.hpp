// The mbedTLS objects behind Context and Engine. Internal to tls/: nothing outside includes it, so nothing outside
// tls/ sees an mbedTLS header.
#pragma once

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecp.h>
#include <mbedtls/entropy.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crl.h>
#include <mbedtls/x509_crt.h>

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tls/context.hpp"
#include "tls/engine.hpp"
#include "tls/resumption.hpp"

namespace tern::tls {

struct Context::Impl {
  Impl();
  ~Impl();
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  mbedtls_ssl_config conf;
  mbedtls_entropy_context entropy;
  mbedtls_ctr_drbg_context drbg;
  mbedtls_x509_crt cert;
  mbedtls_pk_context key;
  mbedtls_x509_crt ca;
  mbedtls_x509_crl crl;
  std::map<std::string, std::string, std::less<>> psks;  // identity -> key bytes
  std::string client_psk_key;                            // client side
  std::vector<int> ciphersuites;                         // zero-terminated; must outlive conf
  std::vector<mbedtls_ecp_group_id> curves;              // MBEDTLS_ECP_DP_NONE-terminated; must outlive conf
  std::vector<std::string> alpn_names;                   // client ALPN protocols, and the list of pointers to them
  std::vector<const char*> alpn;                         // (null-terminated) that conf keeps: both outlive it
  std::shared_ptr<Resumption> resumption;                // the listener's tickets and cache (null: none); conf
                                                         // points into it, so it outlives conf
};

// `ssl` is the first member so that mbedTLS callbacks, which receive the mbedtls_ssl_context*, can find the rest
// (a standard-layout struct and its first member share an address).
struct Engine::Impl {
  mbedtls_ssl_context ssl;
  std::shared_ptr<const Context> context;
  std::string_view input;  // fed bytes not yet consumed: borrowed from the caller, or a view of `owned`
  std::string owned;       // input that had to outlive the caller's buffer
  std::string* output = nullptr;
  std::string psk_identity;
  bool done = false;
  bool resumed = false;        // a server's handshake that accepted a ticket or a cached session
  std::string offered_master;  // a client's: the master secret of the session it offered (resume_session)

  static Impl& of(mbedtls_ssl_context* ssl) { return *reinterpret_cast<Impl*>(ssl); }
};

namespace detail {

// resumption.cpp: the listener's ticket and cache callbacks into a server's conf.
void install(Resumption& resumption, mbedtls_ssl_config& conf);
// Around one mbedtls_ssl_handshake() call on this thread: whether a ticket or cached session was accepted in it.
void begin_handshake_step() noexcept;
bool handshake_step_resumed() noexcept;
void count_server_handshake(bool resumed) noexcept;

}  // namespace detail
}  // namespace tern::tls
