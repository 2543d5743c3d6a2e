#include "tls/engine.hpp"

#include <mbedtls/oid.h>
#include <mbedtls/x509.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <utility>
#include <vector>

#include "tls/detail.hpp"

namespace tern::tls {
namespace {

int bio_send(void* p, const unsigned char* data, std::size_t length) {
  auto& impl = *static_cast<Engine::Impl*>(p);
  impl.output->append(reinterpret_cast<const char*>(data), length);
  return static_cast<int>(length);
}

int bio_recv(void* p, unsigned char* data, std::size_t length) {
  auto& impl = *static_cast<Engine::Impl*>(p);
  if (impl.input.empty()) return MBEDTLS_ERR_SSL_WANT_READ;
  const std::size_t n = std::min(length, impl.input.size());
  std::memcpy(data, impl.input.data(), n);
  impl.input.remove_prefix(n);
  if (impl.input.empty() && !impl.owned.empty()) std::string().swap(impl.owned);  // idle: no buffer
  return static_cast<int>(n);
}

// Borrowed input must not outlive the call that was given it: keep what is left.
void own_rest(Engine::Impl& impl) {
  if (impl.input.empty() || (!impl.owned.empty() && impl.input.data() >= impl.owned.data() &&
                             impl.input.data() < impl.owned.data() + impl.owned.size())) {
    return;
  }
  impl.owned.assign(impl.input);
  impl.input = impl.owned;
}

// The largest plaintext of one record, and the most a record adds to it (header, explicit nonce, tag; for CBC
// suites the MAC and the largest padding), once the handshake has chosen the suite.
struct RecordLimits {
  std::size_t payload;
  std::size_t overhead;
};

RecordLimits record_limits(const mbedtls_ssl_context& ssl) {
  const int payload = mbedtls_ssl_get_max_out_record_payload(&ssl);
  const int expansion = mbedtls_ssl_get_record_expansion(&ssl);  // < 0 only with compression (not built)
  return {payload > 0 ? static_cast<std::size_t>(payload) : std::size_t{MBEDTLS_SSL_OUT_CONTENT_LEN},
          expansion >= 0 ? static_cast<std::size_t>(expansion) : std::size_t{256}};
}

// Room for `plaintext` bytes as records, at most `limit` bytes of them, at the end of `out`.
void reserve_records(std::string& out, std::size_t plaintext, const RecordLimits& limits, std::size_t limit) {
  const std::size_t records = (plaintext + limits.payload - 1) / limits.payload;
  out.reserve(out.size() + std::min(plaintext + records * limits.overhead, limit));
}

}  // namespace

Engine::Engine(std::shared_ptr<const Context> context) : impl_(std::make_unique<Impl>()) {
  impl_->context = std::move(context);
  impl_->output = &output_;
  mbedtls_ssl_init(&impl_->ssl);
  if (int rc = mbedtls_ssl_setup(&impl_->ssl, &impl_->context->impl().conf); rc != 0) {
    mbedtls_ssl_free(&impl_->ssl);
    throw std::runtime_error("TLS session set-up: " + make_error_code(rc).message());
  }
  mbedtls_ssl_set_bio(&impl_->ssl, impl_.get(), bio_send, bio_recv, nullptr);
}

Engine::~Engine() { mbedtls_ssl_free(&impl_->ssl); }

void Engine::set_peer_name(const std::string& name) {
  if (int rc = mbedtls_ssl_set_hostname(&impl_->ssl, name.c_str()); rc != 0) {
    throw std::runtime_error("TLS peer name: " + make_error_code(rc).message());
  }
}

void Engine::feed(std::string_view ciphertext) {
  if (ciphertext.empty()) return;
  if (impl_->input.empty()) {
    impl_->input = ciphertext;  // borrowed: consumed before the caller's buffer is reused (see own_rest)
    return;
  }
  std::string joined(impl_->input);
  joined.append(ciphertext);
  impl_->owned.swap(joined);
  impl_->input = impl_->owned;
}

bool Engine::pending() const noexcept { return !impl_->input.empty() || mbedtls_ssl_get_bytes_avail(&impl_->ssl) != 0; }

error_code Engine::handshake() {
  if (impl_->done) return {};
  detail::begin_handshake_step();
  const int rc = mbedtls_ssl_handshake(&impl_->ssl);
  if (detail::handshake_step_resumed()) impl_->resumed = true;
  own_rest(*impl_);  // e.g. application data right behind the Finished message (a CONNECT, typically)
  if (rc == 0) {
    impl_->done = true;
    if (impl_->context->impl().conf.endpoint == MBEDTLS_SSL_IS_SERVER) {
      detail::count_server_handshake(impl_->resumed);
    } else if (!impl_->offered_master.empty()) {
      const mbedtls_ssl_session* session = mbedtls_ssl_get_session_pointer(&impl_->ssl);
      impl_->resumed = session != nullptr &&
                       std::memcmp(session->master, impl_->offered_master.data(), impl_->offered_master.size()) == 0;
    }
    return {};
  }
  if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE) return error::want_read;
  return make_error_code(rc);
}

