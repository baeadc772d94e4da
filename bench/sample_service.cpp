// sample-service: the stand-in fleet instance the gateway is tested and
// benchmarked against. It serves the widgets of a Twitch-like page (channel,
// chat, recommended channels, player) as JSON and HTML fragments, and lets the
// caller shape every response through query parameters (delay, size, status,
// cache headers, framing, failures), so tests and benchmarks need no other
// backend.
//
// Threads: one io_context per thread (--threads, default 1), each with its own
// SO_REUSEPORT acceptor; a connection lives on the thread that accepted it and
// is one coroutine: read -> parse -> answer, in order, keep-alive. The only
// cross-thread state is the per-thread Stats block (relaxed atomics) that
// /stats sums and /stats/reset clears.
//
// Speed: the read buffer, parser, request, response, query knobs and output
// string belong to the connection and are reused, so a warmed-up connection
// does not allocate per request. Pipelined answers collect in one output
// string and leave in one write when the input runs dry; large bodies are
// gather-written from one shared, immutable filler block.

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cassert>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <exception>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <vector>

#include "base/http/message.hpp"
#include "base/http/parser.hpp"
#include "base/http/serializer.hpp"
#include "bench/sample_chat.hpp"
#include "bench/sample_service/content.hpp"
#include "bench/sample_service/knobs.hpp"

namespace bench {

namespace asio = boost::asio;
namespace http = gateway::http;
using asio::awaitable;
using asio::ip::tcp;
using namespace std::literals;

constexpr auto kAwait = asio::as_tuple(asio::use_awaitable);

// ---------------------------------------------------------------------------
// Options and shared state

struct Options {
  std::string host = "127.0.0.1";
  unsigned short port = 0;
  bool port_given = false;
  std::string name;
  int threads = 1;
  std::string port_file;
  std::uint64_t default_delay_ms = 0;
  std::string default_cache_control;
  std::uint64_t fail_every = 0;  // every Nth counted request answers fail_status (0: never)
  int fail_status = 500;
};

// What /stats reports per path prefix. The control endpoints (/health,
// /stats) are counted apart so that polling them does not disturb "requests".
enum class Route : std::uint8_t { channel, chat, recommended, fragment, api_write, echo, not_found,
                                  health, stats, stats_reset };
constexpr std::size_t kCountedRoutes = 7;
constexpr std::array<std::string_view, kCountedRoutes> kRouteKeys = {
    "/api/channels/", "/api/chat/", "/api/recommended/", "/fragments/", "/api/ (writes)", "/echo", "other"};

// One per thread, written only by that thread (uncontended atomics), summed
// by whoever serves /stats. Cache-line aligned so threads do not share lines.
struct alignas(64) Stats {
  std::atomic<std::uint64_t> requests{0}, connections{0}, bytes_in{0}, bytes_out{0};
  std::atomic<std::uint64_t> stats_requests{0}, health_requests{0}, bad_requests{0}, forced_failures{0};
  std::atomic<std::int64_t> active{0};  // a gauge: never reset
  std::array<std::atomic<std::uint64_t>, kCountedRoutes> by_route{};

