#include "gateway/connection.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cassert>
#include <cstring>
#include <tuple>

#include "gateway/access_serve.hpp"
#include "gateway/admin.hpp"
#include "gateway/dispatch.hpp"
#include "gateway/h2/limits.hpp"
#include "gateway/h2/session.hpp"
#include "gateway/tls.hpp"
#include "base/http/serializer.hpp"
#include "base/log.hpp"
#include "base/net/proxy_protocol.hpp"
#include "gateway/worker.hpp"

namespace gateway {

namespace asio = boost::asio;

namespace {
constexpr auto kAwait = asio::as_tuple(asio::use_awaitable);
constexpr std::chrono::milliseconds kLingerTime{2000};
constexpr std::size_t kLingerBytes = 1024 * 1024;

std::string format_peer(const net::Stream& stream) {
  const auto& s = stream.socket();
  boost::system::error_code ec;
  auto ep = s.remote_endpoint(ec);
  if (ec) return "-";
  return ep.address().to_string();
}

// Sends what the (non-blocking) socket takes now, without waiting; returns
// the part of `bufs` not sent (empty: all of it), and sets `ec` on an error
// other than a full socket buffer.
std::span<asio::const_buffer> send_now(int fd, std::span<asio::const_buffer> bufs, boost::system::error_code& ec,
                                       int flags = 0) {
  std::array<iovec, 4> iov{};
  const std::size_t count = std::min(bufs.size(), iov.size());
  for (std::size_t i = 0; i < count; ++i) iov[i] = {const_cast<void*>(bufs[i].data()), bufs[i].size()};
  msghdr msg{};
  msg.msg_iov = iov.data();
  msg.msg_iovlen = count;
  ssize_t n;
  do n = ::sendmsg(fd, &msg, MSG_NOSIGNAL | flags);
  while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno != EAGAIN && errno != EWOULDBLOCK) ec = boost::system::error_code(errno, boost::system::system_category());
    return bufs;
  }
  auto sent = static_cast<std::size_t>(n);
  while (!bufs.empty() && sent >= bufs.front().size()) {
    sent -= bufs.front().size();
    bufs = bufs.subspan(1);
  }
  if (!bufs.empty()) bufs.front() += sent;
  return bufs;
}

// Date header value, formatted once per second per thread.
const std::string& current_http_date() {
  thread_local std::time_t second = 0;
  thread_local std::string value;
  std::time_t now = std::time(nullptr);
  if (now != second) {
    second = now;
    value = http::format_http_date(now);
  }
  return value;
}
}  // namespace

ClientConnection::ClientConnection(Worker& worker, asio::ip::tcp::socket socket, const Listener& listener,
                                   limit::ClientConnections::Slot slot)
    : worker_(worker),
      stream_(std::move(socket)),
      admin_(listener.admin),
      peer_(format_peer(stream_)),
      client_slot_(std::move(slot)),
      state_(worker.state()),
      parser_(http::Parser::Kind::request, state_->runtime->request_limits),
      deadline_(&ClientConnection::on_deadline, this),
      write_deadline_(&ClientConnection::on_deadline, this),
      park_deadline_(&ClientConnection::on_park_deadline, this) {
  boost::system::error_code ec;
  stream_.socket().set_option(asio::ip::tcp::no_delay(true), ec);
  stream_.socket().native_non_blocking(true, ec);  // for sendfile(2) in write_file
  worker_.attach(*this);
  if (admin_) return;
  // The listener as the configuration now says (a reload may have changed
  // its certificates), else as it was at start.
  const auto& now = *state_->runtime->config;
  const auto& address = listener.config.address.text;
  const ListenConfig* config = listener.index < now.listen.size() && now.listen[listener.index].address.text == address
                                   ? &now.listen[listener.index]
                                   : now.find_listen(address);
  if (config == nullptr) config = &listener.config;
  h2c_ = config->h2c && !config->tls;
  proxy_header_ = config->proxy_protocol;
  if (config->tls && config->tls->context) {
    tls_ = config->tls->context;
    // (A listener plain at start and TLS since a reload has no counters yet.)
    tls_stats_ = listener.tls_stats ? listener.tls_stats : &worker_.metrics().tls(listener.label);
    if (stream_.start_tls(tls_->context(), net::Stream::Role::server)) stream_.close();
  }
}

ClientConnection::~ClientConnection() {
  h2_.reset();
  return_large_buffer();
  if (is_linked()) worker_.detach(*this);  // (not when parked)
}

