// Connection: the local rules on a decoded PUBLISH, evaluated on the shard's thread before the packet enters the
// broker (connection.hpp, "Rules"; core/rule_outcome.hpp for what the broker does with the outcome).
#include <string>

#include "broker/core/mount_point.hpp"
#include "broker/net/connection.hpp"

namespace tern::net {

void Connection::apply_rules(protocol::Publish& publish, std::size_t index, std::shared_ptr<const edge::RuleSet>& rules,
                             edge::RuleCounts& counts) {
  std::string_view topic = publish.topic;
  if (version_ == protocol::Version::v5 && publish.properties.topic_alias) {
    // The broker checks aliases and refuses bad ones; here they only name the topic the rules see.
    const std::uint16_t alias = *publish.properties.topic_alias;
    if (!publisher_) publisher_ = std::make_unique<Publisher>();  // its identity is asked for when a rule needs it
    if (!topic.empty()) {
      if (publisher_->aliases.size() < 65535) publisher_->aliases[alias] = publish.topic;
    } else if (const auto it = publisher_->aliases.find(alias); it != publisher_->aliases.end()) {
      topic = it->second;
    }
  }
  if (!rules) rules = shared().rules.rules();
  if (rules->empty() || topic.empty()) return;
  const Publisher& publisher = identified_publisher();
  std::string mounted;
  if (listener_ && listener_->mount_point && !listener_->mount_point->empty()) {
    mounted = core::mount_topic(*listener_->mount_point, topic);  // the broker's topic, which the rules match
    topic = mounted;
  }
  // RuleSet::evaluate() itself passes over a topic no rule's FROM matches, splitting the topic once for all rules.
  const edge::MessageView view{.topic = topic,
                               .payload = publish.payload,
                               .qos = publish.qos,
                               .retain = publish.retain,
                               .clientid = publisher.client_id,
                               .username = &publisher.username,
                               .user_properties = &publish.properties.user_properties};
  edge::RuleResult result;
  rules->evaluate(view, result, counts);
  if (result.empty()) return;
  auto& outcomes = shard_.rule_outcomes();
  outcomes.push_back({.packet = index, .drop = result.drop, .messages = std::move(result.messages)});
  for (auto& sample : result.samples) shard_.rule_samples().emplace_back(outcomes.size() - 1, std::move(sample));
  for (auto& record : result.stores) shard_.rule_stores().emplace_back(outcomes.size() - 1, std::move(record));
}

// A Publisher made without its CONNECT (the rules came later, by a reload, or a topic alias made it) learns the
// identity from the broker, once. The CONNECT was handed to the broker in an earlier read: a read keeps the rules it
// fetched first, so rules found empty at a CONNECT stay empty for the PUBLISHes after it in that read.
Connection::Publisher& Connection::identified_publisher() {
  if (!publisher_) publisher_ = std::make_unique<Publisher>();
  if (!publisher_->identified) {
    core::Broker::Identity identity;
    {
      std::lock_guard lock(shared().mutex);
      identity = shared().broker.identity(id_);
    }
    publisher_->client_id = std::move(identity.client_id);
    publisher_->username = std::move(identity.username);
    publisher_->identified = true;
  }
  return *publisher_;
}

}  // namespace tern::net
