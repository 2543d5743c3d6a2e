#include "broker/server/history_service.hpp"

#include <mutex>
#include <nlohmann/json.hpp>

#include "broker/core/utc_time.hpp"
#include "broker/protocol/codec.hpp"
#include "broker/protocol/topic.hpp"
#include "platform/log.hpp"

namespace tern::server {

namespace {

using nlohmann::json;

constexpr const char* client_id = "$tern/history";

// Unix milliseconds from a number or an RFC 3339 UTC time; nullopt if neither.
std::optional<std::int64_t> time_of(const json& v) {
  if (v.is_number_integer()) return v.get<std::int64_t>();
  if (v.is_number()) return static_cast<std::int64_t>(v.get<double>());
  if (!v.is_string()) return std::nullopt;
  return core::parse_rfc3339_utc(v.get<std::string>());
}

}  // namespace

HistoryRequest parse_history_request(std::string_view text) {
  HistoryRequest r;
  const json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    r.error = "the request is not a JSON object";
    return r;
  }
  auto text_field = [&](const char* key, std::string& out) {
    if (!j.contains(key)) return true;
    if (!j[key].is_string()) {
      r.error = std::string("\"") + key + "\" must be a string";
      return false;
    }
    out = j[key].get<std::string>();
    return true;
  };
  if (!text_field("reply_to", r.reply_to) || !text_field("filter", r.query.filter) ||
      !text_field("rule", r.query.rule)) {
    return r;
  }
  if (j.contains("correlation")) {
    r.correlation = j["correlation"].is_string() ? j["correlation"].get<std::string>() : j["correlation"].dump();
  }
  if (!protocol::valid_topic_filter(r.query.filter)) {
    r.error = "\"filter\" is not a topic filter: " + r.query.filter;
    return r;
  }
  for (const auto& [key, out] : {std::pair{"from", &r.query.from_ms}, std::pair{"to", &r.query.to_ms}}) {
    if (!j.contains(key)) continue;
    const auto t = time_of(j[key]);
    if (!t) {
      r.error = std::string("\"") + key + "\" must be Unix milliseconds or an RFC 3339 UTC time";
      return r;
    }
    *out = *t;
  }
  if (j.contains("limit")) {
    if (!j["limit"].is_number_unsigned() || j["limit"].get<std::uint64_t>() == 0) {
      r.error = "\"limit\" must be a positive integer";
      return r;
    }
    r.query.limit = static_cast<std::size_t>(std::min<std::uint64_t>(j["limit"].get<std::uint64_t>(), 1'000'000));
  }
  if (j.contains("order")) {
    const json& order = j["order"];
    if (order != "oldest" && order != "newest") {
      r.error = "\"order\" must be \"oldest\" or \"newest\"";
      return r;
    }
    r.query.newest_first = order == "newest";
  }
  return r;
}

std::string history_answer_json(const persistence::HistoryResult& result,
                                const std::optional<std::string>& correlation) {
  json out = json::object();
  if (correlation) out["correlation"] = *correlation;
  if (!result.error.empty()) {
    out["error"] = result.error;
  } else {
    json rows = json::array();
    for (const auto& row : result.rows) {
      json payload = json::parse(row.payload, nullptr, false);
      if (payload.is_discarded()) payload = row.payload;
      rows.push_back({{"time", core::rfc3339_utc(row.time_ms)},
                      {"time_ms", row.time_ms},
                      {"rule", row.rule},
                      {"topic", row.topic},
                      {"qos", row.qos},
                      {"payload", std::move(payload)}});
    }
    out["rows"] = std::move(rows);
    out["truncated"] = result.truncated;
  }
  return out.dump(-1, ' ', false, json::error_handler_t::replace);
}

HistoryService::HistoryService(net::SharedBroker& shared, persistence::HistoryStore& store)
    : shared_(shared), store_(store) {}

void HistoryService::start() {
  const core::TimePoint now = core::Clock::now();
  std::lock_guard lock(shared_.mutex);
  id_ = shared_.broker.attach(*this, "history service", now);
  shared_.broker.authenticate(id_, core::Authentication{});  // the broker's own client: no password, no ACL
  attached_ = true;
  protocol::Connect connect;
  connect.version = protocol::Version::v5;
  connect.client_id = client_id;
  connect.local = true;
  shared_.broker.on_packet(id_, std::move(connect), now);
  protocol::Subscribe subscribe;
  subscribe.packet_id = 1;
  // QoS 0: this client never falls behind (nothing waits to be written to it), and an acknowledgement would have to
  // enter the broker from inside its own call.
  subscribe.subscriptions.push_back({.filter = std::string(query_topic), .max_qos = protocol::QoS::at_most_once});
  shared_.broker.on_packet(id_, std::move(subscribe), now);
}

void HistoryService::stop() {
  std::lock_guard lock(shared_.mutex);
  if (!attached_) return;
  attached_ = false;
  shared_.broker.detach(id_, core::Clock::now());
}

void HistoryService::close() { attached_ = false; }  // under the lock; the broker detaches it

void HistoryService::wake() {
  store_.post([this] {
    std::lock_guard lock(shared_.mutex);
    if (attached_) shared_.broker.resume(id_, core::Clock::now());
  });
}

void HistoryService::send(std::string_view bytes) {
  in_.append(bytes);
  std::string_view data = in_;
  for (;;) {
    protocol::DecodeResult r = protocol::decode(data, protocol::Version::v5, 0);
    if (r.status != protocol::DecodeResult::Status::packet) break;
    data.remove_prefix(r.consumed);
    if (auto* publish = std::get_if<protocol::Publish>(&r.packet)) request(*publish);  // QoS 0: nothing to ack
  }
  in_.erase(0, in_.size() - data.size());
}

void HistoryService::request(const protocol::Publish& publish) {
  HistoryRequest r = parse_history_request(publish.payload);
  std::string reply_to = publish.properties.response_topic.value_or(r.reply_to);
  std::optional<std::string> correlation = publish.properties.correlation_data.to_optional();
  if (reply_to.empty() || !protocol::valid_topic_name(reply_to)) {
    TERN_LOG(notice, "History query on ", query_topic, " without a valid Response Topic or \"reply_to\": ignored.");
    return;
  }
  const bool v5_correlation = correlation.has_value();
  if (!v5_correlation) correlation = r.correlation;
  if (!r.error.empty()) {  // answered from the store's thread too: this runs under the broker's lock
    store_.post([this, reply_to, correlation, v5_correlation, error = std::move(r.error)] {
      answer(reply_to, v5_correlation ? correlation : std::nullopt,
             history_answer_json({.error = error}, v5_correlation ? std::nullopt : correlation));
    });
    return;
  }
  store_.query(std::move(r.query), [this, reply_to, correlation, v5_correlation](persistence::HistoryResult result) {
    answer(reply_to, v5_correlation ? correlation : std::nullopt,
           history_answer_json(result, v5_correlation ? std::nullopt : correlation));
  });
}

void HistoryService::answer(const std::string& topic, const std::optional<std::string>& correlation,
                            std::string payload) {
  protocol::Publish p;
  p.topic = topic;
  p.payload = std::move(payload);
  p.qos = protocol::QoS::at_least_once;
  p.properties.correlation_data = correlation;
  p.properties.content_type = "application/json";
  std::lock_guard lock(shared_.mutex);  // on the store's thread
  if (!attached_) return;
  p.packet_id = next_id_++;
  if (next_id_ == 0) next_id_ = 1;
  shared_.broker.on_packet(id_, std::move(p), core::Clock::now());
}

}  // namespace tern::server