  void reset() {
    for (auto* c : {&requests, &connections, &bytes_in, &bytes_out, &stats_requests, &health_requests, &bad_requests,
                    &forced_failures})
      c->store(0, std::memory_order_relaxed);
    for (auto& c : by_route) c.store(0, std::memory_order_relaxed);
  }
};

inline void bump(std::atomic<std::uint64_t>& c, std::uint64_t n = 1) { c.fetch_add(n, std::memory_order_relaxed); }

struct Shared {
  Options opt;
  std::string name_json;  // the instance name escaped once for each syntax
  std::string name_html;
  std::unique_ptr<Stats[]> stats;
  int threads = 1;
};

// ---------------------------------------------------------------------------
// Stats and Date

// The Date header changes once a second; format it once a second per thread.
std::string_view http_date_now() {
  thread_local std::time_t last = 0;
  thread_local std::string text;
  std::time_t now = std::time(nullptr);
  if (now != last) {
    text = http::format_http_date(now);
    last = now;
  }
  return text;
}

// Sums the threads' counters; a reader racing the writers sees each counter
// at some recent value, which is all a benchmark needs.
void render_stats(std::string& out, const Shared& s) {
  auto sum = [&](auto member) {
    std::int64_t t = 0;
    for (int i = 0; i < s.threads; ++i) t += static_cast<std::int64_t>((s.stats[i].*member).load(std::memory_order_relaxed));
    return static_cast<std::uint64_t>(std::max<std::int64_t>(t, 0));
  };
  auto field = [&](std::string_view key, std::uint64_t v) {
    out += ",\"";
    out += key;
    out += "\":";
    append_uint(out, v);
  };
  out += "{\"name\":\"";
  out += s.name_json;
  out += '"';
  field("requests", sum(&Stats::requests));
  field("connections", sum(&Stats::connections));
  field("active_connections", sum(&Stats::active));
  field("bytes_in", sum(&Stats::bytes_in));
  field("bytes_out", sum(&Stats::bytes_out));
  field("stats_requests", sum(&Stats::stats_requests));
  field("health_requests", sum(&Stats::health_requests));
  field("bad_requests", sum(&Stats::bad_requests));
  field("forced_failures", sum(&Stats::forced_failures));
  out += ",\"by_path\":{";
  for (std::size_t k = 0; k < kCountedRoutes; ++k) {
    std::uint64_t t = 0;
    for (int i = 0; i < s.threads; ++i) t += s.stats[i].by_route[k].load(std::memory_order_relaxed);
    out += k ? ",\"" : "\"";
    out += kRouteKeys[k];
    out += "\":";
    append_uint(out, t);
  }
  out += "}}";
}

// ---------------------------------------------------------------------------
// Connection

struct Worker {
  Worker(const Shared& s, Stats& st) : shared(s), stats(st), acceptor(ioc) {}
  const Shared& shared;
  Stats& stats;
  asio::io_context ioc{1};  // one thread: lets Asio skip its locking
  tcp::acceptor acceptor;
};

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(tcp::socket sock, Worker& w)
      : sock_(std::move(sock)), timer_(sock_.get_executor()), w_(w), s_(w.shared), parser_(Parser::Kind::request, limits()) {
    bump(w_.stats.connections);
    w_.stats.active.fetch_add(1, std::memory_order_relaxed);
  }
  ~Connection() { w_.stats.active.fetch_sub(1, std::memory_order_relaxed); }

  awaitable<void> run();

 private:
  using Parser = http::Parser;
  using Event = http::Event;
  enum class Next { keep_alive, close, linger };

  // Request bodies are counted and dropped, never held: no size limit.
  static http::ParserLimits limits() {
    http::ParserLimits l;
    l.body_bytes = 0;
    return l;
  }

  http::FeedResult feed() {
    auto r = parser_.feed(buf_.data() + begin_, end_ - begin_);
    begin_ += r.consumed;
    return r;
  }
  awaitable<bool> fill();
  awaitable<bool> flush();
  awaitable<bool> pause(std::uint64_t ms);
  awaitable<Event> next_event();
  awaitable<Next> serve(bool message_done);
  awaitable<Next> respond(int status, std::string_view content_type);
  awaitable<Next> echo_stream(bool message_done);
  awaitable<bool> stream_body(std::uint64_t total, bool chunked);
  awaitable<void> hang();
  awaitable<void> linger_close();
  Next reply_error(int status, std::string_view reason);

  Route route(std::string_view& id, std::string_view& widget) const;
  void begin_head(int status, std::string_view content_type);
  void end_head(bool keep_alive);
  bool not_modified() const;
  void set_chunk_head(std::size_t n);

  tcp::socket sock_;
  asio::steady_timer timer_;
  Worker& w_;
  const Shared& s_;
  Parser parser_;
  http::Request req_;
  http::Response resp_;
  Knobs knobs_;
  std::string out_;      // response bytes not yet written (heads, small bodies)
  std::string body_;     // the rendered body of the current response
  std::string scratch_;  // decoded query values
  std::array<char, 24> chunk_head_{};
  std::size_t chunk_head_len_ = 0;
  std::size_t begin_ = 0, end_ = 0;  // unparsed input in buf_
  std::array<char, 16 * 1024> buf_;
};

// Bodies up to this size are copied behind their head so that pipelined
// answers leave together; larger ones are gather-written in rounds.
constexpr std::uint64_t kInlineBody = 16 * 1024;
constexpr std::size_t kRoundBytes = 4 * kFillSlice;
constexpr std::size_t kFlushAt = 64 * 1024;

