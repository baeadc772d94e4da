#include "gateway/exchange.hpp"

#include <string>

#include "gateway/error_pages.hpp"

namespace gateway {

namespace {

http::Response own_response(Downstream& down, int status, std::string_view& body, std::string_view content_type) {
  if (const std::string* page = error_pages::chosen(down.info(), status)) {
    body = *page;
    content_type = error_pages::kContentType;
  }
  return own_head(status, content_type, body.size());
}

}  // namespace

http::Response own_head(int status, std::string_view content_type, std::size_t length) {
  http::Response resp;
  resp.status = status;
  resp.headers.add("Server", "gateway");
  resp.headers.add("Content-Type", content_type);
  resp.headers.add("Cache-Control", "no-store");
  resp.content_length = length;
  return resp;
}

boost::asio::awaitable<boost::system::error_code> respond(Downstream& down, int status, std::string_view body,
                                                          std::string_view content_type) {
  http::Response resp = own_response(down, status, body, content_type);
  down.write_head(resp);
  co_return co_await down.write_body(body, true);
}

boost::asio::awaitable<boost::system::error_code> respond(Downstream& down, int status, std::string_view body,
                                                          http::HeaderMap fields) {
  http::Response resp = own_response(down, status, body, "text/plain; charset=utf-8");
  fields.for_each([&](const http::HeaderMap::Field& f) { resp.headers.add(f.name, f.value); });
  down.write_head(resp);
  co_return co_await down.write_body(body, true);
}

boost::asio::awaitable<void> redirect(Downstream& down, int status, std::string_view location) {
  http::Response resp;
  resp.status = status;
  resp.headers.add("Server", "gateway");
  resp.headers.add("Location", location);
  resp.headers.add("Content-Type", "text/plain; charset=utf-8");
  std::string body =
      std::to_string(status) + " " + std::string(http::reason_phrase(status)) + ": " + std::string(location) + "\n";
  resp.content_length = body.size();
  down.write_head(resp);
  co_await down.write_body(body, true);
}

}  // namespace gateway
