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
    if (!topic.empty()) {
      if (publisher_->aliases.size() < 65535) publisher_->aliases[alias] = publish.topic;
    } else if (const auto it = publisher_->aliases.find(alias); it != publisher_->aliases.end()) {
      topic = it->second;
    }
  }
  if (!rules) rules = shared().rules.rules();
  if (rules->empty() || topic.empty()) return;
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
                               .clientid = publisher_->client_id,
                               .username = &publisher_->username,
                               .user_properties = &publish.properties.user_properties};
  edge::RuleResult result;
  rules->evaluate(view, result, counts);
  if (result.empty()) return;
  auto& outcomes = shard_.rule_outcomes();
  outcomes.push_back({.packet = index, .drop = result.drop, .messages = std::move(result.messages)});
  for (auto& sample : result.samples) shard_.rule_samples().emplace_back(outcomes.size() - 1, std::move(sample));
  for (auto& record : result.stores) shard_.rule_stores().emplace_back(outcomes.size() - 1, std::move(record));
}

}  // namespace tern::net
