// mount_point (mosquitto's listener option): every topic of a client connected to a listener with a mount point is
// prefixed with it on the way in and loses it on the way out, so the listener's clients live in their own hierarchy
// under the prefix, and clients elsewhere see their topics with the prefix.
//
//   mount_point site1/        client of that listener          everyone else
//   PUBLISH a/b               routed as site1/a/b              receives site1/a/b
//   SUBSCRIBE a/#             subscribed to site1/a/#
//   SUBSCRIBE $share/g/a/#    member of $share/g/site1/a/#     (the filter part is prefixed, not the group)
//   will on w                 published on site1/w
//   receives site1/a/b as a/b                                  PUBLISH site1/x -> the client's x
//
// What mosquitto 2.0 does, and Tern with it (src/handle_publish.c, handle_subscribe.c, handle_connect.c,
// lib/send_publish.c):
// - The prefix is added after a 5.0 topic alias is resolved: an alias names the client's view of a topic, in both
//   directions.
// - ACL checks see the prefixed topic (mosquitto prefixes before mosquitto_acl_check): publishing, subscribing, the
//   will and every delivery, so an acl_file names a mounted client's topics with their prefix.
// - $SYS: a mounted client's "$SYS/#" becomes "site1/$SYS/#", which the broker's $SYS messages never match: such a
//   client does not see $SYS. Its PUBLISH to "$SYS/x" goes to "site1/$SYS/x", an ordinary topic.
// - The Response Topic property is passed on as it is (mosquitto does not prefix it either).
// Where Tern differs, on purpose:
// - mosquitto prefixes a shared subscription's whole filter ("site1/$share/g/a"), which makes it an ordinary
//   subscription to a topic nobody publishes; Tern prefixes the filter part.
// - mosquitto does not prefix UNSUBSCRIBE filters, so its mounted clients cannot unsubscribe; Tern does.
// - mosquitto strips as many characters as the prefix has from every topic it sends, without checking them. A
//   topic not under the prefix can reach a mounted client only through a session it resumed from another listener;
//   Tern does not send it (counted as not_authorized), so the client never sees outside its hierarchy.
// - A prefix without a trailing '/' is joined as it is ("site1" + "a" = "site1a"), as in mosquitto; a filter that
//   is not valid once joined ("site1" + "#") is refused in the SUBACK (0x8F / 0x80), where mosquitto subscribes it.
//
// Thread safety: stateless functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace tern::core {

// The broker's name for a client's topic: mount_point + topic.
std::string mount_topic(std::string_view mount_point, std::string_view topic);
// The same for a valid topic filter; "$share/GROUP/FILTER" becomes "$share/GROUP/" + mount_point + FILTER.
std::string mount_filter(std::string_view mount_point, std::string_view filter);
// The client's view of the broker's `topic`: without the prefix. nullopt when `topic` is not under it, or is the
// prefix alone (a client's topic is never empty).
std::optional<std::string_view> unmount_topic(std::string_view mount_point, std::string_view topic) noexcept;

}  // namespace tern::core