awaitable<bool> Connection::flush() {
  if (out_.empty()) co_return true;
  auto [ec, n] = co_await asio::async_write(sock_, asio::buffer(out_), kAwait);
  bump(w_.stats.bytes_out, n);
  out_.clear();
  co_return !ec;
}

// Called only when the parser has consumed all input, so the buffer restarts
// at its beginning. Pending answers go out first: the peer may be waiting for
// them before it sends more.
awaitable<bool> Connection::fill() {
  assert(begin_ == end_);
  if (!co_await flush()) co_return false;
  begin_ = end_ = 0;
  auto [ec, n] = co_await sock_.async_read_some(asio::buffer(buf_), kAwait);
  if (ec) co_return false;
  end_ = n;
  bump(w_.stats.bytes_in, n);
  co_return true;
}

awaitable<bool> Connection::pause(std::uint64_t ms) {
  if (!co_await flush()) co_return false;
  timer_.expires_after(std::chrono::milliseconds(ms));
  auto [ec] = co_await timer_.async_wait(kAwait);
  co_return !ec;
}

// Parses (reading as needed) up to the parser's next event: headers,
// message_done or error. need_more means the peer is gone.
awaitable<http::Event> Connection::next_event() {
  for (;;) {
    auto r = feed();
    if (r.event != Event::need_more) co_return r.event;
    if (!co_await fill()) co_return Event::need_more;
  }
}

awaitable<void> Connection::run() {
  Next next = Next::keep_alive;
  while (next == Next::keep_alive) {
    parser_.start(req_);
    auto ev = co_await next_event();
    if (ev == Event::need_more) co_return;  // closed, possibly mid-head: nobody to answer
    if (ev == Event::error) next = reply_error(parser_.error_status(), parser_.error_reason());
    else next = co_await serve(ev == Event::message_done);
  }
  if (next == Next::linger) co_await linger_close();
  boost::system::error_code ec;
  sock_.close(ec);
}

Route Connection::route(std::string_view& id, std::string_view& widget) const {
  std::string_view path = req_.path();
  std::string_view m = req_.method;
  bool get = m == "GET" || m == "HEAD";
  bool write = m == "POST" || m == "PUT" || m == "PATCH" || m == "DELETE";
  // Splits "a/b" into one segment and the rest; a segment is never empty.
  auto segment = [](std::string_view& rest, std::string_view& seg) {
    auto slash = rest.find('/');
    seg = rest.substr(0, slash);
    rest = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash + 1);
    return !seg.empty();
  };
  if (path == "/health" && get) return Route::health;
  if (path == "/stats" && get) return Route::stats;
  if (path == "/stats/reset" && m == "POST") return Route::stats_reset;
  if (path == "/echo" || path.starts_with("/echo/")) return Route::echo;
  if (path.starts_with("/api/")) {
    if (write) return Route::api_write;
    std::string_view rest = path.substr(5), kind;
    if (!get || !segment(rest, kind) || !segment(rest, id) || !rest.empty()) return Route::not_found;
    if (kind == "channels") return Route::channel;
    if (kind == "chat") return Route::chat;
    if (kind == "recommended") return Route::recommended;
    return Route::not_found;
  }
  if (path.starts_with("/fragments/") && get) {
    std::string_view rest = path.substr(11);
    if (segment(rest, widget) && segment(rest, id) && rest.empty() && widget_named(widget)) return Route::fragment;
  }
  return Route::not_found;
}