void ClientConnection::borrow_large_buffer() {
  if (large_in_) return;
  large_in_ = worker_.take_buffer();
  std::memcpy(large_in_.get(), in_ + in_begin_, in_end_ - in_begin_);
  in_end_ -= in_begin_;
  in_begin_ = 0;
  in_ = large_in_.get();
  in_cap_ = Worker::kBufferSize;
}

void ClientConnection::return_large_buffer() {
  if (!large_in_ || in_end_ - in_begin_ > kSmallInput) return;
  std::memcpy(small_in_, in_ + in_begin_, in_end_ - in_begin_);
  in_end_ -= in_begin_;
  in_begin_ = 0;
  in_ = small_in_;
  in_cap_ = kSmallInput;
  worker_.give_buffer(std::move(large_in_));
}

void ClientConnection::on_deadline(void* self) {
  // The pending read or write completes with operation_aborted; the loop
  // sees deadline_.expired().
  static_cast<ClientConnection*>(self)->stream_.cancel();
}

void ClientConnection::arm(std::chrono::milliseconds timeout) { worker_.deadlines().arm(deadline_, timeout); }

void ClientConnection::close_if_idle() {
  if (h2_) return h2_->drain();
  // A connection that has not sent its first request yet is not idle: its
  // client is sending one (a connection accepted as the drain began, at a
  // binary upgrade): it is served, with Connection: close.
  if (phase_ == Phase::idle && requests_ > 0) stream_.cancel();
  if (phase_ == Phase::tunnel && tunnel_) tunnel_->drain(state_->runtime->config->timeouts.tunnel_drain);
}

void ClientConnection::abort() {
  aborted_ = true;
  keep_alive_ = false;
  stream_.shutdown_both();
}

asio::awaitable<bool> ClientConnection::read_more() {
  if (deadline_.expired() || !stream_.is_open()) co_return false;
  if (in_begin_ == in_end_) in_begin_ = in_end_ = 0;
  if (in_end_ == in_cap_) {
    // Unparsed bytes fill the buffer: move them to the front, or to the
    // large buffer if this is the small one.
    if (in_ == small_in_) {
      borrow_large_buffer();
    } else {
      std::memmove(in_, in_ + in_begin_, in_end_ - in_begin_);
      in_end_ -= in_begin_;
      in_begin_ = 0;
    }
    // The parser takes every byte it is given except at a message boundary,
    // and nobody reads past one: a full buffer here would be a bug.
    assert(in_end_ < in_cap_);
    if (in_end_ == in_cap_) co_return false;
  }
  auto [ec, n] = co_await stream_.read_some(asio::buffer(in_ + in_end_, in_cap_ - in_end_));
  if (ec || deadline_.expired()) co_return false;
  in_end_ += n;
  co_return true;
}

void ClientConnection::start(std::unique_ptr<ClientConnection> c) {
  auto ex = c->stream_.get_executor();
  asio::co_spawn(
      ex,
      [c = std::move(c)]() mutable -> asio::awaitable<void> {
        co_await c->run();
        if (c->parked_) park(std::move(c));
      },
      log::on_exception("connection"));
}

asio::awaitable<void> ClientConnection::run() {
  if (proxy_header_ && !co_await read_proxy_header()) co_return;
  if (stream_.tls() && !handshake_done_ && !co_await handshake()) co_return;
  if (requests_ == 0) {
    const bool http2 = co_await serve_http2();
    if (http2) co_return;
  }
  co_await serve();
  if (parked_) co_return;
  // Unread input (a refused request, an unread body, pipelined requests
  // after a close) calls for a lingering close; otherwise close now.
  bool unread = !body_done_ || in_begin_ < in_end_ || parser_.error_status() != 0;
  if (!stream_.is_open()) co_return;
  if (!unread) {
    if (!aborted_) stream_.close_notify();
    co_return;
  }
  // Lingering close (as nginx): after our last byte, read and drop what the
  // client still sends for a moment, so that closing with unread input does
  // not reset the connection and destroy the response in flight.
  stream_.shutdown_send();
  arm(kLingerTime);
  std::size_t drained = 0;
  while (drained < kLingerBytes) {
    in_begin_ = in_end_ = 0;
    if (!co_await read_more()) break;
    drained += in_end_;
  }
  Deadlines::disarm(deadline_);
  stream_.close();
}

