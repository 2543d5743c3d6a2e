#include "broker/bridge/bridge.hpp"

#include <algorithm>
#include <utility>
#include <variant>

#include "broker/protocol/codec.hpp"
#include "broker/protocol/reason_codes.hpp"
#include "broker/protocol/topic.hpp"

namespace tern::bridge {

using protocol::Packet;
using protocol::QoS;
using protocol::ReasonCode;
using protocol::Version;

namespace {

constexpr std::uint32_t session_never_expires = 0xFFFFFFFF;

}  // namespace

void fill_defaults(BridgeSettings& s, std::string_view host_name) {
  if (s.remote_clientid.empty()) s.remote_clientid = std::string(host_name) + "." + s.name;
  if (s.local_clientid.empty()) s.local_clientid = "local." + s.remote_clientid;
  if (s.notification_topic.empty()) s.notification_topic = "$SYS/broker/connection/" + s.remote_clientid + "/state";
}

Bridge::Bridge(BridgeSettings settings) : settings_(std::move(settings)) {}

void Bridge::send_remote(const Packet& packet, Output& out) const {
  protocol::encode(packet, settings_.protocol, out.remote);
}

// The next packet id after `counter` that `in_use` does not hold (1..65535, wrapping).
template <class Map>
std::uint16_t next_free(std::uint16_t& counter, const Map& in_use) {
  for (;;) {
    counter = static_cast<std::uint16_t>(counter == 65535 ? 1 : counter + 1);
    if (!in_use.contains(counter)) return counter;
  }
}

const BridgeSettings::Topic* Bridge::outgoing_topic(const std::string& local_topic) const {
  for (const auto& t : settings_.topics) {
    if (t.outgoing() && protocol::topic_matches(t.local_prefix + t.pattern, local_topic)) return &t;
  }
  return nullptr;
}

const BridgeSettings::Topic* Bridge::incoming_topic(const std::string& remote_topic) const {
  for (const auto& t : settings_.topics) {
    if (t.incoming() && protocol::topic_matches(t.remote_prefix + t.pattern, remote_topic)) return &t;
  }
  return nullptr;
}

protocol::Publish Bridge::notification(bool up) const {
  return protocol::Publish{
      .topic = settings_.notification_topic, .payload = up ? "1" : "0", .qos = QoS::at_most_once, .retain = true};
}

void Bridge::local_session(Output& out) const {
  out.attach_local = true;
  protocol::Connect local;
  local.version = Version::v5;
  local.client_id = settings_.local_clientid;
  local.clean_start = settings_.local_clean();
  local.keep_alive = 0;
  if (!settings_.local_clean()) local.properties.session_expiry_interval = session_never_expires;
  out.local.push_back(std::move(local));
  protocol::Subscribe subscribe{.packet_id = 1};
  for (const auto& t : settings_.topics) {
    if (!t.outgoing()) continue;
    subscribe.subscriptions.push_back(protocol::Subscription{
        .filter = t.local_prefix + t.pattern, .max_qos = t.qos, .no_local = true, .retain_as_published = true});
  }
  if (!subscribe.subscriptions.empty()) out.local.push_back(std::move(subscribe));
}

void Bridge::prime(Output& out) const {
  if (settings_.local_clean()) return;  // a clean session would be gone again at once
  local_session(out);
  out.detach_local = true;
  out.priming = true;
}

void Bridge::remote_opened(Output& out) {
  up_ = false;
  ping_outstanding_ = false;
  protocol::Connect connect;
  connect.version = settings_.protocol;
  connect.bridge = settings_.try_private && settings_.protocol != Version::v5;
  connect.clean_start = settings_.cleansession;
  connect.keep_alive = settings_.keepalive;
  connect.client_id = settings_.remote_clientid;
  connect.username = settings_.remote_username;
  connect.password = settings_.remote_password;
  if (settings_.protocol == Version::v5 && !settings_.cleansession) {
    connect.properties.session_expiry_interval = session_never_expires;
  }
  if (settings_.notifications && !settings_.notifications_local_only) {
    // The upstream says "0" for us when we vanish; "1" follows the CONNACK.
    connect.will = protocol::Will{
        .topic = settings_.notification_topic, .payload = "0", .qos = QoS::at_least_once, .retain = true};
  }
  send_remote(connect, out);
}

void Bridge::on_remote(Packet&& packet, Output& out) {
  if (auto* connack = std::get_if<protocol::Connack>(&packet)) {
    if (connack->reason_code != ReasonCode::success) {
      out.failure =
          "the upstream refused the connection: " +
          (settings_.protocol == Version::v5 ? std::string(protocol::reason_code_name(connack->reason_code))
                                             : "return code " + std::to_string(static_cast<int>(connack->reason_code)));
      return;
    }
    up_ = true;
    // Upstream: the `in` topics, and the notification.
    protocol::Subscribe subscribe{.packet_id = 1};
    for (const auto& t : settings_.topics) {
      if (!t.incoming()) continue;
      subscribe.subscriptions.push_back(protocol::Subscription{.filter = t.remote_prefix + t.pattern,
                                                               .max_qos = t.qos,
                                                               .no_local = settings_.protocol == Version::v5,
                                                               .retain_as_published = true});
    }
    if (!subscribe.subscriptions.empty()) send_remote(subscribe, out);
    if (settings_.notifications && !settings_.notifications_local_only) {
      protocol::Publish up = notification(true);
      up.qos = QoS::at_least_once;
      up.packet_id = next_free(remote_ids_, outgoing_);
      send_remote(up, out);  // its PUBACK finds no crossing and is ignored
    }
    // Locally: the client whose session holds what waits to go out, and the `out` topics.
    local_session(out);
    if (settings_.notifications) out.local_state = "1";
    return;
  }
  if (auto* publish = std::get_if<protocol::Publish>(&packet)) {
    const BridgeSettings::Topic* topic = incoming_topic(publish->topic);
    if (topic == nullptr) {
      // Not ours (a subscription of an earlier configuration the upstream session kept): acknowledged, dropped.
      if (publish->qos == QoS::at_least_once) send_remote(protocol::Puback{.packet_id = publish->packet_id}, out);
      if (publish->qos == QoS::exactly_once) send_remote(protocol::Pubrec{.packet_id = publish->packet_id}, out);
      return;
    }
    if (publish->qos == QoS::exactly_once) {
      // A resent QoS 2 PUBLISH whose first copy is still crossing is not forwarded twice.
      const bool crossing = std::any_of(incoming_.begin(), incoming_.end(), [&](const auto& entry) {
        return entry.second.qos == QoS::exactly_once && entry.second.other_id == publish->packet_id;
      });
      if (crossing) return;
    }
    protocol::Publish local{.topic = topic->local_prefix + publish->topic.substr(topic->remote_prefix.size()),
                            .payload = std::move(publish->payload),
                            .qos = std::min(publish->qos, topic->qos),
                            .retain = publish->retain};
    local.properties = std::move(publish->properties);
    local.properties.topic_alias.reset();
    local.properties.subscription_identifiers.clear();
    if (local.qos != QoS::at_most_once) {
      local.packet_id = next_free(local_ids_, incoming_);
      incoming_[local.packet_id] = Crossing{publish->packet_id, publish->qos};
    } else if (publish->qos == QoS::at_least_once) {
      send_remote(protocol::Puback{.packet_id = publish->packet_id}, out);  // capped to QoS 0 here: done
    } else if (publish->qos == QoS::exactly_once) {
      send_remote(protocol::Pubrec{.packet_id = publish->packet_id}, out);
    }
    out.local.push_back(std::move(local));
    return;
  }
  if (auto* puback = std::get_if<protocol::Puback>(&packet)) {
    if (auto it = outgoing_.find(puback->packet_id); it != outgoing_.end()) {
      out.local.push_back(protocol::Puback{.packet_id = it->second.other_id});
      outgoing_.erase(it);
    }
    return;
  }
  if (auto* pubrec = std::get_if<protocol::Pubrec>(&packet)) {
    send_remote(protocol::Pubrel{.packet_id = pubrec->packet_id}, out);
    if (auto it = outgoing_.find(pubrec->packet_id); it != outgoing_.end()) {
      out.local.push_back(protocol::Pubrec{.packet_id = it->second.other_id});
    }
    return;
  }
  if (auto* pubcomp = std::get_if<protocol::Pubcomp>(&packet)) {
    outgoing_.erase(pubcomp->packet_id);
    return;
  }
  if (auto* pubrel = std::get_if<protocol::Pubrel>(&packet)) {
    // The upstream released an incoming QoS 2 message: the local broker has it (its PUBREC came before ours went).
    send_remote(protocol::Pubcomp{.packet_id = pubrel->packet_id}, out);
    return;
  }
  if (std::holds_alternative<protocol::Pingresp>(packet)) {
    ping_outstanding_ = false;
    return;
  }
  if (auto* disconnect = std::get_if<protocol::Disconnect>(&packet)) {
    out.failure =
        "the upstream disconnected the bridge: " + std::string(protocol::reason_code_name(disconnect->reason_code));
    return;
  }
  // SUBACK, UNSUBACK: nothing to do (a refused subscription is the upstream's ACL speaking; its CONNACK was fine).
}

void Bridge::on_local(Packet&& packet, Output& out) {
  if (auto* publish = std::get_if<protocol::Publish>(&packet)) {
    const BridgeSettings::Topic* topic = outgoing_topic(publish->topic);
    if (topic == nullptr || !up_) {
      // Not a topic of ours (an older subscription of the persistent local session), or the link just went: the
      // local session keeps it (no acknowledgement) and resends it after the next attach.
      if (topic == nullptr && publish->qos == QoS::at_least_once) {
        out.local.push_back(protocol::Puback{.packet_id = publish->packet_id});
      }
      if (topic == nullptr && publish->qos == QoS::exactly_once) {
        out.local.push_back(protocol::Pubrec{.packet_id = publish->packet_id});
      }
      return;
    }
    protocol::Publish remote{.topic = topic->remote_prefix + publish->topic.substr(topic->local_prefix.size()),
                             .payload = std::move(publish->payload),
                             .qos = publish->qos,
                             .retain = settings_.outgoing_retain && publish->retain};
    if (settings_.protocol == Version::v5) {
      remote.properties = std::move(publish->properties);
      remote.properties.topic_alias.reset();
      remote.properties.subscription_identifiers.clear();
    }
    if (settings_.max_packet_size != 0) {
      // bridge_max_packet_size: what the upstream would not take is not forwarded (and not kept: it never would be).
      std::string encoded;
      protocol::encode(remote, settings_.protocol, encoded);
      if (encoded.size() > settings_.max_packet_size) {
        out.dropped_oversize = true;
        if (publish->qos == QoS::at_least_once) out.local.push_back(protocol::Puback{.packet_id = publish->packet_id});
        if (publish->qos == QoS::exactly_once) out.local.push_back(protocol::Pubrec{.packet_id = publish->packet_id});
        return;
      }
    }
    if (remote.qos != QoS::at_most_once) {
      remote.packet_id = next_free(remote_ids_, outgoing_);
      outgoing_[remote.packet_id] = Crossing{publish->packet_id, publish->qos};
    }
    send_remote(remote, out);
    return;
  }
  if (auto* pubrel = std::get_if<protocol::Pubrel>(&packet)) {
    out.local.push_back(protocol::Pubcomp{.packet_id = pubrel->packet_id});
    return;
  }
  // The local broker took an incoming message (stored, with persistence): the upstream hears it now, as its QoS
  // (kept in the crossing: the local copy may have a lower one) asks.
  auto acknowledge_upstream = [&](std::uint16_t local_id) {
    if (auto it = incoming_.find(local_id); it != incoming_.end()) {
      if (it->second.qos == QoS::exactly_once) {
        send_remote(protocol::Pubrec{.packet_id = it->second.other_id}, out);
      } else {
        send_remote(protocol::Puback{.packet_id = it->second.other_id}, out);
      }
      return it;
    }
    return incoming_.end();
  };
  // The local broker refused an incoming message (memory_limit's Quota exceeded, say): the upstream must not hear
  // that it arrived. The link ends without that acknowledgement, so the upstream sends it again after the
  // reconnection, when the broker may take it.
  auto refused = [&](ReasonCode reason) {
    if (static_cast<std::uint8_t>(reason) < 0x80) return false;
    out.failure = std::string("the local broker refused an incoming message (") + protocol::reason_code_name(reason) +
                  "); the upstream keeps it and sends it again";
    return true;
  };
  if (auto* puback = std::get_if<protocol::Puback>(&packet)) {
    if (refused(puback->reason_code)) return;
    if (auto it = acknowledge_upstream(puback->packet_id); it != incoming_.end()) incoming_.erase(it);
    return;
  }
  if (auto* pubrec = std::get_if<protocol::Pubrec>(&packet)) {
    if (refused(pubrec->reason_code)) return;
    out.local.push_back(protocol::Pubrel{.packet_id = pubrec->packet_id});
    acknowledge_upstream(pubrec->packet_id);
    return;
  }
  if (auto* pubcomp = std::get_if<protocol::Pubcomp>(&packet)) {
    incoming_.erase(pubcomp->packet_id);
    return;
  }
  if (auto* connack = std::get_if<protocol::Connack>(&packet)) {
    if (connack->reason_code != ReasonCode::success) {
      out.failure = "the local session was refused: " + std::string(protocol::reason_code_name(connack->reason_code));
    }
    return;
  }
  if (auto* disconnect = std::get_if<protocol::Disconnect>(&packet)) {
    out.failure = "the local session ended: " + std::string(protocol::reason_code_name(disconnect->reason_code));
    return;
  }
  // SUBACK and the rest: nothing to do.
}

void Bridge::keepalive(Output& out) {
  if (ping_outstanding_) {
    out.failure = "the upstream did not answer a PINGREQ within keepalive_interval (" +
                  std::to_string(settings_.keepalive) + " s)";
    return;
  }
  ping_outstanding_ = true;
  send_remote(protocol::Pingreq{}, out);
}

void Bridge::remote_lost(Output& out) {
  if (up_) {
    if (settings_.notifications) out.local_state = "0";
    out.detach_local = true;
  }
  up_ = false;
  ping_outstanding_ = false;
  outgoing_.clear();
  incoming_.clear();
}

}  // namespace tern::bridge
