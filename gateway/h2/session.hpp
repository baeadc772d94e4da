// An HTTP/2 client connection: the nghttp2 server session over the
// connection's net::Stream, one coroutine reading frames into it and one
// writing what it has to send, and the streams (h2::Exchange) whose
// requests go through serve_request() like an HTTP/1.1 request. Owned by
// the ClientConnection that negotiated HTTP/2 (ALPN "h2", or the h2c
// preface on a plain listener), on its worker's thread; nothing here is
// touched from another thread.
//
// What a client may make it hold is bounded (config `http2:`, see
// conf/gateway.yaml): streams at once, request body bytes buffered (the
// flow-control windows: the gateway opens a window only as a handler
// reads), header list bytes (limits.header_bytes) and header block frames;
// streams it resets and PING/SETTINGS frames per second. Past a budget the
// connection gets GOAWAY ENHANCE_YOUR_CALM and is closed; each GOAWAY is
// counted by reason (gateway_http2_goaway_total).
//
// Timeouts: client_header while a header block is incomplete (and for the
// preface), keepalive while no stream is open, client_body while a handler
// waits for body bytes, client_send while the client reads nothing.
#pragma once

#include <nghttp2/nghttp2.h>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "base/deadline.hpp"
#include "base/net/stream.hpp"
#include "gateway/h2/limits.hpp"
#include "gateway/metrics.hpp"

namespace gateway {
struct Config;
}

namespace gateway {
class Worker;
struct WorkerState;
}  // namespace gateway

namespace gateway::h2 {

class Exchange;

class Session {
 public:
  Session(Worker& worker, net::Stream& stream, std::string_view peer, bool admin);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Serves the connection until it closes and every stream's handler has
  // returned. `pending`: bytes already read (the h2c preface and more).
  boost::asio::awaitable<void> run(std::span<const char> pending);
  // Draining: GOAWAY now; the streams open finish, then the connection
  // closes.
  void drain();

  // For the streams.
  Worker& worker() noexcept { return worker_; }
  const Config& config() const noexcept;  // as the connection started
  Exchange* exchange(std::int32_t id);
  nghttp2_session* ng() noexcept { return ng_; }
  bool dead() const noexcept { return dead_; }
  const std::string& peer() const noexcept { return peer_; }
  std::string_view tls_version() const noexcept { return stream_.version(); }
  bool tls() const noexcept { return stream_.tls(); }
  bool admin() const noexcept { return admin_; }
  // Something was submitted: the write loop has frames to send.
  void wake_writer();

 private:
  static int on_begin_frame(nghttp2_session*, const nghttp2_frame_hd* hd, void* self);
  static int on_begin_headers(nghttp2_session*, const nghttp2_frame* frame, void* self);
  static int on_header(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name, std::size_t namelen,
                       const std::uint8_t* value, std::size_t valuelen, std::uint8_t flags, void* self);
  static int on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* self);
  static int on_data_chunk(nghttp2_session*, std::uint8_t flags, std::int32_t stream_id, const std::uint8_t* data,
                           std::size_t len, void* self);
  static int on_stream_close(nghttp2_session*, std::int32_t stream_id, std::uint32_t error_code, void* self);
  static int on_frame_send(nghttp2_session*, const nghttp2_frame* frame, void* self);
  static void on_read_deadline(void* self);
  static void on_write_deadline(void* self);

  void create_session();
  boost::asio::awaitable<void> read_loop(std::span<const char> pending);
  boost::asio::awaitable<void> write_loop();
  boost::asio::awaitable<void> linger();
  // Feeds bytes to nghttp2 (reading_ false: read no more).
  void feed(const char* data, std::size_t n);
  void arm_read_deadline();
  bool bytes_waiting() const noexcept;
  // GOAWAY with `code` for `reason` (counted), and no more reading.
  void fail(Http2Stats::Reason reason, std::uint32_t code);
  void erase_if_done(std::int32_t id);
  void start_handler(Exchange& ex);

  Worker& worker_;
  net::Stream& stream_;
  std::shared_ptr<WorkerState> state_;  // configuration at the connection's start
  std::string peer_;
  bool admin_;
  nghttp2_session* ng_ = nullptr;
  std::map<std::int32_t, std::unique_ptr<Exchange>> exchanges_;
  std::size_t handlers_ = 0;           // handler coroutines running
  bool in_header_block_ = false;       // a HEADERS/CONTINUATION frame under way
  boost::asio::steady_timer wake_;     // the write loop waits here (and run() for the handlers)
  Deadline read_deadline_;
  Deadline write_deadline_;
  bool read_timed_out_ = false;
  bool reading_ = true;   // false: stop reading (GOAWAY, EOF, error)
  bool dead_ = false;     // the connection is gone: nothing more is sent
  bool draining_ = false;
  bool failed_ = false;   // GOAWAY for an error or an abuse submitted
  bool goaway_sent_ = false;
  int goaway_reason_ = -1;  // ours, when we sent one
  TokenBucket resets_;
  TokenBucket control_;
  HeaderBlockBudget header_block_;
  Http2Stats& stats_;
};

}  // namespace gateway::h2
