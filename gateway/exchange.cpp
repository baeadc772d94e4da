#include "gateway/exchange.hpp"

#include <string>

#include "gateway/error_pages.hpp"

namespace gateway {

boost::asio::awaitable<boost::system::error_code> respond(Downstream& down, int status, std::string_view body,
                                                          std::string_view content_type) {
  if (const std::string* page = error_pages::chosen(down.info(), status)) {
    body = *page;
    content_type = error_pages::kContentType;
  }
  http::Response resp;
  resp.status = status;
  resp.headers.add("Server", "gateway");
  resp.headers.add("Content-Type", content_type);
  resp.headers.add("Cache-Control", "no-store");
  resp.content_length = body.size();
  down.write_head(resp);
  co_return co_await down.write_body(body, true);
}

}  // namespace gateway
