#include "gateway/h2/session.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <array>
#include <tuple>

#include "base/log.hpp"
#include "gateway/h2/exchange.hpp"
#include "gateway/runtime.hpp"
#include "gateway/worker.hpp"

namespace gateway::h2 {

namespace asio = boost::asio;

namespace {
constexpr auto kAwait = asio::as_tuple(asio::use_awaitable);
// Frames gathered into one write.
constexpr std::size_t kWriteBatch = 64 * 1024;

// The callbacks, the same for every session (nghttp2 copies them).
struct Callbacks {
  nghttp2_session_callbacks* cb = nullptr;
  template <class F>
  Callbacks(F&& set) {
    nghttp2_session_callbacks_new(&cb);
    set(cb);
  }
  ~Callbacks() { nghttp2_session_callbacks_del(cb); }
};
}  // namespace

Session::Session(Worker& worker, net::Stream& stream, std::string_view peer, bool admin)
    : worker_(worker),
      stream_(stream),
      state_(worker.state()),
      peer_(peer),
      admin_(admin),
      wake_(stream.get_executor()),
      read_deadline_(&Session::on_read_deadline, this),
      write_deadline_(&Session::on_write_deadline, this),
      resets_(state_->runtime->config->http2.reset_burst, state_->runtime->config->http2.reset_rate),
      control_(state_->runtime->config->http2.control_burst, state_->runtime->config->http2.control_rate),
      // A header block may carry some HPACK overhead beyond the header list limit.
      header_block_(state_->runtime->config->http2.max_continuations, 2 * state_->runtime->config->limits.header_bytes),
      stats_(worker.metrics().http2) {
  wake_.expires_at(asio::steady_timer::time_point::max());
  stats_.connections.inc();
  create_session();
}

Session::~Session() {
  Deadlines::disarm(read_deadline_);
  Deadlines::disarm(write_deadline_);
  exchanges_.clear();
  nghttp2_session_del(ng_);
}

const Config& Session::config() const noexcept { return *state_->runtime->config; }

void Session::create_session() {
  static const Callbacks callbacks([](nghttp2_session_callbacks* cb) {
    nghttp2_session_callbacks_set_on_begin_frame_callback(cb, &Session::on_begin_frame);
    nghttp2_session_callbacks_set_on_begin_headers_callback(cb, &Session::on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cb, &Session::on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, &Session::on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, &Session::on_data_chunk);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, &Session::on_stream_close);
    nghttp2_session_callbacks_set_on_frame_send_callback(cb, &Session::on_frame_send);
  });
  const auto& c = config().http2;
  nghttp2_option* opt = nullptr;
  nghttp2_option_new(&opt);
  // Windows open only as handlers read (Exchange::read_body).
  nghttp2_option_set_no_auto_window_update(opt, 1);
  nghttp2_option_set_no_closed_streams(opt, 1);
  nghttp2_option_set_max_deflate_dynamic_table_size(opt, 4096);
  // nghttp2's own guards stay as a backstop behind ours, which count why.
  nghttp2_option_set_max_continuations(opt, c.max_continuations + 1);
  nghttp2_option_set_stream_reset_rate_limit(opt, 2ull * c.reset_burst, 2ull * c.reset_rate + 1);
  nghttp2_session_server_new2(&ng_, callbacks.cb, this, opt);
  nghttp2_option_del(opt);

  // No SETTINGS_ENABLE_CONNECT_PROTOCOL: WebSocket stays on HTTP/1.1.
  const std::array<nghttp2_settings_entry, 4> settings = {{
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, c.max_concurrent_streams},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, c.initial_window_bytes},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, static_cast<std::uint32_t>(config().limits.header_bytes)},
      {NGHTTP2_SETTINGS_HEADER_TABLE_SIZE, c.hpack_table_bytes},
  }};
  nghttp2_submit_settings(ng_, NGHTTP2_FLAG_NONE, settings.data(), settings.size());
  nghttp2_session_set_local_window_size(ng_, NGHTTP2_FLAG_NONE, 0, static_cast<std::int32_t>(c.connection_window_bytes));
}

asio::awaitable<void> Session::run(std::span<const char> pending) {
  using namespace asio::experimental::awaitable_operators;
  if (worker_.draining()) drain();
  co_await (read_loop(pending) && write_loop());
  dead_ = true;
  // The handlers still running see the connection gone, and return.
  for (auto& [id, ex] : exchanges_) ex->wake();
  while (handlers_ > 0) co_await wake_.async_wait(kAwait);
  exchanges_.clear();
  if (goaway_sent_ && stream_.is_open()) co_await linger();
}

