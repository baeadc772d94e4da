// Tests for cache/redis_routing: Redis Cluster's key slots, the keys of each
// command, the slot map of CLUSTER SLOTS, the routing of replies (MOVED, ASK,
// READONLY...), and the master a Sentinel names. Tables, no Redis.
#include "cache/redis_routing.hpp"

#include <doctest/doctest.h>

using namespace gateway::cache;
using Type = RedisReply::Type;

namespace {

RedisReply str(std::string s) { return RedisReply{Type::string, std::move(s), 0, {}}; }
RedisReply num(long long n) { return RedisReply{Type::integer, {}, n, {}}; }
RedisReply err(std::string s) { return RedisReply{Type::error, std::move(s), 0, {}}; }
RedisReply arr(std::vector<RedisReply> e) { return RedisReply{Type::array, {}, 0, std::move(e)}; }

std::string joined(const std::vector<std::string_view>& v) {
  std::string out;
  for (auto s : v) out += std::string(s) + "|";
  return out;
}

}  // namespace

TEST_SUITE("cache/redis_routing") {

TEST_CASE("key_slot: CRC16 of the key or of its hash tag, modulo 16384") {
  struct Case {
    std::string_view key;
    std::uint16_t slot;
  };
  const Case cases[] = {
      {"123456789", 0x31C3},            // the spec's CRC16 check value
      {"foo", 12182},
      {"bar", 5061},
      {"", 0},
      {"{user1000}.following", 3443},   // hash tag: only "user1000" counts
      {"{user1000}.followers", 3443},
      {"user1000", 3443},
      {"foo{}{bar}", key_slot("foo{}{bar}")},  // empty tag: the whole key (checked below)
      {"foo{{bar}}zap", key_slot("{bar")},     // tag is "{bar"
      {"foo{bar}{zap}", key_slot("bar")},      // first tag only
      {"{unclosed", key_slot("{unclosed")},
  };
  for (const auto& c : cases) {
    CAPTURE(c.key);
    CHECK(key_slot(c.key) == c.slot);
  }
  // Empty tag and unclosed brace hash the whole key, not a part of it.
  CHECK(key_slot("foo{}{bar}") != key_slot("bar"));
  CHECK(key_slot("{unclosed") != key_slot("unclosed"));
}

TEST_CASE("entry_hash_tag: one slot for the keys of one entry, different tags for different keys") {
  std::string key = "GET\x1f" "fleet.test\x1f/a?x={1}";
  std::string tag = entry_hash_tag(key);
  CHECK(tag.size() == 18);
  CHECK(tag.front() == '{');
  CHECK(tag.back() == '}');
  CHECK(tag.find_first_of("*?[]\\", 0) == std::string::npos);
  // The shared tier's keys of one entry: entry (any Vary key), Vary spec, lock.
  CHECK(key_slot("gw:e:" + tag + key + "\x1e") == key_slot("gw:v:" + tag + key));
  CHECK(key_slot("gw:e:" + tag + key + "\x1e" "gzip") == key_slot("gw:l:" + tag + key));
  CHECK(entry_hash_tag(key) == tag);
  CHECK(entry_hash_tag(key + "b") != tag);
}

TEST_CASE("command_keys: the keys each command of the shared tier names") {
  struct Case {
    std::vector<std::string_view> args;
    std::string keys;
  };
  const std::vector<Case> cases = {
      {{"GET", "k"}, "k|"},
      {{"get", "k"}, "k|"},
      {{"SET", "k", "v", "PX", "100"}, "k|"},
      {{"PEXPIRE", "k", "100", "NX"}, "k|"},
      {{"SADD", "t", "m"}, "t|"},
      {{"SMEMBERS", "t"}, "t|"},
      {{"MGET", "a", "b"}, "a|b|"},
      {{"UNLINK", "a", "b", "c"}, "a|b|c|"},
      {{"DEL", "a"}, "a|"},
      {{"EVAL", "script", "1", "lock", "arg"}, "lock|"},
      {{"EVAL", "script", "0", "arg"}, ""},
      {{"EVAL", "script", "3", "k"}, ""},        // numkeys beyond the arguments
      {{"EVAL", "script", "x", "k"}, ""},
      {{"PUBLISH", "ch", "msg"}, ""},
      {{"SCAN", "0", "MATCH", "gw:*"}, ""},
      {{"PING"}, ""},
      {{"GET"}, ""},
      {{}, ""},
  };
  for (const auto& c : cases) {
    CAPTURE(joined(c.args));
    CHECK(joined(command_keys(c.args)) == c.keys);
  }
}

TEST_CASE("route_reply: MOVED, ASK, TRYAGAIN, a demoted master, and everything else") {
  using K = ReplyRoute::Kind;
  struct Case {
    RedisReply reply;
    K kind;
    std::uint16_t slot;
    std::string node;
  };
  const std::vector<Case> cases = {
      {str("value"), K::done, 0, ""},
      {RedisReply{Type::status, "OK", 0, {}}, K::done, 0, ""},
      {RedisReply{Type::nil, {}, 0, {}}, K::done, 0, ""},
      {err("MOVED 3999 127.0.0.1:6381"), K::moved, 3999, "127.0.0.1:6381"},
      {err("ASK 3999 127.0.0.1:6381"), K::ask, 3999, "127.0.0.1:6381"},
      {err("MOVED 16383 redis-2.internal:7000"), K::moved, 16383, "redis-2.internal:7000"},
      {err("MOVED 12 ::1:7001"), K::moved, 12, "[::1]:7001"},       // IPv6 without brackets
      {err("MOVED 16384 127.0.0.1:6381"), K::done, 0, ""},         // no such slot
      {err("MOVED 12 127.0.0.1:0"), K::done, 0, ""},               // no such port
      {err("MOVED 12"), K::done, 0, ""},
      {err("TRYAGAIN Multiple keys request during rehashing of slot"), K::try_again, 0, ""},
      {err("READONLY You can't write against a read only replica."), K::stale, 0, ""},
      {err("MASTERDOWN Link with MASTER is down"), K::stale, 0, ""},
      {err("CLUSTERDOWN The cluster is down"), K::stale, 0, ""},
      {err("ERR unknown command"), K::done, 0, ""},
      {err("redis down"), K::done, 0, ""},                          // the client's own failures
      {err(""), K::done, 0, ""},
  };
  for (const auto& c : cases) {
    CAPTURE(c.reply.str);
    auto r = route_reply(c.reply);
    CHECK(r.kind == c.kind);
    CHECK(r.slot == c.slot);
    CHECK(r.node.text == c.node);
  }
}

TEST_CASE("parse_cluster_slots: ranges and their masters, malformed replies refused") {
  auto node = [](std::string host, long long port) { return arr({str(std::move(host)), num(port), str("id")}); };
  auto good = arr({arr({num(0), num(5460), node("127.0.0.1", 7000), node("127.0.0.1", 7003)}),
                   arr({num(5461), num(10922), node("", 7001)}),
                   arr({num(10923), num(16383), node("?", 7002)})});
  auto slots = parse_cluster_slots(good, "10.0.0.9");
  REQUIRE(slots);
  REQUIRE(slots->size() == 3);
  CHECK((*slots)[0].first == 0);
  CHECK((*slots)[0].last == 5460);
  CHECK((*slots)[0].master.text == "127.0.0.1:7000");
  CHECK((*slots)[1].master.text == "10.0.0.9:7001");  // empty host: the node asked
  CHECK((*slots)[2].master.text == "10.0.0.9:7002");  // "?": unknown endpoint, the node asked
  CHECK((*slots)[2].last == 16383);

  CHECK(parse_cluster_slots(arr({}), "h")->empty());
  const RedisReply bad[] = {
      err("ERR This instance has cluster support disabled"),
      str("x"),
      arr({arr({num(0), num(5460)})}),                                  // no master
      arr({arr({num(10), num(5), node("h", 1)})}),                      // last before first
      arr({arr({num(0), num(16384), node("h", 1)})}),                   // beyond the last slot
      arr({arr({num(-1), num(5), node("h", 1)})}),
      arr({arr({str("0"), num(5), node("h", 1)})}),
      arr({arr({num(0), num(5), arr({str("h")})})}),                   // no port
      arr({arr({num(0), num(5), node("h", 0)})}),
      arr({arr({num(0), num(5), node("h", 70000)})}),
  };
  for (const auto& b : bad) CHECK_FALSE(parse_cluster_slots(b, "h"));
}

TEST_CASE("parse_master_address and parse_switch_master: the master a Sentinel names") {
  auto m = parse_master_address(arr({str("127.0.0.1"), str("6380")}));
  REQUIRE(m);
  CHECK(m->host == "127.0.0.1");
  CHECK(m->port == 6380);
  CHECK(m->text == "127.0.0.1:6380");
  CHECK_FALSE(parse_master_address(RedisReply{Type::nil, {}, 0, {}}));  // unknown master name
  CHECK_FALSE(parse_master_address(err("ERR no such master")));
  CHECK_FALSE(parse_master_address(arr({str("127.0.0.1")})));
  CHECK_FALSE(parse_master_address(arr({str("127.0.0.1"), str("port")})));
  CHECK_FALSE(parse_master_address(arr({str(""), str("6380")})));

  auto s = parse_switch_master("mymaster 127.0.0.1 6379 127.0.0.1 6380", "mymaster");
  REQUIRE(s);
  CHECK(s->text == "127.0.0.1:6380");
  CHECK_FALSE(parse_switch_master("other 127.0.0.1 6379 127.0.0.1 6380", "mymaster"));
  CHECK_FALSE(parse_switch_master("mymaster 127.0.0.1 6379 127.0.0.1", "mymaster"));
  CHECK_FALSE(parse_switch_master("mymaster 127.0.0.1 6379 127.0.0.1 x", "mymaster"));
  CHECK_FALSE(parse_switch_master("", "mymaster"));
}

}
