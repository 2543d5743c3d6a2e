// CRC-32C (Castagnoli): the checksum of iSCSI, ext4, Btrfs and SCTP. Reflected polynomial 0x82F63B78, initial value
// and final xor 0xFFFFFFFF, so crc32c("123456789") == 0xE3069283. It detects accidental corruption (torn writes, bit
// rot), not tampering. Castagnoli rather than zlib's CRC-32 because x86-64 (SSE4.2) and ARMv8 (the CRC extension) have
// instructions for it, so checksumming stays far below the cost of the I/O it guards.
//
// The `crc` argument is a previous finished result, as in zlib, so a checksum can be built up piece by piece:
//
//   std::uint32_t c = crc32c(header);     // same as crc32c(header + payload)
//   c = crc32c(payload, c);
//
// crc32c() uses the CPU's instructions when this machine has them (crc32c_hardware()) and slice-by-8 tables
// otherwise; both give the same result. crc32c_portable() is always the tables, so tests can compare the two.
//
// Thread safety: every function may be called from any thread at once. The implementation is chosen on the first
// call (a lock-free pointer; threads racing on that first call all choose the same one).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace tern::platform {

std::uint32_t crc32c(std::span<const std::byte> data, std::uint32_t crc = 0) noexcept;

inline std::uint32_t crc32c(std::string_view data, std::uint32_t crc = 0) noexcept {
  return crc32c(std::as_bytes(std::span{data.data(), data.size()}), crc);
}

// The table-driven software version, whatever the CPU.
std::uint32_t crc32c_portable(std::span<const std::byte> data, std::uint32_t crc = 0) noexcept;

// Whether crc32c() uses CPU instructions on this machine (SSE4.2 on x86-64, the CRC extension on aarch64).
bool crc32c_hardware() noexcept;

}  // namespace tern::platform
