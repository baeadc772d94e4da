// Tests for gateway/upgrade.hpp: which requests switch protocols through
// the gateway, what goes upstream for them, and which 101s are relayed.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "gateway/upgrade.hpp"

using namespace gateway;

namespace {

http::Request request(std::vector<std::pair<std::string, std::string>> fields, int minor = 1) {
  http::Request r;
  r.method = "GET";
  r.target = "/chat/ws";
  r.version_minor = minor;
  r.headers.add("Host", "x");
  for (const auto& [name, value] : fields) r.headers.add(name, value);
  return r;
}

const std::vector<std::string> kWebsocket = {"websocket"};

}  // namespace

TEST_CASE("decide_upgrade: a WebSocket handshake upgrades on a route that allows it, and only there") {
  struct Case {
    const char* what;
    std::vector<std::pair<std::string, std::string>> fields;
    std::vector<std::string> allowed;
    bool can_tunnel;
    int minor;
    bool tunnel;
    std::string protocols;
    std::string_view why_not;
  };
  const std::vector<Case> cases = {
      {"websocket", {{"Connection", "Upgrade"}, {"Upgrade", "websocket"}}, kWebsocket, true, 1, true, "websocket", ""},
      {"case of token and value", {{"Connection", "keep-alive, UPGRADE"}, {"Upgrade", "WebSocket"}}, kWebsocket, true, 1,
       true, "WebSocket", ""},
      {"versioned product", {{"Connection", "upgrade"}, {"Upgrade", "websocket/13"}}, kWebsocket, true, 1, true,
       "websocket/13", ""},
      {"only the allowed of several, in order", {{"Connection", "upgrade"}, {"Upgrade", "h2c, websocket, foo"}},
       {"foo", "websocket"}, true, 1, true, "websocket, foo", ""},
      {"route allows none", {{"Connection", "upgrade"}, {"Upgrade", "websocket"}}, {}, true, 1, false, "",
       "route allows no upgrade"},
      {"another protocol", {{"Connection", "upgrade"}, {"Upgrade", "h2c"}}, kWebsocket, true, 1, false, "",
       "no offered protocol allowed"},
      {"no Upgrade field", {{"Connection", "upgrade"}}, kWebsocket, true, 1, false, "", "no Upgrade field"},
      {"Connection without upgrade", {{"Connection", "keep-alive"}, {"Upgrade", "websocket"}}, kWebsocket, true, 1,
       false, "", "Connection lacks upgrade"},
      {"no Connection", {{"Upgrade", "websocket"}}, kWebsocket, true, 1, false, "", "Connection lacks upgrade"},
      {"HTTP/1.0", {{"Connection", "upgrade"}, {"Upgrade", "websocket"}}, kWebsocket, true, 0, false, "", "HTTP/1.0"},
      {"downstream cannot tunnel (a fragment, HTTP/2)", {{"Connection", "upgrade"}, {"Upgrade", "websocket"}},
       kWebsocket, false, 1, false, "", "client connection cannot tunnel"},
      {"with a body", {{"Connection", "upgrade"}, {"Upgrade", "websocket"}, {"Content-Length", "3"}}, kWebsocket,
       true, 1, false, "", "request has a body"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.what);
    auto req = request(c.fields, c.minor);
    if (req.headers.contains("Content-Length")) req.content_length = 3;
    auto d = decide_upgrade(req, c.allowed, c.can_tunnel);
    CHECK(d.tunnel == c.tunnel);
    CHECK(d.protocols == c.protocols);
    CHECK(d.why_not == c.why_not);
    if (c.tunnel) CHECK(d.fields == "Upgrade: " + c.protocols + "\r\nConnection: upgrade\r\n");
    else CHECK(d.fields.empty());
  }
}

TEST_CASE("accepts_switch: the 101 must name a protocol the request offered upstream") {
  struct Case {
    const char* upgrade;  // the 101's Upgrade, nullptr: none
    std::string_view offered;
    bool accepted;
  };
  const std::vector<Case> cases = {
      {"websocket", "websocket", true},
      {"WebSocket", "websocket", true},
      {"websocket", "websocket/13", true},
      {"websocket/13", "websocket/13", true},
      {"h2c", "websocket", false},
      {"websocket, h2c", "websocket", false},
      {nullptr, "websocket", false},
      {"", "websocket", false},
  };
  for (const auto& c : cases) {
    CAPTURE(c.upgrade ? c.upgrade : "(none)");
    CAPTURE(c.offered);
    http::Response r;
    r.status = 101;
    if (c.upgrade) r.headers.add("Upgrade", c.upgrade);
    CHECK(accepts_switch(r, c.offered) == c.accepted);
  }
}

TEST_CASE("rewrite_switch_head: hop-by-hop fields go, Upgrade and Connection: upgrade stay for the client") {
  http::Response r;
  r.status = 101;
  r.headers.add("Upgrade", "websocket");
  r.headers.add("Connection", "Upgrade, X-Hop");
  r.headers.add("X-Hop", "1");
  r.headers.add("Keep-Alive", "timeout=5");
  r.headers.add("Sec-WebSocket-Accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  rewrite_switch_head(r);
  CHECK(r.headers.get_all("Upgrade") == "websocket");
  CHECK(r.headers.get_all("Connection") == "upgrade");
  CHECK_FALSE(r.headers.contains("X-Hop"));
  CHECK_FALSE(r.headers.contains("Keep-Alive"));
  CHECK(r.headers.get_all("Sec-WebSocket-Accept") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  CHECK(r.headers.get_all("Via") == "1.1 gateway");
}

TEST_CASE("protocol_name: the name before the version") {
  CHECK(protocol_name("websocket/13") == "websocket");
  CHECK(protocol_name("websocket") == "websocket");
  CHECK(protocol_name("") == "");
}
