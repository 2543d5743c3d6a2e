#include "tests/integration/harness.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

extern char** environ;

namespace tern::itest {
namespace {

using Clock = std::chrono::steady_clock;

std::chrono::milliseconds remaining(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return left.count() > 0 ? left : 0ms;
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::string first_word(const std::string& line) {
  const auto start = line.find_first_not_of(" \t");
  if (start == std::string::npos) return {};
  const auto end = line.find_first_of(" \t", start);
  return line.substr(start, end == std::string::npos ? std::string::npos : end - start);
}

// Directives tern has and mosquitto 2.0.11 does not: dropped when the tests run against mosquitto.
const std::set<std::string>& tern_only_directives() {
  static const std::set<std::string> names = {"threads", "max_outgoing_topic_alias", "max_outgoing_buffer"};
  return names;
}

std::uint16_t pick_free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    throw HarnessError("bind port 0 failed");
  }
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

int tcp_connect(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw HarnessError(std::string("socket: ") + std::strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    const int err = errno;
    ::close(fd);
    errno = err;
    return -1;
  }
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

const char* status_name(RawClient::ReadResult::Status s) {
  switch (s) {
    case RawClient::ReadResult::Status::packet:
      return "packet";
    case RawClient::ReadResult::Status::timeout:
      return "timeout";
    case RawClient::ReadResult::Status::closed:
      return "closed";
    case RawClient::ReadResult::Status::error:
      return "undecodable bytes";
  }
  return "?";
}

std::vector<char*> to_argv(const std::vector<std::string>& args) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  return argv;
}

}  // namespace

bool testing_mosquitto() {
  const char* v = std::getenv("TERN_TEST_BROKER");
  return v != nullptr && std::string_view(v) == "mosquitto";
}

bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (true) {
    if (pred()) return true;
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(10ms);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// BrokerProcess

BrokerProcess::BrokerProcess(std::vector<std::string> extra_config)
    : extra_config_(std::move(extra_config)), mosquitto_(testing_mosquitto()) {
  std::string tmpl = (std::filesystem::temp_directory_path() / "tern-it-XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) throw HarnessError("mkdtemp failed");
  dir_ = tmpl;
  config_path_ = dir_ / "broker.conf";
  log_path_ = dir_ / "broker.log";
  start();
}

BrokerProcess::~BrokerProcess() {
  try {
    stop();
  } catch (...) {
  }
  if (::testing::Test::HasFailure()) {
    std::string text = log();
    constexpr std::size_t max_shown = 20000;
    if (text.size() > max_shown) text = "...\n" + text.substr(text.size() - max_shown);
    std::cerr << "---- broker log (" << log_path_.string() << ") ----\n" << text << "---- end of broker log ----\n";
  } else {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
}

std::string BrokerProcess::log() const { return read_file(log_path_); }

void BrokerProcess::write_config() {
  std::ofstream out(config_path_, std::ios::trunc);
  bool anonymous_set = false;
  for (const auto& line : extra_config_) anonymous_set |= first_word(line) == "allow_anonymous";
  if (mosquitto_) {
    if (port_ == 0) port_ = pick_free_port();
    out << "listener " << port_ << " 127.0.0.1\n";
    out << "log_dest stderr\n";
    out << "log_type all\n";
  } else {
    out << "listener 0 127.0.0.1\n";
  }
  if (!anonymous_set) out << "allow_anonymous true\n";
  for (const auto& line : extra_config_) {
    if (mosquitto_ && tern_only_directives().contains(first_word(line))) continue;
    out << line << "\n";
  }
}

void BrokerProcess::start() {
  write_config();
  // Only what this start writes is searched for the "listening on" line (a restart appends to the same log).
  std::error_code ec;
  log_offset_ = std::filesystem::exists(log_path_) ? std::filesystem::file_size(log_path_, ec) : 0;
  std::string binary = mosquitto_ ? "/usr/sbin/mosquitto" : TERN_BINARY;
  // A cross-built tern runs under an emulator (cross-toolchains/test-arm.sh): TERN_TEST_BINARY names the broker and
  // TERN_TEST_BROKER_WRAPPER the command put in front of it, split at spaces ("qemu-aarch64 -L /usr/aarch64-linux-gnu").
  if (const char* v = std::getenv("TERN_TEST_BINARY"); v != nullptr && *v != '\0' && !mosquitto_) binary = v;
  std::vector<std::string> args;
  if (const char* v = std::getenv("TERN_TEST_BROKER_WRAPPER"); v != nullptr) {
    std::istringstream words(v);
    for (std::string word; words >> word;) args.push_back(word);
  }
  args.insert(args.end(), {binary, "-c", config_path_.string()});

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  auto argv = to_argv(args);
  pid_t pid = -1;
  const int rc = ::posix_spawnp(&pid, args[0].c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) throw HarnessError("posix_spawn " + args[0] + ": " + std::strerror(rc));
  pid_ = pid;
  port_ = wait_for_port(Clock::now() + 10s);
}

std::uint16_t BrokerProcess::wait_for_port(Clock::time_point deadline) {
  static const std::regex listening(R"(listening on 127\.0\.0\.1:([0-9]+))");
  while (true) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      throw HarnessError("the broker exited during start-up (status " + std::to_string(status) + "); log:\n" + log());
    }
    if (mosquitto_) {
      const int fd = tcp_connect(port_);
      if (fd >= 0) {
        ::close(fd);
        return port_;
      }
    } else {
      std::smatch m;
      const std::string all = log();
      const std::string text = all.size() > log_offset_ ? all.substr(log_offset_) : std::string();
      if (std::regex_search(text, m, listening)) return static_cast<std::uint16_t>(std::stoi(m[1].str()));
    }
    if (Clock::now() >= deadline) throw HarnessError("the broker did not start listening within 10 s; log:\n" + log());
    std::this_thread::sleep_for(10ms);
  }
}

void BrokerProcess::reap(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return;
  const auto deadline = Clock::now() + timeout;
  while (true) {
    int status = 0;
    const pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_ || (r < 0 && errno == ECHILD)) {
      pid_ = -1;
      return;
    }
    if (Clock::now() >= deadline) break;
    std::this_thread::sleep_for(10ms);
  }
  ::kill(pid_, SIGKILL);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
  ADD_FAILURE() << "the broker did not exit within " << timeout.count() << " ms of SIGTERM; killed";
}

void BrokerProcess::stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  reap(5s);
}

