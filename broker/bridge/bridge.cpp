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

// The ids of the bridge's own packets upstream: its SUBSCRIBE and its "1".
constexpr std::uint16_t subscribe_id = 1;
constexpr std::uint16_t notification_id = 2;

// A topic with `from` (which it starts with) replaced by `to`; without prefixes the same string, not a copy.
std::string renamed(std::string&& topic, const std::string& from, const std::string& to) {
  if (from.empty() && to.empty()) return std::move(topic);
  std::string result = to;
  result.append(topic, from.size());
  return result;
}

}  // namespace

void fill_defaults(BridgeSettings& s, std::string_view host_name) {
  if (s.remote_clientid.empty()) s.remote_clientid = std::string(host_name) + "." + s.name;
  if (s.local_clientid.empty()) s.local_clientid = "local." + s.remote_clientid;
  if (s.notification_topic.empty()) s.notification_topic = "$SYS/broker/connection/" + s.remote_clientid + "/state";
}

Bridge::Bridge(BridgeSettings settings) : settings_(std::move(settings)) {
  for (const auto& t : settings_.topics) {
    local_filters_.push_back(t.local_prefix + t.pattern);
    remote_filters_.push_back(t.remote_prefix + t.pattern);
  }
}

void Bridge::send_remote(const Packet& packet, Output& out) const {
  protocol::encode(packet, settings_.protocol, out.remote);
}

void Bridge::Output::clear() noexcept {
  std::vector<Packet> packets = std::move(local);
  std::string bytes = std::move(remote);
  *this = Output{};
  packets.clear();
  bytes.clear();
  local = std::move(packets);
  remote = std::move(bytes);
}

const BridgeSettings::Topic* Bridge::outgoing_topic(std::string_view local_topic) const {
  for (std::size_t i = 0; i < settings_.topics.size(); ++i) {
    if (settings_.topics[i].outgoing() && protocol::topic_matches(local_filters_[i], local_topic)) {
      return &settings_.topics[i];
    }
  }
  return nullptr;
}

