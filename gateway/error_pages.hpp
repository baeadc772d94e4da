// Error pages (nginx's error_page, proxy_intercept_errors): HTML files
// read at load that replace the body of an error response. The choice of
// a page is one pure function (page_for: an exact status beats its class);
// respond() (gateway/exchange.hpp), through which the gateway writes every
// response of its own (no route, 502/503/504 from the proxy, a refused
// body, a limit's 429...), asks for it with the page set the exchange
// carries in RequestInfo::error_pages, which serve_route sets from the
// route (or the top-level default) and serve_request for "no route". A
// route with `intercept: true` also replaces its instances' error
// responses, through InterceptDownstream: their body is read and dropped.
//
// Runs on the worker that owns the exchange; the pages are immutable.
#pragma once

#include <algorithm>
#include <array>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "gateway/exchange.hpp"
#include "gateway/forwarding_downstream.hpp"

namespace gateway {

// `error_pages: {404: pages/404.html, 5xx: pages/oops.html}`: a page per
// status (400..599) or per class ("4xx", "5xx").
struct ErrorPages {
  std::map<int, std::shared_ptr<const std::string>> exact;
  std::array<std::shared_ptr<const std::string>, 6> by_class{};  // [status / 100]
  bool intercept = false;  // a route's: replace its instances' errors too

  bool has_pages() const {
    return !exact.empty() || std::any_of(by_class.begin(), by_class.end(), [](const auto& p) { return p != nullptr; });
  }
};

struct RouteConfig;
struct Config;

namespace error_pages {

// Pages are for error statuses only.
inline constexpr int kMinStatus = 400;
inline constexpr int kMaxStatus = 599;
// A page is read whole at load and kept in memory.
inline constexpr std::size_t kMaxPageBytes = 1 << 20;
inline constexpr std::string_view kContentType = "text/html; charset=utf-8";

// The page for `status`: its exact entry, else its class's, else null.
const std::string* page_for(const ErrorPages& pages, int status);

// The pages a route uses: its own if it lists any, else the top-level
// ones (a route's `error_pages: {intercept: true}` keeps the defaults).
const ErrorPages& for_route(const RouteConfig& route, const Config& config);

// The page the gateway sends for its own `status` on this exchange, or null.
inline const std::string* chosen(const RequestInfo& info, int status) {
  return info.error_pages ? page_for(*info.error_pages, status) : nullptr;
}

// A Downstream whose error responses with a page (an instance's, a stored
// one) become that page: the head is replaced, the page goes out with the
// first body write, and the rest of the original body is dropped.
class InterceptDownstream final : public ForwardingDownstream {
 public:
  InterceptDownstream(Downstream& inner, const ErrorPages& pages) : ForwardingDownstream(inner), pages_(pages) {}

  void write_head(http::Response& resp) override;
  void write_head_raw(int status, std::string_view head, std::string_view extra_fields,
                      std::uint64_t content_length) override;
  boost::asio::awaitable<boost::system::error_code> write_file(int fd, std::uint64_t offset, std::uint64_t len,
                                                               bool last) override;
  boost::asio::awaitable<boost::system::error_code> write_body(std::span<const char> data, bool last) override;
  void set_trailer(std::string_view fields) override {
    if (!page_) inner_.set_trailer(fields);
  }

 private:
  // Writes the page's head if `status` has one; whether it did.
  bool replace(int status);
  // The original body: the page goes with its first piece, the rest is dropped.
  boost::asio::awaitable<boost::system::error_code> send_page();

  const ErrorPages& pages_;
  const std::string* page_ = nullptr;  // the page replacing this response's body
  bool page_sent_ = false;
};

}  // namespace error_pages
}  // namespace gateway
