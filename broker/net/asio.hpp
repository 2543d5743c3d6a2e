// The one include for Asio in broker/net and the server: the headers they use, and the socket type every connection
// has.
//
// The socket's executor is io_context::executor_type rather than any_io_executor: a connection never changes
// executor, and the concrete type makes each socket (and each handler that holds one) smaller.
#pragma once

// clang-format off
#include <utility>  // first: Boost 1.74 Asio with g++ 12 coroutines needs it ahead of Asio
// clang-format on

#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

namespace tern::net {

namespace asio = boost::asio;
using error_code = boost::system::error_code;
using tcp = asio::ip::tcp;
using Executor = asio::io_context::executor_type;
using Socket = asio::basic_stream_socket<tcp, Executor>;
using Acceptor = asio::basic_socket_acceptor<tcp, Executor>;
using Timer =
    asio::basic_waitable_timer<std::chrono::steady_clock, asio::wait_traits<std::chrono::steady_clock>, Executor>;

}  // namespace tern::net
