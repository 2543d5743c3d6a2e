#include "tls/resumption.hpp"

#include <fcntl.h>
#include <mbedtls/chachapoly.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/sha256.h>
#include <mbedtls/ssl_cache.h>
#include <mbedtls/ssl_ciphersuites.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <mutex>
#include <optional>
#include <vector>

#include "platform/text_file.hpp"
#include "tls/detail.hpp"
#include "tls/error.hpp"
#include "tls/tls_settings.hpp"

namespace tern::tls {
namespace {

constexpr std::size_t kNameSize = 4;
constexpr std::size_t kNonceSize = 12;
constexpr std::size_t kTagSize = 16;
constexpr std::size_t kKeySize = 32;
constexpr std::size_t kHeaderSize = kNameSize + kNonceSize + 2;  // the additional data
constexpr char kFileMagic[] = "TERNTKT2";
constexpr std::size_t kMagicSize = sizeof kFileMagic - 1;
constexpr std::size_t kBindingSize = 32;
constexpr std::size_t kFileSize = kMagicSize + kBindingSize + 2 * (kNameSize + 8 + kKeySize);

std::atomic<std::uint64_t> full_handshakes{0};
std::atomic<std::uint64_t> resumed_handshakes{0};
thread_local bool resumed_here = false;  // set by a callback that accepted a ticket or cached session

std::int64_t now_seconds() { return static_cast<std::int64_t>(std::time(nullptr)); }

// TLS-PSK key exchanges: not resumed (see the header).
bool uses_psk(int ciphersuite) {
  const mbedtls_ssl_ciphersuite_t* info = mbedtls_ssl_ciphersuite_from_id(ciphersuite);
  if (info == nullptr) return true;
  switch (info->key_exchange) {
    case MBEDTLS_KEY_EXCHANGE_PSK:
    case MBEDTLS_KEY_EXCHANGE_DHE_PSK:
    case MBEDTLS_KEY_EXCHANGE_ECDHE_PSK:
    case MBEDTLS_KEY_EXCHANGE_RSA_PSK:
      return true;
    default:
      return false;
  }
}

struct TicketKey {
  std::array<unsigned char, kNameSize> name{};
  std::int64_t created = 0;  // Unix seconds; 0: no key in this slot
  std::array<unsigned char, kKeySize> key{};
};

}  // namespace

struct Resumption::Impl {
  Impl(const ResumptionSettings& s, const std::string& b, bool write) : settings(s), must_write(write) {
    binding.fill(0);
    std::memcpy(binding.data(), b.data(), std::min(b.size(), binding.size()));
    mbedtls_entropy_init(&entropy);
    mbedtls_ctr_drbg_init(&drbg);
    mbedtls_ssl_cache_init(&cache);
    mbedtls_chachapoly_init(&aead);
  }
  ~Impl() {
    mbedtls_chachapoly_free(&aead);
    mbedtls_ssl_cache_free(&cache);
    mbedtls_ctr_drbg_free(&drbg);
    mbedtls_entropy_free(&entropy);
    for (TicketKey& k : keys) mbedtls_platform_zeroize(k.key.data(), k.key.size());
  }
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  const ResumptionSettings settings;
  std::array<unsigned char, kBindingSize> binding;  // zeros: none
  const bool must_write;                            // a key file that cannot be written is an error (at start-up)
  std::mutex mutex;                                 // guards everything below
  mbedtls_entropy_context entropy;
  mbedtls_ctr_drbg_context drbg;
  mbedtls_ssl_cache_context cache;
  mbedtls_chachapoly_context aead;
  std::array<TicketKey, 2> keys;  // keys[active] seals; the other only opens, while it is young enough
  std::size_t active = 0;
  std::size_t aead_key = SIZE_MAX;   // which key `aead` holds
  std::vector<unsigned char> plain;  // a saved session, reused

  void random(unsigned char* out, std::size_t size) {
    if (int rc = mbedtls_ctr_drbg_random(&drbg, out, size); rc != 0) {
      throw ContextError("session ticket keys: " + make_error_code(rc).message());
    }
  }

  // Reads the key file, or makes both keys afresh; throws ContextError when the file cannot be written.
  void load_or_make_keys() {
    if (!settings.ticket_key_file.empty() && read_key_file()) return;
    const std::int64_t now = now_seconds();
    new_key(keys[0], now);
    active = 0;
    keys[1] = TicketKey{};
    save_keys(must_write);
  }

