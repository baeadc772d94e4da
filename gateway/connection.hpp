// A client connection: the read -> parse -> handle -> write loop, and the
// Downstream the handlers write their response to. Owned by its coroutine on
// one worker thread.
//
// Limits are enforced as bytes arrive (by the parser) and each phase has a
// deadline: client_header from the first byte of a request to the end of its
// head, client_body between body reads, keepalive while idle between
// requests, client_send while the client does not read. On a TLS listener
// the handshake comes first, within client_header; on a listener with
// proxy_protocol, the PROXY header before anything, within client_header.
// After a 101 the connection is a tunnel (gateway/tunnel.hpp) until it
// closes.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/intrusive/list_hook.hpp>
#include <memory>
#include <string>

#include "gateway/exchange.hpp"
#include "base/deadline.hpp"
#include "base/http/parser.hpp"
#include "base/net/stream.hpp"
#include "gateway/parked.hpp"
#include "gateway/tunnel.hpp"
#include "gateway/worker.hpp"

namespace gateway {

namespace h2 {
class Session;
}

// Routes one request to what serves it (the admin endpoints on the admin
// listener, else the route that matches, else 404) and counts it; an
// HTTP/1.1 exchange and an HTTP/2 stream both come here.
boost::asio::awaitable<void> serve_request(Downstream& down, bool admin, WorkerState& state, Worker& worker);
// Downstream::write_file without sendfile(2): `len` bytes of `fd` from
// `offset` read into a worker buffer and written with write_body.
boost::asio::awaitable<boost::system::error_code> copy_file(Downstream& down, Worker& worker, int fd,
                                                            std::uint64_t offset, std::uint64_t len, bool last);

class ClientConnection final : public Downstream, public Attached {
 public:
  // `slot`: its place among its client's connections (max_conns_per_client).
  ClientConnection(Worker& worker, boost::asio::ip::tcp::socket socket, const Listener& listener,
                   limit::ClientConnections::Slot slot = {});
  // A parked connection back (gateway/parked.hpp), its keep-alive deadline
  // still running.
  ClientConnection(Worker& worker, ParkedConnection&& parked);
  ~ClientConnection() override;

  // Serves the connection until it closes, parking it while idle.
  static void start(std::unique_ptr<ClientConnection> c);
  // A parked connection's bytes (or end) arrived: serves it again.
  static void resume(Worker& worker, std::unique_ptr<ParkedConnection> parked);
  // Draining: closes the connection if it waits for a next request.
  void close_if_idle() override;

  // Downstream
  const http::Request& request() const override { return req_; }
  std::string_view peer() const override { return peer_; }
  RequestInfo& info() override { return info_; }
  boost::asio::awaitable<boost::system::error_code> read_body(std::span<const char>& piece, bool& done) override;
  bool body_complete() const override { return body_done_; }
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
  bool can_tunnel() const override { return !admin_; }
  boost::asio::awaitable<void> tunnel(http::Response& resp, net::Stream& upstream,
                                      std::span<const char> from_upstream) override;
  void abort() override;

 private:
  enum class Phase { idle, head, handling, tunnel };

  static void on_deadline(void* self);
  static void on_park_deadline(void* self);
  void arm_park();
  // Into the worker's parking lot: this object goes, see parked.hpp.
  static void park(std::unique_ptr<ClientConnection> c);
  boost::asio::awaitable<void> run();
  // The TLS handshake, counted in the listener's metrics; false: close.
  boost::asio::awaitable<bool> handshake();
  // HTTP/2 (ALPN "h2", or the h2c preface): the connection goes to an
  // h2::Session; false if it stays HTTP/1.1.
  boost::asio::awaitable<bool> serve_http2();
  // A listener with proxy_protocol: the PROXY header, before anything
  // else; its source becomes peer_. False: close (logged, counted).
  boost::asio::awaitable<bool> read_proxy_header();
  boost::asio::awaitable<void> serve();
  void arm(std::chrono::milliseconds timeout);
  // Reads more bytes into the input buffer; false on EOF, error or timeout.
  boost::asio::awaitable<bool> read_more();
  boost::asio::awaitable<void> handle();
  void reset_exchange();
  // The Connection field this response needs ("close", "keep-alive" or
  // none), deciding keep-alive for good.
  std::string_view connection_field();
  void log_exchange();

  Worker& worker_;
  // A TLS connection's context, kept until it closes (a reload may
  // replace the listener's); declared before the stream that uses it.
  std::shared_ptr<const tls::ServerContext> tls_;
  TlsStats* tls_stats_ = nullptr;
  net::Stream stream_;
  bool admin_;
  bool handshake_done_ = false;
  bool h2c_ = false;                  // the listener takes HTTP/2 prior knowledge
  std::unique_ptr<h2::Session> h2_;  // while the connection speaks HTTP/2
  bool proxy_header_ = false;  // a PROXY protocol header still to read
  std::string peer_;
  limit::ClientConnections::Slot client_slot_;  // held until the connection closes, parked or not
  std::shared_ptr<WorkerState> state_;  // configuration of the current request
  http::Parser parser_;
  http::Request req_;
  // Input: a small inline buffer holds a typical request head, so an idle
  // keep-alive connection costs little; a large one from the worker's pool
  // is borrowed for bodies and long heads and returned when idle.
  static constexpr std::size_t kSmallInput = 512;
  void borrow_large_buffer();
  void return_large_buffer();
  char small_in_[kSmallInput];
  std::unique_ptr<char[]> large_in_;
  char* in_ = small_in_;
  std::size_t in_cap_ = kSmallInput;
  std::size_t in_begin_ = 0, in_end_ = 0;

  // The response being written.
  std::string head_;  // queued bytes: the head and/or a chunk size line
  int status_ = 0;    // 0: no head yet
  bool head_sent_ = false;
  bool chunked_out_ = false;
  bool body_allowed_ = true;
  bool keep_alive_ = true;
  bool finished_ = false;
  bool aborted_ = false;
  // A write to the client failed: the response is cut short and the
  // connection goes. Returns `ec`.
  boost::system::error_code write_failed(boost::system::error_code ec) {
    keep_alive_ = false;
    aborted_ = true;
    return ec;
  }
  std::uint64_t body_bytes_out_ = 0;
  std::string trailer_;  // trailer fields of a chunked response

  bool body_done_ = true;  // request body fully read
  bool continue_sent_ = false;
  int body_error_ = 0;
  RequestInfo info_;
  Clock::time_point started_{};
  std::uint64_t requests_ = 0;

  Deadline deadline_;        // reads (and the idle wait)
  Deadline write_deadline_;  // writes, which may overlap a body read
  Deadline park_deadline_;   // idle long enough to park
  bool parked_ = false;
  bool resumed_ = false;  // back from the lot, before its first read
  Phase phase_ = Phase::idle;
  Tunnel* tunnel_ = nullptr;  // while phase_ is tunnel: drained by close_if_idle
};

}  // namespace gateway
