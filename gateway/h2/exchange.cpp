#include "gateway/h2/exchange.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <cstring>
#include <ctime>
#include <vector>

#include "base/http/serializer.hpp"
#include "base/log.hpp"
#include "gateway/config.hpp"
#include "gateway/connection.hpp"
#include "gateway/h2/session.hpp"
#include "gateway/worker.hpp"

namespace gateway::h2 {

namespace asio = boost::asio;

namespace {
constexpr auto kAwait = asio::as_tuple(asio::use_awaitable);
// A write returns once no more than this waits for nghttp2 to take it.
constexpr std::size_t kHighWater = 32 * 1024;

ssize_t read_body_source(nghttp2_session*, std::int32_t stream_id, std::uint8_t* buf, std::size_t length,
                         std::uint32_t* flags, nghttp2_data_source*, void* self) {
  auto* ex = static_cast<Session*>(self)->exchange(stream_id);
  if (ex == nullptr) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  return ex->read_out(buf, length, flags);
}

std::vector<nghttp2_nv> to_nv(const Fields& fields) {
  std::vector<nghttp2_nv> nv;
  nv.reserve(fields.size());
  for (const auto& [name, value] : fields) {
    nv.push_back({reinterpret_cast<std::uint8_t*>(const_cast<char*>(name.data())),
                  reinterpret_cast<std::uint8_t*>(const_cast<char*>(value.data())), name.size(), value.size(),
                  NGHTTP2_NV_FLAG_NONE});
  }
  return nv;
}
}  // namespace

Exchange::Exchange(Session& session, std::int32_t id)
    : session_(session), id_(id), signal_(session.worker().io()), deadline_(&Exchange::on_deadline, this) {
  signal_.expires_at(asio::steady_timer::time_point::max());
  if (session.worker().access_log().enabled()) started_ = Clock::now();
  req_.version_minor = 1;
  req_.keep_alive = true;
  req_.tls = session.tls();
  info_.tls = session.tls_version();
  info_.protocol = "HTTP/2.0";
}

Exchange::~Exchange() { Deadlines::disarm(deadline_); }

std::string_view Exchange::peer() const { return session_.peer(); }

bool Exchange::alive() const noexcept { return !closed_ && !session_.dead(); }

void Exchange::on_deadline(void* self) { static_cast<Exchange*>(self)->signal_.cancel(); }

asio::awaitable<void> Exchange::wait() { co_await signal_.async_wait(kAwait); }

// --- The request ---------------------------------------------------------------

void Exchange::on_field(std::string_view name, std::string_view value) {
  if (refuse_status_ != 0) return;
  const auto& limits = session_.config().limits;
  // RFC 9113 6.5.2's measure: name, value and 32 bytes per field.
  header_bytes_ += name.size() + value.size() + 32;
  if (header_bytes_ > limits.header_bytes || req_.headers.size() >= limits.headers) {
    refuse_status_ = 431;
    refuse_reason_ = "header fields too large";
    req_.headers.clear();
  } else if (!add_request_field(req_, name, value, authority_, cookies_)) {
    refuse_status_ = 400;
    refuse_reason_ = "malformed field " + std::string(name);
  }
}

void Exchange::on_headers_done(bool end_stream) {
  in_done_ = end_stream;
  if (end_stream) {
    req_.content_length.reset();
  } else if (!req_.content_length) {
    req_.chunked = true;  // a body of unknown length: chunked to the instance
  }
  if (refuse_status_ == 0) {
    if (auto why = finish_request(req_, authority_, cookies_); !why.empty()) {
      refuse_status_ = req_.method == "CONNECT" ? 405 : 400;
      refuse_reason_ = why;
    }
  }
  if (refuse_status_ == 0 && req_.target.size() > session_.config().limits.uri_bytes) {
    refuse_status_ = 414;
    refuse_reason_ = "request target longer than limit";
  }
  const auto limit = session_.config().limits.body_bytes;
  if (refuse_status_ == 0 && limit && req_.content_length && *req_.content_length > limit) {
    refuse_status_ = 413;
    refuse_reason_ = "request body larger than limit";
  }
}

void Exchange::on_data(const char* data, std::size_t n) {
  in_total_ += n;
  const auto limit = session_.config().limits.body_bytes;
  if (limit && in_total_ > limit) {
    body_error_ = 413;
    nghttp2_session_consume(session_.ng(), id_, n + in_.size());
    in_.clear();
  } else {
    in_.append(data, n);
  }
  signal_.cancel();
}

void Exchange::on_end_stream() {
  in_done_ = true;
  signal_.cancel();
}

void Exchange::on_close() {
  closed_ = true;
  if (!eof_sent_) aborted_ = true;  // reset before the response was complete
  signal_.cancel();
}

void Exchange::release_unread_body() {
  if (!in_.empty()) nghttp2_session_consume(session_.ng(), id_, in_.size());
  in_.clear();
}

asio::awaitable<boost::system::error_code> Exchange::read_body(std::span<const char>& piece, bool& done) {
  piece = {};
  done = false;
  if (req_.expect_continue && !continue_sent_ && in_.empty() && !in_done_) {
    // The client waits for our go-ahead before its DATA (RFC 9110 10.1.1).
    continue_sent_ = true;
    http::Response go_ahead;
    go_ahead.status = 100;
    co_await write_interim(go_ahead);
  }
  for (;;) {
    if (body_error_ != 0) co_return boost::system::error_code(asio::error::invalid_argument);
    if (!in_.empty()) {
      piece_.swap(in_);
      in_.clear();
      // Only now may the client send more (flow control).
      if (alive()) {
        nghttp2_session_consume(session_.ng(), id_, piece_.size());
        session_.wake_writer();
      }
      piece = piece_;
      done = in_done_;
      co_return boost::system::error_code{};
    }
    if (in_done_) {
      done = true;
      co_return boost::system::error_code{};
    }
    if (!alive()) {
      aborted_ = true;  // the client reset the stream, or left
      co_return boost::system::error_code(asio::error::eof);
    }
    session_.worker().deadlines().arm(deadline_, session_.config().timeouts.client_body);
    co_await wait();
    const bool expired = deadline_.expired();
    Deadlines::disarm(deadline_);
    if (expired) {
      body_error_ = 408;
      co_return boost::system::error_code(asio::error::timed_out);
    }
  }
}

// --- The response ----------------------------------------------------------------

void Exchange::add_length(std::uint64_t content_length) {
  if (http::response_has_body(status_, false) || status_ == 304)
    fields_.emplace_back("content-length", std::to_string(content_length));
}

asio::awaitable<boost::system::error_code> Exchange::write_interim(const http::Response& interim) {
  // A 1xx is a HEADERS frame without END_STREAM ahead of the final one
  // (RFC 9113 8.1).
  if (status_ != 0 || !alive()) co_return boost::system::error_code{};
  const auto fields = response_fields(interim);
  auto nv = to_nv(fields);  // views into `fields`
  nghttp2_submit_headers(session_.ng(), NGHTTP2_FLAG_NONE, id_, nullptr, nv.data(), nv.size(), nullptr);
  session_.wake_writer();
  co_return boost::system::error_code{};
}

void Exchange::write_head(http::Response& resp) {
  status_ = resp.status;
  body_allowed_ = http::response_has_body(resp.status, req_.is_head());
  auto& h = resp.headers;
  h.remove("Content-Length");
  if (!h.contains("Date")) h.add("Date", http::format_http_date(std::time(nullptr)));
  fields_ = response_fields(resp);
  if (resp.content_length && (status_ != 304 || *resp.content_length > 0)) add_length(*resp.content_length);
}

void Exchange::write_head_raw(int status, std::string_view head, std::string_view extra_fields,
                              std::uint64_t content_length) {
  status_ = status;
  body_allowed_ = http::response_has_body(status, req_.is_head());
  int parsed = 0;
  if (!head_to_fields(head, extra_fields, fields_, parsed)) fields_ = {{":status", std::to_string(status)}};
  fields_[0].second = std::to_string(status);
  if (http::response_has_body(status, false)) add_length(content_length);
}

void Exchange::submit_head(bool body_follows) {
  head_submitted_ = true;
  if (!body_follows) eof_sent_ = true;
  if (!alive()) return;
  auto nv = to_nv(fields_);
  nghttp2_data_provider source{};
  source.read_callback = &read_body_source;
  nghttp2_submit_response(session_.ng(), id_, nv.data(), nv.size(), body_follows ? &source : nullptr);
  session_.wake_writer();
}

ssize_t Exchange::read_out(std::uint8_t* buf, std::size_t length, std::uint32_t* flags) {
  const std::size_t n = std::min(length, out_.size() - out_off_);
  std::memcpy(buf, out_.data() + out_off_, n);
  out_off_ += n;
  if (out_off_ == out_.size()) {
    out_.clear();
    out_off_ = 0;
  }
  signal_.cancel();  // a writer waiting for room
  if (out_.empty() && out_last_) {
    *flags |= NGHTTP2_DATA_FLAG_EOF;
    eof_sent_ = true;
    if (auto fields = lines_to_fields(trailer_); !fields.empty()) {
      auto nv = to_nv(fields);
      if (nghttp2_submit_trailer(session_.ng(), id_, nv.data(), nv.size()) == 0) *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
    }
    return static_cast<ssize_t>(n);
  }
  if (n == 0) {
    deferred_ = true;
    return NGHTTP2_ERR_DEFERRED;
  }
  return static_cast<ssize_t>(n);
}

asio::awaitable<boost::system::error_code> Exchange::write_body(std::span<const char> data, bool last) {
  if (finished_) co_return boost::system::error_code{};
  if (!alive()) {
    aborted_ = true;
    co_return boost::system::error_code(asio::error::connection_reset);
  }
  if (!body_allowed_) data = {};
  if (last) finished_ = true;
  if (!head_submitted_ && last && data.empty() && trailer_.empty()) {
    submit_head(false);
    co_return boost::system::error_code{};
  }
  if (out_off_ > 0) {
    out_.erase(0, out_off_);
    out_off_ = 0;
  }
  out_.append(data.data(), data.size());
  out_last_ = last;
  body_bytes_out_ += data.size();
  if (!head_submitted_) {
    submit_head(true);
  } else if (deferred_) {
    deferred_ = false;
    nghttp2_session_resume_data(session_.ng(), id_);
    session_.wake_writer();
  }
  // Wait while the client's windows hold more than a little back.
  while (out_.size() - out_off_ > kHighWater && alive()) {
    session_.worker().deadlines().arm(deadline_, session_.config().timeouts.client_send);
    co_await wait();
    const bool expired = deadline_.expired();
    Deadlines::disarm(deadline_);
    if (expired) {
      abort();
      co_return boost::system::error_code(asio::error::timed_out);
    }
  }
  if (!alive() && !eof_sent_) {
    aborted_ = true;
    co_return boost::system::error_code(asio::error::connection_reset);
  }
  co_return boost::system::error_code{};
}

asio::awaitable<boost::system::error_code> Exchange::write_file(int fd, std::uint64_t offset, std::uint64_t len,
                                                                bool last) {
  if (!body_allowed_) len = 0;
  co_return co_await copy_file(*this, session_.worker(), fd, offset, len, last);
}

void Exchange::abort() {
  aborted_ = true;
  finished_ = true;
  if (alive()) {
    nghttp2_submit_rst_stream(session_.ng(), NGHTTP2_FLAG_NONE, id_, NGHTTP2_INTERNAL_ERROR);
    session_.wake_writer();
  }
}

// --- The handler -----------------------------------------------------------------

asio::awaitable<void> Exchange::handle(std::shared_ptr<WorkerState> state) {
  auto& worker = session_.worker();
  if (refuse_status_ != 0) {
    worker.metrics().bad_requests.inc();  // as the HTTP/1.1 parser's refusals
    std::string body = std::to_string(refuse_status_) + " " + std::string(http::reason_phrase(refuse_status_)) +
                       ": " + refuse_reason_ + "\n";
    co_await respond(*this, refuse_status_, body);
  } else {
    co_await serve_request(*this, session_.admin(), *state, worker);
  }
  if (!finished_ && !aborted_ && alive()) {
    if (status_ == 0) {
      log::error("handler produced no response for " + req_.target);
      co_await respond(*this, 500, "500 Internal Server Error\n");
    } else {
      co_await finish();
    }
  }
  log();
}

void Exchange::log() {
  auto& access_log = session_.worker().access_log();
  if (!access_log.enabled()) return;
  auto elapsed = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - started_);
  constexpr int kClientClosedRequest = 499;
  int status = status_ == 0 && aborted_ ? kClientClosedRequest : status_;
  access_log.record(session_.peer(), req_, status, body_bytes_out_, info_, elapsed);
}

}  // namespace gateway::h2
