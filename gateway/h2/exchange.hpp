// One HTTP/2 stream as the handlers see it: the Downstream of a request
// that came as HEADERS (and DATA), whose response leaves as HEADERS, DATA
// and trailers. Owned by its Session (gateway/h2/session.hpp), on the
// connection's worker; it lives until both its handler has returned and
// nghttp2 has closed the stream.
//
// The request body: DATA bytes wait here until read_body hands them out,
// and only then is the client's window opened again (nghttp2_session_consume),
// so a stream never buffers more than its window. The response: the head
// is submitted with the first body write (or finish), the body is copied
// here and taken by nghttp2's data source as the client's windows allow;
// a write returns once less than a frame's worth waits.
#pragma once

#include <nghttp2/nghttp2.h>

#include <boost/asio/steady_timer.hpp>
#include <memory>
#include <string>

#include "base/deadline.hpp"
#include "gateway/exchange.hpp"
#include "gateway/h2/limits.hpp"

namespace gateway {
struct WorkerState;
}

namespace gateway::h2 {

class Session;

class Exchange final : public Downstream {
 public:
  Exchange(Session& session, std::int32_t id);
  ~Exchange() override;

  std::int32_t id() const noexcept { return id_; }

  // --- From the session, as frames arrive ---------------------------------
  // A request field. One that is malformed or over limits.header_bytes /
  // limits.headers makes the request refused (400, 431) by handle().
  void on_field(std::string_view name, std::string_view value);
  // The header block is complete; `end_stream`: no body follows. A request
  // that cannot be routed (no host, CONNECT, a long :path, a body over
  // limits.body_bytes) is refused by handle() as the HTTP/1.1 parser would.
  void on_headers_done(bool end_stream);
  void on_data(const char* data, std::size_t n);
  void on_end_stream();
  // nghttp2 closed the stream (sent or received END_STREAM both ways, or a
  // reset); after this nothing is submitted for it.
  void on_close();
  // The data source nghttp2 reads the response body from.
  ssize_t read_out(std::uint8_t* buf, std::size_t length, std::uint32_t* flags);
  // The session ended: every wait returns.
  void wake() { signal_.cancel(); }

  // The handler: serve_request (or the error answer), then the end of the
  // response and the log line.
  boost::asio::awaitable<void> handle(std::shared_ptr<WorkerState> state);

  bool closed() const noexcept { return closed_; }
  bool handler_done() const noexcept { return handler_done_; }
  void set_handler_done() noexcept { handler_done_ = true; }
  // The handler wrote the whole response (nghttp2 may still be sending it).
  bool response_done() const noexcept { return eof_sent_ || (finished_ && !aborted_); }
  // Whether DATA bytes are kept for a read_body (else consumed at once).
  bool wants_body() const noexcept { return !handler_done_ && body_error_ == 0; }
  // After the handler: gives back the window of bytes nobody will read.
  void release_unread_body();

  // Downstream
  const http::Request& request() const override { return req_; }
  std::string_view peer() const override;
  RequestInfo& info() override { return info_; }
  boost::asio::awaitable<boost::system::error_code> read_body(std::span<const char>& piece, bool& done) override;
  bool body_complete() const override { return in_done_ && in_.empty(); }
  int body_error_status() const override { return body_error_; }
  boost::asio::awaitable<boost::system::error_code> write_interim(const http::Response& interim) override;
  void write_head(http::Response& resp) override;
  void write_head_raw(int status, std::string_view head, std::string_view extra_fields,
                      std::uint64_t content_length) override;
  boost::asio::awaitable<boost::system::error_code> write_file(int fd, std::uint64_t offset, std::uint64_t len,
                                                               bool last) override;
  boost::asio::awaitable<boost::system::error_code> write_body(std::span<const char> data, bool last) override;
  bool head_written() const override { return status_ != 0; }
  int status() const override { return status_; }
  void set_trailer(std::string_view fields) override { trailer_ = fields; }
  void abort() override;

 private:
  static void on_deadline(void* self);
  boost::asio::awaitable<void> wait();  // until signal_ is cancelled
  bool alive() const noexcept;
  // Submits the response head (with the data source unless no body).
  void submit_head(bool body_follows);
  void add_length(std::uint64_t content_length);
  void log();

  Session& session_;
  std::int32_t id_;
  http::Request req_;
  RequestInfo info_;
  Clock::time_point started_;
  std::string authority_, cookies_;
  std::size_t header_bytes_ = 0;
  int refuse_status_ = 0;       // the request cannot be served: answer this
  std::string refuse_reason_;

  // The request body.
  std::string in_;          // received, not handed out yet
  std::string piece_;       // handed out by the last read_body
  bool in_done_ = true;
  bool continue_sent_ = false;
  std::uint64_t in_total_ = 0;
  int body_error_ = 0;

  // The response.
  int status_ = 0;
  Fields fields_;
  bool body_allowed_ = true;
  bool head_submitted_ = false;
  bool deferred_ = false;   // the data source said "nothing yet"
  std::string out_;         // body bytes nghttp2 has not taken yet
  std::size_t out_off_ = 0;
  bool out_last_ = false;
  bool eof_sent_ = false;
  bool finished_ = false;
  bool aborted_ = false;
  std::string trailer_;
  std::uint64_t body_bytes_out_ = 0;

  bool closed_ = false;
  bool handler_done_ = false;
  boost::asio::steady_timer signal_;  // cancelled when there is news for a waiting handler
  Deadline deadline_;                 // a body read or a write waiting for the client
};

}  // namespace gateway::h2