bool Engine::handshake_done() const noexcept { return impl_->done; }

bool Engine::resumed() const noexcept { return impl_->resumed; }

std::string Engine::saved_session() const {
  mbedtls_ssl_session session;
  mbedtls_ssl_session_init(&session);
  std::string bytes;
  if (mbedtls_ssl_get_session(&impl_->ssl, &session) == 0) {
    std::size_t size = 0;
    mbedtls_ssl_session_save(&session, nullptr, 0, &size);
    bytes.resize(size);
    if (mbedtls_ssl_session_save(&session, reinterpret_cast<unsigned char*>(bytes.data()), bytes.size(), &size) != 0) {
      bytes.clear();
    }
  }
  mbedtls_ssl_session_free(&session);
  return bytes;
}

void Engine::resume_session(std::string_view saved) {
  mbedtls_ssl_session session;
  mbedtls_ssl_session_init(&session);
  if (mbedtls_ssl_session_load(&session, reinterpret_cast<const unsigned char*>(saved.data()), saved.size()) == 0 &&
      mbedtls_ssl_set_session(&impl_->ssl, &session) == 0) {
    impl_->offered_master.assign(reinterpret_cast<const char*>(session.master), sizeof session.master);
  }
  mbedtls_ssl_session_free(&session);
}

std::size_t Engine::read(std::span<char> out, error_code& ec) {
  ec = {};
  std::size_t used = 0;
  while (used < out.size()) {
    const int rc =
        mbedtls_ssl_read(&impl_->ssl, reinterpret_cast<unsigned char*>(out.data() + used), out.size() - used);
    if (rc > 0) {
      used += static_cast<std::size_t>(rc);
      continue;
    }
    if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE) {
      if (used == 0) ec = error::want_read;
      break;
    }
    if (used != 0) break;  // report the error on the next call, after the plaintext before it
    ec = rc == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY ? make_error_code(error::closed)
         : rc == 0                               ? make_error_code(error::truncated)
                                                 : make_error_code(rc);
    break;
  }
  own_rest(*impl_);
  return used;
}

void Engine::write(std::string_view plaintext, error_code& ec) {
  ec = {};
  // Room for every record up front: bio_send appends one record at a time, and a buffer grown record by record
  // copies the batch again at each doubling (a 64 KiB batch is 4-5 records).
  if (impl_->done && !plaintext.empty()) {
    reserve_records(*impl_->output, plaintext.size(), record_limits(impl_->ssl), SIZE_MAX);
  }
  while (!plaintext.empty()) {
    const int rc =
        mbedtls_ssl_write(&impl_->ssl, reinterpret_cast<const unsigned char*>(plaintext.data()), plaintext.size());
    if (rc < 0) {
      ec = make_error_code(rc);
      return;
    }
    plaintext.remove_prefix(static_cast<std::size_t>(rc));
  }
}

void Engine::write(std::string_view plaintext, std::string& out, error_code& ec) {
  impl_->output = &out;
  write(plaintext, ec);
  impl_->output = &output_;
}