asio::awaitable<bool> ClientConnection::read_proxy_header() {
  proxy_header_ = false;
  arm(state_->runtime->config->timeouts.client_header);
  auto header = co_await net::proxy_protocol::read_header(stream_.socket());
  Deadlines::disarm(deadline_);
  if (header.status != net::proxy_protocol::Status::done || deadline_.expired()) {
    worker_.metrics().proxy_protocol_rejected.inc();
    log::warn("PROXY protocol header refused from " + peer_ + ": " +
              (deadline_.expired() ? std::string("not received within client_header") : header.reason));
    co_return false;
  }
  if (header.source) peer_ = header.source->to_string();
  co_return true;
}

asio::awaitable<bool> ClientConnection::handshake() {
  handshake_done_ = true;
  // A client that opens a connection and says nothing, TLS or not, is
  // dropped after client_header.
  arm(state_->runtime->config->timeouts.client_header);
  auto ec = co_await stream_.handshake();
  Deadlines::disarm(deadline_);
  if (ec || deadline_.expired()) {
    tls_stats_->handshakes_failed.inc();
    co_return false;
  }
  tls_stats_->handshakes_ok.inc();
  if (stream_.resumed()) tls_stats_->resumed.inc();
  (stream_.version() == "TLSv1.3" ? tls_stats_->tls13 : tls_stats_->tls12).inc();
  co_return true;
}

asio::awaitable<bool> ClientConnection::serve_http2() {
  if (!h2c_ && stream_.alpn() != "h2") co_return false;
  if (h2c_) {
    // Prior knowledge: the client preface, else HTTP/1.1 with what was read.
    arm(state_->runtime->config->timeouts.client_header);
    bool more = true;
    while (more && h2::match_preface({in_ + in_begin_, in_end_ - in_begin_}) == h2::PrefaceMatch::partial)
      more = co_await read_more();
    Deadlines::disarm(deadline_);
    if (h2::match_preface({in_ + in_begin_, in_end_ - in_begin_}) != h2::PrefaceMatch::yes) co_return false;
  }
  h2_ = std::make_unique<h2::Session>(worker_, stream_, peer_, admin_);
  co_await h2_->run({in_ + in_begin_, in_end_ - in_begin_});
  in_begin_ = in_end_ = 0;
  co_return true;
}

asio::awaitable<void> ClientConnection::serve() {
  if (requests_ == 0 && in_begin_ == in_end_) arm(state_->runtime->config->timeouts.client_header);
  for (;;) {
    // Between requests the configuration may have been reloaded.
    if (state_ != worker_.state()) {
      state_ = worker_.state();
      parser_.set_limits(state_->runtime->request_limits);
    }
    const auto& t = state_->runtime->config->timeouts;
    phase_ = Phase::idle;
    parser_.start(req_);
    req_.tls = stream_.tls();
    return_large_buffer();
    if (in_begin_ == in_end_ && requests_ > 0 && !resumed_) arm(t.keepalive);

    // Read the head. The buffer may already hold it (pipelining).
    bool head_done = false;
    while (!head_done) {
      if (in_begin_ == in_end_) {
        // Draining: an idle keep-alive connection ends; a new one (accepted
        // as the drain began) is owed its first answer.
        // (Back from the lot: bytes are there, read them first.)
        if (worker_.draining() && phase_ == Phase::idle && requests_ > 0 && !resumed_) co_return;
        // Idle between requests for a moment: park (gateway/parked.hpp).
        if (phase_ == Phase::idle && requests_ > 0) arm_park();
        bool got = co_await read_more();
        Deadlines::disarm(park_deadline_);
        resumed_ = false;
        if (parked_ && !got) co_return;
        parked_ = false;
        if (!got) {
          if (phase_ == Phase::head && deadline_.expired()) {
            // Slow or stalled head: tell the client why before closing.
            keep_alive_ = false;
            co_await respond(*this, 408, "408 Request Timeout: request head not received in time\n");
          }
          co_return;
        }
      }
      if (phase_ == Phase::idle) {
        phase_ = Phase::head;
        arm(t.client_header);
        if (worker_.access_log().enabled()) started_ = Clock::now();
      }
      auto r = parser_.feed(in_ + in_begin_, in_end_ - in_begin_);
      in_begin_ += r.consumed;
      if (r.event == http::Event::error) {
        worker_.metrics().bad_requests.inc();
        reset_exchange();
        keep_alive_ = false;
        body_done_ = true;
        std::string body = std::to_string(parser_.error_status()) + " " +
                           std::string(http::reason_phrase(parser_.error_status())) + ": " + parser_.error_reason() + "\n";
        co_await respond(*this, parser_.error_status(), body);
        log_exchange();
        co_return;
      }
      head_done = r.event != http::Event::need_more;
    }

    phase_ = Phase::handling;
    Deadlines::disarm(deadline_);
    // A reload while this connection was idle applies to this request.
    if (state_ != worker_.state()) state_ = worker_.state();
    ++requests_;
    reset_exchange();
    co_await handle();
    log_exchange();
    if (!keep_alive_ || aborted_ || !stream_.is_open()) co_return;
    if (!body_done_) co_return;  // the handler left part of the body unread
    if (worker_.draining()) co_return;
  }
}

