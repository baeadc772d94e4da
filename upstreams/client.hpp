// One keep-alive connection to an upstream instance, and the hot path of an
// upstream exchange: connect, send the request, parse the response head and
// stream its body. Owned by one worker (in a Pool while idle, by the proxy
// while in use); never touched by another thread.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <functional>
#include <memory>
#include <span>
#include <string>

#include "base/deadline.hpp"
#include "base/http/parser.hpp"
#include "base/net/stream.hpp"

namespace gateway::upstreams {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

// How an upstream step ended. Everything but ok is a failure of the
// instance or of the network, never of the client.
enum class Outcome {
  ok,
  connect_failed,   // refused, unreachable
  connect_timeout,
  send_failed,      // reset or closed while sending
  closed_early,     // closed or reset before any byte of a response
  read_timeout,
  send_timeout,
  read_failed,      // reset or closed mid-response
  bad_response,     // not parseable as HTTP/1.x
};
const char* to_string(Outcome o) noexcept;
// 502 for errors, 504 for timeouts.
int status_for(Outcome o) noexcept;

// Takes an interim (1xx) response head read before the final one; awaited
// before reading goes on, so that it can be sent on first.
using InterimSink = std::function<asio::awaitable<void>(const http::Response&)>;

struct TlsTarget;         // upstreams/tls.hpp
class ClientTlsContext;  // upstreams/tls.hpp

class Connection {
 public:
  Connection(const asio::any_io_executor& ex, Deadlines& deadlines, std::size_t instance,
             const http::ParserLimits& limits);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  std::size_t instance() const noexcept { return instance_; }
  // Its index in a new version of the group (an idle connection moved to a
  // new Pool).
  void set_instance(std::size_t i) noexcept { instance_ = i; }
  // Has served a response before: a failure before any response byte may
  // just mean the server closed it while idle.
  bool reused() const noexcept { return responses_ > 0; }
  const boost::system::error_code& last_error() const noexcept { return error_; }
  const std::string& parse_error() const noexcept { return parser_.error_reason(); }

  // With `tls`, the TLS handshake is part of connecting (within `timeout`;
  // a refused certificate is connect_failed, last_error() says why).
  asio::awaitable<Outcome> connect(const std::vector<tcp::endpoint>& endpoints, Clock::duration timeout,
                                   const TlsTarget* tls = nullptr);
  // A TLS connection, and whether its handshake resumed a session.
  bool tls() const noexcept { return stream_.tls(); }
  bool tls_resumed() const noexcept { return stream_.resumed(); }
  asio::awaitable<Outcome> send(std::span<const asio::const_buffer> buffers, Clock::duration timeout);
  // Reads until the head of the final response is parsed. Interim (1xx)
  // responses on the way go to `interim` one by one, in order, or are
  // skipped if it is null. `timeout` bounds the whole wait, interims
  // included. `upgrade`: the request asked to switch protocols, so a 101
  // is the final head (see take_buffered).
  asio::awaitable<Outcome> read_head(http::Response& out, bool head_request, Clock::duration timeout,
                                     const InterimSink* interim = nullptr, bool upgrade = false);
  // The next run of body bytes (valid until the next call); `done` is set
  // with the last one. A run may be empty only when done.
  asio::awaitable<Outcome> read_body(std::span<const char>& piece, bool& done, Clock::duration timeout);
  // Response complete and both sides keep the connection open.
  bool reusable() const noexcept;
  // Some byte of the current response arrived (false again once a response
  // is complete: the next request's has not started).
  bool response_started() const noexcept { return response_started_; }

  // After a 101: the bytes of the new protocol that came with its head (valid
  // until the next read), and the stream to go on with. The connection is
  // then a tunnel's, never reusable.
  std::span<const char> take_buffered() noexcept;
  net::Stream& stream() noexcept { return stream_; }

  Clock::time_point idle_since() const noexcept { return idle_since_; }
  void set_idle_since(Clock::time_point t) noexcept { idle_since_ = t; }
  void close() noexcept;
  // Idle (in a pool): its read buffer goes back to the thread's spares
  // until the next response (16 KiB per idle connection otherwise).
  void release_buffer() noexcept;
  asio::any_io_executor executor() { return stream_.get_executor(); }

 private:
  static void on_deadline(void* self);
  // Reads more bytes into the buffer; false on EOF/error (error_ set).
  asio::awaitable<bool> fill();
  // A response was read to its end.
  void end_response() noexcept;

  std::shared_ptr<const ClientTlsContext> tls_;  // keeps the context (and session slot) of a TLS stream
  net::Stream stream_;
  Deadlines& deadlines_;
  Deadline deadline_;       // connect and read
  Deadline send_deadline_;  // send, which may overlap a read
  std::size_t instance_;
  http::Parser parser_;
  http::Response* response_ = nullptr;
  std::unique_ptr<char[]> buf_;
  std::size_t begin_ = 0, end_ = 0;
  std::uint64_t responses_ = 0;
  bool response_started_ = false;
  bool eof_ = false;
  boost::system::error_code error_;
  Clock::time_point idle_since_{};
};

}  // namespace gateway::upstreams
