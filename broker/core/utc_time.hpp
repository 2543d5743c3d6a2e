// Wall-clock times as people and JSON read them: RFC 3339 in UTC with milliseconds, "2026-12-06T21:41:09.123Z".
// Used where the broker shows a time in a message (a dead letter's "time", the history's rows) and reads one back
// (a history query's "from" and "to").
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "broker/core/store_ops.hpp"

namespace tern::core {

std::string rfc3339_utc(UnixMillis ms);
// "2026-12-06T21:41:09Z" or with up to three digits of fractions; nullopt for anything else (another offset too).
std::optional<UnixMillis> parse_rfc3339_utc(std::string_view text);

}  // namespace tern::core