  void new_key(TicketKey& k, std::int64_t now) {
    random(k.name.data(), k.name.size());
    random(k.key.data(), k.key.size());
    k.created = now;
  }

  bool read_key_file() {
    std::string unreadable;  // a new key is made instead
    const std::optional<std::string> read = platform::read_whole_file(settings.ticket_key_file, unreadable);
    if (!read) return false;
    const std::string& data = *read;
    if (data.size() != kFileSize || data.compare(0, kMagicSize, kFileMagic) != 0) return false;
    const auto* p = reinterpret_cast<const unsigned char*>(data.data()) + kMagicSize;
    if (std::memcmp(p, binding.data(), kBindingSize) != 0) return false;  // made for other CA / CRL files
    p += kBindingSize;
    const std::int64_t now = now_seconds();
    for (TicketKey& k : keys) {
      std::memcpy(k.name.data(), p, kNameSize);
      p += kNameSize;
      std::uint64_t created = 0;
      for (int i = 0; i < 8; ++i) created = created << 8 | *p++;
      k.created = static_cast<std::int64_t>(created);
      std::memcpy(k.key.data(), p, kKeySize);
      p += kKeySize;
      if (k.created > now) k.created = 0;  // from the future: a clock that was wrong; not trusted
    }
    if (keys[0].created == 0 && keys[1].created == 0) return false;
    active = keys[0].created >= keys[1].created ? 0 : 1;
    return true;
  }

  // Writes both keys to the key file (if any). At start-up a failure is an error; later the keys stay in memory
  // and the next rotation tries again.
  void save_keys(bool fatal) {
    if (settings.ticket_key_file.empty()) return;
    std::string data(kFileMagic, kMagicSize);
    data.append(reinterpret_cast<const char*>(binding.data()), kBindingSize);
    for (const TicketKey& k : keys) {
      data.append(reinterpret_cast<const char*>(k.name.data()), kNameSize);
      for (int i = 7; i >= 0; --i) data.push_back(static_cast<char>(static_cast<std::uint64_t>(k.created) >> (8 * i)));
      data.append(reinterpret_cast<const char*>(k.key.data()), kKeySize);
    }
    const std::string temporary = settings.ticket_key_file + ".tmp";
    const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    bool ok = fd >= 0 && ::fchmod(fd, 0600) == 0 &&
              ::write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size()) && ::fsync(fd) == 0;
    const int error = errno;
    if (fd >= 0) ::close(fd);
    ok = ok && ::rename(temporary.c_str(), settings.ticket_key_file.c_str()) == 0;
    mbedtls_platform_zeroize(data.data(), data.size());
    if (!ok && fatal) {
      ::unlink(temporary.c_str());
      throw ContextError("tls_session_ticket_key_file " + settings.ticket_key_file +
                         ": cannot be written: " + std::strerror(error != 0 ? error : errno));
    }
  }

  bool usable(const TicketKey& k, std::int64_t now) const {
    return k.created != 0 && now - k.created < 2 * static_cast<std::int64_t>(settings.lifetime);
  }

  // The active key is `lifetime` seconds old: a new one takes its place; the old one still opens tickets.
  void rotate_if_due(std::int64_t now) {
    if (now - keys[active].created < static_cast<std::int64_t>(settings.lifetime)) return;
    active = 1 - active;
    new_key(keys[active], now);
    if (aead_key == active) aead_key = SIZE_MAX;
    save_keys(false);
  }

  bool use_key(std::size_t index) {
    if (aead_key == index) return true;
    if (mbedtls_chachapoly_setkey(&aead, keys[index].key.data()) != 0) return false;
    aead_key = index;
    return true;
  }