// After a GOAWAY, as after an HTTP/1.1 response with unread input: our
// sending half ends, and what the client still sends is read and dropped
// for a moment, so that closing with unread bytes does not reset the
// connection before the client has read the GOAWAY.
asio::awaitable<void> Session::linger() {
  constexpr std::chrono::milliseconds kLingerTime{2000};
  constexpr std::size_t kLingerBytes = 1024 * 1024;
  boost::system::error_code ignored;
  stream_.socket().shutdown(net::tcp::socket::shutdown_send, ignored);  // close_notify went already
  worker_.deadlines().arm(read_deadline_, kLingerTime);
  auto buf = worker_.take_buffer();
  for (std::size_t drained = 0; drained < kLingerBytes;) {
    auto [ec, n] = co_await stream_.read_some(asio::buffer(buf.get(), Worker::kBufferSize));
    if (ec || n == 0) break;
    drained += n;
  }
  Deadlines::disarm(read_deadline_);
  worker_.give_buffer(std::move(buf));
}

void Session::drain() {
  if (draining_ || dead_) return;
  draining_ = true;
  if (goaway_reason_ < 0) {
    goaway_reason_ = Http2Stats::kDrain;
    stats_.goaway[Http2Stats::kDrain].inc();
  }
  // The streams up to the last one begun are served; the client retries
  // later ones elsewhere (RFC 9113 6.8).
  nghttp2_submit_goaway(ng_, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(ng_), NGHTTP2_NO_ERROR,
                        nullptr, 0);
  wake_writer();
}

void Session::fail(Http2Stats::Reason reason, std::uint32_t code) {
  reading_ = false;
  if (failed_) return;
  failed_ = true;
  goaway_reason_ = reason;
  stats_.goaway[reason].inc();
  nghttp2_session_terminate_session(ng_, code);
  wake_writer();
}

void Session::wake_writer() { wake_.cancel(); }

void Session::on_read_deadline(void* self) {
  auto* s = static_cast<Session*>(self);
  s->read_timed_out_ = true;
  s->stream_.cancel();
}

void Session::on_write_deadline(void* self) {
  auto* s = static_cast<Session*>(self);
  s->dead_ = true;
  s->stream_.cancel();
}

void Session::arm_read_deadline() {
  const auto& t = config().timeouts;
  if (in_header_block_ || (exchanges_.empty() && nghttp2_session_get_last_proc_stream_id(ng_) == 0)) {
    // The preface, the first request, or a header block under way.
    worker_.deadlines().arm(read_deadline_, t.client_header);
  } else if (exchanges_.empty()) {
    worker_.deadlines().arm(read_deadline_, t.keepalive);
  } else {
    Deadlines::disarm(read_deadline_);  // the streams' own deadlines apply
  }
}

asio::awaitable<void> Session::read_loop(std::span<const char> pending) {
  if (!pending.empty()) feed(pending.data(), pending.size());
  std::unique_ptr<char[]> buf;
  while (reading_ && !dead_) {
    arm_read_deadline();
    boost::system::error_code ec;
    std::size_t n = 0;
    if (!buf && !bytes_waiting()) {
      // Idle: wait for bytes without a buffer, as a parked HTTP/1.1
      // connection does (a 1-byte peek), so an idle connection holds none.
      char peek = 0;
      std::tie(ec, n) = co_await stream_.socket().async_receive(asio::buffer(&peek, 1),
                                                                net::tcp::socket::message_peek, kAwait);
      if (!ec && n == 0) ec = asio::error::eof;
    }
    if (!ec) {
      if (!buf) buf = worker_.take_buffer();
      std::tie(ec, n) = co_await stream_.read_some(asio::buffer(buf.get(), Worker::kBufferSize));
    }
    Deadlines::disarm(read_deadline_);
    if (ec || n == 0) {
      if (read_timed_out_ && !dead_ && reading_) {
        // Idle too long (or a header block stalled): say goodbye.
        fail(in_header_block_ ? Http2Stats::kProtocolError : Http2Stats::kIdle, NGHTTP2_NO_ERROR);
      } else if (!read_timed_out_) {
        dead_ = true;  // the client went away (or the write loop ended)
      }
      break;
    }
    feed(buf.get(), n);
    // Nothing under way: the buffer goes back to the worker until bytes come.
    if (exchanges_.empty() && !in_header_block_) worker_.give_buffer(std::move(buf));
  }
  if (buf) worker_.give_buffer(std::move(buf));
  reading_ = false;
  wake_writer();
}

