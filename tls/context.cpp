#include "tls/context.hpp"

#include <mbedtls/ssl_ciphersuites.h>

#include <cctype>
#include <fstream>
#include <utility>

#include "tls/detail.hpp"
#include "tls/error.hpp"

namespace tern::tls {
namespace {

[[noreturn]] void fail(std::string_view what, const std::string& path, int code) {
  throw ContextError(std::string(what) + ' ' + path + ": " + make_error_code(code).message());
}

void check(int code, std::string_view what) {
  if (code != 0) throw ContextError(std::string(what) + ": " + make_error_code(code).message());
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// "abcd" -> "\xab\xcd"; empty on malformed input.
std::string unhex(std::string_view hex) {
  std::string bytes;
  if (hex.empty() || hex.size() % 2 != 0) return bytes;
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    const int hi = hex_value(hex[i]);
    const int lo = hex_value(hex[i + 1]);
    if (hi < 0 || lo < 0) return {};
    bytes.push_back(static_cast<char>(hi * 16 + lo));
  }
  return bytes;
}

// mosquitto's psk_file: one "identity:hexkey" per line; blank lines and # comments are skipped.
void load_psk_file(Context::Impl& impl, const std::string& path) {
  std::ifstream in(path);
  if (!in) throw ContextError("psk_file " + path + ": cannot be read");
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.pop_back();
    if (line.empty() || line.front() == '#') continue;
    const auto colon = line.find(':');
    const std::string key =
        colon == std::string::npos ? std::string() : unhex(std::string_view(line).substr(colon + 1));
    if (colon == 0 || key.empty() || key.size() > MBEDTLS_PSK_MAX_LEN) {
      throw ContextError("psk_file " + path + ":" + std::to_string(number) +
                         ": expected IDENTITY:HEX-KEY with a key of 1 to " + std::to_string(MBEDTLS_PSK_MAX_LEN) +
                         " bytes");
    }
    impl.psks[line.substr(0, colon)] = key;
  }
}

int psk_callback(void* context, mbedtls_ssl_context* ssl, const unsigned char* identity, std::size_t length) {
  const auto& impl = *static_cast<const Context::Impl*>(context);
  const std::string_view id(reinterpret_cast<const char*>(identity), length);
  const auto it = impl.psks.find(id);
  if (it == impl.psks.end()) return MBEDTLS_ERR_SSL_UNKNOWN_IDENTITY;
  Engine::Impl::of(ssl).psk_identity = std::string(id);
  return mbedtls_ssl_set_hs_psk(ssl, reinterpret_cast<const unsigned char*>(it->second.data()), it->second.size());
}

void seed(Context::Impl& impl) {
  static constexpr unsigned char personalization[] = "tern";
  check(mbedtls_ctr_drbg_seed(&impl.drbg, mbedtls_entropy_func, &impl.entropy, personalization,
                              sizeof personalization - 1),
        "seeding the random generator");
  mbedtls_ssl_conf_rng(&impl.conf, mbedtls_ctr_drbg_random, &impl.drbg);
}

void load_own_cert(Context::Impl& impl, const std::string& certfile, const std::string& keyfile) {
  if (int rc = mbedtls_x509_crt_parse_file(&impl.cert, certfile.c_str()); rc != 0) fail("certfile", certfile, rc);
  if (int rc = mbedtls_pk_parse_keyfile(&impl.key, keyfile.c_str(), nullptr); rc != 0) fail("keyfile", keyfile, rc);
  if (int rc = mbedtls_pk_check_pair(&impl.cert.pk, &impl.key); rc != 0) {
    fail("keyfile", keyfile, rc);  // not the key of certfile's certificate
  }
  check(mbedtls_ssl_conf_own_cert(&impl.conf, &impl.cert, &impl.key), "certfile " + certfile);
}

}  // namespace

Context::Impl::Impl() {
  mbedtls_ssl_config_init(&conf);
  mbedtls_entropy_init(&entropy);
  mbedtls_ctr_drbg_init(&drbg);
  mbedtls_x509_crt_init(&cert);
  mbedtls_pk_init(&key);
  mbedtls_x509_crt_init(&ca);
  mbedtls_x509_crl_init(&crl);
}

Context::Impl::~Impl() {
  mbedtls_ssl_config_free(&conf);
  mbedtls_x509_crl_free(&crl);
  mbedtls_x509_crt_free(&ca);
  mbedtls_pk_free(&key);
  mbedtls_x509_crt_free(&cert);
  mbedtls_ctr_drbg_free(&drbg);
  mbedtls_entropy_free(&entropy);
}

Context::Context(std::unique_ptr<Impl> impl, bool identity_as_username)
    : impl_(std::move(impl)), identity_as_username_(identity_as_username) {}

Context::~Context() = default;

