// Shared by the config tests: the error a text gives, parsed as "tern.conf".
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "broker/config.hpp"

namespace tern::testing {

inline std::string config_error_of(const std::string& text) {
  try {
    parse_config(text, "tern.conf");
  } catch (const ConfigError& e) {
    return e.what();
  }
  ADD_FAILURE() << "parsed without error:\n" << text;
  return {};
}

}  // namespace tern::testing