// Whether a read would find bytes without waiting on the socket: OpenSSL
// may hold bytes it read already, decrypted or not (SSL_pending counts only
// the decrypted ones of the record at hand; SSL_has_pending also the
// records read ahead).
bool Session::bytes_waiting() const noexcept { return stream_.tls() && stream_.tls_pending(); }

void Session::feed(const char* data, std::size_t n) {
  auto rv = nghttp2_session_mem_recv(ng_, reinterpret_cast<const std::uint8_t*>(data), n);
  if (rv < 0) {
    // Fatal: a flood of frames to acknowledge, too many CONTINUATIONs, no
    // preface. Whatever nghttp2 can still send goes; then the close.
    if (rv == NGHTTP2_ERR_FLOODED) fail(Http2Stats::kControlFlood, NGHTTP2_ENHANCE_YOUR_CALM);
    else if (rv == NGHTTP2_ERR_TOO_MANY_CONTINUATIONS) fail(Http2Stats::kContinuationFlood, NGHTTP2_ENHANCE_YOUR_CALM);
    else fail(Http2Stats::kProtocolError, NGHTTP2_PROTOCOL_ERROR);
  }
  if (!nghttp2_session_want_read(ng_) && !nghttp2_session_want_write(ng_)) reading_ = false;
  wake_writer();
}

asio::awaitable<void> Session::write_loop() {
  std::string out;
  for (;;) {
    out.clear();
    while (!dead_ && out.size() < kWriteBatch) {
      const std::uint8_t* data = nullptr;
      auto n = nghttp2_session_mem_send(ng_, &data);
      if (n < 0) {
        dead_ = true;
      } else if (n == 0) {
        break;
      } else {
        out.append(reinterpret_cast<const char*>(data), static_cast<std::size_t>(n));
      }
    }
    if (dead_) break;
    if (!out.empty()) {
      worker_.deadlines().arm(write_deadline_, config().timeouts.client_send);
      auto [ec, written] = co_await stream_.write(asio::buffer(out));
      Deadlines::disarm(write_deadline_);
      if (ec) {
        dead_ = true;
        break;
      }
      if (exchanges_.empty()) std::string().swap(out);  // idle: hold no batch buffer
      continue;
    }
    if (!reading_ || (!nghttp2_session_want_read(ng_) && !nghttp2_session_want_write(ng_))) break;
    co_await wake_.async_wait(kAwait);
  }
  // Nothing more to send: a clean end, and the read loop stops too.
  if (!dead_) stream_.close_notify();
  dead_ = true;
  reading_ = false;
  stream_.cancel();
}

Exchange* Session::exchange(std::int32_t id) {
  auto it = exchanges_.find(id);
  return it == exchanges_.end() ? nullptr : it->second.get();
}

void Session::erase_if_done(std::int32_t id) {
  auto it = exchanges_.find(id);
  if (it == exchanges_.end() || !it->second->closed() || !it->second->handler_done()) return;
  exchanges_.erase(it);
  // The read under way may have no deadline (streams were open): now idle.
  if (exchanges_.empty() && reading_) arm_read_deadline();
}

void Session::start_handler(Exchange& ex) {
  ++handlers_;
  asio::co_spawn(stream_.get_executor(), ex.handle(worker_.state()), [this, &ex](std::exception_ptr e) {
    log::on_exception("HTTP/2 stream")(e);
    ex.set_handler_done();
    --handlers_;
    if (!ex.closed() && !dead_) {
      // The response is complete or abandoned; a body the handler left
      // unread is consumed as it comes (Session::on_data_chunk).
      if (!ex.response_done()) nghttp2_submit_rst_stream(ng_, NGHTTP2_FLAG_NONE, ex.id(), NGHTTP2_INTERNAL_ERROR);
      ex.release_unread_body();
    }
    erase_if_done(ex.id());
    wake_writer();
  });
}

// --- nghttp2 callbacks -------------------------------------------------------

