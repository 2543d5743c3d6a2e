#include "tls/stream.hpp"

#include <gtest/gtest.h>

// clang-format off
#include <utility>  // first: Boost 1.74 Asio with g++ 12 needs it ahead of Asio
// clang-format on
#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/beast/_experimental/test/stream.hpp>
#include <string>

#include "tests/unit/tls/tls_test_support.hpp"

namespace tern::tls {
namespace {

namespace asio = boost::asio;
namespace beast_test = boost::beast::test;
using TestStream = Stream<beast_test::stream>;

// A handshake, a request and an answer over beast's in-memory stream, with the server's stream failing on its n-th
// operation for n = 0, 1, 2, ... until the exchange succeeds: every failure must end both sides cleanly (the
// io_context runs dry: no operation is left hanging, no handler is called twice).
TEST(TlsStream, FailsCleanlyOnTheNthOperation) {
  const auto server_context = Context::server(test::server_settings());
  const auto client_context = Context::client({.cafile = test::cert("ca.crt")});
  std::size_t n = 0;
  for (; n < 200; ++n) {
    asio::io_context io;
    beast_test::fail_count fail(n);
    TestStream server(server_context, io, fail);
    TestStream client(client_context, io);
    server.next_layer().connect(client.next_layer());

    error_code server_error, client_error;
    int server_completions = 0, client_completions = 0;
    std::array<char, 64> server_buffer{}, client_buffer{};
    std::string server_got, client_got;
    auto server_fail = [&](error_code ec) {
      server_error = ec;
      ++server_completions;
      server.next_layer().close();
    };
    auto client_fail = [&](error_code ec) {
      client_error = ec;
      ++client_completions;
      client.next_layer().close();
    };

    server.async_handshake([&](error_code ec) {
      if (ec) return server_fail(ec);
      server.async_read_some(asio::buffer(server_buffer), [&](error_code ec, std::size_t size) {
        if (ec) return server_fail(ec);
        server_got.assign(server_buffer.data(), size);
        server.async_write_some(asio::buffer("pong", 4), [&](error_code ec, std::size_t) {
          if (ec) return server_fail(ec);
          ++server_completions;
        });
      });
    });
    client.async_handshake([&](error_code ec) {
      if (ec) return client_fail(ec);
      client.async_write_some(asio::buffer("ping", 4), [&](error_code ec, std::size_t size) {
        if (ec) return client_fail(ec);
        EXPECT_EQ(size, 4u);
        client.async_read_some(asio::buffer(client_buffer), [&](error_code ec, std::size_t size) {
          if (ec) return client_fail(ec);
          client_got.assign(client_buffer.data(), size);
          ++client_completions;
        });
      });
    });
    io.run();

    EXPECT_EQ(server_completions, 1) << "n = " << n;
    EXPECT_EQ(client_completions, 1) << "n = " << n;
    if (!server_error) {
      EXPECT_FALSE(client_error) << client_error.message();
      EXPECT_EQ(server_got, "ping");
      EXPECT_EQ(client_got, "pong");
      break;
    }
    EXPECT_EQ(server_error, beast_test::error::test_failure) << "n = " << n << ": " << server_error.message();
    EXPECT_TRUE(client_error) << "n = " << n;  // the client saw the server go
  }
  EXPECT_GT(n, 3u);  // the handshake alone takes several operations
  EXPECT_LT(n, 200u);
}

// Connects two streams and runs both handshakes.
void connected(asio::io_context& io, TestStream& server, TestStream& client) {
  server.next_layer().connect(client.next_layer());
  error_code server_error = error::want_read, client_error = error::want_read;
  server.async_handshake([&](error_code ec) { server_error = ec; });
  client.async_handshake([&](error_code ec) { client_error = ec; });
  io.run();
  io.restart();
  ASSERT_FALSE(server_error) << server_error.message();
  ASSERT_FALSE(client_error) << client_error.message();
}

TEST(TlsStream, CloseNotifyAndTruncation) {
  const auto server_context = Context::server(test::server_settings());
  const auto client_context = Context::client({.cafile = test::cert("ca.crt")});
  for (const bool clean : {true, false}) {
    asio::io_context io;
    TestStream server(server_context, io);
    TestStream client(client_context, io);
    connected(io, server, client);
    std::array<char, 16> buffer{};
    error_code read_error;
    server.async_read_some(asio::buffer(buffer), [&](error_code ec, std::size_t) { read_error = ec; });
    if (clean) {
      client.async_shutdown([&](error_code ec) {
        EXPECT_FALSE(ec);
        client.next_layer().close();
      });
    } else {
      client.next_layer().close();  // TCP end without close_notify
    }
    io.run();
    EXPECT_EQ(read_error, clean ? error::closed : error::truncated) << read_error.message();
  }
}

TEST(TlsStream, NoOperationCompletesInline) {
  asio::io_context io;
  TestStream server(Context::server(test::server_settings()), io);
  TestStream client(Context::client({.cafile = test::cert("ca.crt")}), io);
  connected(io, server, client);
  bool done = false;
  client.async_write_some(asio::buffer("abc", 3), [&](error_code, std::size_t) { done = true; });
  EXPECT_FALSE(done);
  io.run();
  EXPECT_TRUE(done);
}

}  // namespace
}  // namespace tern::tls
