// Randomness from the kernel, for seeds and assigned client identifiers. Blocks only before the kernel's pool is
// first initialized, early in boot.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace tern::platform {

// Fills `out` completely; throws std::system_error when the kernel cannot deliver.
void fill_random(std::span<std::byte> out);

std::uint64_t random_u64();

}  // namespace tern::platform