  int write_ticket(const mbedtls_ssl_session& session, unsigned char* start, const unsigned char* end,
                   std::size_t* length, std::uint32_t* lifetime) {
    if (uses_psk(session.ciphersuite)) return MBEDTLS_ERR_SSL_FEATURE_UNAVAILABLE;  // an empty ticket is sent
    std::size_t size = 0;
    int rc = mbedtls_ssl_session_save(&session, nullptr, 0, &size);
    if (rc != MBEDTLS_ERR_SSL_BUFFER_TOO_SMALL && rc != 0) return rc;
    const std::size_t room = static_cast<std::size_t>(end - start);
    if (size > 0xffff || room < kHeaderSize + size + kTagSize) return MBEDTLS_ERR_SSL_BUFFER_TOO_SMALL;
    std::lock_guard lock(mutex);
    try {
      rotate_if_due(now_seconds());
      plain.resize(size);
      if ((rc = mbedtls_ssl_session_save(&session, plain.data(), plain.size(), &size)) != 0) return rc;
      unsigned char* p = start;
      std::memcpy(p, keys[active].name.data(), kNameSize);
      random(p + kNameSize, kNonceSize);
      p[kNameSize + kNonceSize] = static_cast<unsigned char>(size >> 8);
      p[kNameSize + kNonceSize + 1] = static_cast<unsigned char>(size);
      if (!use_key(active)) return MBEDTLS_ERR_SSL_INTERNAL_ERROR;
      rc = mbedtls_chachapoly_encrypt_and_tag(&aead, size, p + kNameSize, p, kHeaderSize, plain.data(), p + kHeaderSize,
                                              p + kHeaderSize + size);
      mbedtls_platform_zeroize(plain.data(), plain.size());
      if (rc != 0) return rc;
    } catch (const ContextError&) {
      return MBEDTLS_ERR_SSL_INTERNAL_ERROR;
    }
    *length = kHeaderSize + size + kTagSize;
    *lifetime = settings.lifetime;
    return 0;
  }

  int parse_ticket(mbedtls_ssl_session* session, unsigned char* buf, std::size_t length) {
    if (length < kHeaderSize + kTagSize) return MBEDTLS_ERR_SSL_BAD_INPUT_DATA;
    const std::size_t size = std::size_t{buf[kNameSize + kNonceSize]} << 8 | buf[kNameSize + kNonceSize + 1];
    if (length != kHeaderSize + size + kTagSize) return MBEDTLS_ERR_SSL_BAD_INPUT_DATA;
    const std::int64_t now = now_seconds();
    {
      std::lock_guard lock(mutex);
      std::size_t index = SIZE_MAX;
      for (std::size_t i = 0; i < keys.size(); ++i) {
        if (usable(keys[i], now) && std::memcmp(keys[i].name.data(), buf, kNameSize) == 0) index = i;
      }
      if (index == SIZE_MAX) return MBEDTLS_ERR_SSL_INVALID_MAC;  // another listener's, or a forgotten key
      if (!use_key(index)) return MBEDTLS_ERR_SSL_INTERNAL_ERROR;
      unsigned char* sealed = buf + kHeaderSize;
      if (mbedtls_chachapoly_auth_decrypt(&aead, size, buf + kNameSize, buf, kHeaderSize, sealed + size, sealed,
                                          sealed) != 0) {
        return MBEDTLS_ERR_SSL_INVALID_MAC;
      }
    }
    if (int rc = mbedtls_ssl_session_load(session, buf + kHeaderSize, size); rc != 0) return rc;
    if (now < session->start || now - session->start > static_cast<std::int64_t>(settings.lifetime)) {
      return MBEDTLS_ERR_SSL_SESSION_TICKET_EXPIRED;
    }
    if (uses_psk(session->ciphersuite)) return MBEDTLS_ERR_SSL_BAD_INPUT_DATA;
    resumed_here = true;
    return 0;
  }
};

namespace {

int ticket_write(void* p, const mbedtls_ssl_session* session, unsigned char* start, const unsigned char* end,
                 std::size_t* length, std::uint32_t* lifetime) {
  return static_cast<Resumption::Impl*>(p)->write_ticket(*session, start, end, length, lifetime);
}

int ticket_parse(void* p, mbedtls_ssl_session* session, unsigned char* buf, std::size_t length) {
  return static_cast<Resumption::Impl*>(p)->parse_ticket(session, buf, length);
}

int cache_get(void* p, mbedtls_ssl_session* session) {
  auto& impl = *static_cast<Resumption::Impl*>(p);
  std::lock_guard lock(impl.mutex);
  const int rc = mbedtls_ssl_cache_get(&impl.cache, session);
  if (rc == 0) resumed_here = true;
  return rc;
}

int cache_set(void* p, const mbedtls_ssl_session* session) {
  auto& impl = *static_cast<Resumption::Impl*>(p);
  if (uses_psk(session->ciphersuite)) return 0;
  std::lock_guard lock(impl.mutex);
  return mbedtls_ssl_cache_set(&impl.cache, session);
}

}  // namespace

