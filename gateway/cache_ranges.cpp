// Range requests on cached routes, the client's side: see cache_ranges.hpp.
#include "gateway/cache_ranges.hpp"

#include <cstdio>
#include <random>

#include "base/http/serializer.hpp"
#include "cache/store.hpp"
#include "gateway/proxy.hpp"

namespace gateway::cache_proxy {

namespace asio = boost::asio;

namespace {

// A multipart/byteranges boundary: random, so no body holds it by design.
std::string multipart_boundary() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  char buf[40];
  const int n = std::snprintf(buf, sizeof buf, "gateway-%016llx", static_cast<unsigned long long>(rng()));
  return std::string(buf, static_cast<std::size_t>(n));
}

// `range` of a stored body, from RAM or its file; true if the client failed.
asio::awaitable<bool> write_stored(Downstream& down, const cache::Entry& e, const cache::FileRef* file,
                                   cache::ByteRange range, bool last) {
  if (e.body) {
    const std::span<const char> body(*e.body);
    co_return static_cast<bool>(co_await down.write_body(
        body.subspan(static_cast<std::size_t>(range.first), static_cast<std::size_t>(range.size())), last));
  }
  co_return static_cast<bool>(co_await down.write_file(file->fd, e.body_offset + range.first, range.size(), last));
}

// A 416 for a body of `length` bytes, with `fields`; the response is complete.
asio::awaitable<void> write_unsatisfiable(Downstream& down, std::uint64_t length, std::string_view fields) {
  auto refused = cache::unsatisfiable_response(length);
  proxy::add_fields(refused.headers, fields);
  down.write_head(refused);
  co_await down.finish();
}

}  // namespace

asio::awaitable<BodySlice> write_relay_head(Downstream& down, const http::Request& req, http::Response& resp,
                                            std::string_view fields) {
  const auto plan =
      cache::range_plan(req, resp.status, resp.headers, resp.chunked ? std::nullopt : resp.content_length);
  if (plan.kind == cache::RangePlan::Kind::unsatisfiable) {
    co_await write_unsatisfiable(down, *resp.content_length, fields);
    co_return BodySlice{0, 0, true};
  }
  proxy::add_fields(resp.headers, fields);
  if (plan.kind == cache::RangePlan::Kind::partial && plan.ranges.size() == 1) {
    http::Response part = resp;
    cache::make_partial(part, plan.ranges[0], *resp.content_length);
    down.write_head(part);
    co_return BodySlice::of(plan.ranges[0]);
  }
  down.write_head(resp);
  co_return BodySlice{};
}

std::optional<StoredRange> stored_range(const http::Request& req, const cache::EntryMeta& m) {
  // Cheap tests first: most requests carry no Range.
  if (m.status != 200 || !cache::range_requested(req)) return std::nullopt;
  StoredRange r;
  if (!http::parse_response_head(m.head, r.head)) return std::nullopt;
  r.plan = cache::range_plan(req, m.status, r.head.headers, m.body_size);
  if (r.plan.kind == cache::RangePlan::Kind::full) return std::nullopt;
  return r;
}

asio::awaitable<void> write_range_plan(Downstream& down, http::Response resp, const cache::RangePlan& plan,
                                      std::uint64_t length, std::string_view fields, const PartWriter& write_part) {
  const auto& ranges = plan.ranges;
  if (plan.kind != cache::RangePlan::Kind::partial) {
    co_await write_unsatisfiable(down, length, fields);
    co_return;
  }
  proxy::add_fields(resp.headers, fields);
  if (ranges.size() == 1) {
    cache::make_partial(resp, ranges[0], length);
    down.write_head(resp);
    co_await write_part(ranges[0], true);
    co_return;
  }
  const auto parts = cache::make_multipart(resp, ranges, length, multipart_boundary());
  down.write_head(resp);
  for (std::size_t i = 0; i < ranges.size(); ++i) {
    if (co_await down.write_body(parts.part_heads[i], false)) co_return;
    if (co_await write_part(ranges[i], false)) co_return;
  }
  co_await down.write_body(parts.end, true);
}

asio::awaitable<void> write_stored_range(Downstream& down, const cache::Entry& e, const cache::FileRef* file,
                                         StoredRange range, std::string_view fields) {
  co_await write_range_plan(down, std::move(range.head), range.plan, e.meta.body_size, fields,
                            [&](cache::ByteRange r, bool last) { return write_stored(down, e, file, r, last); });
}

}  // namespace gateway::cache_proxy
