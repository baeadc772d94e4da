// Redis Cluster and Sentinel decisions (see redis_routing.hpp).
#include "cache/redis_routing.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdio>

namespace gateway::cache {

namespace {

// CRC16/XMODEM (polynomial 0x1021, initial 0), as Redis Cluster's spec gives it.
std::uint16_t crc16(std::string_view s) {
  std::uint16_t crc = 0;
  for (unsigned char c : s) {
    crc ^= static_cast<std::uint16_t>(c << 8);
    for (int i = 0; i < 8; ++i)
      crc = static_cast<std::uint16_t>((crc & 0x8000) ? (crc << 1) ^ 0x1021 : crc << 1);
  }
  return crc;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::toupper(static_cast<unsigned char>(x)) == std::toupper(static_cast<unsigned char>(y));
         });
}

template <class T>
std::optional<T> to_number(std::string_view s) {
  T v{};
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

std::vector<std::string_view> words(std::string_view s) {
  std::vector<std::string_view> out;
  while (!s.empty()) {
    auto start = s.find_first_not_of(' ');
    if (start == std::string_view::npos) break;
    s.remove_prefix(start);
    auto end = s.find(' ');
    out.push_back(s.substr(0, end));
    if (end == std::string_view::npos) break;
    s.remove_prefix(end);
  }
  return out;
}

// "host:port", the host possibly an IPv6 address without brackets.
std::optional<Endpoint> split_endpoint(std::string_view text) {
  auto colon = text.rfind(':');
  if (colon == std::string_view::npos) return std::nullopt;
  std::string_view host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  return make_endpoint(host, text.substr(colon + 1));
}

}  // namespace

std::optional<Endpoint> make_endpoint(std::string_view host, std::string_view port) {
  auto p = to_number<unsigned>(port);
  if (!p || *p == 0 || *p > 65535 || host.empty()) return std::nullopt;
  Endpoint e;
  e.host = std::string(host);
  e.port = static_cast<std::uint16_t>(*p);
  e.text = (host.find(':') != std::string_view::npos ? "[" + e.host + "]" : e.host) + ":" + std::string(port);
  return e;
}

std::uint16_t key_slot(std::string_view key) {
  auto open = key.find('{');
  if (open != std::string_view::npos) {
    auto close = key.find('}', open + 1);
    if (close != std::string_view::npos && close != open + 1) key = key.substr(open + 1, close - open - 1);
  }
  return static_cast<std::uint16_t>(crc16(key) % kClusterSlots);
}

std::string entry_hash_tag(std::string_view cache_key) {
  std::uint64_t h = 14695981039346656037ull;
  for (unsigned char c : cache_key) {
    h ^= c;
    h *= 1099511628211ull;
  }
  char buf[20];
  std::snprintf(buf, sizeof buf, "{%016llx}", static_cast<unsigned long long>(h));
  return buf;
}

std::vector<std::string_view> command_keys(const std::vector<std::string_view>& args) {
  if (args.empty()) return {};
  auto name = args[0];
  for (auto one : {"GET", "SET", "PEXPIRE", "SADD", "SMEMBERS", "PTTL", "EXISTS"})
    if (iequals(name, one)) return args.size() > 1 ? std::vector<std::string_view>{args[1]} : std::vector<std::string_view>{};
  for (auto many : {"MGET", "DEL", "UNLINK"})
    if (iequals(name, many)) return {args.begin() + 1, args.end()};
  if (iequals(name, "EVAL") || iequals(name, "EVALSHA")) {
    auto n = args.size() > 2 ? to_number<std::size_t>(args[2]) : std::nullopt;
    if (!n || *n > args.size() - 3) return {};
    return {args.begin() + 3, args.begin() + 3 + static_cast<std::ptrdiff_t>(*n)};
  }
  return {};
}

ReplyRoute route_reply(const RedisReply& reply) {
  ReplyRoute out;
  if (reply.type != RedisReply::Type::error) return out;
  auto w = words(reply.str);
  if (w.empty()) return out;
  if ((w[0] == "MOVED" || w[0] == "ASK") && w.size() == 3) {
    auto slot = to_number<unsigned>(w[1]);
    auto node = split_endpoint(w[2]);
    if (!slot || *slot >= kClusterSlots || !node) return out;
    out.kind = w[0] == "MOVED" ? ReplyRoute::Kind::moved : ReplyRoute::Kind::ask;
    out.slot = static_cast<std::uint16_t>(*slot);
    out.node = std::move(*node);
  } else if (w[0] == "TRYAGAIN") {
    out.kind = ReplyRoute::Kind::try_again;
  } else if (w[0] == "READONLY" || w[0] == "MASTERDOWN" || w[0] == "CLUSTERDOWN") {
    out.kind = ReplyRoute::Kind::stale;
  }
  return out;
}

std::optional<std::vector<SlotRange>> parse_cluster_slots(const RedisReply& reply, std::string_view asked_host) {
  if (reply.type != RedisReply::Type::array) return std::nullopt;
  std::vector<SlotRange> out;
  for (const auto& r : reply.elements) {
    if (r.type != RedisReply::Type::array || r.elements.size() < 3) return std::nullopt;
    const auto& first = r.elements[0];
    const auto& last = r.elements[1];
    const auto& node = r.elements[2];
    if (first.type != RedisReply::Type::integer || last.type != RedisReply::Type::integer ||
        node.type != RedisReply::Type::array || node.elements.size() < 2 ||
        node.elements[0].type != RedisReply::Type::string || node.elements[1].type != RedisReply::Type::integer)
      return std::nullopt;
    if (first.integer < 0 || last.integer < first.integer || last.integer >= kClusterSlots) return std::nullopt;
    std::string_view host = node.elements[0].str;
    if (host.empty() || host == "?") host = asked_host;
    auto master = make_endpoint(host, std::to_string(node.elements[1].integer));
    if (!master) return std::nullopt;
    out.push_back({static_cast<std::uint16_t>(first.integer), static_cast<std::uint16_t>(last.integer),
                   std::move(*master)});
  }
  return out;
}

std::optional<Endpoint> parse_master_address(const RedisReply& reply) {
  if (reply.type != RedisReply::Type::array || reply.elements.size() != 2) return std::nullopt;
  const auto& host = reply.elements[0];
  const auto& port = reply.elements[1];
  if (host.type != RedisReply::Type::string || port.type != RedisReply::Type::string) return std::nullopt;
  return make_endpoint(host.str, port.str);
}

std::optional<Endpoint> parse_switch_master(std::string_view message, std::string_view name) {
  auto w = words(message);
  if (w.size() != 5 || w[0] != name) return std::nullopt;
  return make_endpoint(w[3], w[4]);
}

}  // namespace gateway::cache
