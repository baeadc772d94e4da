// The admin API of upstream membership (nginx Plus's /api/.../upstreams,
// HAProxy's runtime API), on the admin listener:
//   GET    /upstreams                                 groups and their instances
//   POST   /upstreams/<group>/instances               {"address": "10.0.0.1:80", "weight": 2}
//   DELETE /upstreams/<group>/instances/<address>     removed at once
//   PATCH  /upstreams/<group>/instances/<address>     {"weight": 3} and/or {"drain": true}
// Reading a request is a pure function (parse_upstreams_request); changes
// are applied by the server's main thread (gateway/fleet.hpp), for every
// worker; GET reads the worker's current Runtime.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "base/units.hpp"

namespace gateway {

struct Runtime;

struct UpstreamsRequest {
  enum class Kind { list, add, remove, patch } kind = Kind::list;
  std::string group;          // empty for list: every group
  Endpoint address;           // add, remove, patch
  std::optional<int> weight;  // add (default 1), patch
  bool drain = false;         // patch
};

// An answer: its status and JSON body.
struct AdminReply {
  int status = 200;
  std::string body;
};
// {"error": reason} with its status.
AdminReply admin_error(int status, std::string_view reason);

// `path` without the query. Errors: 404 (no such endpoint), 405 (method),
// 400 (body not a JSON object of the keys above, address not IP:port,
// weight not 1..1000, a PATCH that changes nothing).
std::variant<UpstreamsRequest, AdminReply> parse_upstreams_request(std::string_view method, std::string_view path,
                                                                   std::string_view body);

// GET /upstreams: every group, its instances with address, weight, state
// (up, ejected, down, draining), in-flight requests and source.
std::string upstreams_json(const Runtime& rt);

}  // namespace gateway