std::size_t Engine::write_some(std::string_view plaintext, std::string& out, std::size_t max_ciphertext,
                               error_code& ec) {
  ec = {};
  const RecordLimits limits = record_limits(impl_->ssl);
  reserve_records(out, plaintext.size(), limits, max_ciphertext);
  impl_->output = &out;
  std::size_t taken = 0;
  std::size_t room = max_ciphertext;
  while (taken < plaintext.size()) {
    std::size_t chunk = std::min(plaintext.size() - taken, limits.payload);
    if (chunk + limits.overhead > room) {
      // A shorter last record fills the room exactly; no record of a few bytes, though, and the first record goes
      // out in any case.
      constexpr std::size_t min_record = 1024;
      if (room >= limits.overhead + min_record) {
        chunk = room - limits.overhead;
      } else if (taken != 0) {
        break;
      }
    }
    const int rc =
        mbedtls_ssl_write(&impl_->ssl, reinterpret_cast<const unsigned char*>(plaintext.data() + taken), chunk);
    if (rc < 0) {
      ec = make_error_code(rc);
      break;
    }
    taken += static_cast<std::size_t>(rc);
    room -= std::min(room, static_cast<std::size_t>(rc) + limits.overhead);
  }
  impl_->output = &output_;
  return taken;
}

void Engine::close_notify() { mbedtls_ssl_close_notify(&impl_->ssl); }

std::string Engine::ciphersuite() const {
  const char* name = mbedtls_ssl_get_ciphersuite(&impl_->ssl);
  return name != nullptr ? name : "";
}

std::string Engine::peer_identity() const {
  if (!impl_->psk_identity.empty()) return impl_->psk_identity;
  const mbedtls_x509_crt* peer = mbedtls_ssl_get_peer_cert(&impl_->ssl);
  if (peer == nullptr) return {};
  for (const mbedtls_x509_name* name = &peer->subject; name != nullptr; name = name->next) {
    if (name->oid.p != nullptr && MBEDTLS_OID_CMP(MBEDTLS_OID_AT_CN, &name->oid) == 0) {
      return std::string(reinterpret_cast<const char*>(name->val.p), name->val.len);
    }
  }
  return {};
}

namespace {

// One attribute as RFC 2253 writes it: SHORTNAME=value, with , + " \ < > ; escaped, and a leading '#' or space
// and a trailing space escaped; an attribute without a short name is its dotted OID.
void append_attribute(std::string& out, const mbedtls_x509_name& name) {
  const char* short_name = nullptr;
  if (mbedtls_oid_get_attr_short_name(&name.oid, &short_name) == 0 && short_name != nullptr) {
    out += short_name;
  } else {
    std::array<char, 64> dotted{};
    if (mbedtls_oid_get_numeric_string(dotted.data(), dotted.size(), &name.oid) > 0) out += dotted.data();
  }
  out += '=';
  const auto* value = reinterpret_cast<const char*>(name.val.p);
  for (std::size_t i = 0; i < name.val.len; ++i) {
    const char ch = value[i];
    const bool special = std::strchr(",+\"\\<>;", ch) != nullptr && ch != '\0';
    if (special || (i == 0 && (ch == '#' || ch == ' ')) || (i + 1 == name.val.len && ch == ' ')) out += '\\';
    out += ch;
  }
}

}  // namespace

std::string Engine::peer_subject() const {
  const mbedtls_x509_crt* peer = mbedtls_ssl_get_peer_cert(&impl_->ssl);
  if (peer == nullptr) return {};
  // The certificate lists the RDNs from the root of the name down (C, O, ..., CN); RFC 2253 text starts from the
  // other end. An RDN of several attributes is chained with next_merged set.
  std::vector<std::string> rdns;
  std::string rdn;
  for (const mbedtls_x509_name* name = &peer->subject; name != nullptr; name = name->next) {
    if (name->oid.p == nullptr) continue;
    if (!rdn.empty()) rdn += '+';
    append_attribute(rdn, *name);
    if (!name->next_merged) rdns.push_back(std::exchange(rdn, {}));
  }
  if (!rdn.empty()) rdns.push_back(std::move(rdn));
  std::string out;
  for (auto it = rdns.rbegin(); it != rdns.rend(); ++it) {
    if (!out.empty()) out += ',';
    out += *it;
  }
  return out;
}

std::string Engine::verify_failure() const {
  const std::uint32_t flags = mbedtls_ssl_get_verify_result(&impl_->ssl);
  if (flags == 0 || flags == static_cast<std::uint32_t>(-1)) return {};
  std::array<char, 512> text{};
  mbedtls_x509_crt_verify_info(text.data(), text.size(), "", flags);
  std::string result = text.data();
  while (!result.empty() && result.back() == '\n') result.pop_back();
  std::replace(result.begin(), result.end(), '\n', ';');
  return result;
}

}  // namespace tern::tls