std::vector<std::uint16_t> BrokerProcess::ports() const {
  static const std::regex listening(R"(listening on 127\.0\.0\.1:([0-9]+))");
  std::string text;
  // The listeners are all bound before the "running N network threads" line.
  wait_until([&] {
    const std::string all = log();
    text = all.size() > log_offset_ ? all.substr(log_offset_) : std::string();
    return text.find("running ") != std::string::npos;
  });
  std::vector<std::uint16_t> result;
  for (auto it = std::sregex_iterator(text.begin(), text.end(), listening); it != std::sregex_iterator(); ++it) {
    result.push_back(static_cast<std::uint16_t>(std::stoi((*it)[1].str())));
  }
  return result;
}

void BrokerProcess::signal(int number) const {
  if (pid_ > 0) ::kill(pid_, number);
}

void BrokerProcess::kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
}

void BrokerProcess::restart() {
  stop();
  start();
}

// ---------------------------------------------------------------------------------------------------------------
// RawClient

RawClient::RawClient(std::uint16_t port, Version version) : version_(version) {
  fd_ = tcp_connect(port);
  if (fd_ < 0) throw HarnessError("connect to 127.0.0.1:" + std::to_string(port) + ": " + std::strerror(errno));
}

RawClient::~RawClient() { close(); }

void RawClient::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

void RawClient::send_bytes(std::string_view bytes) {
  if (fd_ < 0) throw HarnessError("send on a closed RawClient");
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EPIPE || errno == ECONNRESET) {
        peer_closed_ = true;
        return;
      }
      throw HarnessError(std::string("send: ") + std::strerror(errno));
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
}

void RawClient::send(const Packet& packet) { send_bytes(protocol::encode(packet, version_)); }

