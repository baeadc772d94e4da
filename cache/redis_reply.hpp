// A Redis reply as the cache library sees it (converted from hiredis's by
// RedisNode): plain values, so that the decisions on replies are pure
// functions (redis_routing.hpp).
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace gateway::cache {

struct RedisReply {
  enum class Type { nil, string, integer, array, status, error };
  Type type = Type::error;
  std::string str;  // string, status, error
  long long integer = 0;
  std::vector<RedisReply> elements;

  bool ok() const noexcept { return type != Type::error; }
  static RedisReply failure(std::string why) { return RedisReply{Type::error, std::move(why), 0, {}}; }
};

}  // namespace gateway::cache
