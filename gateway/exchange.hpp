// The downstream side of one request, as handlers (proxy, cached proxy,
// composer, admin) see it: the parsed request, its body as a stream, and a
// place to write the response. A client connection implements it, and so
// does a page's fragment, in memory (compose/fragment.hpp). Used on the
// worker that owns the request.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/system/error_code.hpp>
#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "base/http/message.hpp"

namespace gateway {

namespace net {
class Stream;
}
struct ErrorPages;  // gateway/error_pages.hpp

// What the access log and metrics record about one exchange; filled in by
// whoever handles it.
struct RequestInfo {
  std::string_view route;      // route name, "-" if none matched
  std::string_view upstream;   // upstream group, if any
  std::string instance;        // instance that answered (or failed last)
  std::chrono::microseconds upstream_time{-1};  // head received - request sent
  std::string_view cache = "-";  // what the cache did, once there is one
  int tries = 0;
  std::string_view tls;        // the client connection's TLS version; empty: plain
  std::string_view protocol;   // for the log: "HTTP/2.0"; empty: the request's HTTP/1.x
  std::string client;          // the client behind trusted proxies (edge::resolve_client); empty: the peer
  // A tunnel after a 101 (gateway/tunnel.hpp): bytes the client sent into
  // it, and why it ended; -1 and empty for an ordinary exchange.
  std::int64_t tunnel_from_client = -1;
  std::string_view tunnel_end;
  // Why the upstream queue (max_conns) refused the request: "full" or
  // "timeout"; empty if it did not.
  std::string_view queue;
  // The pages respond() uses for the gateway's own errors on this exchange
  // (gateway/error_pages.hpp); null: none.
  const ErrorPages* error_pages = nullptr;
};

class Downstream {
 public:
  virtual ~Downstream() = default;

  virtual const http::Request& request() const = 0;
  // Client address, for X-Forwarded-For and logs.
  virtual std::string_view peer() const = 0;
  virtual RequestInfo& info() = 0;

  // The request body, a run of bytes at a time (valid until the next call);
  // `done` is set with the last run. Sends "100 Continue" first if the
  // client asked for it.
  virtual boost::asio::awaitable<boost::system::error_code> read_body(std::span<const char>& piece, bool& done) = 0;
  // Whether the request body has been read completely (or there is none).
  virtual bool body_complete() const = 0;
  // After read_body failed: the status the client deserves (400 or 413 for
  // a malformed or oversized body, 408 for a stalled one), or 0 if the
  // client went away and nobody is listening.
  virtual int body_error_status() const = 0;

  // Sends an interim (1xx) response head now, ahead of the final one (RFC
  // 9110 15.2: 103 Early Hints lets a browser preload while the instance
  // still works). Only before write_head; whether this client may get it
  // (not HTTP/1.0, not an instance's 100) is the caller's decision
  // (proxy::forwards_interim). Downstreams that are no client connection
  // (a page's fragment, a background refresh) drop it.
  virtual boost::asio::awaitable<boost::system::error_code> write_interim(const http::Response& interim) {
    (void)interim;
    co_return boost::system::error_code{};
  }
  // Queues the response head. resp.content_length / resp.chunked say how the
  // body will come; the downstream picks the framing on the wire and adds
  // Date, Connection and framing fields. The head leaves with the first body
  // write, or with finish().
  virtual void write_head(http::Response& resp) = 0;
  // Queues a head already serialised, as a stored response keeps it:
  // `head` is the status line and fields, each ending in CRLF, and
  // `extra_fields` more fields for this response only (Age, X-Cache...).
  // The downstream adds Content-Length (the body is `content_length`
  // bytes), Connection and the blank line. `status` is for logs and metrics.
  virtual void write_head_raw(int status, std::string_view head, std::string_view extra_fields,
                              std::uint64_t content_length) = 0;
  // Sends `len` bytes of file `fd` from `offset` (with the queued head);
  // zero-copy where the kernel allows. `last` ends the body.
  virtual boost::asio::awaitable<boost::system::error_code> write_file(int fd, std::uint64_t offset,
                                                                       std::uint64_t len, bool last) = 0;
  // Sends body bytes; `last` ends the body (with the head if still queued).
  virtual boost::asio::awaitable<boost::system::error_code> write_body(std::span<const char> data, bool last) = 0;
  // Ends the response if write_body(..., true) was not called.
  boost::asio::awaitable<boost::system::error_code> finish() { return write_body({}, true); }
  // Response head sent or queued: an error can no longer become a status.
  virtual bool head_written() const = 0;
  // The status of the response head written (0 before).
  virtual int status() const = 0;
  // Fields for the trailer of a chunked response ("Name: value\r\n"
  // lines), sent with the last chunk; dropped when the response is not
  // chunked (HTTP/1.0, Content-Length).
  virtual void set_trailer(std::string_view fields) { (void)fields; }
  // Whether this downstream can become a byte tunnel after a 101: an
  // HTTP/1.1 client connection can; a page's fragment, a background refresh
  // or an HTTP/2 stream cannot (gateway/upgrade.hpp).
  virtual bool can_tunnel() const { return false; }
  // Sends the instance's 101 head `resp` (rewritten: upgrade.hpp's
  // rewrite_switch_head) and then carries bytes both ways between the
  // client and `upstream` until the tunnel ends (gateway/tunnel.hpp);
  // `from_upstream` are bytes the instance sent after its head. The client
  // connection closes afterwards. Only if can_tunnel().
  virtual boost::asio::awaitable<void> tunnel(http::Response& resp, net::Stream& upstream,
                                              std::span<const char> from_upstream) {
    (void)resp, (void)upstream, (void)from_upstream;
    abort();
    co_return;
  }
  // The response cannot be completed (upstream lost mid-body): the
  // connection must be closed so the client sees a truncated message.
  virtual void abort() = 0;
};

}  // namespace gateway

namespace gateway {

// The head of a response the gateway makes itself: Server, the content
// type, Cache-Control: no-store, and the length of its body.
http::Response own_head(int status, std::string_view content_type, std::size_t length);

// Answers with a short, complete response generated by the gateway itself
// (errors, admin pages): `body` is sent as is with the given content type,
// or the exchange's error page for `status` if it has one (text/html).
boost::asio::awaitable<boost::system::error_code> respond(Downstream& down, int status, std::string_view body,
                                                          std::string_view content_type = "text/plain; charset=utf-8");
// The same with fields of the status's own: WWW-Authenticate on a 401, Allow
// on a 405, Retry-After on a 429 or 503. An error page replaces the body only.
boost::asio::awaitable<boost::system::error_code> respond(Downstream& down, int status, std::string_view body,
                                                          http::HeaderMap fields);

// A redirect the gateway answers itself: `status` (301, 302, 303, 307, 308)
// to `location`, with a one-line text body naming it. Cacheable as the
// status is (no Cache-Control), as nginx's `return 301` is.
boost::asio::awaitable<void> redirect(Downstream& down, int status, std::string_view location);

}  // namespace gateway
