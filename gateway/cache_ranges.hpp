// Range requests on cached routes, the client's side (cache_proxy.cpp's
// helper): the 206 / 416 written from a stored entry (RAM tier or sendfile
// from an offset), and the head and slice of the body a client gets while a
// response streams in (a miss it leads, or a fill it follows). Every
// decision is cache/policy.hpp's (range_plan and the heads it builds); this
// does the writing.
//
// Runs on the worker of the client connection.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <span>
#include <string_view>

#include "cache/entry.hpp"
#include "cache/policy.hpp"
#include "gateway/exchange.hpp"

namespace gateway::cache_proxy {

// The bytes [first, end) of a body that the client gets: all of it, or the
// one range it asked for; `none` once its response is complete without them
// (a 416).
struct BodySlice {
  std::uint64_t first = 0;
  std::uint64_t end = std::numeric_limits<std::uint64_t>::max();
  bool none = false;

  static BodySlice of(cache::ByteRange r) { return {r.first, r.last + 1, false}; }
  // What of `piece`, the body's bytes from `offset`, goes to the client;
  // `last` says whether that ends the client's body (`done`: the body ends
  // with piece).
  std::span<const char> cut(std::uint64_t offset, std::span<const char> piece, bool done, bool& last) const {
    const std::uint64_t from = std::max(first, offset);
    const std::uint64_t to = std::min(end, offset + piece.size());
    last = done || offset + piece.size() >= end;
    if (from >= to) return {};
    return piece.subspan(static_cast<std::size_t>(from - offset), static_cast<std::size_t>(to - from));
  }
};

// The client's head for a response that is still arriving, `resp` with
// `fields` added: the response itself, a 206 of the one range it asked for,
// or a 416 (then answered at once). Several ranges get the whole response:
// their parts would come out of order (see policy.hpp). `resp` stays as
// received: its length is what gets stored. Returns what of the body the
// client gets.
boost::asio::awaitable<BodySlice> write_relay_head(Downstream& down, const http::Request& req,
                                                   http::Response& resp, std::string_view fields);

// How a Range request is answered from a stored 200 (range_plan against its
// stored head and body size), with that head parsed; nullopt when the answer
// is the whole response (no Range, a status other than 200, a Range that is
// ignored, an If-Range that does not match, a head that cannot be read).
struct StoredRange {
  cache::RangePlan plan;
  http::Response head;
  // A 416 sends no body: no file to open.
  bool needs_body() const { return plan.kind == cache::RangePlan::Kind::partial; }
};
std::optional<StoredRange> stored_range(const http::Request& req, const cache::EntryMeta& m);

// Sends the bytes `range` of a body; `last` ends the response. True if the
// client failed.
using PartWriter = std::function<boost::asio::awaitable<bool>(cache::ByteRange range, bool last)>;
// Writes a range plan that is not `full` for a body of `length` bytes whose
// full response head is `resp`, with `fields` added: a 206 of one range, a
// multipart/byteranges 206 of several (their bytes from `write_part`), or
// a 416. Stored entries and static files (gateway/static_files.hpp) both
// answer ranges with it.
boost::asio::awaitable<void> write_range_plan(Downstream& down, http::Response resp, const cache::RangePlan& plan,
                                              std::uint64_t length, std::string_view fields,
                                              const PartWriter& write_part);

// Writes `range` of entry `e` with `fields` added: a 206 of one range or a
// multipart/byteranges 206 of several, read from e.body or from `file` (null
// for a 416 or a body in RAM), or a 416.
boost::asio::awaitable<void> write_stored_range(Downstream& down, const cache::Entry& e, const cache::FileRef* file,
                                                StoredRange range, std::string_view fields);

}  // namespace gateway::cache_proxy