RawClient::ReadResult RawClient::read(std::chrono::milliseconds timeout) {
  ReadResult r;
  if (!stash_.empty()) {
    r.status = ReadResult::Status::packet;
    r.packet = std::move(stash_.front());
    stash_.pop_front();
    return r;
  }
  const auto deadline = Clock::now() + timeout;
  while (true) {
    if (!in_.empty()) {
      auto d = protocol::decode(in_, version_, 0);
      if (d.status == protocol::DecodeResult::Status::packet) {
        in_.erase(0, d.consumed);
        r.status = ReadResult::Status::packet;
        r.packet = std::move(d.packet);
        return r;
      }
      if (d.status == protocol::DecodeResult::Status::error) {
        r.status = ReadResult::Status::error;
        r.error = d.error;
        in_.clear();
        return r;
      }
    }
    if (fd_ < 0 || peer_closed_) {
      r.status = ReadResult::Status::closed;
      return r;
    }
    pollfd pfd{fd_, POLLIN, 0};
    const int n = ::poll(&pfd, 1, static_cast<int>(remaining(deadline).count()));
    if (n < 0 && errno == EINTR) continue;
    if (n == 0) {
      r.status = ReadResult::Status::timeout;
      return r;
    }
    std::array<char, 65536> buf{};
    const ssize_t got = ::recv(fd_, buf.data(), buf.size(), 0);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) {
      peer_closed_ = true;  // orderly close, or ECONNRESET
      if (!in_.empty()) continue;
      r.status = ReadResult::Status::closed;
      return r;
    }
    in_.append(buf.data(), static_cast<std::size_t>(got));
  }
}

UnfinishedFlows leave_unfinished_flows(RawClient& s, RawClient& pub, const std::string& topic) {
  pub.publish(topic + "/1", "qos1", QoS::at_least_once);
  pub.publish(topic + "/2", "qos2", QoS::exactly_once);
  pub.publish(topic + "/3", "qos2 pubrec'd", QoS::exactly_once);
  const protocol::Publish p1 = s.receive(answer_timeout, false);
  const protocol::Publish p2 = s.receive(answer_timeout, false);
  const protocol::Publish p3 = s.receive(answer_timeout, false);
  EXPECT_EQ(p1.payload, "qos1");
  EXPECT_EQ(p2.payload, "qos2");
  EXPECT_EQ(p3.payload, "qos2 pubrec'd");
  EXPECT_FALSE(p1.dup);
  EXPECT_FALSE(p2.dup);
  s.send(protocol::Pubrec{p3.packet_id, ReasonCode::success, {}});
  EXPECT_EQ(s.expect<protocol::Pubrel>().packet_id, p3.packet_id);
  return {p1.packet_id, p2.packet_id, p3.packet_id};
}

void expect_flows_resumed(RawClient& s, const UnfinishedFlows& flows) {
  bool saw1 = false;
  bool saw2 = false;
  bool saw_rel3 = false;
  for (int i = 0; i < 3; ++i) {
    auto r = s.read();
    ASSERT_EQ(r.status, RawClient::ReadResult::Status::packet) << describe(r);
    if (auto* p = std::get_if<protocol::Publish>(&r.packet)) {
      EXPECT_TRUE(p->dup) << "a redelivery has DUP 1: " << describe(*p);
      if (p->payload == "qos1") {
        EXPECT_FALSE(saw1) << "twice: " << describe(*p);
        EXPECT_EQ(p->packet_id, flows.qos1);
        EXPECT_EQ(p->qos, QoS::at_least_once);
        saw1 = true;
      } else {
        EXPECT_EQ(p->payload, "qos2") << "the PUBRECed message must continue with PUBREL: " << describe(*p);
        EXPECT_FALSE(saw2) << "twice: " << describe(*p);
        EXPECT_EQ(p->packet_id, flows.qos2);
        EXPECT_EQ(p->qos, QoS::exactly_once);
        saw2 = true;
      }
      s.acknowledge(*p);
    } else if (auto* rel = std::get_if<protocol::Pubrel>(&r.packet)) {
      EXPECT_EQ(rel->packet_id, flows.pubreced);
      s.send(protocol::Pubcomp{flows.pubreced, ReasonCode::success, {}});
      saw_rel3 = true;
    } else {
      ADD_FAILURE() << "unexpected " << describe(r.packet);
    }
  }
  EXPECT_TRUE(saw1) << "the unacknowledged QoS 1 message was not redelivered";
  EXPECT_TRUE(saw2) << "the unacknowledged QoS 2 message was not redelivered";
  EXPECT_TRUE(saw_rel3) << "no PUBREL for the PUBRECed QoS 2 message";
}

