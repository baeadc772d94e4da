// Tests for gateway/edge_rules: header edits on a HeaderMap and on a stored
// head's text, the variables, the Location of a redirect (a Host with a
// port, none, odd characters, a target that would leave the host), the
// fields refused, and the client address behind trusted proxies.
#include "gateway/edge_rules.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using namespace gateway;
using namespace gateway::edge;

namespace {

std::string fields_of(const http::HeaderMap& h) {
  std::string out;
  h.for_each([&](const http::HeaderMap::Field& f) { out.append(f.name).append(": ").append(f.value).append("\r\n"); });
  return out;
}

std::vector<net::Cidr> ranges(std::initializer_list<const char*> texts) {
  std::vector<net::Cidr> out;
  for (auto t : texts) {
    std::string error;
    auto c = net::Cidr::parse(t, error);
    REQUIRE_MESSAGE(c, error);
    out.push_back(*c);
  }
  return out;
}

// HSTS and CORS added, Server hidden, X-Powered-By replaced.
HeaderEdits edge_response() {
  HeaderEdits e;
  e.remove = {"server", "X-Cache"};
  e.set = {{"X-Powered-By", "gateway"}, {"Strict-Transport-Security", "max-age=63072000"}};
  e.add = {{"Access-Control-Allow-Origin", "*"}, {"Vary", "Origin"}};
  return e;
}

}  // namespace

