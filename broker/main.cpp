// tern's command line, modelled on mosquitto's:
//
//   tern                          the default configuration: one listener on 127.0.0.1:1883
//   tern -c tern.conf             a configuration file
//   tern -p 1883 [-p 8883 ...]    plain listeners on every address (replacing the file's, if -c is given)
//   tern -c tern.conf --test-config
//   tern passwd ...               manage a password file, as mosquitto_passwd (broker/auth/passwd_tool.hpp)
//
// Exit codes: 0 success, 1 a configuration or start-up error, 2 a command-line error.
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "broker/auth/passwd_tool.hpp"
#include "broker/auth/security.hpp"
#include "broker/config.hpp"
#include "broker/server/server.hpp"

#ifndef TERN_VERSION
#define TERN_VERSION "0.1.0"
#endif

namespace {

constexpr const char* usage_text =
    "tern " TERN_VERSION
    " - an MQTT 3.1.1 and 5.0 broker\n"
    "\n"
    "usage: tern [-c FILE] [-p PORT]... [-v] [--test-config]\n"
    "       tern passwd ARGUMENTS...  manage a password file, as mosquitto_passwd does (`tern passwd`: how)\n"
    "       tern --version | --help\n"
    "\n"
    "  -c, --config-file FILE  read the configuration from FILE (default: one listener on 127.0.0.1:1883)\n"
    "  -p, --port PORT         listen on PORT on every address; repeatable; replaces the file's listeners\n"
    "                          (without -c: anonymous clients are allowed, as in a quick start)\n"
    "  -v, --verbose           log everything (log_type all)\n"
    "      --test-config       check the file given with -c and exit\n"
    "      --version           print the version and exit\n"
    "  -h, --help              print this help and exit\n";

struct Options {
  std::optional<std::string> config_file;
  std::vector<std::uint16_t> ports;
  bool verbose = false;
  bool test_config = false;
};

int usage_error(const std::string& message) {
  std::fprintf(stderr, "tern: %s\n\n%s", message.c_str(), usage_text);
  return 2;
}

std::optional<std::uint16_t> parse_port(std::string_view text) {
  unsigned value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc{} || end != text.data() + text.size() || text.empty() || value > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(value);
}

tern::Config make_config(const Options& options) {
  tern::Config config;
  if (options.config_file) {
    config = tern::load_config_file(*options.config_file);
  } else if (!options.ports.empty()) {
    config = tern::quick_start_config(options.ports.front());
  } else {
    config = tern::parse_config("", "<default>");
  }
  if (!options.ports.empty()) {
    config.listeners.clear();
    for (std::uint16_t port : options.ports) {
      tern::ListenerConfig listener;
      listener.port = port;
      config.listeners.push_back(listener);
    }
  }
  if (options.verbose) config.log.levels = ~0u;  // log_type all
  return config;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 2 && std::string_view(argv[1]) == "passwd") return tern::auth::passwd_main(argc - 1, argv + 1);
  Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    auto value = [&]() -> std::optional<std::string_view> {
      if (i + 1 >= argc) return std::nullopt;
      return std::string_view(argv[++i]);
    };
    if (arg == "-c" || arg == "--config-file") {
      const auto file = value();
      if (!file) return usage_error(std::string(arg) + " needs a file name");
      options.config_file = std::string(*file);
    } else if (arg == "-p" || arg == "--port") {
      const auto text = value();
      if (!text) return usage_error(std::string(arg) + " needs a port number");
      const auto port = parse_port(*text);
      if (!port) return usage_error("invalid port '" + std::string(*text) + "': expected 0 to 65535");
      options.ports.push_back(*port);
    } else if (arg == "-v" || arg == "--verbose") {
      options.verbose = true;
    } else if (arg == "--test-config") {
      options.test_config = true;
    } else if (arg == "--version") {
      std::printf("tern %s\n", TERN_VERSION);
      return 0;
    } else if (arg == "-h" || arg == "--help") {
      std::fputs(usage_text, stdout);
      return 0;
    } else {
      return usage_error("unknown option '" + std::string(arg) + "'");
    }
  }

  if (options.test_config) {
    if (!options.config_file) return usage_error("--test-config needs a configuration file (-c FILE)");
    tern::Config config;
    try {
      config = tern::load_config_file(*options.config_file);
      // The password and ACL files it names are read too: an error there would stop the broker as well.
      tern::auth::ListenerSecurity::load(config.security);
      for (const auto& listener : config.listeners) tern::auth::ListenerSecurity::load(config.security_of(listener));
    } catch (const tern::ConfigError& e) {
      std::fprintf(stderr, "%s\n", e.what());
      return 1;
    } catch (const tern::auth::AuthFileError& e) {
      std::fprintf(stderr, "%s\n", e.what());
      return 1;
    }
    for (const tern::ConfigNote& note : config.notes) std::fprintf(stderr, "%s\n", note.text.c_str());
    std::printf("%s: configuration OK\n", options.config_file->c_str());
    return 0;
  }

  tern::Config config;
  try {
    config = make_config(options);
  } catch (const tern::ConfigError& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
  return tern::Server(std::move(config)).run();
}