Subscriber::Subscriber(std::uint16_t port, Version version, const std::string& client_id, const std::string& filter,
                       QoS qos, Properties connect_properties)
    : RawClient(port, version) {
  connect(client_id, true, 60, std::move(connect_properties));
  subscribe(filter, qos);
}

void publish_once(std::uint16_t port, Version version, const std::string& topic, const std::string& payload, QoS qos) {
  RawClient pub(port, version);
  pub.connect("publish-once");
  pub.publish(topic, payload, qos);
  pub.disconnect();
}

void expect_still_served(std::uint16_t port, RawClient& bystander) {
  publish_once(port, bystander.version(), "ok/after", "still served");
  EXPECT_EQ(bystander.receive().payload, "still served");
}

std::string describe(const Packet& p) {
  std::ostringstream os;
  os << p;
  return os.str();
}

std::string describe(const RawClient::ReadResult& r) {
  if (r.status == RawClient::ReadResult::Status::packet) return describe(r.packet);
  std::string s = status_name(r.status);
  if (r.status == RawClient::ReadResult::Status::error) s += std::string(" (") + reason_code_name(r.error) + ")";
  return s;
}

std::ostream& operator<<(std::ostream& os, RawClient::ReadResult::Status status) { return os << status_name(status); }

void RawClient::require_packet(const ReadResult& r, protocol::PacketType wanted) const {
  if (r.status == ReadResult::Status::packet && protocol::packet_type(r.packet) == wanted) return;
  throw HarnessError(std::string("expected ") + protocol::packet_type_name(wanted) + ", got " + describe(r));
}

Packet RawClient::await_packet(const std::function<bool(const Packet&)>& pred, std::chrono::milliseconds timeout,
                               protocol::PacketType wanted) {
  // Stashed packets are searched first, then new ones are read; non-matching ones keep their order.
  for (auto it = stash_.begin(); it != stash_.end(); ++it) {
    if (pred(*it)) {
      Packet p = std::move(*it);
      stash_.erase(it);
      return p;
    }
  }
  std::deque<Packet> skipped;
  std::swap(skipped, stash_);
  const auto deadline = Clock::now() + timeout;
  while (true) {
    ReadResult r = read(remaining(deadline));
    if (r.status != ReadResult::Status::packet) {
      std::swap(skipped, stash_);
      throw HarnessError(std::string("waiting for ") + protocol::packet_type_name(wanted) + ": got " + describe(r));
    }
    if (pred(r.packet)) {
      std::swap(skipped, stash_);
      return std::move(r.packet);
    }
    skipped.push_back(std::move(r.packet));
  }
}

std::uint16_t RawClient::next_packet_id() {
  if (++last_id_ == 0) last_id_ = 1;
  return last_id_;
}

protocol::Connect RawClient::make_connect(Version v, const std::string& client_id, bool clean, std::uint16_t keep_alive,
                                          Properties properties) {
  protocol::Connect c;
  c.version = v;
  c.client_id = client_id;
  c.clean_start = clean;
  c.keep_alive = keep_alive;
  c.properties = std::move(properties);
  return c;
}

protocol::Connack RawClient::connect(protocol::Connect connect) {
  connect.version = version_;
  send(connect);
  return expect<protocol::Connack>();
}

protocol::Connack RawClient::connect(const std::string& client_id, bool clean, std::uint16_t keep_alive,
                                     Properties properties) {
  return connect(make_connect(version_, client_id, clean, keep_alive, std::move(properties)));
}

protocol::Suback RawClient::subscribe(const std::string& filter, QoS qos, Properties properties) {
  protocol::Subscription s;
  s.filter = filter;
  s.max_qos = qos;
  return subscribe(std::vector<protocol::Subscription>{s}, std::move(properties));
}

protocol::Suback RawClient::subscribe(std::vector<protocol::Subscription> subscriptions, Properties properties) {
  protocol::Subscribe s;
  s.packet_id = next_packet_id();
  s.subscriptions = std::move(subscriptions);
  s.properties = std::move(properties);
  send(s);
  const auto id = s.packet_id;
  auto ack = await<protocol::Suback>([id](const protocol::Suback& a) { return a.packet_id == id; });
  if (ack.reason_codes.size() != s.subscriptions.size()) {
    throw HarnessError("SUBACK has " + std::to_string(ack.reason_codes.size()) + " codes for " +
                       std::to_string(s.subscriptions.size()) + " filters");
  }
  return ack;
}

