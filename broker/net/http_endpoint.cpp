#include "broker/net/http_endpoint.hpp"

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <optional>
#include <system_error>
#include <utility>

#include "broker/net/endpoint.hpp"
#include "platform/log.hpp"

namespace tern::net {

namespace beast = boost::beast;
namespace http = beast::http;

struct HttpEndpoint::State : std::enable_shared_from_this<HttpEndpoint::State> {
  State(asio::io_context& io, Handlers h) : acceptor(io), handlers(std::move(h)) {}

  asio::ip::tcp::acceptor acceptor;
  Handlers handlers;
  int open = 0;  // connections being served

  void accept();
};

namespace {

using Stream = beast::tcp_stream;

class HttpSession : public std::enable_shared_from_this<HttpSession> {
 public:
  HttpSession(asio::ip::tcp::socket socket, std::shared_ptr<HttpEndpoint::State> state)
      : stream_(std::move(socket)), state_(std::move(state)) {
    ++state_->open;
  }
  ~HttpSession() { --state_->open; }

  void read() {
    parser_.emplace();
    parser_->header_limit(8 * 1024);
    parser_->body_limit(0);
    stream_.expires_after(HttpEndpoint::request_timeout);
    http::async_read(stream_, buffer_, *parser_, [self = shared_from_this()](beast::error_code error, std::size_t) {
      self->on_read(error);
    });
  }

 private:
  void on_read(beast::error_code error) {
    if (error == http::error::end_of_stream) {
      close();
      return;
    }
    if (error) {
      // A body, oversized headers or a malformed request: say so once, then close; a timeout or a reset: close.
      if (error.category() == http::make_error_code(http::error::end_of_stream).category()) {
        respond(http::status::bad_request, "bad request: " + error.message() + "\n", false, false);
        return;
      }
      close();
      return;
    }
    const auto& request = parser_->get();
    const bool head = request.method() == http::verb::head;
    if (request.method() != http::verb::get && !head) {
      respond(http::status::method_not_allowed, "only GET and HEAD\n", head, request.keep_alive(), true);
      return;
    }
    const std::string_view target(request.target().data(), request.target().size());
    const std::string_view path = target.substr(0, target.find('?'));
    if (path == "/metrics") {
      respond(http::status::ok, state_->handlers.metrics(), head, request.keep_alive(), false,
              "text/plain; version=0.0.4; charset=utf-8");
    } else if (path == "/healthz") {
      std::string reason;
      const bool healthy = state_->handlers.health(reason);
      respond(healthy ? http::status::ok : http::status::service_unavailable, healthy ? "ok\n" : reason + "\n", head,
              request.keep_alive());
    } else {
      respond(http::status::not_found, "not found: try /metrics or /healthz\n", head, request.keep_alive());
    }
  }

  void respond(http::status status, std::string body, bool head, bool keep_alive, bool allow = false,
               const char* type = "text/plain; charset=utf-8") {
    auto response = std::make_shared<http::response<http::string_body>>(status, 11);
    response->set(http::field::server, "tern");
    response->set(http::field::content_type, type);
    if (allow) response->set(http::field::allow, "GET, HEAD");
    response->keep_alive(keep_alive);
    response->body() = std::move(body);
    response->prepare_payload();  // Content-Length of the body, also for HEAD
    if (head) response->body().clear();
    stream_.expires_after(HttpEndpoint::request_timeout);
    auto write = [self = shared_from_this(), response, keep_alive](beast::error_code error, std::size_t) {
      if (error || !keep_alive) {
        self->close();
        return;
      }
      self->read();
    };
    if (head) {
      // HEAD: the headers alone (Content-Length says what GET would send).
      auto serializer = std::make_shared<http::response_serializer<http::string_body>>(*response);
      http::async_write_header(stream_, *serializer,
                               [serializer, write](beast::error_code error, std::size_t n) { write(error, n); });
      return;
    }
    http::async_write(stream_, *response, write);
  }

  void close() {
    beast::error_code ignored;
    stream_.socket().shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
    stream_.close();
  }

  Stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::empty_body>> parser_;
  std::shared_ptr<HttpEndpoint::State> state_;
};

}  // namespace

void HttpEndpoint::State::accept() {
  acceptor.async_accept([self = shared_from_this()](beast::error_code error, asio::ip::tcp::socket socket) {
    if (error == asio::error::operation_aborted || !self->acceptor.is_open()) return;
    if (!error) {
      if (self->open >= max_connections) {
        beast::error_code ignored;
        socket.close(ignored);
      } else {
        std::make_shared<HttpSession>(std::move(socket), self)->read();
      }
    }
    self->accept();
  });
}

HttpEndpoint::HttpEndpoint(asio::io_context& io, const std::string& address, std::uint16_t port, Handlers handlers)
    : state_(std::make_shared<State>(io, std::move(handlers))) {
  const asio::ip::address ip = address.empty() ? asio::ip::address(asio::ip::address_v6::any())
                                               : asio::ip::make_address(address);
  const asio::ip::tcp::endpoint endpoint(ip, port);
  auto& acceptor = state_->acceptor;
  acceptor.open(endpoint.protocol());
  acceptor.set_option(asio::socket_base::reuse_address(true));
  if (address.empty()) acceptor.set_option(asio::ip::v6_only(false));
  acceptor.bind(endpoint);
  acceptor.listen();
}

HttpEndpoint::~HttpEndpoint() { stop(); }

std::uint16_t HttpEndpoint::port() const { return state_->acceptor.local_endpoint().port(); }

std::string HttpEndpoint::name() const { return to_string(state_->acceptor.local_endpoint()); }

void HttpEndpoint::start() { state_->accept(); }

void HttpEndpoint::stop() {
  beast::error_code ignored;
  state_->acceptor.close(ignored);
}

}  // namespace tern::net