TEST_SUITE("edge rules") {
  TEST_CASE("header edits: remove, then set (replacing every field of the name), then add") {
    http::HeaderMap h;
    h.add("Server", "nginx");
    h.add("Content-Type", "text/html");
    h.add("X-Powered-By", "PHP");
    h.add("x-powered-by", "again");
    h.add("Vary", "Accept-Encoding");
    apply(edge_response(), h);
    CHECK(fields_of(h) ==
          "Content-Type: text/html\r\nVary: Accept-Encoding\r\nX-Powered-By: gateway\r\n"
          "Strict-Transport-Security: max-age=63072000\r\nAccess-Control-Allow-Origin: *\r\nVary: Origin\r\n");
  }

  TEST_CASE("header edits on a stored head's fields give the same fields as on a map") {
    std::string stored = "Server: nginx\r\nContent-Type: text/html\r\nX-Powered-By: PHP\r\nx-powered-by: again\r\n"
                         "Vary: Accept-Encoding\r\nAge: 3\r\nX-Cache: HIT\r\n";
    CHECK(apply_to_fields(edge_response(), stored) ==
          "Content-Type: text/html\r\nVary: Accept-Encoding\r\nAge: 3\r\nX-Powered-By: gateway\r\n"
          "Strict-Transport-Security: max-age=63072000\r\nAccess-Control-Allow-Origin: *\r\nVary: Origin\r\n");
    CHECK(apply_to_fields(HeaderEdits{}, stored) == stored);
    CHECK(apply_to_fields(edge_response(), "") ==
          "X-Powered-By: gateway\r\nStrict-Transport-Security: max-age=63072000\r\n"
          "Access-Control-Allow-Origin: *\r\nVary: Origin\r\n");
  }

  TEST_CASE("request edits expand variables, and $$ is a dollar") {
    HeaderEdits e;
    e.set = {{"X-Real-IP", "$remote_addr"}, {"X-Origin", "$scheme://$host$request_uri"}, {"X-Price", "$$5"}};
    e.remove = {"Cookie"};
    http::HeaderMap h;
    h.add("Cookie", "a=b");
    h.add("Host", "Shop.Example:8443");
    Variables vars{"https", "Shop.Example:8443", "/cart?x=1", "203.0.113.7"};
    apply(e, h, &vars);
    CHECK(fields_of(h) ==
          "Host: Shop.Example:8443\r\nX-Real-IP: 203.0.113.7\r\nX-Origin: https://shop.example/cart?x=1\r\n"
          "X-Price: $5\r\n");
  }

  TEST_CASE("variables: unknown names and a lone dollar are config errors") {
    CHECK_FALSE(check_variables("https://$host$request_uri"));
    CHECK_FALSE(check_variables("$http_host and $remote_addr, $$ and $scheme"));
    CHECK_FALSE(check_variables("no variables"));
    CHECK(check_variables("$hostname")->find("unknown variable $hostname") != std::string::npos);
    CHECK(check_variables("$uri")->find("unknown variable $uri (variables: $scheme, $host") != std::string::npos);
    CHECK(check_variables("cost: 5$")->find("a '$' without a variable name") != std::string::npos);
    CHECK(check_variables("a\r\nX-Injected: 1")->find("CR, LF or NUL") != std::string::npos);
    CHECK(uses_host("https://$host/"));
    CHECK(uses_host("https://$http_host/"));
    CHECK_FALSE(uses_host("https://example.com$request_uri"));
    CHECK_FALSE(uses_host("$$host"));
  }

  TEST_CASE("redirect Location: the host without its port, the target kept, odd characters encoded") {
    struct Case {
      const char* name;
      const char* to;
      Variables vars;
      std::optional<std::string> location;
    };
    const Case cases[] = {
        {"http to https", "https://$host$request_uri", {"http", "example.com", "/a/b?c=d", "192.0.2.1"},
         "https://example.com/a/b?c=d"},
        {"a Host with a port loses it", "https://$host$request_uri", {"http", "example.com:8080", "/", ""},
         "https://example.com/"},
        {"$http_host keeps it", "https://$http_host$request_uri", {"http", "example.com:8080", "/", ""},
         "https://example.com:8080/"},
        {"an IPv6 literal with a port", "https://$host$request_uri", {"http", "[2001:db8::1]:8080", "/x", ""},
         "https://[2001:db8::1]/x"},
        {"the host lowercased", "https://$host/", {"http", "WWW.Example.COM", "/", ""}, "https://www.example.com/"},
        {"a fixed host needs no Host", "https://www.example.com$request_uri", {"http", "", "/p", ""},
         "https://www.example.com/p"},
        {"no Host, but $host needed", "https://$host$request_uri", {"http", "", "/", ""}, std::nullopt},
        {"a Host with a path in it", "https://$host$request_uri", {"http", "evil.example/x", "/", ""}, std::nullopt},
        {"a Host with userinfo", "https://$host/", {"http", "user@evil.example", "/", ""}, std::nullopt},
        {"a target with odd bytes", "https://$host$request_uri", {"http", "example.com", "/caf\xc3\xa9 x\x7f", ""},
         "https://example.com/caf%C3%A9%20x%7F"},
        {"a target that would name another host", "$request_uri", {"http", "example.com", "//evil.example/x", ""},
         "/evil.example/x"},
        {"a literal // is the user's", "//cdn.example$request_uri", {"http", "example.com", "/x", ""},
         "//cdn.example/x"},
        {"the scheme", "$scheme://example.com/", {"https", "x", "/", ""}, "https://example.com/"},
    };
    for (const auto& c : cases) {
      CAPTURE(std::string(c.name));
      CHECK(redirect_location(c.to, c.vars) == c.location);
    }
  }

  TEST_CASE("fields refused: framing, hop-by-hop, the gateway's own, Host in a response") {
    for (auto name : {"Content-Length", "transfer-encoding", "Connection", "Keep-Alive", "Upgrade", "TE", "Trailer",
                      "Proxy-Connection"}) {
      CAPTURE(std::string(name));
      CHECK(refused_request_field(name));
      CHECK(refused_response_field(name));
    }
    for (auto name : {"X-Forwarded-For", "x-forwarded-proto", "X-Forwarded-Host", "Via"}) {
      CAPTURE(std::string(name));
      CHECK(refused_request_field(name)->find("the gateway writes it itself") != std::string::npos);
      CHECK_FALSE(refused_response_field(name));
    }
    CHECK(refused_response_field("Host")->find("request field") != std::string::npos);
    CHECK_FALSE(refused_request_field("Host"));  // nginx's proxy_set_header Host
    for (auto name : {"Server", "Strict-Transport-Security", "Access-Control-Allow-Origin", "Set-Cookie", "Date",
                      "X-Cache", "Cache-Control"}) {
      CAPTURE(std::string(name));
      CHECK_FALSE(refused_response_field(name));
    }
  }

  TEST_CASE("client address: X-Forwarded-For walked from the right past trusted proxies") {
    const auto trusted = ranges({"10.0.0.0/8", "2001:db8::/32", "127.0.0.1"});
    struct Case {
      const char* name;
      const char* peer;
      const char* xff;
      const char* client;
    };
    const Case cases[] = {
        {"untrusted peer: its claims are not believed", "203.0.113.5", "198.51.100.1", "203.0.113.5"},
        {"trusted peer, one hop", "10.0.0.2", "198.51.100.1", "198.51.100.1"},
        {"trusted peer, no X-Forwarded-For", "10.0.0.2", "", "10.0.0.2"},
        {"a chain of trusted proxies", "10.0.0.2", "198.51.100.1, 10.1.1.1, 10.2.2.2", "198.51.100.1"},
        {"a spoofed leftmost entry stays left", "10.0.0.2", "1.2.3.4, 198.51.100.1, 10.1.1.1", "198.51.100.1"},
        {"all trusted: the leftmost", "10.0.0.2", "10.9.9.9, 10.8.8.8", "10.9.9.9"},
        {"garbage stops the walk at the last trusted hop", "10.0.0.2", "198.51.100.1, junk, 10.1.1.1", "10.1.1.1"},
        {"an address with a port is no address", "10.0.0.2", "198.51.100.1:4711", "10.0.0.2"},
        {"IPv6 hops", "2001:db8::5", "2001:db9::1, 2001:db8::6", "2001:db9::1"},
        {"a mapped IPv4 peer", "::ffff:127.0.0.1", "198.51.100.1", "198.51.100.1"},
        {"empty elements are skipped", "127.0.0.1", "198.51.100.1,, ", "198.51.100.1"},
        {"a peer that is no address", "-", "198.51.100.1", "-"},
    };
    for (const auto& c : cases) {
      CAPTURE(std::string(c.name));
      CHECK(client_address(c.peer, c.xff, trusted) == c.client);
    }
    CHECK(client_address("10.0.0.2", "198.51.100.1", {}) == "10.0.0.2");  // nobody trusted
  }
}
