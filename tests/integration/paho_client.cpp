// PahoClient and MessageCollector: the tests' real client library, Paho MQTT C++ (see harness_detail.hpp for how the
// harness is split).
#include "tests/integration/harness.hpp"

namespace tern::itest {

// ---------------------------------------------------------------------------------------------------------------
// Paho helpers

void MessageCollector::add(mqtt::const_message_ptr message) {
  {
    std::lock_guard lock(mutex_);
    messages_.push_back(std::move(message));
  }
  cv_.notify_all();
}

bool MessageCollector::wait_for(std::size_t n, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  return cv_.wait_for(lock, timeout, [&] { return messages_.size() >= n; });
}

std::vector<mqtt::const_message_ptr> MessageCollector::messages() const {
  std::lock_guard lock(mutex_);
  return messages_;
}

std::size_t MessageCollector::size() const {
  std::lock_guard lock(mutex_);
  return messages_.size();
}

namespace {
// Paho C runs every client of a process in one loop that polls its sockets for up to a second, and a socket it has
// just opened joins the poll set only at the next turn, so one operation can take several such turns. Waiting longer
// than answer_timeout costs nothing when things work.
constexpr std::chrono::milliseconds paho_timeout = 3 * answer_timeout;

void wait_token(const mqtt::token_ptr& token, const std::string& what) {
  if (!token->wait_for(paho_timeout)) {
    throw HarnessError("Paho " + what + " by " + token->get_client()->get_client_id() + " timed out");
  }
}
}  // namespace

PahoClient::PahoClient(std::uint16_t port, const std::string& client_id, Version version)
    : PahoClient("tcp://127.0.0.1:" + std::to_string(port), client_id, version, std::nullopt) {}

PahoClient::PahoClient(std::uint16_t port, const std::string& client_id, Version version, mqtt::ssl_options ssl)
    : PahoClient("ssl://127.0.0.1:" + std::to_string(port), client_id, version, std::move(ssl)) {}

PahoClient::PahoClient(const std::string& uri, const std::string& client_id, Version version,
                       std::optional<mqtt::ssl_options> ssl)
    : version_(version), ssl_(std::move(ssl)) {
  const int mqtt_version = version == Version::v5 ? MQTTVERSION_5 : MQTTVERSION_3_1_1;
  client_ = std::make_unique<mqtt::async_client>(uri, client_id, mqtt::create_options(mqtt_version));
  client_->set_message_callback([this](mqtt::const_message_ptr m) { received_.add(std::move(m)); });
}

PahoClient::~PahoClient() {
  try {
    if (client_->is_connected()) client_->disconnect()->wait_for(2s);
  } catch (...) {
  }
}

mqtt::connect_response PahoClient::connect(bool clean, int keep_alive, mqtt::properties properties,
                                           std::optional<mqtt::will_options> will) {
  mqtt::connect_options opts;
  if (version_ == Version::v5) {
    opts.set_mqtt_version(MQTTVERSION_5);
    opts.set_clean_start(clean);
    opts.set_properties(properties);
  } else {
    opts.set_mqtt_version(MQTTVERSION_3_1_1);
    opts.set_clean_session(clean);
  }
  opts.set_keep_alive_interval(keep_alive);
  opts.set_automatic_reconnect(false);
  if (will) opts.set_will(*will);
  if (ssl_) opts.set_ssl(*ssl_);
  auto token = client_->connect(opts);
  wait_token(token, "connect");
  return token->get_connect_response();
}

std::vector<mqtt::ReasonCode> PahoClient::subscribe(const std::string& filter, int qos, mqtt::subscribe_options options,
                                                    mqtt::properties properties) {
  auto token =
      version_ == Version::v5 ? client_->subscribe(filter, qos, options, properties) : client_->subscribe(filter, qos);
  wait_token(token, "subscribe");
  return token->get_subscribe_response().get_reason_codes();
}

void PahoClient::publish(mqtt::message_ptr message) {
  const std::string what = "publish to " + message->get_topic() + " at QoS " + std::to_string(message->get_qos());
  auto token = client_->publish(std::move(message));
  wait_token(token, what);
}

void PahoClient::publish(const std::string& topic, const std::string& payload, int qos, bool retain) {
  publish(mqtt::make_message(topic, payload, qos, retain));
}

void PahoClient::disconnect() { wait_token(client_->disconnect(), "disconnect"); }

}  // namespace tern::itest
