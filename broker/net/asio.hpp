// The one include for Asio in broker/net and the server: the headers they use, and the types they share.
//
// The executor is io_context::executor_type rather than any_io_executor: nothing here changes executor, and the
// concrete type makes each I/O object (and each handler that holds one) smaller. Client sockets are not Asio
// sockets at all (see poller.hpp).
#pragma once

// clang-format off
#include <utility>  // first: Boost 1.74 Asio with g++ 12 coroutines needs it ahead of Asio
// clang-format on

#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

namespace tern::net {

namespace asio = boost::asio;
using error_code = boost::system::error_code;
using tcp = asio::ip::tcp;
using Executor = asio::io_context::executor_type;
using Acceptor = asio::basic_socket_acceptor<tcp, Executor>;
using Timer =
    asio::basic_waitable_timer<std::chrono::steady_clock, asio::wait_traits<std::chrono::steady_clock>, Executor>;

}  // namespace tern::net
