// Tests for gateway/error_pages.hpp: the page chosen for a status (exact
// beats class, only 400..599), the pages a route uses (its own, else the
// top level's), and InterceptDownstream replacing an error response's head
// and body while passing others through.
#include <doctest/doctest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <memory>
#include <string>

#include "gateway/config.hpp"
#include "gateway/error_pages.hpp"

using namespace gateway;

namespace {

std::shared_ptr<const std::string> text_page(std::string text) { return std::make_shared<const std::string>(std::move(text)); }

ErrorPages sample_pages() {
  ErrorPages p;
  p.exact[502] = text_page("bad gateway page");
  p.exact[404] = text_page("not found page");
  p.by_class[5] = text_page("oops page");
  return p;
}

class Recorder final : public Downstream {
 public:
  http::Request req;
  RequestInfo information;
  int status_ = 0;
  std::string content_type;
  std::uint64_t length = 0;
  std::string body;
  bool done = false;

  const http::Request& request() const override { return req; }
  std::string_view peer() const override { return "10.0.0.1"; }
  RequestInfo& info() override { return information; }
  boost::asio::awaitable<boost::system::error_code> read_body(std::span<const char>& piece, bool& d) override {
    piece = {};
    d = true;
    co_return boost::system::error_code{};
  }
  bool body_complete() const override { return true; }
  int body_error_status() const override { return 0; }
  void write_head(http::Response& resp) override {
    status_ = resp.status;
    content_type = std::string(resp.headers.get("Content-Type").value_or(""));
    length = resp.content_length.value_or(0);
  }
  void write_head_raw(int status, std::string_view, std::string_view, std::uint64_t content_length) override {
    status_ = status;
    content_type = "raw";
    length = content_length;
  }
  boost::asio::awaitable<boost::system::error_code> write_file(int, std::uint64_t, std::uint64_t len,
                                                               bool last) override {
    body += "<file " + std::to_string(len) + ">";
    done = done || last;
    co_return boost::system::error_code{};
  }
  boost::asio::awaitable<boost::system::error_code> write_body(std::span<const char> data, bool last) override {
    CHECK_FALSE(done);  // nothing after the last piece
    body.append(data.data(), data.size());
    done = done || last;
    co_return boost::system::error_code{};
  }
  bool head_written() const override { return status_ != 0; }
  int status() const override { return status_; }
  void abort() override {}
};

// Writes a response through `down` as the proxy would: a head, then the
// body in two pieces.
void relay(Downstream& down, int status, std::string_view first, std::string_view second) {
  boost::asio::io_context io;
  boost::asio::co_spawn(
      io,
      [&]() -> boost::asio::awaitable<void> {
        http::Response resp;
        resp.status = status;
        resp.headers.add("Content-Type", "application/json");
        resp.content_length = first.size() + second.size();
        down.write_head(resp);
        co_await down.write_body(first, false);
        co_await down.write_body(second, true);
      },
      boost::asio::detached);
  io.run();
}

}  // namespace

TEST_CASE("error pages: page_for picks the exact status over its class, and nothing outside 400..599") {
  const auto pages = sample_pages();
  struct Row {
    int status;
    const char* page;  // null: none
  };
  const Row rows[] = {
      {502, "bad gateway page"}, {503, "oops page"}, {500, "oops page"}, {504, "oops page"},
      {404, "not found page"},   {403, nullptr},     {429, nullptr},     {200, nullptr},
      {301, nullptr},            {600, nullptr},     {399, nullptr},
  };
  for (const auto& row : rows) {
    CAPTURE(row.status);
    const std::string* got = error_pages::page_for(pages, row.status);
    if (row.page) {
      REQUIRE(got != nullptr);
      CHECK(*got == row.page);
    } else {
      CHECK(got == nullptr);
    }
  }
  ErrorPages classes;
  classes.by_class[4] = text_page("client error page");
  CHECK(*error_pages::page_for(classes, 429) == "client error page");
  CHECK(error_pages::page_for(classes, 502) == nullptr);
  CHECK(error_pages::page_for(ErrorPages{}, 404) == nullptr);
}

TEST_CASE("error pages: a route uses its own pages if it lists any, else the top level's") {
  Config config;
  config.error_pages.exact[404] = text_page("top");
  RouteConfig plain;
  CHECK(&error_pages::for_route(plain, config) == &config.error_pages);
  RouteConfig own;
  own.error_pages.emplace().by_class[5] = text_page("route");
  CHECK(&error_pages::for_route(own, config) == &*own.error_pages);
  RouteConfig intercept_only;
  intercept_only.error_pages.emplace().intercept = true;
  CHECK(&error_pages::for_route(intercept_only, config) == &config.error_pages);
}

TEST_CASE("error pages: InterceptDownstream replaces an error with a page, drops its body, passes the rest") {
  const auto pages = sample_pages();
  {
    Recorder rec;
    error_pages::InterceptDownstream down(rec, pages);
    relay(down, 500, "{\"error\":", "\"db down\"}");
    CHECK(rec.status_ == 500);
    CHECK(rec.content_type == error_pages::kContentType);
    CHECK(rec.length == std::string("oops page").size());
    CHECK(rec.body == "oops page");
    CHECK(rec.done);
  }
  {
    Recorder rec;  // no page for 403: the instance's own
    error_pages::InterceptDownstream down(rec, pages);
    relay(down, 403, "{\"a\":", "1}");
    CHECK(rec.status_ == 403);
    CHECK(rec.content_type == "application/json");
    CHECK(rec.body == "{\"a\":1}");
  }
  {
    Recorder rec;  // a stored 502 written as raw text
    error_pages::InterceptDownstream down(rec, pages);
    boost::asio::io_context io;
    boost::asio::co_spawn(
        io,
        [&]() -> boost::asio::awaitable<void> {
          down.write_head_raw(502, "HTTP/1.1 502 Bad Gateway\r\n", "", 100);
          co_await down.write_file(3, 0, 100, true);
        },
        boost::asio::detached);
    io.run();
    CHECK(rec.status_ == 502);
    CHECK(rec.content_type == error_pages::kContentType);
    CHECK(rec.body == "bad gateway page");
  }
}
