// connection_rate_limit's bookkeeping with time as an argument: the window per address, the first refusal told
// apart, other addresses untouched, and the table swept.
#include "broker/net/connection_rate.hpp"

#include <gtest/gtest.h>

#include <string>

namespace tern::net {
namespace {

using Verdict = ConnectionRate::Verdict;
using namespace std::chrono_literals;

asio::ip::address ip(const std::string& text) { return asio::ip::make_address(text); }

TEST(ConnectionRate, CountsPerAddressWithinItsWindow) {
  ConnectionRate rate(3, 10s);
  const auto t0 = ConnectionRate::Clock::time_point{} + 1h;
  EXPECT_EQ(rate.admit(ip("10.0.0.1"), t0), Verdict::accept);
  EXPECT_EQ(rate.admit(ip("10.0.0.1"), t0 + 1s), Verdict::accept);
  EXPECT_EQ(rate.admit(ip("10.0.0.1"), t0 + 2s), Verdict::accept);
  EXPECT_EQ(rate.admit(ip("10.0.0.1"), t0 + 5s), Verdict::refuse_first);
  EXPECT_EQ(rate.admit(ip("10.0.0.1"), t0 + 6s), Verdict::refuse);
  EXPECT_EQ(rate.admit(ip("10.0.0.2"), t0 + 6s), Verdict::accept);   // another address: its own window
  EXPECT_EQ(rate.admit(ip("10.0.0.1"), t0 + 10s), Verdict::accept);  // a new window
  EXPECT_EQ(rate.admit(ip("10.0.0.1"), t0 + 11s), Verdict::accept);
}

TEST(ConnectionRate, AnIpv4ClientOfADualStackListenerIsOneAddress) {
  ConnectionRate rate(1, 60s);
  const auto t0 = ConnectionRate::Clock::time_point{} + 1h;
  EXPECT_EQ(rate.admit(ip("192.168.1.9"), t0), Verdict::accept);
  EXPECT_EQ(rate.admit(ip("::ffff:192.168.1.9"), t0), Verdict::refuse_first);
  EXPECT_EQ(rate.admit(ip("2001:db8::9"), t0), Verdict::accept);
}

TEST(ConnectionRate, AddressesWhoseWindowEndedAreSwept) {
  ConnectionRate rate(1, 1s);
  const auto t0 = ConnectionRate::Clock::time_point{} + 1h;
  for (unsigned i = 0; i <= ConnectionRate::sweep_at; ++i) {
    rate.admit(asio::ip::address_v4(0x0A000000u + i), t0);
  }
  EXPECT_EQ(rate.tracked(), ConnectionRate::sweep_at + 1);
  rate.admit(ip("10.200.0.1"), t0 + 2s);  // the table is over sweep_at: the old windows go
  EXPECT_EQ(rate.tracked(), 1u);
}

}  // namespace
}  // namespace tern::net