awaitable<Connection::Next> Connection::serve(bool message_done) {
  std::string_view id, widget;
  Route r = route(id, widget);
  bool control = r == Route::health || r == Route::stats || r == Route::stats_reset;
  if (r == Route::health) bump(w_.stats.health_requests);
  else if (r == Route::stats) bump(w_.stats.stats_requests);
  else if (!control) {
    bump(w_.stats.requests);
    bump(w_.stats.by_route[static_cast<std::size_t>(r)]);
  }

  knobs_.clear();
  if (!req_.query().empty()) knobs_.parse(req_.query(), scratch_);
  // Defaults model the application's latency and caching; the control
  // endpoints stay prompt and uncached unless the query asks otherwise.
  if (!control) {
    if (!knobs_.delay_set) knobs_.delay_ms = s_.opt.default_delay_ms;
    if (!knobs_.cache_control_set && !s_.opt.default_cache_control.empty())
      knobs_.cache_control = s_.opt.default_cache_control;
    // --fail-every: an instance that errs now and then, on its own (per
    // thread, so exactly every Nth with one thread). Marked, so that a
    // client can tell it from a 5xx made by whoever is in front.
    if (s_.opt.fail_every && !knobs_.status &&
        w_.stats.requests.load(std::memory_order_relaxed) % s_.opt.fail_every == 0) {
      knobs_.status = s_.opt.fail_status;
      knobs_.extra.add("X-Forced-Failure", "fail-every");
      bump(w_.stats.forced_failures);
    }
  }

  if (knobs_.fail == Knobs::Fail::reset) {
    // Earlier pipelined answers were due; then drop without a word. Linger
    // zero makes close() send RST, as a crashed instance would.
    co_await flush();
    boost::system::error_code ec;
    sock_.set_option(asio::socket_base::linger(true, 0), ec);
    co_return Next::close;
  }
  if (knobs_.fail == Knobs::Fail::hang) {
    co_await hang();
    co_return Next::close;
  }
  if (!message_done && req_.expect_continue) out_ += "HTTP/1.1 100 Continue\r\n\r\n";
  if (chat::is_chat_upgrade(req_)) {  // the connection becomes a WebSocket (bench/sample_chat.hpp)
    if (co_await flush()) chat::start(std::move(sock_), req_, s_.name_json);
    co_return Next::close;
  }
  if (r == Route::echo && knobs_.echo_body && !req_.is_head()) co_return co_await echo_stream(message_done);

  if (!message_done) {
    auto ev = co_await next_event();
    if (ev == Event::need_more) co_return Next::close;
    if (ev == Event::error) co_return reply_error(parser_.error_status(), parser_.error_reason());
  }
  if (knobs_.delay_ms && !co_await pause(knobs_.delay_ms)) co_return Next::close;

  body_.clear();
  constexpr auto kJson = "application/json"sv, kHtml = "text/html; charset=utf-8"sv;
  switch (r) {
    case Route::channel: render_channel_json(body_, id, s_.name_json); co_return co_await respond(200, kJson);
    case Route::chat: render_chat_json(body_, id, s_.name_json); co_return co_await respond(200, kJson);
    case Route::recommended: render_recommended_json(body_, id, s_.name_json); co_return co_await respond(200, kJson);
    case Route::fragment:
      render_fragment(body_, *widget_named(widget), id, s_.name_html);
      co_return co_await respond(200, kHtml);
    case Route::api_write:
    case Route::echo:
      body_ += "{\"method\":\"";
      append_json_escaped(body_, req_.method);
      body_ += "\",\"path\":\"";
      append_json_escaped(body_, req_.path());
      body_ += "\",\"body_bytes\":";
      append_uint(body_, parser_.body_received());
      body_ += ",\"instance\":\"";
      body_ += s_.name_json;
      body_ += "\"}";
      co_return co_await respond(200, kJson);
    case Route::health: body_ = "ok"; co_return co_await respond(200, "text/plain; charset=utf-8");
    case Route::stats_reset:
      for (int i = 0; i < s_.threads; ++i) s_.stats[i].reset();
      body_ += "{\"reset\":true,\"instance\":\"";
      body_ += s_.name_json;
      body_ += "\"}";
      co_return co_await respond(200, kJson);
    case Route::stats: render_stats(body_, s_); co_return co_await respond(200, kJson);
    case Route::not_found:
      body_ += "{\"error\":\"not found\",\"path\":\"";
      append_json_escaped(body_, req_.path());
      body_ += "\",\"instance\":\"";
      body_ += s_.name_json;
      body_ += "\"}";
      co_return co_await respond(404, kJson);
  }
  co_return Next::close;
}

// Conditional GET/HEAD (RFC 9110 13.2.2): If-None-Match, when present,
// decides alone; otherwise If-Modified-Since against Last-Modified.
bool Connection::not_modified() const {
  if (req_.method != "GET" && req_.method != "HEAD") return false;
  if (auto inm = req_.headers.get("If-None-Match")) return !knobs_.etag.empty() && etag_matches(*inm, knobs_.etag);
  if (!knobs_.last_modified) return false;
  auto ims = req_.headers.get("If-Modified-Since");
  if (!ims) return false;
  auto t = http::parse_http_date(*ims);
  return t && *t >= *knobs_.last_modified;
}