std::shared_ptr<Resumption> Resumption::make(const ResumptionSettings& settings, const std::string& binding,
                                             bool must_write) {
  if (!settings.enabled()) return nullptr;
  auto impl = std::make_unique<Impl>(settings, binding, must_write);
  static constexpr unsigned char personalization[] = "tern session tickets";
  if (int rc = mbedtls_ctr_drbg_seed(&impl->drbg, mbedtls_entropy_func, &impl->entropy, personalization,
                                     sizeof personalization - 1);
      rc != 0) {
    throw ContextError("seeding the session ticket generator: " + make_error_code(rc).message());
  }
  if (settings.tickets) impl->load_or_make_keys();
  mbedtls_ssl_cache_set_max_entries(&impl->cache, settings.cache_size);
  mbedtls_ssl_cache_set_timeout(&impl->cache, static_cast<int>(settings.lifetime));
  return std::shared_ptr<Resumption>(new Resumption(settings, binding, std::move(impl)));
}

Resumption::Resumption(const ResumptionSettings& settings, std::string binding, std::unique_ptr<Impl> impl)
    : settings_(settings), binding_(std::move(binding)), impl_(std::move(impl)) {}

std::string Resumption::binding_of(const TlsSettings& settings) {
  if (!settings.require_certificate) return {};
  std::vector<std::string> files;
  if (!settings.cafile.empty()) files.push_back(settings.cafile);
  if (!settings.capath.empty()) {
    std::error_code error;
    std::vector<std::string> folder;
    for (const auto& entry : std::filesystem::directory_iterator(settings.capath, error)) {
      if (entry.is_regular_file(error)) folder.push_back(entry.path().string());
    }
    std::sort(folder.begin(), folder.end());
    files.insert(files.end(), folder.begin(), folder.end());
  }
  if (!settings.crlfile.empty()) files.push_back(settings.crlfile);
  mbedtls_sha256_context sha;
  mbedtls_sha256_init(&sha);
  mbedtls_sha256_starts_ret(&sha, 0);
  for (const std::string& file : files) {
    std::string unreadable;  // an unreadable file is bound by its name alone
    const std::string content = platform::read_whole_file(file, unreadable).value_or(std::string());
    for (const std::string* part : {&file, &content}) {
      const std::string size = std::to_string(part->size()) + ':';
      mbedtls_sha256_update_ret(&sha, reinterpret_cast<const unsigned char*>(size.data()), size.size());
      mbedtls_sha256_update_ret(&sha, reinterpret_cast<const unsigned char*>(part->data()), part->size());
    }
  }
  std::string digest(kBindingSize, '\0');
  mbedtls_sha256_finish_ret(&sha, reinterpret_cast<unsigned char*>(digest.data()));
  mbedtls_sha256_free(&sha);
  return digest;
}

Resumption::~Resumption() = default;

HandshakeCounts handshake_counts() noexcept {
  return {full_handshakes.load(std::memory_order_relaxed), resumed_handshakes.load(std::memory_order_relaxed)};
}

namespace detail {

void install(Resumption& resumption, mbedtls_ssl_config& conf) {
  Resumption::Impl& impl = resumption.impl();
  if (impl.settings.tickets) {
    mbedtls_ssl_conf_session_tickets_cb(&conf, ticket_write, ticket_parse, &impl);
  } else {
    mbedtls_ssl_conf_session_tickets(&conf, MBEDTLS_SSL_SESSION_TICKETS_DISABLED);
  }
  if (impl.settings.cache_size > 0) mbedtls_ssl_conf_session_cache(&conf, &impl, cache_get, cache_set);
}

void begin_handshake_step() noexcept { resumed_here = false; }

bool handshake_step_resumed() noexcept { return resumed_here; }

void count_server_handshake(bool resumed) noexcept {
  (resumed ? resumed_handshakes : full_handshakes).fetch_add(1, std::memory_order_relaxed);
}

}  // namespace detail
}  // namespace tern::tls
