// The line and token helpers that the config, password and ACL parsers share (platform/text_file.hpp).
#include "platform/text_file.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace tern::platform {
namespace {

TEST(TextFile, SplitLines) {
  using Lines = std::vector<std::string_view>;
  EXPECT_EQ(split_lines(""), Lines{});
  EXPECT_EQ(split_lines("a\n"), Lines{"a"});
  EXPECT_EQ(split_lines("a\r\n\nb"), (Lines{"a\r", "", "b"}));
  EXPECT_EQ(split_lines("\n\n"), (Lines{"", ""}));
}

TEST(TextFile, TrimAndTokens) {
  EXPECT_EQ(trim(" \t topic read a b/# \r"), "topic read a b/#");
  EXPECT_EQ(trim(" \f\v "), "");
  std::string_view rest = "  topic\tread   a b/# \r";
  EXPECT_EQ(next_token(rest), "topic");
  EXPECT_EQ(next_token(rest), "read");
  EXPECT_EQ(rest, "a b/#");  // the rest of a line keeps its inner blanks (paths, ACL filters)
  EXPECT_EQ(next_token(rest), "a");
  EXPECT_EQ(next_token(rest), "b/#");
  EXPECT_EQ(next_token(rest), "");
  EXPECT_EQ(rest, "");
}

TEST(TextFile, ReadWholeFileNamesThePathOnError) {
  std::string error;
  EXPECT_FALSE(read_whole_file("/nonexistent/tern.conf", error));
  EXPECT_EQ(error.rfind("cannot read /nonexistent/tern.conf: ", 0), 0u) << error;
}

}  // namespace
}  // namespace tern::platform