void Connection::begin_head(int status, std::string_view content_type) {
  resp_.clear();
  resp_.status = status;
  resp_.headers.add("Server", "sample-service");
  resp_.headers.add("Date", http_date_now());
  resp_.headers.add("X-Instance", s_.opt.name);
  if (!content_type.empty()) resp_.headers.add("Content-Type", content_type);
}

// Connection handling and the knobs' headers; then the head goes to out_.
void Connection::end_head(bool keep_alive) {
  auto& h = resp_.headers;
  if (!keep_alive) h.add("Connection", "close");
  else if (req_.version_minor == 0) h.add("Connection", "keep-alive");
  if (!knobs_.cache_control.empty()) h.add("Cache-Control", knobs_.cache_control);
  if (!knobs_.etag.empty()) h.add("ETag", knobs_.etag);
  if (knobs_.last_modified) h.add("Last-Modified", http::format_http_date(*knobs_.last_modified));
  if (knobs_.expires) h.add("Expires", http::format_http_date(std::time(nullptr) + *knobs_.expires));
  if (!knobs_.vary.empty()) h.add("Vary", knobs_.vary);
  knobs_.extra.for_each([&](const http::HeaderMap::Field& f) { h.add(f.name, f.value); });
  http::serialize_response_head(resp_, out_);
}

void Connection::set_chunk_head(std::size_t n) {
  auto [end, ec] = std::to_chars(chunk_head_.data(), chunk_head_.data() + 20, n, 16);
  (void)ec;
  end[0] = '\r';
  end[1] = '\n';
  chunk_head_len_ = static_cast<std::size_t>(end + 2 - chunk_head_.data());
}

awaitable<Connection::Next> Connection::respond(int status, std::string_view content_type) {
  if (knobs_.status) status = knobs_.status;
  if (status == 200 && not_modified()) status = 304;
  bool keep = req_.keep_alive && !knobs_.close;
  // 204 and 304 carry no body and no framing (RFC 9110 8.6, 15.4.5).
  bool bodyless = status == 204 || status == 304;
  std::uint64_t total = knobs_.size.value_or(body_.size());
  if (body_.size() > total) body_.resize(total);
  // HTTP/1.0 has no chunked coding: its clients get Content-Length.
  bool chunked = knobs_.chunked && req_.version_minor >= 1 && !bodyless;

  begin_head(status, bodyless ? std::string_view{} : content_type);
  if (chunked) {
    resp_.headers.add("Transfer-Encoding", "chunked");
  } else if (!bodyless) {
    char buf[24];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, total);
    (void)ec;
    resp_.headers.add("Content-Length", std::string_view(buf, end - buf));
  }
  end_head(keep);

  if (!bodyless && !req_.is_head()) {
    if (knobs_.delay_body_ms && !co_await pause(knobs_.delay_body_ms)) co_return Next::close;
    if (total <= kInlineBody) {
      if (chunked && total) {
        set_chunk_head(total);
        out_.append(chunk_head_.data(), chunk_head_len_);
      }
      out_ += body_;
      for (std::uint64_t off = body_.size(); off < total;) {
        auto piece = filler(off, total - off);
        out_ += piece;
        off += piece.size();
      }
      if (chunked) out_ += total ? "\r\n0\r\n\r\n"sv : "0\r\n\r\n"sv;
    } else if (!co_await stream_body(total, chunked)) {
      co_return Next::close;
    }
  }
  if (!keep) co_return Next::linger;
  if (out_.size() >= kFlushAt && !co_await flush()) co_return Next::close;
  co_return Next::keep_alive;
}

