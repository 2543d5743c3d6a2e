// The configuration parser (broker/config.cpp, its bridge and compatibility tables) on any text: it accepts it or
// throws ConfigError ("FILE:LINE: message"); any other exception, a crash or a sanitizer report is a bug.
//
// Texts naming include_dir are passed over: that directive reads whatever folder the text names, which would make
// a run depend on the machine's files (its own tests cover it).
#include <cstddef>
#include <cstdint>
#include <string>

#include "broker/config.hpp"
#include "tests/fuzz/fuzz_input.hpp"
#include "tests/fuzz/fuzz_log.hpp"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  tern::fuzz::quiet_log();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  if (text.find("include_dir") != std::string::npos) return 0;
  try {
    tern::parse_config(text, "fuzz.conf");
  } catch (const tern::ConfigError&) {
  }
  return 0;
}