void ClientConnection::reset_exchange() {
  head_.clear();
  status_ = 0;
  head_sent_ = false;
  chunked_out_ = false;
  body_allowed_ = true;
  keep_alive_ = req_.keep_alive;
  finished_ = false;
  aborted_ = false;
  body_bytes_out_ = 0;
  body_done_ = !req_.has_body() || parser_.message_done();
  continue_sent_ = false;
  body_error_ = 0;
  trailer_.clear();
  info_ = RequestInfo{};
  info_.tls = stream_.version();
}

asio::awaitable<void> serve_request(Downstream& client, bool admin, WorkerState& state, Worker& worker) {
  worker.metrics().requests_total.inc();
  if (admin) co_return co_await worker.admin().serve(client, worker);
  // The top-level `rewrite:` (gateway/access_serve.hpp), if there is one.
  std::optional<access::Rewritten> rewritten;
  if (!state.runtime->config->rewrite.empty()) rewritten.emplace(client, state.runtime->config->rewrite);
  Downstream& down = rewritten ? static_cast<Downstream&>(*rewritten) : client;
  if (rewritten && rewritten->redirects()) {
    co_await rewritten->answer();
    co_return;
  }
  Router::Match match;
  if (!state.runtime->router.match(down.request(), match)) {
    down.info().error_pages = &state.runtime->config->error_pages;  // the top-level default
    co_await respond(down, 404, "404 Not Found: no route for this path\n");
  } else {
    co_await serve_route(down, match, state, worker);
  }
}

asio::awaitable<void> ClientConnection::handle() {
  co_await serve_request(*this, admin_, *state_, worker_);
  if (!finished_ && !aborted_ && stream_.is_open()) {
    // A handler that wrote a head must finish its body; one that wrote
    // nothing is a bug, answered rather than left hanging.
    if (status_ == 0) {
      log::error("handler produced no response for " + req_.target);
      keep_alive_ = false;
      co_await respond(*this, 500, "500 Internal Server Error\n");
    } else {
      co_await finish();
    }
  }
}

void ClientConnection::log_exchange() {
  if (!worker_.access_log().enabled()) return;
  auto elapsed = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - started_);
  constexpr int kClientClosedRequest = 499;  // nginx's: the client left before any response
  int status = status_ == 0 && aborted_ ? kClientClosedRequest : status_;
  worker_.access_log().record(peer_, req_, status, body_bytes_out_, info_, elapsed);
}

// The 101 head, then the tunnel; bytes the client sent after its request
// head (already in the input buffer) go first. The access log's line for
// this exchange is written when the tunnel ends.
asio::awaitable<void> ClientConnection::tunnel(http::Response& resp, net::Stream& upstream,
                                               std::span<const char> from_upstream) {
  status_ = resp.status;
  keep_alive_ = false;
  finished_ = true;
  if (!resp.headers.contains("Date")) resp.headers.add("Date", current_http_date());
  head_.clear();
  http::serialize_response_head(resp, head_);
  const auto& t = state_->runtime->config->timeouts;
  worker_.deadlines().arm(write_deadline_, t.client_send);
  auto [ec, n] = co_await stream_.write(asio::buffer(head_));
  Deadlines::disarm(write_deadline_);
  head_.clear();
  head_sent_ = true;
  if (ec) {
    aborted_ = true;
    co_return;
  }
  Tunnel tunnel(worker_, stream_, upstream);
  tunnel_ = &tunnel;
  phase_ = Phase::tunnel;
  if (worker_.draining()) tunnel.drain(t.tunnel_drain);
  std::span<const char> from_client(in_ + in_begin_, in_end_ - in_begin_);
  auto r = co_await tunnel.run(from_client, from_upstream, t.tunnel_idle);
  in_begin_ = in_end_;
  tunnel_ = nullptr;
  phase_ = Phase::handling;
  body_bytes_out_ = r.to_client;
  info_.tunnel_from_client = static_cast<std::int64_t>(r.from_client);
  info_.tunnel_end = Tunnel::kEndNames[static_cast<std::size_t>(r.end)];
  aborted_ = r.end == Tunnel::End::error;  // else a clean close (TLS close_notify) follows
}

