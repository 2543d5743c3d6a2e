// The history query over MQTT (issue 24): a client of the broker's own, subscribed to $tern/history/query, that
// answers each request with the records of the history store (persistence/history_store.hpp) it asks for.
//
// Request (a PUBLISH to $tern/history/query, JSON payload; every field optional):
//   {"filter": "sensors/#", "rule": "temps", "from": "2026-12-06T00:00:00Z", "to": 1733529600000, "limit": 100,
//    "order": "oldest"|"newest", "reply_to": "my/replies", "correlation": "42"}
// from / to: Unix milliseconds or an RFC 3339 UTC time; limit at most 10,000 (default 100). The answer goes to the
// request's 5.0 Response Topic with its Correlation Data, or (3.1.1, which has neither) to "reply_to" with
// "correlation" echoed in the answer:
//   {"rows": [{"time": "2026-12-06T21:41:09.123Z", "time_ms": 1796593269123, "rule": "temps",
//              "topic": "sensors/kitchen/temp", "qos": 1, "payload": {"t": 21.5}}], "truncated": false}
// A payload that is JSON is given as that JSON, any other as a string (bytes that are not UTF-8 replaced). A request
// that cannot be read gets {"error": "..."} (when it says where to answer).
//
// Rights: the requester needs the ACL's write right on $tern/history/query and read on its reply topic; the answer
// itself is published by the broker's own client, which the ACL does not restrict, at QoS 1.
//
// Threads: the broker hands this client the requests under its lock (send()); each is decoded there and handed to
// the store, whose thread runs the query and publishes the answer under the broker's lock.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

#include "broker/core/broker.hpp"
#include "broker/net/shared_broker.hpp"
#include "persistence/history_store.hpp"

namespace tern::server {

class HistoryService final : public core::ConnectionSink {
 public:
  static constexpr std::string_view query_topic = "$tern/history/query";

  HistoryService(net::SharedBroker& shared, persistence::HistoryStore& store);
  HistoryService(const HistoryService&) = delete;
  HistoryService& operator=(const HistoryService&) = delete;

  void start();  // attaches, connects and subscribes (takes the broker's lock)
  void stop();   // detaches (takes the broker's lock); answers still coming are dropped

  // core::ConnectionSink: called under the broker's lock.
  void send(std::string_view bytes) override;
  void close() override;
  std::size_t pending_bytes() const noexcept override { return 0; }
  void wake() override;  // resumes on the store's thread, as answers are sent

 private:
  void request(const protocol::Publish& publish);
  void answer(const std::string& topic, const std::optional<std::string>& correlation, std::string payload);

  net::SharedBroker& shared_;
  persistence::HistoryStore& store_;
  core::ConnectionId id_ = 0;
  bool attached_ = false;  // under the broker's lock
  std::string in_;         // under the broker's lock: bytes of an unfinished packet
  std::uint16_t next_id_ = 1;
};

// The parts of a request, for tests: the query and where to answer (empty: nowhere), or an error.
struct HistoryRequest {
  persistence::HistoryQuery query;
  std::string reply_to;
  std::optional<std::string> correlation;  // 3.1.1: echoed in the answer
  std::string error;
};
HistoryRequest parse_history_request(std::string_view json);
std::string history_answer_json(const persistence::HistoryResult& result,
                                const std::optional<std::string>& correlation);

}  // namespace tern::server
