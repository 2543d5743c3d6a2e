// The $SYS topics a Tern broker publishes: mosquitto 2.0's $SYS/broker topics (src/sys_tree.c), less the message
// store's (store/messages/count, store/messages/bytes, messages/stored), which Tern does not publish. Written from
// mosquitto's list, not from Tern's code, for the core's test and the end-to-end one alike.
#pragma once

#include <set>
#include <string>

namespace tern::testsupport {

inline std::set<std::string> sys_topics() {
  std::set<std::string> t{"version",
                          "uptime",
                          "clients/total",
                          "clients/maximum",
                          "clients/inactive",
                          "clients/disconnected",
                          "clients/active",
                          "clients/connected",
                          "clients/expired",
                          "subscriptions/count",
                          "shared_subscriptions/count",
                          "retained messages/count",
                          "heap/current",
                          "heap/maximum",
                          "messages/received",
                          "messages/sent",
                          "publish/messages/dropped",
                          "publish/messages/received",
                          "publish/messages/sent",
                          "bytes/received",
                          "bytes/sent",
                          "publish/bytes/received",
                          "publish/bytes/sent"};
  for (const char* load : {"messages/received", "messages/sent", "publish/dropped", "publish/received", "publish/sent",
                           "bytes/received", "bytes/sent", "sockets", "connections"}) {
    for (const char* w : {"1min", "5min", "15min"}) t.insert(std::string("load/") + load + "/" + w);
  }
  std::set<std::string> full;
  for (const auto& x : t) full.insert("$SYS/broker/" + x);
  return full;
}

}  // namespace tern::testsupport
