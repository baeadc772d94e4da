#include "gateway/error_pages.hpp"

#include "gateway/config.hpp"

namespace gateway::error_pages {

const std::string* page_for(const ErrorPages& pages, int status) {
  if (status < kMinStatus || status > kMaxStatus) return nullptr;
  if (auto it = pages.exact.find(status); it != pages.exact.end()) return it->second.get();
  return pages.by_class[static_cast<std::size_t>(status / 100)].get();
}

const ErrorPages& for_route(const RouteConfig& route, const Config& config) {
  return route.error_pages && route.error_pages->has_pages() ? *route.error_pages : config.error_pages;
}

bool InterceptDownstream::replace(int status) {
  page_ = page_for(pages_, status);
  if (!page_) return false;
  http::Response resp = own_head(status, kContentType, page_->size());
  inner_.write_head(resp);
  return true;
}

void InterceptDownstream::write_head(http::Response& resp) {
  if (!replace(resp.status)) inner_.write_head(resp);
}

void InterceptDownstream::write_head_raw(int status, std::string_view head, std::string_view extra_fields,
                                         std::uint64_t content_length) {
  if (!replace(status)) inner_.write_head_raw(status, head, extra_fields, content_length);
}

boost::asio::awaitable<boost::system::error_code> InterceptDownstream::send_page() {
  if (page_sent_) co_return boost::system::error_code{};
  page_sent_ = true;
  co_return co_await inner_.write_body(*page_, true);
}

boost::asio::awaitable<boost::system::error_code> InterceptDownstream::write_file(int fd, std::uint64_t offset,
                                                                                  std::uint64_t len, bool last) {
  if (page_) return send_page();
  return inner_.write_file(fd, offset, len, last);
}

boost::asio::awaitable<boost::system::error_code> InterceptDownstream::write_body(std::span<const char> data,
                                                                                  bool last) {
  if (page_) return send_page();
  return inner_.write_body(data, last);
}

}  // namespace gateway::error_pages
