#include "upstreams/client.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cstring>
#include <vector>

#include "upstreams/tls.hpp"

namespace gateway::upstreams {

namespace {
constexpr std::size_t kBufferSize = 16 * 1024;
constexpr auto kAwait = asio::as_tuple(asio::use_awaitable);

// Read buffers, recycled on this thread: an idle pooled connection holds
// none (release_buffer), the next response borrows one.
thread_local std::vector<std::unique_ptr<char[]>> free_buffers;

std::unique_ptr<char[]> take_buffer() {
  if (free_buffers.empty()) return std::unique_ptr<char[]>(new char[kBufferSize]);
  auto b = std::move(free_buffers.back());
  free_buffers.pop_back();
  return b;
}

void give_buffer(std::unique_ptr<char[]> b) {
  constexpr std::size_t kKeep = 64;
  if (free_buffers.size() < kKeep) free_buffers.push_back(std::move(b));
}
}  // namespace

const char* to_string(Outcome o) noexcept {
  switch (o) {
    case Outcome::ok: return "ok";
    case Outcome::connect_failed: return "connect failed";
    case Outcome::connect_timeout: return "connect timed out";
    case Outcome::send_failed: return "send failed";
    case Outcome::closed_early: return "closed before responding";
    case Outcome::read_timeout: return "read timed out";
    case Outcome::send_timeout: return "send timed out";
    case Outcome::read_failed: return "connection lost mid-response";
    case Outcome::bad_response: return "invalid response";
  }
  return "?";
}

int status_for(Outcome o) noexcept {
  return (o == Outcome::connect_timeout || o == Outcome::read_timeout || o == Outcome::send_timeout) ? 504 : 502;
}

Connection::Connection(const asio::any_io_executor& ex, Deadlines& deadlines, std::size_t instance,
                       const http::ParserLimits& limits)
    : stream_(ex),
      deadlines_(deadlines),
      deadline_(&Connection::on_deadline, this),
      send_deadline_(&Connection::on_deadline, this),
      instance_(instance),
      parser_(http::Parser::Kind::response, limits) {}

Connection::~Connection() {
  if (buf_) give_buffer(std::move(buf_));
}

void Connection::release_buffer() noexcept {
  if (!buf_ || begin_ != end_) return;
  give_buffer(std::move(buf_));
  begin_ = end_ = 0;
}

void Connection::on_deadline(void* self) {
  // Closing makes the pending operation complete with operation_aborted;
  // the awaiting step sees deadline_.expired() and reports a timeout.
  static_cast<Connection*>(self)->close();
}

void Connection::close() noexcept { stream_.close(); }

asio::awaitable<Outcome> Connection::connect(const std::vector<tcp::endpoint>& endpoints,
                                             Clock::duration timeout, const TlsTarget* tls) {
  if (endpoints.empty()) {
    error_ = asio::error::host_not_found;
    co_return Outcome::connect_failed;
  }
  deadlines_.arm(deadline_, timeout);
  auto [ec, ep] = co_await asio::async_connect(stream_.socket(), endpoints, kAwait);
  boost::system::error_code ignored;
  if (!ec) stream_.socket().set_option(tcp::no_delay(true), ignored);
  if (!ec && tls) {
    tls_ = tls->context;
    ec = co_await client_handshake(stream_, *tls);
  }
  Deadlines::disarm(deadline_);
  if (deadline_.expired()) co_return Outcome::connect_timeout;
  if (ec) {
    error_ = ec;
    co_return Outcome::connect_failed;
  }
  co_return Outcome::ok;
}

asio::awaitable<Outcome> Connection::send(std::span<const asio::const_buffer> buffers,
                                          Clock::duration timeout) {
  // Its own deadline: the body may be sent while the response is read.
  deadlines_.arm(send_deadline_, timeout);
  auto [ec, n] = co_await stream_.write(buffers);
  Deadlines::disarm(send_deadline_);
  if (send_deadline_.expired()) co_return Outcome::send_timeout;
  if (ec) {
    error_ = ec;
    co_return Outcome::send_failed;
  }
  co_return Outcome::ok;
}

asio::awaitable<bool> Connection::fill() {
  if (!buf_) buf_ = take_buffer();
  if (begin_ == end_) begin_ = end_ = 0;
  if (end_ == kBufferSize) {
    // Unparsed bytes at the end of a full buffer: move them to the front.
    std::memmove(buf_.get(), buf_.get() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
  }
  auto [ec, n] = co_await stream_.read_some(asio::buffer(buf_.get() + end_, kBufferSize - end_));
  if (ec) {
    error_ = ec;
    if (ec == asio::error::eof) eof_ = true;
    co_return false;
  }
  end_ += n;
  response_started_ = true;
  co_return true;
}

asio::awaitable<Outcome> Connection::read_head(http::Response& out, bool head_request,
                                               Clock::duration timeout, const InterimSink* interim, bool upgrade) {
  response_ = &out;
  response_started_ = false;
  eof_ = false;
  parser_.start(out, head_request, interim ? http::Parser::Interim::report : http::Parser::Interim::skip, upgrade);
  deadlines_.arm(deadline_, timeout);
  for (;;) {
    if (begin_ == end_) {
      if (!co_await fill()) {
        Deadlines::disarm(deadline_);
        if (deadline_.expired()) co_return Outcome::read_timeout;
        if (eof_ && parser_.in_message()) {
          // Close-delimited response without a body, e.g. a bare head.
          auto r = parser_.finish();
          if (r.event == http::Event::message_done) co_return Outcome::ok;
        }
        co_return response_started_ ? Outcome::read_failed : Outcome::closed_early;
      }
    }
    auto r = parser_.feed(buf_.get() + begin_, end_ - begin_);
    begin_ += r.consumed;
    if (r.event == http::Event::error) {
      Deadlines::disarm(deadline_);
      co_return Outcome::bad_response;
    }
    if (r.event == http::Event::headers || r.event == http::Event::message_done) {
      Deadlines::disarm(deadline_);
      co_return Outcome::ok;
    }
    // The interim head is in `out` until the next feed.
    if (r.event == http::Event::interim) co_await (*interim)(out);
  }
}

asio::awaitable<Outcome> Connection::read_body(std::span<const char>& piece, bool& done,
                                               Clock::duration timeout) {
  piece = {};
  done = parser_.message_done();
  if (done) {
    end_response();
    co_return Outcome::ok;
  }
  for (;;) {
    if (begin_ < end_) {
      auto r = parser_.feed(buf_.get() + begin_, end_ - begin_);
      begin_ += r.consumed;
      if (r.event == http::Event::error) co_return Outcome::bad_response;
      piece = r.body;
      if (r.event == http::Event::message_done) {
        done = true;
        end_response();
        co_return Outcome::ok;
      }
      if (!piece.empty()) co_return Outcome::ok;
      continue;
    }
    deadlines_.arm(deadline_, timeout);
    bool got = co_await fill();
    Deadlines::disarm(deadline_);
    if (got) continue;
    if (deadline_.expired()) co_return Outcome::read_timeout;
    if (eof_) {
      auto r = parser_.finish();
      if (r.event == http::Event::message_done) {
        done = true;
        co_return Outcome::ok;
      }
    }
    co_return Outcome::read_failed;
  }
}

// The next request on this connection starts with no byte of its response:
// a send that fails on a kept-alive connection must not look as if the
// previous response had been the start of this one's (which would forbid
// resending it on a fresh connection, upstreams::resend_on_fresh_connection).
void Connection::end_response() noexcept {
  ++responses_;
  response_started_ = false;
}

std::span<const char> Connection::take_buffered() noexcept {
  std::span<const char> rest(buf_.get() + begin_, end_ - begin_);
  begin_ = end_ = 0;
  eof_ = true;  // never reusable
  return rest;
}

bool Connection::reusable() const noexcept {
  return stream_.is_open() && parser_.message_done() && response_ && response_->keep_alive && !eof_ &&
         begin_ == end_;
}

}  // namespace gateway::upstreams
