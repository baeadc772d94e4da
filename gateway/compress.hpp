// Response compression applied to an exchange: a Downstream that wraps the
// client's and compresses what is written through it (the decisions are in
// gateway/compress_rules.hpp).
//
// Where it applies (serve_route in gateway/dispatch.cpp wraps every route's
// Downstream when compression is on for it):
//   proxied and composed responses  compressed as the body streams, flushed at
//                                   each write, so a page's early bytes leave
//                                   early (Content-Length dropped: chunked on
//                                   HTTP/1.1, DATA frames on HTTP/2)
//   cached responses                served from a compressed variant stored next
//                                   to the entry (gateway/compress_variant.hpp);
//                                   the wrapper passes them through untouched
//                                   since they carry Content-Encoding already
//
// Runs on the worker that owns the exchange.
#pragma once

#include <memory>
#include <string>

#include "gateway/compress_rules.hpp"
#include "gateway/forwarding_downstream.hpp"

namespace gateway {

struct RouteConfig;
struct Config;

namespace compress {

// The config in force for `route`: its own `compress:`, else the top-level
// one; null when compression is off for it.
const CompressConfig* config_for(const RouteConfig& route, const Config& config);

// Counted in /metrics: gateway_compressed_responses_total{coding}.
struct CompressCounters {
  std::uint64_t gzip = 0;
  std::uint64_t br = 0;
};

// A Downstream that compresses what is written through it, when the
// request accepts a coding and the response qualifies (see the top).
class CompressDownstream final : public ForwardingDownstream {
 public:
  CompressDownstream(Downstream& inner, const CompressConfig& config);
  ~CompressDownstream() override;

  void write_head(http::Response& resp) override;
  void write_head_raw(int status, std::string_view head, std::string_view extra_fields,
                      std::uint64_t content_length) override;
  boost::asio::awaitable<boost::system::error_code> write_file(int fd, std::uint64_t offset, std::uint64_t len,
                                                               bool last) override;
  boost::asio::awaitable<boost::system::error_code> write_body(std::span<const char> data, bool last) override;

  // The coding the client accepts (negotiate), for the cache's variants.
  Coding accepted() const { return accepted_; }
  const CompressConfig& config() const { return config_; }
  // The inner Downstream, for a response already in its final form (a
  // stored compressed variant).
  Downstream& inner() { return inner_; }

 private:
  const CompressConfig& config_;
  Coding accepted_ = Coding::identity;
  std::unique_ptr<Encoder> encoder_;  // set while compressing the response
  std::string out_;                   // encoded bytes of one write
  std::string extra_;                 // extra fields of a raw head, with Vary
};

// Responses compressed as they streamed, per coding, summed by /metrics.
CompressCounters compressed_counts();

}  // namespace compress
}  // namespace gateway