// Large bodies: rounds of up to kRoundBytes, each one writev of the pending
// head, the chunk framing, the rendered content and slices of the filler.
awaitable<bool> Connection::stream_body(std::uint64_t total, bool chunked) {
  std::uint64_t off = 0;
  while (off < total) {
    std::array<asio::const_buffer, 10> bufs{};
    std::size_t n = 0;
    bufs[n++] = asio::buffer(out_);
    std::size_t chunk_slot = n++;
    std::uint64_t round = std::min<std::uint64_t>(kRoundBytes, total - off);
    for (std::uint64_t left = round; left > 0;) {
      std::string_view piece = off < body_.size() ? std::string_view(body_).substr(off, left) : filler(off, left);
      bufs[n++] = asio::buffer(piece.data(), piece.size());
      off += piece.size();
      left -= piece.size();
    }
    if (chunked) {
      set_chunk_head(round);
      bufs[chunk_slot] = asio::buffer(chunk_head_.data(), chunk_head_len_);
      bufs[n++] = asio::buffer(off == total ? "\r\n0\r\n\r\n"sv : "\r\n"sv);
    }
    auto [ec, written] = co_await asio::async_write(sock_, bufs, kAwait);
    bump(w_.stats.bytes_out, written);
    out_.clear();
    if (ec) co_return false;
  }
  co_return true;
}

// echo_body=1: the request body comes back as it arrives, one chunk per read,
// so uploads of any size pass through the connection's 16 KiB buffer.
awaitable<Connection::Next> Connection::echo_stream(bool message_done) {
  if (knobs_.delay_ms && !co_await pause(knobs_.delay_ms)) co_return Next::close;
  int status = knobs_.status ? knobs_.status : 200;
  bool bodyless = status == 204 || status == 304;
  bool chunked = req_.version_minor >= 1 && !bodyless;
  // An HTTP/1.0 body without Content-Length can only end with the connection.
  bool keep = req_.keep_alive && !knobs_.close && (chunked || bodyless || req_.content_length);
  begin_head(status, bodyless ? std::string_view{}
                              : req_.headers.get("Content-Type").value_or("application/octet-stream"));
  if (chunked) resp_.headers.add("Transfer-Encoding", "chunked");
  else if (!bodyless && req_.content_length) resp_.headers.add("Content-Length", std::to_string(*req_.content_length));
  end_head(keep);
  if (knobs_.delay_body_ms && !co_await pause(knobs_.delay_body_ms)) co_return Next::close;

  for (bool done = message_done;;) {
    http::FeedResult r{};
    if (!done) {
      r = feed();
      if (r.event == Event::error) co_return Next::close;  // the head is out: nothing else to say
      done = r.event == Event::message_done;
    }
    std::array<asio::const_buffer, 4> bufs{};
    bufs[0] = asio::buffer(out_);
    if (!bodyless && !r.body.empty()) {
      bufs[2] = asio::buffer(r.body.data(), r.body.size());
      if (chunked) {
        set_chunk_head(r.body.size());
        bufs[1] = asio::buffer(chunk_head_.data(), chunk_head_len_);
        bufs[3] = asio::buffer(done ? "\r\n0\r\n\r\n"sv : "\r\n"sv);
      }
    } else if (done && chunked) {
      bufs[3] = asio::buffer("0\r\n\r\n"sv);
    }
    if (asio::buffer_size(bufs) > 0) {
      auto [ec, written] = co_await asio::async_write(sock_, bufs, kAwait);
      bump(w_.stats.bytes_out, written);
      out_.clear();
      if (ec) co_return Next::close;
    }
    if (done) break;
    if (r.event == Event::need_more && !co_await fill()) co_return Next::close;
  }
  co_return keep ? Next::keep_alive : Next::linger;
}

// fail=hang: answer nothing, keep reading (and dropping) until the peer leaves.
awaitable<void> Connection::hang() {
  if (!co_await flush()) co_return;
  for (;;) {
    auto [ec, n] = co_await sock_.async_read_some(asio::buffer(buf_), kAwait);
    if (ec) co_return;
    bump(w_.stats.bytes_in, n);
  }
}

Connection::Next Connection::reply_error(int status, std::string_view reason) {
  bump(w_.stats.bad_requests);
  knobs_.clear();
  body_ = "{\"error\":\"";
  append_json_escaped(body_, reason);
  body_ += "\",\"instance\":\"";
  body_ += s_.name_json;
  body_ += "\"}";
  begin_head(status ? status : 400, "application/json");
  resp_.headers.add("Content-Length", std::to_string(body_.size()));
  end_head(false);
  out_ += body_;
  return Next::linger;
}

