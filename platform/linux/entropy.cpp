#include "platform/entropy.hpp"

#include <sys/random.h>

#include <cerrno>
#include <system_error>

namespace tern::platform {

void fill_random(std::span<std::byte> out) {
  std::size_t done = 0;
  while (done < out.size()) {
    const ssize_t n = ::getrandom(out.data() + done, out.size() - done, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw std::system_error(errno, std::system_category(), "getrandom");
    }
    done += static_cast<std::size_t>(n);
  }
}

std::uint64_t random_u64() {
  std::uint64_t value = 0;
  fill_random(std::as_writable_bytes(std::span{&value, 1}));
  return value;
}

}  // namespace tern::platform
