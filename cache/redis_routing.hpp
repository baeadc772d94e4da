// The decisions of Redis beyond one server, as pure functions (table tests in
// tests/unit/cache/redis_routing_test.cpp):
//   Cluster   which slot a key lives in (CRC16 of its hash tag), which keys
//             a command names, the slot map a CLUSTER SLOTS reply gives,
//             and what a reply asks for (MOVED: the slot moved for good,
//             ASK: ask another node once, after ASKING);
//   Sentinel  the master a Sentinel names (SENTINEL get-master-addr-by-name
//             and its +switch-master messages), and the replies that say a
//             client talks to a master that is one no more (READONLY).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/units.hpp"
#include "cache/redis_reply.hpp"

namespace gateway::cache {

constexpr std::uint16_t kClusterSlots = 16384;

// The slot of `key`: CRC16 (XMODEM) of its hash tag (what lies between its
// first '{' and the next '}', if that is not empty), else of the whole key;
// modulo 16384.
std::uint16_t key_slot(std::string_view key);

// A hash tag for every key of one cache entry ("{" + 16 hex digits of the
// cache key's FNV-1a hash + "}"): its entry, Vary and lock keys share one
// slot, so MGET and the unlock script work on a cluster. Holds no glob
// character: "{*}" matches it in SCAN patterns.
std::string entry_hash_tag(std::string_view cache_key);

// The keys a command names, for the commands the shared tier sends: GET,
// SET, PEXPIRE, SADD, SMEMBERS (one key), MGET, DEL, UNLINK (every argument),
// EVAL (its numkeys keys). Empty for keyless ones (PUBLISH, SCAN, PING...),
// which any node serves.
std::vector<std::string_view> command_keys(const std::vector<std::string_view>& args);

// What a reply asks of the client that got it.
struct ReplyRoute {
  enum class Kind {
    done,       // a reply (success or an error to pass on)
    moved,      // MOVED <slot> <host:port>: the slot lives there now; ask there
    ask,        // ASK <slot> <host:port>: ask there once, after ASKING
    try_again,  // TRYAGAIN: a slot being migrated; the caller may retry once
    stale,      // READONLY / MASTERDOWN / CLUSTERDOWN: the topology changed; rediscover it
  };
  Kind kind = Kind::done;
  std::uint16_t slot = 0;
  Endpoint node;  // moved, ask
};
ReplyRoute route_reply(const RedisReply& reply);

// One range of a cluster's slot map and the master serving it.
struct SlotRange {
  std::uint16_t first = 0;
  std::uint16_t last = 0;
  Endpoint master;
};
// A CLUSTER SLOTS reply ([[first, last, [host, port, id, ...], replicas...],
// ...]); a master's empty or "?" host is `asked_host` (the node that
// answered). nullopt if malformed.
std::optional<std::vector<SlotRange>> parse_cluster_slots(const RedisReply& reply, std::string_view asked_host);

// SENTINEL get-master-addr-by-name: [host, port]; nullopt for nil (the
// Sentinel does not know the name) or a malformed reply.
std::optional<Endpoint> parse_master_address(const RedisReply& reply);
// A +switch-master message ("<name> <old host> <old port> <new host> <new
// port>"): the new master if it is about `name`.
std::optional<Endpoint> parse_switch_master(std::string_view message, std::string_view name);

// "host:port" as an Endpoint; nullopt if the port is not 1..65535.
std::optional<Endpoint> make_endpoint(std::string_view host, std::string_view port);

}  // namespace gateway::cache