protocol::Unsuback RawClient::unsubscribe(std::vector<std::string> filters) {
  protocol::Unsubscribe u;
  u.packet_id = next_packet_id();
  u.filters = std::move(filters);
  send(u);
  const auto id = u.packet_id;
  return await<protocol::Unsuback>([id](const protocol::Unsuback& a) { return a.packet_id == id; });
}

std::uint16_t RawClient::publish(const std::string& topic, const std::string& payload, QoS qos, bool retain,
                                 Properties properties) {
  protocol::Publish p;
  p.topic = topic;
  p.payload = payload;
  p.qos = qos;
  p.retain = retain;
  p.properties = std::move(properties);
  p.packet_id = qos == QoS::at_most_once ? 0 : next_packet_id();
  send(p);
  const auto id = p.packet_id;
  if (qos == QoS::at_least_once) {
    auto ack = await<protocol::Puback>([id](const protocol::Puback& a) { return a.packet_id == id; });
    if (protocol::is_error(ack.reason_code)) throw HarnessError("PUBACK with error: " + describe(ack));
  } else if (qos == QoS::exactly_once) {
    auto rec = await<protocol::Pubrec>([id](const protocol::Pubrec& a) { return a.packet_id == id; });
    if (protocol::is_error(rec.reason_code)) throw HarnessError("PUBREC with error: " + describe(rec));
    send(protocol::Pubrel{id, ReasonCode::success, {}});
    await<protocol::Pubcomp>([id](const protocol::Pubcomp& a) { return a.packet_id == id; });
  }
  return id;
}

void RawClient::acknowledge(const protocol::Publish& publish) {
  if (publish.qos == QoS::at_least_once) {
    send(protocol::Puback{publish.packet_id, ReasonCode::success, {}});
  } else if (publish.qos == QoS::exactly_once) {
    const auto id = publish.packet_id;
    send(protocol::Pubrec{id, ReasonCode::success, {}});
    await<protocol::Pubrel>([id](const protocol::Pubrel& a) { return a.packet_id == id; });
    send(protocol::Pubcomp{id, ReasonCode::success, {}});
  }
}

protocol::Publish RawClient::receive(std::chrono::milliseconds timeout, bool ack) {
  auto p = expect<protocol::Publish>(timeout);
  if (ack) acknowledge(p);
  return p;
}

void RawClient::ping() {
  send(protocol::Pingreq{});
  expect<protocol::Pingresp>();
}

void RawClient::expect_silence(std::chrono::milliseconds quiet) {
  ReadResult r = read(quiet);
  if (r.status != ReadResult::Status::timeout) throw HarnessError("expected nothing, got " + describe(r));
  ping();
}

std::optional<protocol::Disconnect> RawClient::expect_closed(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  std::optional<protocol::Disconnect> seen;
  while (true) {
    ReadResult r = read(remaining(deadline));
    switch (r.status) {
      case ReadResult::Status::closed:
        return seen;
      case ReadResult::Status::timeout:
        throw HarnessError("expected the broker to close the connection; still open");
      case ReadResult::Status::error:
        throw HarnessError("expected close, got " + describe(r));
      case ReadResult::Status::packet:
        if (auto* d = std::get_if<protocol::Disconnect>(&r.packet); d != nullptr && version_ == Version::v5 && !seen) {
          seen = *d;
          continue;
        }
        throw HarnessError("expected close, got " + describe(r.packet));
    }
  }
}

protocol::Disconnect RawClient::expect_disconnect(ReasonCode reason, std::chrono::milliseconds timeout) {
  auto d = expect<protocol::Disconnect>(timeout);
  if (d.reason_code != reason) {
    throw HarnessError(std::string("expected DISCONNECT ") + reason_code_name(reason) + ", got " + describe(d));
  }
  expect_closed(timeout);
  return d;
}

void RawClient::expect_disconnected_for(ReasonCode reason, std::chrono::milliseconds timeout) {
  if (version_ == Version::v5) {
    expect_disconnect(reason, timeout);
  } else {
    expect_closed(timeout);
  }
}

void RawClient::disconnect(ReasonCode reason, Properties properties) {
  send(protocol::Disconnect{reason, std::move(properties)});
}

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
void wait_token(const mqtt::token_ptr& token, const char* what) {
  if (!token->wait_for(answer_timeout)) throw HarnessError(std::string("Paho ") + what + " timed out");
}
}  // namespace

