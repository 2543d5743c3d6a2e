// Dead letters (dead_letter_topic, Tern's own): a QoS 1/2 message that Tern drops for a client (its queue full, expired
// while queued, larger than the client's Maximum Packet Size, no longer readable under the client's rights) or
// refuses from one (a bridge's backlog full) is published again as PREFIX/<reason>/<original topic>, with the
// original payload, QoS and forwarded properties, plus three user properties for 5.0 subscribers: reason, client_id
// (the client it was meant for, or came from) and time (UTC, RFC 3339). So nothing acknowledged disappears without
// a trace.
//
// A dead letter is made where the drop happens, in the middle of routing, so it waits in dead_letters_ and is routed
// when the call ends (flush_output()), like any message of the broker's own. A dead letter that is dropped in turn
// makes no other: messages on PREFIX/... never become dead letters. dead_letter_rate bounds them with a token
// bucket (a second's worth at most): past it drops are only counted (BrokerStats::dead_letters_suppressed), so a
// flood of drops cannot become a flood of dead letters.
#include <algorithm>
#include <string>

#include "broker/core/broker_impl.hpp"
#include "broker/core/utc_time.hpp"
#include "broker/protocol/codec.hpp"

namespace tern::core {

using protocol::QoS;

void Broker::Impl::dead_letter(std::string_view reason, const MessagePtr& message, QoS qos,
                               const std::string& client_id, TimePoint now) {
  const std::string& prefix = options_.dead_letter_topic;
  if (prefix.empty()) return;
  const std::string_view topic = message->topic;
  if (topic.size() > prefix.size() && topic.starts_with(prefix) && topic[prefix.size()] == '/') return;
  if (options_.dead_letter_rate != 0) {
    const double rate = options_.dead_letter_rate;
    const double elapsed = std::chrono::duration<double>(now - dead_letter_filled_).count();
    dead_letter_tokens_ = std::min(rate, dead_letter_tokens_ + (elapsed > 0 ? elapsed * rate : 0));
    dead_letter_filled_ = now;
    if (dead_letter_tokens_ < 1) {
      ++stats_.dead_letters_suppressed;
      return;
    }
    dead_letter_tokens_ -= 1;
  }
  auto m = std::make_shared<Message>();
  m->topic.reserve(prefix.size() + reason.size() + topic.size() + 2);
  m->topic.append(prefix).append("/").append(reason).append("/").append(topic);
  m->payload = message->payload;
  m->qos = std::min(qos, options_.max_qos);
  m->forward_properties = message->forward_properties;
  protocol::Properties why;
  why.user_properties = {
      {"reason", std::string(reason)}, {"client_id", client_id}, {"time", rfc3339_utc(to_wall(now))}};
  protocol::encode_properties(why, m->forward_properties);
  dead_letters_.push_back({std::move(m), now});
}

void Broker::Impl::publish_dead_letters() {
  // Bounded: routing a dead letter may drop it for someone, which makes no new one (see dead_letter()).
  while (!dead_letters_.empty()) {
    std::vector<DeadLetter> letters;
    letters.swap(dead_letters_);
    for (DeadLetter& letter : letters) {
      route(letter.message, letter.at);
      ++stats_.dead_letters;
    }
  }
}

}  // namespace tern::core
