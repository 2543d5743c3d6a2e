// Authentication verdicts and the ACL: what the network layer decided about a CONNECT, a session's rights applied to
// its subscriptions, and a reload of the policy.
#include <vector>

#include "broker/core/broker_impl.hpp"
#include "broker/protocol/topic.hpp"
#include "platform/log.hpp"

namespace tern::core {

void Broker::Impl::authenticate(ConnectionId id, Authentication authentication) {
  const Client* c = clients_.find(id);
  if (!c || c->connected) return;
  pending_authentication_.insert_or_assign(id, std::move(authentication));
}

ClientAccess::Coverage Broker::Impl::coverage(const Session& s, std::string_view filter) {
  if (!s.access) return ClientAccess::Coverage::all;
  const auto shared = protocol::parse_shared(filter);  // a shared subscription reads what its filter matches
  return s.access->readable(shared ? shared->filter : filter);
}

void Broker::Impl::apply_rights(Session& s) {
  auto* subscriptions = s.subscriptions.if_made();
  if (!s.access || !subscriptions) return;
  std::vector<std::string> denied;
  for (auto& [filter, options] : *subscriptions) {
    const auto coverage = this->coverage(s, filter);
    if (coverage == ClientAccess::Coverage::none) {
      denied.push_back(filter);
      continue;
    }
    const bool all = coverage == ClientAccess::Coverage::all;
    if (options.readable_all == all) continue;
    options.readable_all = all;
    subscriptions_.subscribe(filter, s.id, options);
  }
  for (const std::string& filter : denied) {
    TERN_LOG(notice, "Client ", s.client_id, " may no longer read ", filter, ": subscription removed.");
    subscriptions_.unsubscribe(filter, s.id);
    subscriptions->erase(filter);
    unstore_subscription(s, filter);
  }
  stats_.subscriptions = subscriptions_.size();
  stats_.shared_subscriptions = subscriptions_.shared_size();
}

void Broker::Impl::grant(Session& s, std::optional<std::string> username, std::shared_ptr<const AccessPolicy> policy,
                         bool password_checked) {
  auto rights = policy ? policy->client(s.client_id, username) : nullptr;
  if (!username && !password_checked && !rights) {
    std::unique_ptr<SessionAccess>& open = open_access_[policy.get()];
    if (!open) open = std::make_unique<SessionAccess>(std::nullopt, std::move(policy), false);
    s.access.share(*open);
    return;
  }
  auto own = std::make_unique<SessionAccess>(std::move(username), std::move(policy), password_checked);
  own->bind(std::move(rights));
  s.access.own(std::move(own));
}

RetainSourcePtr Broker::Impl::retain_source_of(const Message& message) {
  if (!options_.check_retain_source || message.payload.empty()) return nullptr;
  const Session* origin = sessions_.find(message.origin_session);
  if (!origin || !origin->access || !origin->access->policy()) return nullptr;
  const SessionAccess& access = *origin->access;
  for (const RetainSourcePtr& recent : recent_retain_sources_) {
    if (recent && recent->policy == access.policy() && recent->client_id == origin->client_id &&
        recent->username == access.username()) {
      return recent;
    }
  }
  auto source = std::make_shared<RetainSource>(RetainSource{origin->client_id, access.username(), access.policy()});
  recent_retain_sources_[next_retain_source_++ % recent_retain_sources_.size()] = source;
  return source;
}

bool Broker::Impl::retain_source_allowed(const RetainSource* source, const std::string& topic) {
  if (!options_.check_retain_source || source == nullptr) return true;
  const auto rights = source->policy->client(source->client_id, source->username);
  return !rights || rights->may_publish(topic);
}

void Broker::Impl::replace_policy(const AccessPolicy& previous, const std::shared_ptr<const AccessPolicy>& current,
                                  TimePoint now) {
  const FlushAtExit flush{*this};
  // Closing a connection can end its session (expiry 0), so the sessions are collected first.
  std::vector<SessionId> affected;
  for (const Session* s : sessions_) {
    if (s->access && s->access->policy().get() == &previous) affected.push_back(s->id);
  }
  retained_.for_each_source([&](RetainSource& source) {
    if (source.policy.get() == &previous) source.policy = current;
  });
  recent_retain_sources_ = {};  // none keeps the previous policy alive
  for (SessionId id : affected) {
    Session* found = sessions_.find(id);
    if (!found) continue;
    Session& s = *found;
    SessionAccess& access = *s.access;
    if (s.client && !current->still_accepts(previous, access.username(), access.password_checked())) {
      TERN_LOG(notice, "Client ", s.client_id, " (username '", access.username().value_or(""),
               "') is no longer allowed to connect: disconnecting it.");
      close_connection(*s.client, protocol::ReasonCode::not_authorized, true, now, "not authorized any more");
      if (!sessions_.find(id)) continue;  // closing ended it
    }
    if (s.access.shared()) {
      grant(s, std::nullopt, current, false);  // a shared access is never bound again: the new policy's instead
    } else {
      s.access->bind(s.client_id, current);
    }
    apply_rights(s);
  }
  open_access_.erase(&previous);  // no session refers to it now
}

}  // namespace tern::core
