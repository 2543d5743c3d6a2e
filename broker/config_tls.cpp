// Tern's own TLS directives for session resumption (tls/resumption.hpp): session tickets, the session cache, their
// lifetime and the ticket key file, per listener. mosquitto has no equivalent (OpenSSL's tickets and cache are on in
// it, with keys that live as long as the process).
#include <algorithm>
#include <string>

#include "broker/config_context.hpp"
#include "platform/text_file.hpp"

namespace tern::config_detail {
namespace {

tls::ResumptionSettings& resumption(Context& c) {
  TlsSettings& tls = c.listener().tls;
  tls.resumption_given = true;
  return tls.resumption;
}

// clang-format off
constexpr Directive kTlsSessionDirectives[] = {
  {"tls_session_tickets", Scope::listener,
   [](Context& c, std::string_view v) { resumption(c).tickets = c.boolean(v); },
   "true|false: give TLS clients session tickets, so a reconnecting client resumes its session with an abbreviated "
   "handshake (no signature, no key exchange) (Tern's own; default true)"},
  {"tls_session_cache_size", Scope::listener,
   [](Context& c, std::string_view v) { resumption(c).cache_size = static_cast<int>(c.integer(v, 0, 10000)); },
   "N: TLS sessions kept for resumption by session id, for clients that send no ticket; about 260 bytes each, plus "
   "the client certificate where clients present one; at most 10000 (mbedTLS searches the whole cache at each "
   "lookup); 0: none (Tern's own; default 1000)"},
  {"tls_session_lifetime", Scope::listener,
   [](Context& c, std::string_view v) {
     resumption(c).lifetime = static_cast<std::uint32_t>(c.integer(v, 1, 604800));
   },
   "SECONDS: how long a TLS session may be resumed after its full handshake, and how long a ticket key seals new "
   "tickets before the next one takes over; at most 604800 (7 days) (Tern's own; default 86400)"},
  {"tls_session_ticket_key_file", Scope::listener,
   [](Context& c, std::string_view v) { resumption(c).ticket_key_file = std::string(platform::trim(v)); },
   "PATH: keep the listener's ticket keys in this file (mode 0600) so that tickets survive a restart; whoever reads "
   "it can decrypt recorded sessions of the last two lifetimes (Tern's own; default: keys in memory only)"},
};
// clang-format on

}  // namespace

std::span<const Directive> tls_session_directives() { return kTlsSessionDirectives; }

void check_tls_sessions(Context& c, std::size_t listener, const std::string& where) {
  const auto& listeners = c.config().listeners;
  const TlsSettings& tls = listeners[listener].tls;
  if (!tls.resumption_given) return;
  if (!tls.enabled()) {
    c.fail(where +
           "tls_session_tickets, tls_session_cache_size, tls_session_lifetime and tls_session_ticket_key_file "
           "apply only to a TLS listener (one with certfile or psk_hint)");
  }
  const std::string& file = tls.resumption.ticket_key_file;
  if (file.empty()) return;
  if (!tls.resumption.tickets) c.fail(where + "tls_session_ticket_key_file is set but tls_session_tickets is false");
  for (std::size_t i = 0; i < listener; ++i) {
    if (listeners[i].tls.resumption.ticket_key_file == file) {
      c.fail(where + "tls_session_ticket_key_file " + file + " is already another listener's (each listener needs " +
             "its own keys)");
    }
  }
}

}  // namespace tern::config_detail
