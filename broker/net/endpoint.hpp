// Endpoints as the log prints them: "127.0.0.1:1883", "[::1]:1883". An IPv4 client on a dual-stack socket
// (::ffff:10.0.0.7) is shown as the IPv4 address it is.
//
// Thread safety: stateless functions.
#pragma once

#include <string>

#include "broker/net/asio.hpp"

namespace tern::net {

std::string to_string(const tcp::endpoint& endpoint);

}  // namespace tern::net