int Session::on_begin_frame(nghttp2_session*, const nghttp2_frame_hd* hd, void* self) {
  auto* s = static_cast<Session*>(self);
  const bool block = hd->type == NGHTTP2_HEADERS || hd->type == NGHTTP2_CONTINUATION;
  s->in_header_block_ = block;
  if (block && !s->header_block_.on_frame(hd->type == NGHTTP2_HEADERS, hd->length))
    s->fail(Http2Stats::kContinuationFlood, NGHTTP2_ENHANCE_YOUR_CALM);
  // Every RST_STREAM counts, also for streams already closed (refused, or
  // done), which nghttp2 drops without a word.
  if (hd->type == NGHTTP2_RST_STREAM) {
    s->stats_.streams_reset.inc();
    if (!s->resets_.take(Clock::now())) s->fail(Http2Stats::kRapidReset, NGHTTP2_ENHANCE_YOUR_CALM);
  }
  return 0;
}

int Session::on_begin_headers(nghttp2_session*, const nghttp2_frame* frame, void* self) {
  auto* s = static_cast<Session*>(self);
  if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
  const auto id = frame->hd.stream_id;
  s->stats_.streams.inc();
  // Handlers of streams the client reset still count: a client cannot
  // have more work going on than this by resetting and opening.
  if (s->exchanges_.size() >= s->config().http2.max_concurrent_streams || !s->reading_) {
    s->stats_.streams_refused.inc();
    nghttp2_submit_rst_stream(s->ng_, NGHTTP2_FLAG_NONE, id, NGHTTP2_REFUSED_STREAM);
    return 0;
  }
  s->exchanges_.emplace(id, std::make_unique<Exchange>(*s, id));
  return 0;
}

int Session::on_header(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name, std::size_t namelen,
                       const std::uint8_t* value, std::size_t valuelen, std::uint8_t, void* self) {
  auto* s = static_cast<Session*>(self);
  // Request trailers are dropped (an HTTP/1.1 instance rarely wants them).
  if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
  if (auto* ex = s->exchange(frame->hd.stream_id))
    ex->on_field({reinterpret_cast<const char*>(name), namelen}, {reinterpret_cast<const char*>(value), valuelen});
  return 0;
}

int Session::on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* self) {
  auto* s = static_cast<Session*>(self);
  const auto id = frame->hd.stream_id;
  const bool end_stream = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
  switch (frame->hd.type) {
    case NGHTTP2_HEADERS:
      s->in_header_block_ = false;
      if (auto* ex = s->exchange(id)) {
        if (frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
          ex->on_headers_done(end_stream);
          s->start_handler(*ex);
        } else if (end_stream) {
          ex->on_end_stream();
        }
      }
      break;
    case NGHTTP2_DATA:
      if (auto* ex = s->exchange(id); ex && end_stream) ex->on_end_stream();
      break;
    case NGHTTP2_PING:
    case NGHTTP2_SETTINGS:
      if ((frame->hd.flags & NGHTTP2_FLAG_ACK) == 0 && !s->control_.take(Clock::now()))
        s->fail(Http2Stats::kControlFlood, NGHTTP2_ENHANCE_YOUR_CALM);
      break;
    default:
      break;
  }
  return 0;
}

int Session::on_data_chunk(nghttp2_session*, std::uint8_t, std::int32_t stream_id, const std::uint8_t* data,
                           std::size_t len, void* self) {
  auto* s = static_cast<Session*>(self);
  auto* ex = s->exchange(stream_id);
  if (ex && ex->wants_body()) {
    ex->on_data(reinterpret_cast<const char*>(data), len);
  } else {
    // Nobody reads it: give the window back at once.
    nghttp2_session_consume(s->ng_, stream_id, len);
  }
  return 0;
}

int Session::on_stream_close(nghttp2_session*, std::int32_t stream_id, std::uint32_t, void* self) {
  auto* s = static_cast<Session*>(self);
  if (auto* ex = s->exchange(stream_id)) {
    ex->on_close();
    s->erase_if_done(stream_id);
  }
  return 0;
}

int Session::on_frame_send(nghttp2_session*, const nghttp2_frame* frame, void* self) {
  auto* s = static_cast<Session*>(self);
  if (frame->hd.type == NGHTTP2_GOAWAY) s->goaway_sent_ = true;
  // A GOAWAY nghttp2 sent on its own: a protocol error by the client.
  if (frame->hd.type == NGHTTP2_GOAWAY && s->goaway_reason_ < 0) {
    s->goaway_reason_ = Http2Stats::kProtocolError;
    s->stats_.goaway[Http2Stats::kProtocolError].inc();
  }
  return 0;
}

}  // namespace gateway::h2
