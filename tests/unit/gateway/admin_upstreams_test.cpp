// Tests for gateway/admin_upstreams: reading an admin API request on
// /upstreams (method, path, JSON body) into a change or an error, as a
// table.
#include "gateway/admin_upstreams.hpp"

#include <doctest/doctest.h>

using namespace gateway;

TEST_CASE("admin upstreams: requests and their errors") {
  using Kind = UpstreamsRequest::Kind;
  struct Row {
    const char* method;
    const char* path;
    const char* body;
    int status;            // 0: parsed
    Kind kind = Kind::list;
    const char* address = "";
  };
  const Row rows[] = {
      {"GET", "/upstreams", "", 0, Kind::list},
      {"GET", "/upstreams/", "", 0, Kind::list},
      {"GET", "/upstreams/app", "", 0, Kind::list},
      {"GET", "/upstreams/app/instances", "", 0, Kind::list},
      {"POST", "/upstreams", "", 405},
      {"POST", "/upstreams/app/instances", R"({"address": "127.0.0.1:9001", "weight": 2})", 0, Kind::add,
       "127.0.0.1:9001"},
      {"POST", "/upstreams/app/instances", R"({"address":"[::1]:9001"})", 0, Kind::add, "[::1]:9001"},
      {"POST", "/upstreams/app/instances", R"({"weight": 2})", 400},
      {"POST", "/upstreams/app/instances", R"({"address": "svc.test:80"})", 400},
      {"POST", "/upstreams/app/instances", R"({"address": "127.0.0.1"})", 400},
      {"POST", "/upstreams/app/instances", R"({"address": "127.0.0.1:99999"})", 400},
      {"POST", "/upstreams/app/instances", R"({"address": 5})", 400},
      {"POST", "/upstreams/app/instances", R"({"address": "127.0.0.1:9001", "weight": 0})", 400},
      {"POST", "/upstreams/app/instances", R"({"address": "127.0.0.1:9001", "weight": 1001})", 400},
      {"POST", "/upstreams/app/instances", R"({"address": "127.0.0.1:9001", "weight": "2"})", 400},
      {"POST", "/upstreams/app/instances", R"({"address": "127.0.0.1:9001", "color": "red"})", 400},
      {"POST", "/upstreams/app/instances", R"({"address": "127.0.0.1:9001")", 400},
      {"POST", "/upstreams/app/instances", R"({"address": "127.0.0.1:9001"} x)", 400},
      {"POST", "/upstreams/app/instances", "", 400},
      {"PUT", "/upstreams/app/instances", "{}", 405},
      {"DELETE", "/upstreams/app/instances/127.0.0.1:9001", "", 0, Kind::remove, "127.0.0.1:9001"},
      {"DELETE", "/upstreams/app/instances/nothing", "", 400},
      {"PATCH", "/upstreams/app/instances/127.0.0.1:9001", R"({"weight": 3})", 0, Kind::patch, "127.0.0.1:9001"},
      {"PATCH", "/upstreams/app/instances/127.0.0.1:9001", R"({"drain": true})", 0, Kind::patch, "127.0.0.1:9001"},
      {"PATCH", "/upstreams/app/instances/127.0.0.1:9001", R"({"drain": "yes"})", 400},
      {"PATCH", "/upstreams/app/instances/127.0.0.1:9001", R"({})", 400},
      {"PATCH", "/upstreams/app/instances/127.0.0.1:9001", R"({"address": "127.0.0.1:9002"})", 400},
      {"GET", "/upstreams/app/instances/127.0.0.1:9001", "", 405},
      {"GET", "/upstreams/app/members", "", 404},
      {"GET", "/upstreams/app/instances/127.0.0.1:9001/x", "", 404},
  };
  for (const auto& r : rows) {
    INFO(r.method << " " << r.path << " " << r.body);
    auto parsed = parse_upstreams_request(r.method, r.path, r.body);
    if (r.status) {
      REQUIRE(std::holds_alternative<AdminReply>(parsed));
      const auto& reply = std::get<AdminReply>(parsed);
      CHECK(reply.status == r.status);
      CHECK(reply.body.find("{\"error\":") == 0);
    } else {
      REQUIRE(std::holds_alternative<UpstreamsRequest>(parsed));
      const auto& req = std::get<UpstreamsRequest>(parsed);
      CHECK(req.kind == r.kind);
      CHECK(req.address.text == r.address);
    }
  }
}

TEST_CASE("admin upstreams: what a request carries") {
  auto add = std::get<UpstreamsRequest>(
      parse_upstreams_request("POST", "/upstreams/app/instances", R"({"address": "127.0.0.1:9001", "weight": 2})"));
  CHECK(add.group == "app");
  CHECK(add.weight == 2);
  CHECK(add.address.host == "127.0.0.1");
  CHECK(add.address.port == 9001);
  auto patch = std::get<UpstreamsRequest>(
      parse_upstreams_request("PATCH", "/upstreams/app/instances/127.0.0.1:9001", R"({"weight": 3, "drain": true})"));
  CHECK(patch.weight == 3);
  CHECK(patch.drain);
  auto plain = std::get<UpstreamsRequest>(
      parse_upstreams_request("POST", "/upstreams/app/instances", R"({"address": "127.0.0.1:9001"})"));
  CHECK_FALSE(plain.weight);
}