PahoClient::PahoClient(std::uint16_t port, const std::string& client_id, Version version) : version_(version) {
  const std::string uri = "tcp://127.0.0.1:" + std::to_string(port);
  const int mqtt_version = version == Version::v5 ? MQTTVERSION_5 : MQTTVERSION_3_1_1;
  client_ = std::make_unique<mqtt::async_client>(uri, client_id, mqtt::create_options(mqtt_version));
  client_->set_message_callback([this](mqtt::const_message_ptr m) { received_.add(std::move(m)); });
}

PahoClient::PahoClient(std::uint16_t port, const std::string& client_id, Version version, mqtt::ssl_options ssl)
    : version_(version), ssl_(std::move(ssl)) {
  const std::string uri = "ssl://127.0.0.1:" + std::to_string(port);
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
  auto token = client_->publish(std::move(message));
  wait_token(token, "publish");
}

void PahoClient::publish(const std::string& topic, const std::string& payload, int qos, bool retain) {
  publish(mqtt::make_message(topic, payload, qos, retain));
}

void PahoClient::disconnect() { wait_token(client_->disconnect(), "disconnect"); }

std::string version_name(const ::testing::TestParamInfo<Version>& info) {
  return info.param == Version::v5 ? "v5" : "v311";
}

// ---------------------------------------------------------------------------------------------------------------
// Commands

namespace {
pid_t spawn_with_pipe(const std::vector<std::string>& args, int& out_fd) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw HarnessError("pipe failed");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 2);
  auto argv = to_argv(args);
  pid_t pid = -1;
  const int rc = ::posix_spawnp(&pid, args[0].c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(fds[1]);
  if (rc != 0) {
    ::close(fds[0]);
    throw HarnessError("posix_spawn " + args[0] + ": " + std::strerror(rc));
  }
  out_fd = fds[0];
  return pid;
}

// Reads the pipe until EOF and reaps the process, both within the deadline; kills it at the deadline.
CommandResult collect(pid_t pid, int fd, std::string output, Clock::time_point deadline) {
  CommandResult result;
  bool eof = false;
  while (!eof) {
    pollfd pfd{fd, POLLIN, 0};
    const int n = ::poll(&pfd, 1, static_cast<int>(remaining(deadline).count()));
    if (n == 0) break;
    if (n < 0) continue;
    char buf[4096];
    const ssize_t got = ::read(fd, buf, sizeof buf);
    if (got <= 0) {
      eof = true;
    } else {
      output.append(buf, static_cast<std::size_t>(got));
    }
  }
  int status = 0;
  bool exited = false;
  while (!exited) {
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      exited = true;
      break;
    }
    if (Clock::now() >= deadline) break;
    std::this_thread::sleep_for(10ms);
  }
  if (!exited) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
    result.exit_code = -1;
  } else {
    result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  ::close(fd);
  result.output = std::move(output);
  return result;
}
}  // namespace

CommandResult run_command(const std::vector<std::string>& argv, std::chrono::milliseconds timeout) {
  int fd = -1;
  const pid_t pid = spawn_with_pipe(argv, fd);
  return collect(pid, fd, {}, Clock::now() + timeout);
}

BackgroundCommand::BackgroundCommand(const std::vector<std::string>& argv) { pid_ = spawn_with_pipe(argv, out_fd_); }

BackgroundCommand::~BackgroundCommand() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
  if (out_fd_ >= 0) ::close(out_fd_);
}

bool BackgroundCommand::wait_for_output(std::string_view needle, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (output_.find(needle) == std::string::npos) {
    pollfd pfd{out_fd_, POLLIN, 0};
    const int n = ::poll(&pfd, 1, static_cast<int>(remaining(deadline).count()));
    if (n == 0) return false;
    if (n < 0) continue;
    char buf[4096];
    const ssize_t got = ::read(out_fd_, buf, sizeof buf);
    if (got <= 0) return output_.find(needle) != std::string::npos;
    output_.append(buf, static_cast<std::size_t>(got));
  }
  return true;
}

CommandResult BackgroundCommand::wait(std::chrono::milliseconds timeout) {
  auto r = collect(pid_, out_fd_, std::move(output_), Clock::now() + timeout);
  pid_ = -1;
  out_fd_ = -1;
  return r;
}

}  // namespace tern::itest
