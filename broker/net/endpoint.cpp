#include "broker/net/endpoint.hpp"

namespace tern::net {

std::string to_string(const tcp::endpoint& endpoint) {
  asio::ip::address address = endpoint.address();
  if (address.is_v6() && address.to_v6().is_v4_mapped()) {
    address = asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6());
  }
  std::string text = address.to_string();
  if (address.is_v6()) text = '[' + text + ']';
  text += ':';
  text += std::to_string(endpoint.port());
  return text;
}

}  // namespace tern::net