asio::awaitable<boost::system::error_code> ClientConnection::write_interim(const http::Response& interim) {
  if (status_ != 0) co_return boost::system::error_code{};  // a final head is queued: too late
  std::string head;
  http::serialize_interim_head(interim, head);
  worker_.deadlines().arm(write_deadline_, state_->runtime->config->timeouts.client_send);
  auto [ec, n] = co_await stream_.write(asio::buffer(head));
  Deadlines::disarm(write_deadline_);
  co_return ec ? write_failed(ec) : ec;
}

void ClientConnection::write_head(http::Response& resp) {
  status_ = resp.status;
  auto& h = resp.headers;
  h.remove("Content-Length");
  h.remove("Transfer-Encoding");
  h.remove("Connection");
  if (!h.contains("Date")) h.add("Date", current_http_date());

  const bool head_request = req_.is_head();
  body_allowed_ = http::response_has_body(resp.status, head_request);
  if (!http::response_has_body(resp.status, false)) {
    // 1xx, 204, 304: no body and no framing, except that a 304 may repeat
    // the Content-Length of the representation.
    if (resp.status == 304 && resp.content_length) h.add("Content-Length", std::to_string(*resp.content_length));
  } else if (resp.content_length) {
    h.add("Content-Length", std::to_string(*resp.content_length));
  } else if (req_.version_minor >= 1) {
    h.add("Transfer-Encoding", "chunked");
    chunked_out_ = !head_request;
  } else {
    keep_alive_ = false;  // HTTP/1.0 client: the end of the body is the close
  }
  if (auto c = connection_field(); !c.empty()) h.add("Connection", c);
  http::serialize_response_head(resp, head_);
}

std::string_view ClientConnection::connection_field() {
  if (worker_.draining() || !body_done_) keep_alive_ = false;
  if (!keep_alive_) return "close";
  return req_.version_minor == 0 ? "keep-alive" : "";
}

void ClientConnection::write_head_raw(int status, std::string_view head, std::string_view extra_fields,
                                      std::uint64_t content_length) {
  status_ = status;
  body_allowed_ = http::response_has_body(status, req_.is_head());
  chunked_out_ = false;
  head_.append(head).append(extra_fields);
  if (http::response_has_body(status, false)) head_.append("Content-Length: ").append(std::to_string(content_length)).append(http::kCrlf);
  if (auto c = connection_field(); !c.empty()) head_.append("Connection: ").append(c).append(http::kCrlf);
  head_.append(http::kCrlf);
}

// Files up to this size go out corked with their head (write_file).
constexpr std::uint64_t kCorkedFileMax = 16 * 1024;