const BridgeSettings::Topic* Bridge::incoming_topic(std::string_view remote_topic) const {
  for (std::size_t i = 0; i < settings_.topics.size(); ++i) {
    if (settings_.topics[i].incoming() && protocol::topic_matches(remote_filters_[i], remote_topic)) {
      return &settings_.topics[i];
    }
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
  local.local = true;   // no keep alive imposed by max_keepalive: it may stay quiet for as long as no message flows
  local.bridge = true;  // no-local, retain-as-published, and its ids are the upstream's (see the header)
  // The local broker sends the bridge no more at once than the upstream takes.
  if (remote_window_ != 0 && remote_window_ != 65535) local.properties.receive_maximum = remote_window_;
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

bool Bridge::holds(std::uint16_t id) const { return std::find(own_ids_.begin(), own_ids_.end(), id) != own_ids_.end(); }

void Bridge::release(std::uint16_t id, Output& out) {
  own_ids_.erase(std::remove(own_ids_.begin(), own_ids_.end(), id), own_ids_.end());
  if (!own_ids_.empty()) return;
  std::vector<Packet> waiting = std::move(held_);
  held_.clear();
  for (Packet& p : waiting) on_local(std::move(p), out);
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
    remote_window_ = settings_.max_inflight;
    if (settings_.protocol == Version::v5) {
      remote_window_ = std::min(remote_window_, connack->properties.receive_maximum.value_or(65535));
    }
    // Upstream: the `in` topics, and the notification.
    protocol::Subscribe subscribe{.packet_id = subscribe_id};
    for (const auto& t : settings_.topics) {
      if (!t.incoming()) continue;
      subscribe.subscriptions.push_back(protocol::Subscription{.filter = t.remote_prefix + t.pattern,
                                                               .max_qos = t.qos,
                                                               .no_local = settings_.protocol == Version::v5,
                                                               .retain_as_published = true});
    }
    if (!subscribe.subscriptions.empty()) {
      send_remote(subscribe, out);
      own_ids_.push_back(subscribe_id);
    }
    if (settings_.notifications && !settings_.notifications_local_only) {
      protocol::Publish up = notification(true);
      up.qos = QoS::at_least_once;
      up.packet_id = notification_id;
      send_remote(up, out);
      own_ids_.push_back(notification_id);
    }
    // Locally: the client whose session holds what waits to go out, and the `out` topics.
    local_session(out);
    if (settings_.notifications) out.local_state = "1";
    return;
  }
  if (auto* publish = std::get_if<protocol::Publish>(&packet)) {
    const BridgeSettings::Topic* topic = incoming_topic(publish->topic);
    const QoS local_qos = topic == nullptr ? QoS::at_most_once : std::min(publish->qos, topic->qos);
    if (local_qos == QoS::at_most_once) {
      // Not ours (a subscription of an earlier configuration the upstream session kept: dropped), or made QoS 0
      // here: done with upstream at once.
      if (publish->qos == QoS::at_least_once) send_remote(protocol::Puback{.packet_id = publish->packet_id}, out);
      if (publish->qos == QoS::exactly_once) send_remote(protocol::Pubrec{.packet_id = publish->packet_id}, out);
      if (topic == nullptr) return;
    }
    if (publish->qos == QoS::exactly_once && local_qos == QoS::at_least_once) {
      downgraded_.insert(publish->packet_id);
    }
    protocol::Publish local{.topic = renamed(std::move(publish->topic), topic->remote_prefix, topic->local_prefix),
                            .payload = std::move(publish->payload),
                            .qos = local_qos,
                            .retain = publish->retain,
                            .dup = local_qos != QoS::at_most_once && publish->dup,
                            .packet_id = local_qos == QoS::at_most_once ? std::uint16_t{0} : publish->packet_id};
    out.relayed = true;
    local.properties = std::move(publish->properties);
    local.properties.topic_alias.reset();
    local.properties.subscription_identifiers.clear();
    out.local.push_back(std::move(local));
    return;
  }
  // Acknowledgements of outgoing messages, relayed with their id; those of the bridge's own packets release it.
  if (auto* puback = std::get_if<protocol::Puback>(&packet)) {
    if (holds(puback->packet_id)) {
      release(puback->packet_id, out);
      return;
    }
    if (static_cast<std::uint8_t>(puback->reason_code) >= 0x80) out.refused_upstream = puback->reason_code;
    out.local.push_back(protocol::Puback{.packet_id = puback->packet_id, .reason_code = puback->reason_code});
    return;
  }
  if (auto* pubrec = std::get_if<protocol::Pubrec>(&packet)) {
    if (static_cast<std::uint8_t>(pubrec->reason_code) >= 0x80) out.refused_upstream = pubrec->reason_code;
    out.local.push_back(protocol::Pubrec{.packet_id = pubrec->packet_id, .reason_code = pubrec->reason_code});
    return;
  }
  if (auto* pubcomp = std::get_if<protocol::Pubcomp>(&packet)) {
    out.local.push_back(protocol::Pubcomp{.packet_id = pubcomp->packet_id});
    return;
  }
  if (auto* pubrel = std::get_if<protocol::Pubrel>(&packet)) {
    // The upstream released an incoming QoS 2 message: the local session hears it, and its PUBCOMP goes back.
    out.local.push_back(protocol::Pubrel{.packet_id = pubrel->packet_id});
    return;
  }
  if (auto* suback = std::get_if<protocol::Suback>(&packet)) {
    // A refused subscription is the upstream's ACL speaking; its CONNACK was fine.
    if (holds(suback->packet_id)) release(suback->packet_id, out);
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
  // UNSUBACK and the rest: nothing to do.
}

void Bridge::on_local(Packet&& packet, Output& out) {
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
  // The link just went: the local session keeps what it sent, and sends it again after the next attach.
  if (!up_) return;
  if (!own_ids_.empty() &&
      (std::holds_alternative<protocol::Publish>(packet) || std::holds_alternative<protocol::Pubrel>(packet))) {
    held_.push_back(std::move(packet));  // all of them, so that they keep their order
    return;
  }
  if (auto* publish = std::get_if<protocol::Publish>(&packet)) {
    // As on_local_publish() does it, with the properties encoded here; a topic alias and subscription identifiers
    // belong to the local connection and stay behind.
    std::string properties;
    if (settings_.protocol == Version::v5) {
      publish->properties.topic_alias.reset();
      publish->properties.subscription_identifiers.clear();
      protocol::encode_properties(publish->properties, properties);
    }
    forward(protocol::PublishView{.topic = publish->topic,
                                  .payload = publish->payload,
                                  .qos = publish->qos,
                                  .retain = publish->retain,
                                  .dup = publish->dup,
                                  .packet_id = publish->packet_id,
                                  .encoded_properties = properties},
            out);
    return;
  }
  if (auto* pubrel = std::get_if<protocol::Pubrel>(&packet)) {
    // Upstream too when the message never went there (done locally above): it answers an unknown id with a PUBCOMP.
    send_remote(protocol::Pubrel{.packet_id = pubrel->packet_id}, out);
    return;
  }
  // The local broker's answers to incoming messages, relayed upstream with their id. A refusal (memory_limit's or
  // the bridge backlog's Quota exceeded) must not reach the upstream as an acknowledgement: the link ends without
  // one, so the upstream sends the message again after the reconnection, when the broker may take it.
  auto refused = [&](ReasonCode reason) {
    if (static_cast<std::uint8_t>(reason) < 0x80) return false;
    out.failure = std::string("the local broker refused an incoming message (") + protocol::reason_code_name(reason) +
                  "); the upstream keeps it and sends it again";
    return true;
  };
  if (auto* puback = std::get_if<protocol::Puback>(&packet)) {
    if (refused(puback->reason_code)) return;
    if (downgraded_.erase(puback->packet_id) != 0) {
      send_remote(protocol::Pubrec{.packet_id = puback->packet_id}, out);
    } else {
      send_remote(protocol::Puback{.packet_id = puback->packet_id}, out);
    }
    return;
  }
  if (auto* pubrec = std::get_if<protocol::Pubrec>(&packet)) {
    if (refused(pubrec->reason_code)) return;
    send_remote(protocol::Pubrec{.packet_id = pubrec->packet_id}, out);
    return;
  }
  if (auto* pubcomp = std::get_if<protocol::Pubcomp>(&packet)) {
    // Also for an id the local session did not know (its copy was QoS 1, or finished before a crash): the upstream's
    // PUBREL is answered all the same.
    send_remote(protocol::Pubcomp{.packet_id = pubcomp->packet_id}, out);
    return;
  }
  // SUBACK and the rest: nothing to do.
}

bool Bridge::on_local_publish(const protocol::PublishView& publish, Output& out) {
  if (!up_ || !own_ids_.empty()) return false;
  forward(publish, out);
  return true;
}

void Bridge::forward(const protocol::PublishView& local, Output& out) const {
  // Not a topic of ours (an older subscription of the persistent local session), or too large for the upstream
  // (bridge_max_packet_size): done with locally, never forwarded.
  auto done_locally = [&] {
    if (local.qos == QoS::at_least_once) out.local.push_back(protocol::Puback{.packet_id = local.packet_id});
    if (local.qos == QoS::exactly_once) out.local.push_back(protocol::Pubrec{.packet_id = local.packet_id});
  };
  const BridgeSettings::Topic* topic = outgoing_topic(local.topic);
  if (topic == nullptr) {
    done_locally();
    return;
  }
  protocol::PublishView remote{.topic = local.topic,
                               .payload = local.payload,
                               .qos = local.qos,
                               .retain = settings_.outgoing_retain && local.retain,
                               .dup = local.dup,
                               .packet_id = local.packet_id,
                               .encoded_properties = local.encoded_properties};
  std::string renamed_topic;
  if (!topic->local_prefix.empty() || !topic->remote_prefix.empty()) {
    renamed_topic = topic->remote_prefix;
    renamed_topic.append(local.topic.substr(topic->local_prefix.size()));
    remote.topic = renamed_topic;
  }
  if (settings_.max_packet_size != 0 &&
      protocol::publish_size(remote, settings_.protocol) > settings_.max_packet_size) {
    out.dropped_oversize = true;
    done_locally();
    return;
  }
  protocol::encode_publish(remote, settings_.protocol, out.remote);
  out.relayed = true;
}

void Bridge::disconnect(Output& out) const {
  if (settings_.notifications && !settings_.notifications_local_only) send_remote(notification(false), out);
  send_remote(protocol::Disconnect{}, out);
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
  own_ids_.clear();
  held_.clear();
  downgraded_.clear();
}

}  // namespace tern::bridge
