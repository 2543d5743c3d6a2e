// Shared by the config tests: the error a text gives, parsed as "tern.conf", and the check of where it points.
#pragma once

#include <gmock/gmock.h>
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

// Asserts the error is "tern.conf:LINE: ..." and contains `what`.
inline void expect_config_error(const std::string& text, int line, const std::string& what) {
  SCOPED_TRACE(text);
  const std::string message = config_error_of(text);
  EXPECT_THAT(message, ::testing::StartsWith("tern.conf:" + std::to_string(line) + ": "));
  EXPECT_THAT(message, ::testing::HasSubstr(what));
}

}  // namespace tern::testing
