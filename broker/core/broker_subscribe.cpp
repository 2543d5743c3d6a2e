// SUBSCRIBE / UNSUBSCRIBE, and retained messages sent on subscribe.
#include <algorithm>

#include "broker/core/broker_impl.hpp"
#include "broker/core/mount_point.hpp"
#include "broker/protocol/topic.hpp"
#include "platform/log.hpp"

namespace tern::core {

using protocol::QoS;
using protocol::ReasonCode;
using protocol::Version;

void Broker::Impl::on_subscribe(Client& c, protocol::Subscribe&& subscribe, TimePoint now) {
  Session& s = *c.session;
  const bool v5 = c.version == Version::v5;
  const std::uint32_t subscription_id =
      subscribe.properties.subscription_identifiers.empty() ? 0 : subscribe.properties.subscription_identifiers[0];

  protocol::Suback ack{.packet_id = subscribe.packet_id};
  ack.reason_codes.reserve(subscribe.subscriptions.size());

  // Retained messages follow the SUBACK, so collect the subscriptions that want them first.
  struct RetainedRequest {
    std::string filter;
    SubscriptionOptions options;
  };
  std::vector<RetainedRequest> retained_requests;

  for (protocol::Subscription& sub : subscribe.subscriptions) {
    if (!protocol::valid_topic_filter(sub.filter)) {  // [MQTT-3.8.3-1]
      ack.reason_codes.push_back(ReasonCode::topic_filter_invalid);
      continue;
    }
    if (c.mount_point()) {
      // The broker's filter from here on (the ACL and the retained messages see it); "site1" + "#" is not one.
      sub.filter = mount_filter(*c.mount_point(), sub.filter);
      if (!protocol::valid_topic_filter(sub.filter)) {
        ack.reason_codes.push_back(ReasonCode::topic_filter_invalid);
        continue;
      }
    }
    const auto shared = protocol::parse_shared(sub.filter);
    if (shared && sub.no_local && v5) {  // 5.0 [MQTT-3.8.3-4]
      protocol_violation(c, ReasonCode::protocol_error, now, "no local on a shared subscription");
      return;
    }
    SubscriptionOptions options;
    // The ACL: a filter of which the client may read nothing is refused; one it may read only in part is checked
    // per topic at delivery.
    const auto readable = coverage(s, sub.filter);
    if (readable == ClientAccess::Coverage::none) {
      TERN_LOG(notice, "Denied SUBSCRIBE from ", s.client_id, " to ", sub.filter, '.');
      ack.reason_codes.push_back(ReasonCode::not_authorized);  // 3.1.1: 0x80
      continue;
    }
    options.readable_all = readable == ClientAccess::Coverage::all;
    options.qos = std::min(sub.max_qos, options_.max_qos);  // granted QoS, at most max_qos
    if (v5) {
      options.no_local = sub.no_local;
      options.retain_as_published = sub.retain_as_published;
      options.retain_handling = sub.retain_handling;
      options.subscription_id = subscription_id;
    }
    if (c.bridge && !shared) {
      options.no_local = true;
      options.retain_as_published = true;
    }
    const bool existed = subscriptions_.subscribe(sub.filter, s.id, options);
    s.subscriptions.mut()[sub.filter] = options;
    store_subscription(s, sub.filter, options);
    ack.reason_codes.push_back(static_cast<ReasonCode>(options.qos));
    TERN_LOG(debug, s.client_id, " subscribed to ", sub.filter, " (QoS ", static_cast<int>(options.qos), ')');

    // Retain handling: 0 always, 1 only for a new subscription, 2 never; never for shared subscriptions
    // (5.0 [MQTT-3.3.1-9], [MQTT-3.3.1-10], [MQTT-3.3.1-11]; shared subscriptions: 5.0 section 4.8.2).
    if (!shared && (options.retain_handling == 0 || (options.retain_handling == 1 && !existed)))
      retained_requests.push_back({std::move(sub.filter), options});
  }
  stats_.subscriptions = subscriptions_.size();
  stats_.shared_subscriptions = subscriptions_.shared_size();
  send(c, ack);
  for (const RetainedRequest& r : retained_requests) send_retained(s, r.filter, r.options, now);
}

void Broker::Impl::send_retained(Session& s, std::string_view filter, const SubscriptionOptions& options,
                                 TimePoint now) {
  std::vector<std::pair<MessagePtr, RetainSourcePtr>> matched;
  retained_.match(filter, [&](const MessagePtr& m, const RetainSourcePtr& source) { matched.emplace_back(m, source); });
  for (const auto& [m, source] : matched) {
    if (m->expired(now)) {
      retained_.erase(m->topic);
      unstore_retained(m->topic);
      continue;
    }
    if (!options.readable_all && !may_read(s, m->topic)) continue;
    if (!retain_source_allowed(source.get(), m->topic)) continue;
    std::vector<std::uint32_t> ids;
    if (options.subscription_id != 0) ids.push_back(options.subscription_id);
    // Retained on subscribe: RETAIN set (3.1.1 [MQTT-3.3.1-8]).
    deliver(s, m, options_.upgrade_outgoing_qos ? options.qos : std::min(m->qos, options.qos), true, std::move(ids),
            now);
  }
  stats_.retained = retained_.size();
}

void Broker::Impl::on_unsubscribe(Client& c, protocol::Unsubscribe&& unsubscribe, TimePoint) {
  Session& s = *c.session;
  protocol::Unsuback ack{.packet_id = unsubscribe.packet_id};
  for (std::string& filter : unsubscribe.filters) {
    if (!protocol::valid_topic_filter(filter)) {
      ack.reason_codes.push_back(ReasonCode::topic_filter_invalid);
      continue;
    }
    if (c.mount_point()) filter = mount_filter(*c.mount_point(), filter);  // as it was subscribed
    const bool existed = subscriptions_.unsubscribe(filter, s.id);
    if (auto* subscriptions = s.subscriptions.if_made()) subscriptions->erase(filter);
    if (existed) unstore_subscription(s, filter);
    ack.reason_codes.push_back(existed ? ReasonCode::success : ReasonCode::no_subscription_existed);
  }
  stats_.subscriptions = subscriptions_.size();
  stats_.shared_subscriptions = subscriptions_.shared_size();
  send(c, ack);  // [MQTT-3.10.4-4]
}

}  // namespace tern::core
