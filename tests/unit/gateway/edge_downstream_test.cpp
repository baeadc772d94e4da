// Tests for gateway/edge.hpp's RuleDownstream, over a recording Downstream
// (as an HTTP/1.1 connection or an HTTP/2 stream would be): the request its
// handlers see carries the request edits, a response head written as a
// map or as a stored head's text gets the response edits, and the client
// behind trusted proxies is set in the exchange's info.
#include <doctest/doctest.h>

#include <string>

#include "gateway/edge.hpp"

using namespace gateway;

namespace {

class Recorder final : public Downstream {
 public:
  http::Request req;
  RequestInfo information;
  std::string head;  // what reached the connection: fields of a map, or raw text
  int status_ = 0;

  const http::Request& request() const override { return req; }
  std::string_view peer() const override { return "10.0.0.1"; }
  RequestInfo& info() override { return information; }
  boost::asio::awaitable<boost::system::error_code> read_body(std::span<const char>& piece, bool& done) override {
    piece = {};
    done = true;
    co_return boost::system::error_code{};
  }
  bool body_complete() const override { return true; }
  int body_error_status() const override { return 0; }
  void write_head(http::Response& resp) override {
    status_ = resp.status;
    resp.headers.for_each([&](const auto& f) { head.append(f.name).append(": ").append(f.value).append("\r\n"); });
  }
  void write_head_raw(int status, std::string_view h, std::string_view extra, std::uint64_t) override {
    status_ = status;
    head.assign(h).append(extra);
  }
  boost::asio::awaitable<boost::system::error_code> write_file(int, std::uint64_t, std::uint64_t, bool) override {
    co_return boost::system::error_code{};
  }
  boost::asio::awaitable<boost::system::error_code> write_body(std::span<const char>, bool) override {
    co_return boost::system::error_code{};
  }
  bool head_written() const override { return status_ != 0; }
  int status() const override { return status_; }
  void abort() override {}
};

edge::HeaderRules rules() {
  edge::HeaderRules r;
  r.request.set = {{"X-Real-IP", "$remote_addr"}, {"X-Url", "$scheme://$host$request_uri"}};
  r.request.remove = {"Cookie"};
  r.response.remove = {"Server", "X-Cache"};
  r.response.add = {{"Strict-Transport-Security", "max-age=1"}};
  return r;
}

}  // namespace

TEST_SUITE("edge rules") {
  TEST_CASE("RuleDownstream: the request edited for the handlers, the client's own untouched") {
    Recorder client;
    client.req.method = "GET";
    client.req.target = "/a?b";
    client.req.tls = true;
    client.req.headers.add("Host", "Example.com:8443");
    client.req.headers.add("Cookie", "s=1");
    client.information.client = "198.51.100.7";  // as resolve_client found it
    auto r = rules();
    edge::RuleDownstream down(client, r);
    CHECK(down.request().headers.get("X-Real-IP") == "198.51.100.7");
    CHECK(down.request().headers.get("X-Url") == "https://example.com/a?b");
    CHECK_FALSE(down.request().headers.contains("Cookie"));
    CHECK(client.req.headers.contains("Cookie"));
    CHECK(down.peer() == "10.0.0.1");
    CHECK(&down.info() == &client.information);
  }

  TEST_CASE("RuleDownstream: response edits on a head as a map and on a stored head's text") {
    Recorder client;
    auto r = rules();
    {
      edge::RuleDownstream down(client, r);
      http::Response resp;
      resp.status = 502;
      resp.headers.add("Server", "gateway");
      resp.headers.add("Content-Type", "text/plain");
      down.write_head(resp);
      CHECK(down.status() == 502);
      CHECK(client.head == "Content-Type: text/plain\r\nStrict-Transport-Security: max-age=1\r\n");
    }
    {
      edge::RuleDownstream down(client, r);
      down.write_head_raw(200, "HTTP/1.1 200 OK: Server: fine\r\nServer: upstream\r\nETag: \"1\"\r\n",
                          "Age: 5\r\nX-Cache: HIT\r\n", 2);
      CHECK(client.head ==
            "HTTP/1.1 200 OK: Server: fine\r\nETag: \"1\"\r\nAge: 5\r\nStrict-Transport-Security: max-age=1\r\n");
    }
  }

  TEST_CASE("resolve_client: only with trusted_proxies, only when the peer is one") {
    Recorder client;
    client.req.headers.add("X-Forwarded-For", "198.51.100.7");
    Config config;
    edge::resolve_client(client, config);
    CHECK(client.information.client.empty());
    std::string error;
    config.trusted_proxies.push_back(*net::Cidr::parse("10.0.0.0/8", error));
    edge::resolve_client(client, config);
    CHECK(client.information.client == "198.51.100.7");
    CHECK(edge::variables(client).remote_addr == "198.51.100.7");
  }
}
