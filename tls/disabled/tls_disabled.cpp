// The tls target of a build with TERN_WITH_TLS=OFF: the same interface, no mbedTLS. A TLS listener is refused at
// start-up with a clear error; nothing else is reachable (no Engine can exist without a Context).
#include <string>

#include "tls/context.hpp"
#include "tls/engine.hpp"
#include "tls/error.hpp"
#include "tls/resumption.hpp"

namespace tern::tls {
namespace {

class Category final : public boost::system::error_category {
 public:
  explicit Category(const char* name) : name_(name) {}
  const char* name() const noexcept override { return name_; }
  std::string message(int code) const override { return std::string(name_) + " error " + std::to_string(code); }

 private:
  const char* name_;
};

[[noreturn]] void unsupported() { throw ContextError("this tern was built without TLS (TERN_WITH_TLS=OFF)"); }

}  // namespace

struct Context::Impl {};
struct Engine::Impl {};
struct Resumption::Impl {};

const boost::system::error_category& mbedtls_category() noexcept {
  static const Category category("mbedtls");
  return category;
}
error_code make_error_code(int mbedtls_code) noexcept { return {mbedtls_code, mbedtls_category()}; }
const boost::system::error_category& tls_category() noexcept {
  static const Category category("tls");
  return category;
}
error_code make_error_code(error e) noexcept { return {static_cast<int>(e), tls_category()}; }

Context::Context(std::unique_ptr<Impl> impl, PeerUsername peer_username)
    : impl_(std::move(impl)), peer_username_(peer_username) {}
Context::~Context() = default;
std::shared_ptr<const Context> Context::server(const TlsSettings&, std::shared_ptr<Resumption>) { unsupported(); }
std::shared_ptr<Resumption> Resumption::make(const ResumptionSettings&, const std::string&, bool) { return nullptr; }
std::string Resumption::binding_of(const TlsSettings&) { return {}; }
Resumption::~Resumption() = default;
HandshakeCounts handshake_counts() noexcept { return {}; }
std::shared_ptr<const Context> Context::client(const ClientSettings&) { unsupported(); }

Engine::Engine(std::shared_ptr<const Context>) { unsupported(); }
Engine::~Engine() = default;
void Engine::set_peer_name(const std::string&) {}
void Engine::feed(std::string_view) {}
bool Engine::pending() const noexcept { return false; }
error_code Engine::handshake() { return error::not_supported; }
bool Engine::handshake_done() const noexcept { return false; }
bool Engine::resumed() const noexcept { return false; }
std::string Engine::saved_session() const { return {}; }
void Engine::resume_session(std::string_view) {}
std::size_t Engine::read(std::span<char>, error_code& ec) {
  ec = error::not_supported;
  return 0;
}
void Engine::write(std::string_view, error_code& ec) { ec = error::not_supported; }
void Engine::write(std::string_view, std::string&, error_code& ec) { ec = error::not_supported; }
std::size_t Engine::write_some(std::string_view, std::string&, std::size_t, error_code& ec) {
  ec = error::not_supported;
  return 0;
}
void Engine::close_notify() {}
std::string Engine::ciphersuite() const { return {}; }
std::string Engine::peer_identity() const { return {}; }
std::string Engine::peer_subject() const { return {}; }
std::string Engine::verify_failure() const { return {}; }

}  // namespace tern::tls
