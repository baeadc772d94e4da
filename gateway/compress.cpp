// The compressing Downstream (see compress.hpp).
#include "gateway/compress.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>

#include "base/http/serializer.hpp"
#include "gateway/config.hpp"

namespace gateway::compress {

namespace {

std::atomic<std::uint64_t> g_streamed_gzip{0};
std::atomic<std::uint64_t> g_streamed_br{0};

}  // namespace

const CompressConfig* config_for(const RouteConfig& route, const Config& config) {
  const CompressConfig& c = route.compress ? *route.compress : config.compress;
  return c.enabled ? &c : nullptr;
}

CompressCounters compressed_counts() { return {g_streamed_gzip.load(), g_streamed_br.load()}; }

// --- The Downstream ----------------------------------------------------------------

CompressDownstream::CompressDownstream(Downstream& inner, const CompressConfig& config)
    : ForwardingDownstream(inner), config_(config) {
  // Several Accept-Encoding fields are one list (RFC 9110 5.3).
  const auto& h = inner.request().headers;
  accepted_ = h.count("Accept-Encoding") > 1 ? negotiate(h.get_all("Accept-Encoding"))
                                              : negotiate(h.get("Accept-Encoding"));
}

CompressDownstream::~CompressDownstream() = default;

void CompressDownstream::write_head(http::Response& resp) {
  const auto facts = facts_of(resp.headers, resp.status, resp.content_length);
  if (!compressible(config_, facts)) {
    inner_.write_head(resp);
    return;
  }
  if (accepted_ == Coding::identity) {
    resp.headers.set("Vary", merge_vary(resp.headers.get_all("Vary")));
    inner_.write_head(resp);
    return;
  }
  edit_head(resp.headers, accepted_);
  resp.content_length.reset();
  resp.chunked = true;
  // A HEAD gets the head a GET would have had, and no body to encode.
  if (!inner_.request().is_head()) {
    encoder_ = Encoder::make(accepted_, config_);
    (accepted_ == Coding::gzip ? g_streamed_gzip : g_streamed_br).fetch_add(1, std::memory_order_relaxed);
  }
  inner_.write_head(resp);
}

void CompressDownstream::write_head_raw(int status, std::string_view head, std::string_view extra_fields,
                                        std::uint64_t content_length) {
  http::Response resp;
  if (!http::parse_response_head(head, resp)) {
    inner_.write_head_raw(status, head, extra_fields, content_length);
    return;
  }
  const auto facts = facts_of(resp.headers, status, content_length);
  if (!compressible(config_, facts)) {
    inner_.write_head_raw(status, head, extra_fields, content_length);
    return;
  }
  if (accepted_ == Coding::identity) {
    // A stored head keeps its bytes: Vary goes as one more field line
    // (RFC 9110 5.3: list fields may repeat), unless it lists it already.
    extra_.assign(extra_fields);
    const auto vary = resp.headers.get_all("Vary");
    if (merge_vary(vary) != vary) extra_ += "Vary: Accept-Encoding\r\n";
    inner_.write_head_raw(status, head, extra_, content_length);
    return;
  }
  http::parse_field_lines(extra_fields, resp.headers);
  resp.status = status;
  resp.content_length = content_length;
  write_head(resp);
}

boost::asio::awaitable<boost::system::error_code> CompressDownstream::write_file(int fd, std::uint64_t offset,
                                                                                 std::uint64_t len, bool last) {
  if (!encoder_) co_return co_await inner_.write_file(fd, offset, len, last);
  if (len == 0) co_return co_await write_body({}, last);
  std::string buf;
  constexpr std::uint64_t kChunk = 64 * 1024;
  while (len > 0) {
    buf.resize(static_cast<std::size_t>(std::min(kChunk, len)));
    ssize_t n = ::pread(fd, buf.data(), buf.size(), static_cast<off_t>(offset));
    if (n <= 0) {
      inner_.abort();
      co_return boost::system::errc::make_error_code(boost::system::errc::io_error);
    }
    offset += static_cast<std::uint64_t>(n);
    len -= static_cast<std::uint64_t>(n);
    auto ec = co_await write_body(std::span<const char>(buf.data(), static_cast<std::size_t>(n)), last && len == 0);
    if (ec) co_return ec;
  }
  co_return boost::system::error_code{};
}

boost::asio::awaitable<boost::system::error_code> CompressDownstream::write_body(std::span<const char> data,
                                                                                 bool last) {
  if (!encoder_) co_return co_await inner_.write_body(data, last);
  out_.clear();
  if (!encoder_->write(std::string_view(data.data(), data.size()), last, out_)) {
    inner_.abort();
    co_return boost::system::errc::make_error_code(boost::system::errc::io_error);
  }
  if (last) encoder_.reset();  // later writes (none expected) go through as they are
  co_return co_await inner_.write_body(out_, last);
}

}  // namespace gateway::compress