// Closing with unread input makes the kernel send RST, which can destroy the
// answer still in flight. So: send everything, half-close, and read until the
// peer closes too or a second passes (nginx's lingering close).
awaitable<void> Connection::linger_close() {
  using namespace asio::experimental::awaitable_operators;
  if (!co_await flush()) co_return;
  boost::system::error_code ec;
  sock_.shutdown(tcp::socket::shutdown_send, ec);
  timer_.expires_after(1s);
  for (;;) {
    auto r = co_await (sock_.async_read_some(asio::buffer(buf_), kAwait) || timer_.async_wait(kAwait));
    if (r.index() == 1 || std::get<0>(std::get<0>(r))) co_return;
  }
}

// ---------------------------------------------------------------------------
// Accepting, threads, signals

void log_exception(std::exception_ptr e) {
  if (!e) return;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    std::fprintf(stderr, "sample-service: unexpected exception: %s\n", x.what());
  }
}

awaitable<void> accept_loop(Worker& w) {
  asio::steady_timer backoff(w.ioc);
  for (;;) {
    auto [ec, sock] = co_await w.acceptor.async_accept(kAwait);
    if (ec == asio::error::operation_aborted) co_return;
    if (ec) {
      // Out of descriptors and the like: wait instead of spinning.
      std::fprintf(stderr, "sample-service: accept: %s\n", ec.message().c_str());
      backoff.expires_after(50ms);
      co_await backoff.async_wait(kAwait);
      continue;
    }
    sock.set_option(tcp::no_delay(true), ec);
    auto c = std::make_shared<Connection>(std::move(sock), w);
    asio::co_spawn(w.ioc, [c] { return c->run(); }, log_exception);
  }
}

using reuse_port = asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;

tcp::endpoint resolve(const std::string& host, unsigned short port) {
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(host, ec);
  if (!ec) return {addr, port};
  asio::io_context ioc;
  tcp::resolver resolver(ioc);
  auto results = resolver.resolve(host, std::to_string(port));  // throws if unknown
  return results.begin()->endpoint();
}

void write_port_file(const std::string& path, unsigned short port) {
  // Readers poll for the file: rename makes it appear complete or not at all.
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  {
    std::ofstream f(tmp, std::ios::trunc);
    f << port << '\n';
    if (!f.flush()) throw std::runtime_error("cannot write " + tmp);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) throw std::runtime_error("cannot rename " + tmp + " to " + path);
}

int serve_forever(Options opt) {
  Shared shared;
  shared.opt = std::move(opt);
  append_json_escaped(shared.name_json, shared.opt.name);
  append_html_escaped(shared.name_html, shared.opt.name);
  shared.threads = shared.opt.threads;
  shared.stats.reset(new Stats[shared.threads]);

  std::vector<std::unique_ptr<Worker>> workers;
  tcp::endpoint ep = resolve(shared.opt.host, shared.opt.port);
  for (int i = 0; i < shared.threads; ++i) {
    auto& w = *workers.emplace_back(std::make_unique<Worker>(shared, shared.stats[i]));
    w.acceptor.open(ep.protocol());
    w.acceptor.set_option(tcp::acceptor::reuse_address(true));
    // Only with several threads: otherwise a second instance started on the
    // same port by mistake would silently share it instead of failing.
    if (shared.threads > 1) w.acceptor.set_option(reuse_port(true));
    w.acceptor.bind(ep);
    w.acceptor.listen(asio::socket_base::max_listen_connections);
    if (i == 0) ep.port(w.acceptor.local_endpoint().port());  // --port 0: the others join the chosen one
  }
  std::string host = ep.address().to_string();
  if (ep.address().is_v6()) host = "[" + host + "]";
  std::printf("listening on %s:%u\n", host.c_str(), static_cast<unsigned>(ep.port()));
  std::fflush(stdout);
  if (!shared.opt.port_file.empty()) write_port_file(shared.opt.port_file, ep.port());

  for (auto& w : workers) asio::co_spawn(w->ioc, accept_loop(*w), log_exception);
  asio::signal_set signals(workers[0]->ioc, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int) {
    if (ec) return;
    for (auto& w : workers) w->ioc.stop();
  });
  std::vector<std::thread> threads;
  for (int i = 1; i < shared.threads; ++i) threads.emplace_back([&w = *workers[i]] { w.ioc.run(); });
  workers[0]->ioc.run();
  for (auto& t : threads) t.join();
  return 0;
}

