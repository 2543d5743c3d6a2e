#include "tls/context.hpp"

#include <mbedtls/ssl_ciphersuites.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include "platform/text_file.hpp"
#include "tls/detail.hpp"
#include "tls/error.hpp"

namespace tern::tls {
namespace {

[[noreturn]] void fail(std::string_view what, const std::string& path, int code) {
  throw ContextError(std::string(what) + ' ' + path + ": " + make_error_code(code).message());
}

// Every certificate file in `path` (capath), in name order; a file that does not parse is skipped, as mbedTLS's own
// mbedtls_x509_crt_parse_path does. Not that function: on 32-bit ARM it can see an empty folder where there are
// certificates (its 32-bit stat() on 64-bit inode numbers), which std::filesystem does not. Returns how many it added.
int load_ca_path(mbedtls_x509_crt& chain, const std::string& path) {
  std::error_code error;
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(path, error)) {
    if (entry.is_regular_file(error)) files.push_back(entry.path());
  }
  if (error) throw ContextError("capath " + path + ": " + error.message());
  std::sort(files.begin(), files.end());
  int added = 0;
  for (const auto& file : files) {
    std::string unreadable;  // skipped as a file that does not parse
    std::string data = platform::read_whole_file(file.string(), unreadable).value_or(std::string());
    if (data.find("-----BEGIN") != std::string::npos) data.push_back('\0');  // PEM is parsed with its NUL; DER not
    if (mbedtls_x509_crt_parse(&chain, reinterpret_cast<const unsigned char*>(data.data()), data.size()) >= 0) ++added;
  }
  return added;
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
  std::string unreadable;
  const std::optional<std::string> text = platform::read_whole_file(path, unreadable);
  if (!text) throw ContextError("psk_file " + path + ": cannot be read");
  int number = 0;
  for (std::string_view line : platform::split_lines(*text)) {
    ++number;
    while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.remove_suffix(1);
    if (line.empty() || line.front() == '#') continue;
    const auto colon = line.find(':');
    const std::string key = colon == std::string::npos ? std::string() : unhex(line.substr(colon + 1));
    if (colon == 0 || key.empty() || key.size() > MBEDTLS_PSK_MAX_LEN) {
      throw ContextError("psk_file " + path + ":" + std::to_string(number) +
                         ": expected IDENTITY:HEX-KEY with a key of 1 to " + std::to_string(MBEDTLS_PSK_MAX_LEN) +
                         " bytes");
    }
    impl.psks[std::string(line.substr(0, colon))] = key;
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

// The ECDHE group: the server's list decides (mbedTLS 2.28 matches its own list against the client's offer in its own
// order, whatever the client prefers). The library's default list starts with its largest curve, secp521r1, which
// costs a server about 3 ms of CPU per handshake (key generation and shared secret) against 1 ms for x25519 and
// 1.4 ms for secp256r1 (Debian's 2.28 on x86-64). So: x25519, secp256r1, secp384r1 first, then every other curve the
// library was built with, in its order, so that no client that could connect before is refused now (the list also
// bounds the curves accepted in a client's ECDSA certificate).
void prefer_fast_curves(Context::Impl& impl) {
  static constexpr mbedtls_ecp_group_id preferred[] = {MBEDTLS_ECP_DP_CURVE25519, MBEDTLS_ECP_DP_SECP256R1,
                                                       MBEDTLS_ECP_DP_SECP384R1};
  const mbedtls_ecp_group_id* supported = mbedtls_ecp_grp_id_list();
  const auto is_supported = [supported](mbedtls_ecp_group_id id) {
    for (const mbedtls_ecp_group_id* g = supported; *g != MBEDTLS_ECP_DP_NONE; ++g) {
      if (*g == id) return true;
    }
    return false;
  };
  for (const mbedtls_ecp_group_id id : preferred) {
    if (is_supported(id)) impl.curves.push_back(id);
  }
  for (const mbedtls_ecp_group_id* g = supported; *g != MBEDTLS_ECP_DP_NONE; ++g) {
    if (std::find(std::begin(preferred), std::end(preferred), *g) == std::end(preferred)) impl.curves.push_back(*g);
  }
  impl.curves.push_back(MBEDTLS_ECP_DP_NONE);
  mbedtls_ssl_conf_curves(&impl.conf, impl.curves.data());
}

// The cipher suite, without a `ciphers` directive: the server's order decides here too (Debian builds mbedTLS without
// MBEDTLS_SSL_SRV_RESPECT_CLIENT_PREFERENCE). The library's own list, with the ECDHE suites a certificate server
// negotiates with nearly every client moved to the front: ChaCha20-Poly1305, then AES-GCM, then everything else in
// the library's order (DHE-RSA with ChaCha20 no longer comes before ECDHE with AES-GCM: a 2048-bit DHE costs more
// than the RSA signature). ChaCha20 before AES-GCM although the CPU may have AES instructions: mbedTLS 2.28 runs
// AES-NI and CLMUL one 16-byte block per call, and on x86-64 its AES-256-GCM costs the server about 1.8 times the
// CPU of its portable ChaCha20-Poly1305 (241 against 435 MB per CPU-second here; fan-in with 1 KiB messages
// delivers half as much with AES-GCM); on ARM, where 2.28 has no AES instructions at all, the gap is larger. The
// client's preference does not matter to the cost: every client library implements both.
void prefer_fast_ciphersuites(Context::Impl& impl) {
  const auto rank = [](int id) {
    const mbedtls_ssl_ciphersuite_t* info = mbedtls_ssl_ciphersuite_from_id(id);
    if (info == nullptr) return 2;
    const bool ecdhe_certificate =
        info->key_exchange == MBEDTLS_KEY_EXCHANGE_ECDHE_RSA || info->key_exchange == MBEDTLS_KEY_EXCHANGE_ECDHE_ECDSA;
    if (!ecdhe_certificate) return 2;
    if (info->cipher == MBEDTLS_CIPHER_CHACHA20_POLY1305) return 0;
    if (info->cipher == MBEDTLS_CIPHER_AES_128_GCM || info->cipher == MBEDTLS_CIPHER_AES_256_GCM) return 1;
    return 2;
  };
  for (const int* id = mbedtls_ssl_list_ciphersuites(); *id != 0; ++id) impl.ciphersuites.push_back(*id);
  std::stable_sort(impl.ciphersuites.begin(), impl.ciphersuites.end(),
                   [&rank](int a, int b) { return rank(a) < rank(b); });
  impl.ciphersuites.push_back(0);
  mbedtls_ssl_conf_ciphersuites(&impl.conf, impl.ciphersuites.data());
}

// The colon-separated names in `list`, each through `lookup` (which gives Id{}, 0 or MBEDTLS_ECP_DP_NONE, for a name
// it does not know). `directive` and `kind` name them in errors: "ciphers: unknown cipher suite 'X' (...)".
template <class Id, class Lookup>
std::vector<Id> parse_names(std::string_view list, const std::string& directive, const std::string& kind,
                            const std::string& example, Lookup lookup) {
  std::vector<Id> ids;
  while (!list.empty()) {
    const auto end = std::min(list.find(':'), list.size());
    const std::string name(list.substr(0, end));
    list.remove_prefix(std::min(end + 1, list.size()));
    if (name.empty()) continue;
    const Id id = lookup(name);
    if (id == Id{}) {
      throw ContextError(directive + ": unknown " + kind + " '" + name + "' (use mbedTLS's names, such as " + example +
                         ")");
    }
    ids.push_back(id);
  }
  if (ids.empty()) throw ContextError(directive + ": no " + kind + " given");
  return ids;
}

// A `ciphers` list: exactly these suites, in this order.
void conf_ciphersuites(Context::Impl& impl, std::string_view list) {
  impl.ciphersuites =
      parse_names<int>(list, "ciphers", "cipher suite", "TLS-ECDHE-RSA-WITH-AES-128-GCM-SHA256",
                       [](const std::string& name) { return mbedtls_ssl_get_ciphersuite_id(name.c_str()); });
  impl.ciphersuites.push_back(0);
  mbedtls_ssl_conf_ciphersuites(&impl.conf, impl.ciphersuites.data());
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

Context::Context(std::unique_ptr<Impl> impl, PeerUsername peer_username)
    : impl_(std::move(impl)), peer_username_(peer_username) {}

Context::~Context() = default;

std::shared_ptr<const Context> Context::server(const TlsSettings& settings, std::shared_ptr<Resumption> resumption) {
  auto impl = std::make_unique<Impl>();
  Impl& i = *impl;
  check(mbedtls_ssl_config_defaults(&i.conf, MBEDTLS_SSL_IS_SERVER, MBEDTLS_SSL_TRANSPORT_STREAM,
                                    MBEDTLS_SSL_PRESET_DEFAULT),
        "mbedTLS configuration");
  // TLS 1.2 only: the config parser refuses tlsv1.1 (insecure) and tlsv1.3 (experimental in mbedTLS 2.28).
  mbedtls_ssl_conf_min_version(&i.conf, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
  mbedtls_ssl_conf_max_version(&i.conf, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
  seed(i);
  prefer_fast_curves(i);
  if (!settings.certfile.empty()) load_own_cert(i, settings.certfile, settings.keyfile);

  bool have_ca = false;
  if (!settings.cafile.empty()) {
    if (int rc = mbedtls_x509_crt_parse_file(&i.ca, settings.cafile.c_str()); rc != 0) {
      fail("cafile", settings.cafile, rc);
    }
    have_ca = true;
  }
  if (!settings.capath.empty()) {
    if (load_ca_path(i.ca, settings.capath) == 0)
      throw ContextError("capath " + settings.capath + ": no certificate in it");
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
    conf_ciphersuites(i, settings.ciphers);
  } else {
    prefer_fast_ciphersuites(i);
  }
  if (resumption) {
    i.resumption = std::move(resumption);
    detail::install(*i.resumption, i.conf);
  }
  const PeerUsername peer_username = settings.use_identity_as_username  ? PeerUsername::identity
                                     : settings.use_subject_as_username ? PeerUsername::subject
                                                                        : PeerUsername::none;
  return std::shared_ptr<const Context>(new Context(std::move(impl), peer_username));
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
  }
  if (!settings.capath.empty()) {
    if (load_ca_path(i.ca, settings.capath) == 0)
      throw ContextError("capath " + settings.capath + ": no certificate in it");
  }
  if (!settings.cafile.empty() || !settings.capath.empty()) {
    mbedtls_ssl_conf_ca_chain(&i.conf, &i.ca, nullptr);
    mbedtls_ssl_conf_authmode(&i.conf, MBEDTLS_SSL_VERIFY_REQUIRED);
  } else {
    mbedtls_ssl_conf_authmode(&i.conf, MBEDTLS_SSL_VERIFY_NONE);
  }
  if (!settings.alpn.empty()) {
    i.alpn_names = settings.alpn;
    for (const std::string& name : i.alpn_names) i.alpn.push_back(name.c_str());
    i.alpn.push_back(nullptr);
    check(mbedtls_ssl_conf_alpn_protocols(&i.conf, i.alpn.data()), "alpn");
  }
  if (!settings.certfile.empty()) load_own_cert(i, settings.certfile, settings.keyfile);
  if (!settings.ciphers.empty()) conf_ciphersuites(i, settings.ciphers);
  if (!settings.curves.empty()) {
    static_assert(MBEDTLS_ECP_DP_NONE == mbedtls_ecp_group_id{});
    i.curves =
        parse_names<mbedtls_ecp_group_id>(settings.curves, "curves", "curve", "x25519", [](const std::string& name) {
          const mbedtls_ecp_curve_info* info = mbedtls_ecp_curve_info_from_name(name.c_str());
          return info != nullptr ? info->grp_id : MBEDTLS_ECP_DP_NONE;
        });
    i.curves.push_back(MBEDTLS_ECP_DP_NONE);
    mbedtls_ssl_conf_curves(&i.conf, i.curves.data());
  }
  if (!settings.psk_identity.empty()) {
    i.client_psk_key = unhex(settings.psk_hex_key);
    if (i.client_psk_key.empty()) throw ContextError("psk key: expected hex digits");
    check(mbedtls_ssl_conf_psk(
              &i.conf, reinterpret_cast<const unsigned char*>(i.client_psk_key.data()), i.client_psk_key.size(),
              reinterpret_cast<const unsigned char*>(settings.psk_identity.data()), settings.psk_identity.size()),
          "psk");
  }
  return std::shared_ptr<const Context>(new Context(std::move(impl), PeerUsername::none));
}

}  // namespace tern::tls
