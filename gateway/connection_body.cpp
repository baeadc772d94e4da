// ClientConnection's request body: read in pieces as the handler asks,
// with the 100 Continue a client that expects one waits for.
#include <boost/asio/buffer.hpp>

#include "gateway/connection.hpp"

namespace gateway {

namespace asio = boost::asio;

namespace {
constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
}

asio::awaitable<boost::system::error_code> ClientConnection::read_body(std::span<const char>& piece, bool& done) {
  piece = {};
  done = body_done_;
  if (done) co_return boost::system::error_code{};
  const auto& t = state_->runtime->config->timeouts;
  borrow_large_buffer();  // bodies are read in large pieces
  if (req_.expect_continue && !continue_sent_ && in_begin_ == in_end_) {
    // The client waits for our go-ahead before sending the body (RFC 9110 10.1.1).
    continue_sent_ = true;
    worker_.deadlines().arm(write_deadline_, t.client_send);
    auto [ec, n] = co_await stream_.write(asio::buffer(kContinue));
    Deadlines::disarm(write_deadline_);
    if (ec) co_return ec;
  }
  for (;;) {
    if (in_begin_ < in_end_) {
      auto r = parser_.feed(in_ + in_begin_, in_end_ - in_begin_);
      in_begin_ += r.consumed;
      if (r.event == http::Event::error) {
        keep_alive_ = false;
        body_error_ = parser_.error_status();
        co_return boost::system::error_code(asio::error::invalid_argument);
      }
      piece = r.body;
      if (r.event == http::Event::message_done) {
        done = body_done_ = true;
        co_return boost::system::error_code{};
      }
      if (!piece.empty()) co_return boost::system::error_code{};
    }
    arm(t.client_body);
    bool got = co_await read_more();
    Deadlines::disarm(deadline_);
    if (!got) {
      keep_alive_ = false;
      if (deadline_.expired()) {
        body_error_ = 408;
        co_return boost::system::error_code(asio::error::timed_out);
      }
      // The client left mid-body: nobody is there to answer. Logged as
      // nginx's 499, not as a handler that produced no response.
      aborted_ = true;
      co_return boost::system::error_code(asio::error::eof);
    }
  }
}

}  // namespace gateway
