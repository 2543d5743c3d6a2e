#include "platform/crc32c.hpp"

#include <array>
#include <atomic>
#include <cstring>

// The one place the CPU architecture is chosen: each branch below defines hardware_impl() whole, so no function body
// holds an #if (STYLE.md rule 15). armhf and anything unknown get the tables only.
#if defined(__x86_64__)
#include <nmmintrin.h>
#elif defined(__aarch64__) && defined(__linux__)
#include <arm_acle.h>
#include <asm/hwcap.h>
#include <sys/auxv.h>
#endif

namespace tern::platform {
namespace {

// Every implementation works on the raw register (the CRC before the final xor) so that the public functions do the
// inversions once, whichever implementation runs.
using Impl = std::uint32_t (*)(std::uint32_t state, const unsigned char* p, std::size_t n) noexcept;

constexpr std::uint32_t kPolynomial = 0x82F63B78;  // 0x1EDC6F41 bit-reversed

// Slice-by-8: tables[0][b] is the CRC of the single byte b; tables[k][b] is the CRC of b followed by k zero bytes.
// One step folds 8 input bytes with 8 independent lookups instead of 8 dependent ones. 8 KiB, built by the compiler.
using Tables = std::array<std::array<std::uint32_t, 256>, 8>;

constexpr Tables make_tables() {
  Tables t{};
  for (std::uint32_t b = 0; b < 256; ++b) {
    std::uint32_t c = b;
    for (int bit = 0; bit < 8; ++bit) c = (c >> 1) ^ (kPolynomial & (0u - (c & 1u)));
    t[0][b] = c;
  }
  for (std::size_t k = 1; k < t.size(); ++k) {
    for (std::size_t b = 0; b < 256; ++b) t[k][b] = (t[k - 1][b] >> 8) ^ t[0][t[k - 1][b] & 0xFF];
  }
  return t;
}

constexpr Tables kTables = make_tables();

constexpr std::uint32_t bytewise(std::uint32_t state, std::string_view s) {
  for (const char c : s) state = (state >> 8) ^ kTables[0][(state ^ static_cast<unsigned char>(c)) & 0xFF];
  return state;
}
static_assert(~bytewise(~0u, "123456789") == 0xE3069283, "CRC-32C check value");

// Little-endian whatever the host; the compiler turns this into one load on little-endian machines.
inline std::uint32_t load_le32(const unsigned char* p) noexcept {
  return std::uint32_t{p[0]} | std::uint32_t{p[1]} << 8 | std::uint32_t{p[2]} << 16 | std::uint32_t{p[3]} << 24;
}

std::uint32_t portable_impl(std::uint32_t state, const unsigned char* p, std::size_t n) noexcept {
  const auto& t = kTables;
  for (; n >= 8; p += 8, n -= 8) {
    const std::uint32_t lo = state ^ load_le32(p);
    const std::uint32_t hi = load_le32(p + 4);
    state = t[7][lo & 0xFF] ^ t[6][(lo >> 8) & 0xFF] ^ t[5][(lo >> 16) & 0xFF] ^ t[4][lo >> 24] ^  //
            t[3][hi & 0xFF] ^ t[2][(hi >> 8) & 0xFF] ^ t[1][(hi >> 16) & 0xFF] ^ t[0][hi >> 24];
  }
  for (; n > 0; ++p, --n) state = (state >> 8) ^ t[0][(state ^ *p) & 0xFF];
  return state;
}

// The hardware versions are one dependent chain of 8-byte steps (about 3 cycles each). Three interleaved chains joined
// by a CRC shift would be about 3x faster on large buffers; not worth its tables while records are a few KiB.
#if defined(__x86_64__)

__attribute__((target("sse4.2"))) std::uint32_t sse42_impl(std::uint32_t state, const unsigned char* p,
                                                           std::size_t n) noexcept {
  std::uint64_t wide = state;
  for (; n >= 8; p += 8, n -= 8) {
    std::uint64_t word;
    std::memcpy(&word, p, sizeof word);
    wide = _mm_crc32_u64(wide, word);
  }
  state = static_cast<std::uint32_t>(wide);
  for (; n > 0; ++p, --n) state = _mm_crc32_u8(state, *p);
  return state;
}

Impl hardware_impl() noexcept {
  __builtin_cpu_init();  // in case the first call comes from another file's static initializer
  return __builtin_cpu_supports("sse4.2") ? &sse42_impl : nullptr;
}

#elif defined(__aarch64__) && defined(__linux__)

__attribute__((target("+crc"))) std::uint32_t armv8_impl(std::uint32_t state, const unsigned char* p,
                                                         std::size_t n) noexcept {
  for (; n >= 8; p += 8, n -= 8) {
    std::uint64_t word;
    std::memcpy(&word, p, sizeof word);
    state = __crc32cd(state, word);
  }
  for (; n > 0; ++p, --n) state = __crc32cb(state, *p);
  return state;
}

// The CRC extension is optional in ARMv8.0 (a Raspberry Pi 3's Cortex-A53 has it, not every core does); the kernel
// reports it in the auxiliary vector.
Impl hardware_impl() noexcept { return (::getauxval(AT_HWCAP) & HWCAP_CRC32) != 0 ? &armv8_impl : nullptr; }

#else

Impl hardware_impl() noexcept { return nullptr; }

#endif

Impl chosen_impl() noexcept {
  const Impl hardware = hardware_impl();
  return hardware != nullptr ? hardware : &portable_impl;
}

// The first call through impl chooses, stores the choice and runs it; later calls go straight to the choice.
// Relaxed is enough: only a code address is published, and every thread that chooses stores the same one.
std::uint32_t choose_and_run(std::uint32_t state, const unsigned char* p, std::size_t n) noexcept;

static_assert(std::atomic<Impl>::is_always_lock_free);
constinit std::atomic<Impl> impl{&choose_and_run};

std::uint32_t choose_and_run(std::uint32_t state, const unsigned char* p, std::size_t n) noexcept {
  const Impl chosen = chosen_impl();
  impl.store(chosen, std::memory_order_relaxed);
  return chosen(state, p, n);
}

const unsigned char* bytes(std::span<const std::byte> data) noexcept {
  return reinterpret_cast<const unsigned char*>(data.data());
}

}  // namespace

std::uint32_t crc32c(std::span<const std::byte> data, std::uint32_t crc) noexcept {
  return ~impl.load(std::memory_order_relaxed)(~crc, bytes(data), data.size());
}

std::uint32_t crc32c_portable(std::span<const std::byte> data, std::uint32_t crc) noexcept {
  return ~portable_impl(~crc, bytes(data), data.size());
}

bool crc32c_hardware() noexcept { return chosen_impl() != &portable_impl; }

}  // namespace tern::platform
