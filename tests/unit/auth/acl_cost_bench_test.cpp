// A measurement, not a check (DISABLED_: run by hand): the broker core's CPU per delivery in a 1 -> 100 fan-out with
// no ACL, with a 1,000-rule ACL whose subscription filters are wholly readable, and with one whose filters are only
// partly readable (every delivery checked against the session's cache). Without sockets or a load generator, so
// the ACL's own cost is not lost in the noise of a 2-core machine (bench/README.md, "Authentication and ACL cost").
//
//   build/tests/tern_auth_tests --gtest_also_run_disabled_tests --gtest_filter='AclCost.*'
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "broker/auth/security.hpp"
#include "broker/core/broker.hpp"
#include "tests/support/temp_dir.hpp"

namespace tern::auth {
namespace {

using namespace std::chrono_literals;
namespace p = protocol;

// Counts what it is given and keeps nothing.
class CountingSink final : public core::ConnectionSink {
 public:
  void send(std::string_view bytes) override { sent += bytes.size(); }
  void close() override {}
  std::size_t pending_bytes() const noexcept override { return 0; }
  void wake() override {}  // its clients never queue more than one call sends
  std::size_t sent = 0;
};

// 1,000 rules: 5 patterns, 248 other users with 4 rules each, and "bench" with 3.
std::string thousand_rules(bool wholly_readable) {
  std::string acl = "topic read public/#\npattern readwrite clients/%c/#\npattern read users/%u/#\n"
                    "pattern write devices/%c/state\npattern read devices/%c/cmd\n";
  for (int u = 0; u < 248; ++u) {
    const std::string n = std::to_string(u);
    acl += "user other" + n + "\ntopic readwrite other/" + n + "/#\ntopic read shared/" + n + "\ntopic deny other/" +
           n + "/secret/#\ntopic write telemetry/" + n + "/+\n";
  }
  acl += "user bench\ntopic readwrite bench/#\n";
  acl += wholly_readable ? "topic deny archive/bench/private/#\n" : "topic deny bench/all/private/#\n";
  return acl;
}

double ns_per_delivery(const std::string* acl) {
  testsupport::TempDir dir("tern-acl-cost");
  SecuritySettings settings;
  if (acl) {
    settings.acl_file = dir.file("acl");
    std::ofstream(settings.acl_file) << *acl;
  }
  const auto security = ListenerSecurity::load(settings);
  core::BrokerOptions options;
  options.max_outgoing_buffer = ~std::size_t{0} / 4;
  core::Broker broker(options);
  const auto now = core::Clock::now();
  std::vector<CountingSink> sinks(101);
  std::vector<core::ConnectionId> ids;
  for (std::size_t i = 0; i < sinks.size(); ++i) {
    const auto id = broker.attach(sinks[i], "127.0.0.1:1", now);
    broker.authenticate(id, security->authenticate("c" + std::to_string(i), "bench", std::nullopt, false));
    p::Connect connect;
    connect.version = p::Version::v311;
    connect.client_id = "c" + std::to_string(i);
    connect.username = "bench";
    broker.on_packet(id, std::move(connect), now);
    if (i != 0) {
      p::Subscribe s;
      s.packet_id = 1;
      s.subscriptions.push_back(p::Subscription{.filter = "bench/all/#"});
      broker.on_packet(id, std::move(s), now);
    }
    ids.push_back(id);
  }
  constexpr int messages = 20000, batch = 64;
  std::vector<p::Packet> packets;
  const auto start = std::chrono::steady_clock::now();
  for (int m = 0; m < messages; m += batch) {
    packets.clear();
    for (int i = 0; i < batch; ++i) {
      packets.push_back(p::Publish{.topic = "bench/all/x", .payload = "0123456789abcdef"});
    }
    broker.on_packets(ids[0], packets, now);
  }
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_GT(sinks[1].sent, static_cast<std::size_t>(messages) * 16) << "deliveries missing";
  return std::chrono::duration<double, std::nano>(elapsed).count() / (messages * 100.0);
}

TEST(AclCost, DISABLED_FanOutPerDelivery) {
  const std::string partly = thousand_rules(false), wholly = thousand_rules(true);
  for (int round = 0; round < 5; ++round) {
    const double none = ns_per_delivery(nullptr), all = ns_per_delivery(&wholly), some = ns_per_delivery(&partly);
    std::printf("round %d: ns per delivery: no ACL %.1f, wholly readable %.1f (%.2f), partly readable %.1f (%.2f)\n",
                round, none, all, none / all, some, none / some);
  }
}

}  // namespace
}  // namespace tern::auth