constexpr std::string_view kUsage =
    "usage: sample-service --port P --name NAME [options]\n"
    "\n"
    "A stand-in service instance: widget endpoints of a Twitch-like page, shaped by query knobs.\n"
    "\n"
    "options:\n"
    "  --port P                   port to listen on; 0 lets the OS pick (required)\n"
    "  --name NAME                instance name, sent as X-Instance (required)\n"
    "  --host ADDR                address to bind (default 127.0.0.1)\n"
    "  --threads N                event-loop threads, SO_REUSEPORT (default 1)\n"
    "  --port-file FILE           write the bound port to FILE (atomically)\n"
    "  --default-delay-ms N       delay_ms when the query gives none\n"
    "  --default-cache-control V  Cache-Control when the query gives none\n"
    "  --fail-every N             every Nth request (per thread; not /health, /stats) answers\n"
    "                             --fail-status (default 500) with X-Forced-Failure\n"
    "  --fail-status S            the status of those failures, 500-599\n"
    "  --help                     this text\n"
    "\n"
    "endpoints:\n"
    "  GET /api/channels/{id}  /api/chat/{id}  /api/recommended/{id}     JSON\n"
    "  GET /fragments/{channel|chat|recommended|player}/{id}             HTML\n"
    "  GET /chat/ws?name=NAME  (WebSocket) live chat: each text message goes to every client\n"
    "  POST|PUT|PATCH|DELETE /api/...  and any method on /echo           body counted\n"
    "  GET /health   GET /stats   POST /stats/reset\n"
    "\n"
    "query knobs (any endpoint): delay_ms delay_body_ms size status cache_control etag\n"
    "  last_modified set_cookie vary expires header=Name:value chunked=1 close=1\n"
    "  fail=reset|hang echo_body=1 (on /echo)\n";

int cli(int argc, char** argv) {
  Options opt;
  bool name_given = false;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i], value;
    if (arg == "--help" || arg == "-h") {
      std::fwrite(kUsage.data(), 1, kUsage.size(), stdout);
      return 0;
    }
    // Both "--opt value" and "--opt=value".
    if (auto eq = arg.find('='); arg.starts_with("--") && eq != std::string_view::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      std::fprintf(stderr, "sample-service: %s needs a value (see --help)\n", argv[i]);
      return 2;
    }
    auto number = [&](auto& out) {
      auto n = parse_number<std::remove_reference_t<decltype(out)>>(value);
      if (n) out = *n;
      return n.has_value();
    };
    bool ok = true;
    if (arg == "--port") {
      ok = number(opt.port);
      opt.port_given = true;
    } else if (arg == "--name") {
      opt.name = value;
      name_given = true;
    } else if (arg == "--host") {
      opt.host = value;
    } else if (arg == "--threads") {
      ok = number(opt.threads) && opt.threads >= 1 && opt.threads <= 256;
    } else if (arg == "--port-file") {
      opt.port_file = value;
    } else if (arg == "--default-delay-ms") {
      ok = number(opt.default_delay_ms);
    } else if (arg == "--default-cache-control") {
      opt.default_cache_control = value;
    } else if (arg == "--fail-every") {
      ok = number(opt.fail_every);
    } else if (arg == "--fail-status") {
      ok = number(opt.fail_status) && opt.fail_status >= 500 && opt.fail_status <= 599;
    } else {
      std::fprintf(stderr, "sample-service: unknown option %.*s (see --help)\n", static_cast<int>(arg.size()), arg.data());
      return 2;
    }
    if (!ok) {
      std::fprintf(stderr, "sample-service: bad value for %.*s: %.*s\n", static_cast<int>(arg.size()), arg.data(),
                   static_cast<int>(value.size()), value.data());
      return 2;
    }
  }
  if (!opt.port_given || !name_given || opt.name.empty() || !is_safe_value(opt.name)) {
    std::fprintf(stderr, "sample-service: --port and --name are required (see --help)\n");
    return 2;
  }
  try {
    return serve_forever(std::move(opt));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sample-service: %s\n", e.what());
    return 1;
  }
}

}  // namespace bench

int main(int argc, char** argv) { return bench::cli(argc, argv); }