asio::awaitable<boost::system::error_code> ClientConnection::write_file(int fd, std::uint64_t offset, std::uint64_t len,
                                                                        bool last) {
  if (finished_) co_return boost::system::error_code{};
  if (!body_allowed_) len = 0;
  if (stream_.tls()) co_return co_await copy_file(*this, worker_, fd, offset, len, last);
  if (!head_.empty() && len > 0 && len <= kCorkedFileMax) {
    // A small file's head with MSG_MORE, as under TCP_CORK: it leaves with
    // the file in one segment, not in a small one of its own (a 4 KiB file
    // is one packet to the client, not two). Not for larger files: corked,
    // a 100 KiB cache hit's sendfile cost 1.6-1.8x nginx's CPU per request
    // instead of 1.0x (compare.py cache-hit-100k; bench/README.md, static).
    boost::system::error_code ec;
    std::array<asio::const_buffer, 1> head{asio::buffer(head_)};
    auto rest = send_now(stream_.socket().native_handle(), head, ec, MSG_MORE);
    if (ec) co_return write_failed(ec);
    head_.erase(0, head_.size() - (rest.empty() ? 0 : rest.front().size()));
    if (head_.empty()) head_sent_ = true;
  }
  if (!head_.empty() || len == 0) {
    if (auto ec = co_await write_body({}, last && len == 0)) co_return ec;
  }
  worker_.deadlines().arm(write_deadline_, state_->runtime->config->timeouts.client_send);
  auto off = static_cast<off_t>(offset);
  boost::system::error_code ec;
  while (len > 0 && !ec) {
    // sendfile(2): the kernel copies from the page cache to the socket.
    ssize_t n = ::sendfile(stream_.socket().native_handle(), fd, &off, std::min<std::uint64_t>(len, 1u << 30));
    if (n > 0) {
      len -= static_cast<std::uint64_t>(n);
      body_bytes_out_ += static_cast<std::uint64_t>(n);
    } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      if (errno == EAGAIN) std::tie(ec) = co_await stream_.socket().async_wait(asio::socket_base::wait_write, kAwait);
    } else {
      ec = n == 0 ? asio::error::eof : boost::system::error_code(errno, boost::system::system_category());
    }
  }
  Deadlines::disarm(write_deadline_);
  if (ec) co_return write_failed(ec);
  if (last) finished_ = true;
  co_return boost::system::error_code{};
}

// TLS and HTTP/2: no sendfile(2) (the kernel would send the file
// unencrypted, kTLS is not available here; HTTP/2 frames are made in user
// space). The file goes through a worker buffer, a record's worth at a
// time, the head with its first piece.
asio::awaitable<boost::system::error_code> copy_file(Downstream& down, Worker& worker, int fd,
                                                     std::uint64_t offset, std::uint64_t len, bool last) {
  auto buf = worker.take_buffer();
  boost::system::error_code ec;
  do {
    auto want = static_cast<std::size_t>(std::min<std::uint64_t>(len, Worker::kBufferSize));
    ssize_t n = want > 0 ? ::pread(fd, buf.get(), want, static_cast<off_t>(offset)) : 0;
    if (n < 0 && errno == EINTR) continue;
    if (want > 0 && n <= 0) {
      ec = n == 0 ? asio::error::eof : boost::system::error_code(errno, boost::system::system_category());
      down.abort();  // the response is cut short: the client must see it truncated
      break;
    }
    offset += static_cast<std::uint64_t>(n);
    len -= static_cast<std::uint64_t>(n);
    ec = co_await down.write_body({buf.get(), static_cast<std::size_t>(n)}, last && len == 0);
  } while (!ec && len > 0);
  worker.give_buffer(std::move(buf));
  co_return ec;
}

asio::awaitable<boost::system::error_code> ClientConnection::write_body(std::span<const char> data, bool last) {
  if (finished_) co_return boost::system::error_code{};
  if (!body_allowed_) data = {};
  std::array<asio::const_buffer, 3> bufs;
  std::size_t n = 0;
  std::string_view trailer = chunked_out_ ? http::frame_chunk(data.size(), last && trailer_.empty(), head_) : std::string_view{};
  std::string with_fields;
  if (chunked_out_ && last && !trailer_.empty()) {
    // The last chunk with trailer fields (RFC 9112 7.1.2).
    with_fields.assign(trailer).append("0\r\n").append(trailer_).append(http::kCrlf);
    trailer = with_fields;
  }
  if (!head_.empty()) bufs[n++] = asio::buffer(head_);
  if (!data.empty()) bufs[n++] = asio::buffer(data.data(), data.size());
  if (!trailer.empty()) bufs[n++] = asio::buffer(trailer);
  if (last) finished_ = true;
  if (n == 0) co_return boost::system::error_code{};
  std::span<asio::const_buffer> rest(bufs.data(), n);
  boost::system::error_code ec;
  // Plain TCP: one sendmsg(2) at once, which nearly always takes it all;
  // the reactor (and the deadline) only for what the socket did not take.
  if (!stream_.tls()) rest = send_now(stream_.socket().native_handle(), rest, ec);
  if (!ec && !rest.empty()) {
    worker_.deadlines().arm(write_deadline_, state_->runtime->config->timeouts.client_send);
    std::tie(ec, std::ignore) = co_await stream_.write(rest);
    Deadlines::disarm(write_deadline_);
  }
  head_.clear();
  head_sent_ = true;
  if (ec) co_return write_failed(ec);
  body_bytes_out_ += data.size();
  co_return boost::system::error_code{};
}

}  // namespace gateway