std::shared_ptr<const Context> Context::server(const TlsSettings& settings) {
  auto impl = std::make_unique<Impl>();
  Impl& i = *impl;
  check(mbedtls_ssl_config_defaults(&i.conf, MBEDTLS_SSL_IS_SERVER, MBEDTLS_SSL_TRANSPORT_STREAM,
                                    MBEDTLS_SSL_PRESET_DEFAULT),
        "mbedTLS configuration");
  // TLS 1.2 only: the config parser refuses tlsv1.1 (insecure) and tlsv1.3 (experimental in mbedTLS 2.28).
  mbedtls_ssl_conf_min_version(&i.conf, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
  mbedtls_ssl_conf_max_version(&i.conf, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
  seed(i);
  if (!settings.certfile.empty()) load_own_cert(i, settings.certfile, settings.keyfile);

  bool have_ca = false;
  if (!settings.cafile.empty()) {
    if (int rc = mbedtls_x509_crt_parse_file(&i.ca, settings.cafile.c_str()); rc != 0) {
      fail("cafile", settings.cafile, rc);
    }
    have_ca = true;
  }
  if (!settings.capath.empty()) {
    const int rc = mbedtls_x509_crt_parse_path(&i.ca, settings.capath.c_str());
    if (rc < 0) fail("capath", settings.capath, rc);
    have_ca = true;
  }
  bool have_crl = false;
  if (!settings.crlfile.empty()) {
    if (int rc = mbedtls_x509_crl_parse_file(&i.crl, settings.crlfile.c_str()); rc != 0) {
      fail("crlfile", settings.crlfile, rc);
    }
    have_crl = true;
  }
  if (have_ca) mbedtls_ssl_conf_ca_chain(&i.conf, &i.ca, have_crl ? &i.crl : nullptr);
  // As mosquitto: a client certificate is asked for only with require_certificate.
  mbedtls_ssl_conf_authmode(&i.conf,
                            settings.require_certificate ? MBEDTLS_SSL_VERIFY_REQUIRED : MBEDTLS_SSL_VERIFY_NONE);

  if (!settings.psk_hint.empty()) {
    if (settings.psk_file.empty()) throw ContextError("psk_hint is set but no psk_file is configured");
    load_psk_file(i, settings.psk_file);
    mbedtls_ssl_conf_psk_cb(&i.conf, psk_callback, &i);
  }

  if (!settings.ciphers.empty()) {
    std::string_view rest = settings.ciphers;
    while (!rest.empty()) {
      const auto end = std::min(rest.find(':'), rest.size());
      const std::string name(rest.substr(0, end));
      rest.remove_prefix(std::min(end + 1, rest.size()));
      if (name.empty()) continue;
      const int id = mbedtls_ssl_get_ciphersuite_id(name.c_str());
      if (id == 0) {
        throw ContextError("ciphers: unknown cipher suite '" + name +
                           "' (use mbedTLS's names, such as TLS-ECDHE-RSA-WITH-AES-128-GCM-SHA256)");
      }
      i.ciphersuites.push_back(id);
    }
    if (i.ciphersuites.empty()) throw ContextError("ciphers: no cipher suite given");
    i.ciphersuites.push_back(0);
    mbedtls_ssl_conf_ciphersuites(&i.conf, i.ciphersuites.data());
  }
  return std::shared_ptr<const Context>(new Context(std::move(impl), settings.use_identity_as_username));
}

std::shared_ptr<const Context> Context::client(const ClientSettings& settings) {
  auto impl = std::make_unique<Impl>();
  Impl& i = *impl;
  check(mbedtls_ssl_config_defaults(&i.conf, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM,
                                    MBEDTLS_SSL_PRESET_DEFAULT),
        "mbedTLS configuration");
  mbedtls_ssl_conf_min_version(&i.conf, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
  seed(i);
  if (!settings.cafile.empty()) {
    if (int rc = mbedtls_x509_crt_parse_file(&i.ca, settings.cafile.c_str()); rc != 0) {
      fail("cafile", settings.cafile, rc);
    }
    mbedtls_ssl_conf_ca_chain(&i.conf, &i.ca, nullptr);
    mbedtls_ssl_conf_authmode(&i.conf, MBEDTLS_SSL_VERIFY_REQUIRED);
  } else {
    mbedtls_ssl_conf_authmode(&i.conf, MBEDTLS_SSL_VERIFY_NONE);
  }
  if (!settings.certfile.empty()) load_own_cert(i, settings.certfile, settings.keyfile);
  if (!settings.psk_identity.empty()) {
    i.client_psk_key = unhex(settings.psk_hex_key);
    if (i.client_psk_key.empty()) throw ContextError("psk key: expected hex digits");
    check(mbedtls_ssl_conf_psk(
              &i.conf, reinterpret_cast<const unsigned char*>(i.client_psk_key.data()), i.client_psk_key.size(),
              reinterpret_cast<const unsigned char*>(settings.psk_identity.data()), settings.psk_identity.size()),
          "psk");
  }
  return std::shared_ptr<const Context>(new Context(std::move(impl), false));
}

}  // namespace tern::tls
