#include "gateway/proxy.hpp"

#include <boost/asio/this_coro.hpp>
#include <array>
#include <vector>

#include "gateway/http/serializer.hpp"
#include "gateway/log.hpp"
#include "gateway/worker.hpp"
#include "upstreams/client.hpp"

namespace gateway::proxy {

namespace asio = boost::asio;
using upstreams::Outcome;

namespace {
constexpr std::string_view kVia = "1.1 gateway";

// The target with the route's prefix removed, when strip_prefix is set:
// prefix "/api/" maps "/api/x?y" to "/x?y"; the result always starts "/".
void append_target(const http::Request& req, const RouteConfig& route, std::string& out) {
  std::string_view target = req.target;
  if (route.strip_prefix && !route.prefix.empty() && target.compare(0, route.prefix.size(), route.prefix) == 0) {
    target.remove_prefix(route.prefix.size());
    if (target.empty() || target.front() != '/') out.push_back('/');
  }
  out.append(target);
}

struct Attempt {
  std::unique_ptr<upstreams::Connection> conn;
  Outcome outcome = Outcome::ok;
};

// Keeps the per-instance in-flight count (for least_conn) exact on every
// path out of an attempt.
class ActiveGuard {
 public:
  ActiveGuard(std::vector<int>& active, std::size_t i) : active_(active), i_(i) { ++active_[i_]; }
  ~ActiveGuard() { --active_[i_]; }
  ActiveGuard(const ActiveGuard&) = delete;
  ActiveGuard& operator=(const ActiveGuard&) = delete;

 private:
  std::vector<int>& active_;
  std::size_t i_;
};
}  // namespace

void build_upstream_head(const http::Request& req, const RouteConfig& route, std::string_view peer, std::string& out) {
  out.append(req.method);
  out.push_back(' ');
  append_target(req, route, out);
  out.append(" HTTP/1.1\r\n");

  // Fields named in Connection are hop-by-hop too.
  std::string named = req.headers.get_all("Connection");
  auto dropped = [&](std::string_view name) {
    if (http::is_hop_by_hop(name) || http::iequals(name, "Content-Length") || http::iequals(name, "Expect") ||
        http::iequals(name, "X-Forwarded-For") || http::iequals(name, "X-Forwarded-Proto") ||
        http::iequals(name, "X-Forwarded-Host") || http::iequals(name, "Via"))
      return true;
    bool listed = false;
    http::for_each_token(named, [&](std::string_view t) { listed = listed || http::iequals(t, name); });
    return listed;
  };
  req.headers.for_each([&](const http::HeaderMap::Field& f) {
    if (dropped(f.name)) return;
    out.append(f.name).append(": ").append(f.value).append(http::kCrlf);
  });

  // X-Forwarded-For: append the client to what earlier proxies said.
  out.append("X-Forwarded-For: ");
  if (auto prior = req.headers.get_all("X-Forwarded-For"); !prior.empty()) out.append(prior).append(", ");
  out.append(peer).append(http::kCrlf);
  out.append("X-Forwarded-Proto: http\r\n");
  if (auto host = req.headers.get("Host")) out.append("X-Forwarded-Host: ").append(*host).append(http::kCrlf);
  out.append("Via: ");
  if (auto prior = req.headers.get_all("Via"); !prior.empty()) out.append(prior).append(", ");
  out.append(kVia).append(http::kCrlf);

  if (req.chunked) out.append("Transfer-Encoding: chunked\r\n");
  else if (req.content_length) out.append("Content-Length: ").append(std::to_string(*req.content_length)).append(http::kCrlf);
  out.append(http::kCrlf);
}

void rewrite_response_head(http::Response& resp) {
  http::remove_hop_by_hop(resp.headers);
  std::string via = resp.headers.get_all("Via");
  via = via.empty() ? std::string(kVia) : via + ", " + std::string(kVia);
  resp.headers.set("Via", via);
}

namespace {

// Everything one proxied exchange needs, gathered once.
class Exchange {
 public:
  Exchange(Downstream& down, const Router::Match& match, WorkerState& state, Worker& worker)
      : down_(down),
        req_(down.request()),
        route_(*match.route),
        pool_(*state.pools[route_.upstream_index]),
        group_(pool_.group()),
        stats_(*state.upstream_stats[route_.upstream_index]),
        timeouts_(state.runtime->config->timeouts),
        limits_(state.runtime->response_limits),
        worker_(worker),
        tried_(group_.size(), 0) {}

  asio::awaitable<void> run();

 private:
  asio::awaitable<Outcome> connect(std::size_t i, Attempt& a);
  asio::awaitable<Outcome> send_request(upstreams::Connection& c);
  asio::awaitable<Outcome> exchange_once(std::size_t i, Attempt& a);
  asio::awaitable<void> relay(Attempt& a);
  asio::awaitable<void> fail(Outcome o, int status);
  int pick();
  bool may_retry() const;

  Downstream& down_;
  const http::Request& req_;
  const RouteConfig& route_;
  upstreams::Pool& pool_;
  upstreams::Group& group_;
  UpstreamStats& stats_;
  const Timeouts& timeouts_;
  const http::ParserLimits& limits_;
  Worker& worker_;

  std::string head_;              // request head for the upstream
  std::string first_body_;        // body bytes read before the first send
  bool body_in_memory_ = true;    // the whole body is in first_body_
  bool body_streamed_ = false;    // some body bytes left for an upstream: no replay
  bool client_gone_ = false;      // the client left while sending its body
  std::vector<std::uint8_t> tried_;
  http::Response resp_;
  http::Clock::time_point sent_at_{};
};

int Exchange::pick() {
  auto now = http::Clock::now();
  std::vector<std::uint8_t> excluded(group_.size());
  for (std::size_t i = 0; i < excluded.size(); ++i) excluded[i] = tried_[i] || !group_.usable(i, now);
  std::uint64_t hash = group_.config().balance == Balance::hash ? upstreams::fnv1a(req_.target) : 0;
  return pool_.balancer().pick(excluded, pool_.active(), hash);
}

bool Exchange::may_retry() const { return http::is_idempotent(req_.method) && !body_streamed_; }

asio::awaitable<Outcome> Exchange::connect(std::size_t i, Attempt& a) {
  auto ex = co_await asio::this_coro::executor;
  a.conn = std::make_unique<upstreams::Connection>(ex, worker_.deadlines(), i, limits_);
  auto o = co_await a.conn->connect(group_.instance(i).endpoints, timeouts_.upstream_connect);
  if (o == Outcome::ok) upstreams::PoolStats::inc(pool_.stats().opened);
  co_return o;
}

// Sends the head with the body bytes already read in one gather write, then
// the rest of the body as it arrives from the client.
asio::awaitable<Outcome> Exchange::send_request(upstreams::Connection& c) {
  std::string frame;  // a chunk size line: short enough to stay inline
  std::string_view tail;
  if (req_.chunked) tail = http::frame_chunk(first_body_.size(), body_in_memory_, frame);
  std::array<asio::const_buffer, 4> bufs = {asio::buffer(head_), asio::buffer(frame), asio::buffer(first_body_),
                                            asio::buffer(tail)};
  auto o = co_await c.send(bufs, timeouts_.upstream_send);
  if (o != Outcome::ok || body_in_memory_) co_return o;

  // From here on the request cannot be replayed.
  body_streamed_ = true;
  for (bool done = false; !done;) {
    std::span<const char> piece;
    if (co_await down_.read_body(piece, done)) {
      client_gone_ = true;  // the upstream got a partial body; give up on the exchange
      co_return Outcome::ok;
    }
    frame.clear();
    tail = req_.chunked ? http::frame_chunk(piece.size(), done, frame) : std::string_view{};
    std::array<asio::const_buffer, 3> out = {asio::buffer(frame), asio::buffer(piece.data(), piece.size()),
                                             asio::buffer(tail)};
    if (auto so = co_await c.send(out, timeouts_.upstream_send); so != Outcome::ok) co_return so;
  }
  co_return Outcome::ok;
}

asio::awaitable<Outcome> Exchange::exchange_once(std::size_t i, Attempt& a) {
  // A kept-alive connection first; if the server closed it while idle the
  // request is sent once more on a fresh one.
  a.conn = pool_.take_idle(i, http::Clock::now());
  for (int fresh_retry = 0;; ++fresh_retry) {
    if (!a.conn) {
      auto o = co_await connect(i, a);
      if (o != Outcome::ok) co_return o;
    } else {
      upstreams::PoolStats::inc(pool_.stats().reused);
    }
    sent_at_ = http::Clock::now();
    auto o = co_await send_request(*a.conn);
    if (client_gone_) co_return o;
    if (o == Outcome::ok) o = co_await a.conn->read_head(resp_, req_.is_head(), timeouts_.upstream_read);
    bool stale = a.conn->reused() && !a.conn->response_started() &&
                 (o == Outcome::send_failed || o == Outcome::closed_early);
    if (stale && fresh_retry == 0 && !body_streamed_) {
      a.conn.reset();
      continue;
    }
    co_return o;
  }
}

asio::awaitable<void> Exchange::fail(Outcome o, int status) {
  stats_.errors.inc();
  auto& info = down_.info();
  std::string msg = "route=" + std::string(route_.name) + " upstream=" + group_.name() +
                    " instance=" + (info.instance.empty() ? "-" : info.instance) + ": ";
  if (status == 503) msg += "no healthy instance";
  else msg += std::string(upstreams::to_string(o));
  log::error(msg);
  if (down_.head_written()) {
    down_.abort();
    co_return;
  }
  std::string body = std::to_string(status) + " " + std::string(http::reason_phrase(status)) + ": ";
  body += status == 503 ? "no healthy upstream instance\n"
          : status == 504 ? "upstream timed out\n"
                          : "upstream " + std::string(upstreams::to_string(o)) + "\n";
  co_await respond(down_, status, body);
}

asio::awaitable<void> Exchange::relay(Attempt& a) {
  rewrite_response_head(resp_);
  down_.write_head(resp_);
  auto& conn = *a.conn;
  for (;;) {
    std::span<const char> piece;
    bool done = false;
    auto o = co_await conn.read_body(piece, done, timeouts_.upstream_read);
    if (o != Outcome::ok) {
      group_.report_failure(conn.instance(), http::Clock::now());
      co_await fail(o, upstreams::status_for(o));
      co_return;
    }
    if (auto ec = co_await down_.write_body(piece, done)) co_return;  // client gone: drop the upstream connection too
    if (done) break;
  }
  if (conn.reusable()) pool_.give_back(std::move(a.conn), http::Clock::now());
}

asio::awaitable<void> Exchange::run() {
  auto& info = down_.info();
  info.upstream = group_.name();
  build_upstream_head(req_, route_, down_.peer(), head_);

  // Read what body is already here (it triggers 100 Continue if asked):
  // a small body is kept whole so the request can be retried.
  if (req_.has_body()) {
    std::span<const char> piece;
    bool done = false;
    if (auto ec = co_await down_.read_body(piece, done)) co_return;  // client gone or body timed out
    first_body_.assign(piece.data(), piece.size());
    body_in_memory_ = done;
  }

  const int max_tries = 1 + (http::is_idempotent(req_.method) ? std::max(group_.config().retries, 0) : 0);
  Outcome last = Outcome::ok;
  int last_status = 503;
  for (int attempt = 0; attempt < max_tries; ++attempt) {
    int i = pick();
    if (i < 0) break;
    auto idx = static_cast<std::size_t>(i);
    tried_[idx] = 1;
    info.instance = group_.instance(idx).address.text;
    ++info.tries;
    if (attempt > 0) stats_.retries.inc();

    ActiveGuard active(pool_.active(), idx);
    Attempt a;
    auto o = co_await exchange_once(idx, a);
    if (client_gone_) co_return;
    if (o != Outcome::ok) {
      group_.report_failure(idx, http::Clock::now());
      last = o;
      last_status = upstreams::status_for(o);
      log::warn("route=" + route_.name + " upstream=" + group_.name() + " instance=" + info.instance + ": " +
                upstreams::to_string(o) + (a.conn && a.conn->last_error() ? " (" + a.conn->last_error().message() + ")" : ""));
      // A timeout waiting for the response is not retried: the request may
      // be running, and a second try would double the wait.
      if (o == Outcome::read_timeout || !may_retry()) break;
      continue;
    }
    info.upstream_time = std::chrono::duration_cast<std::chrono::microseconds>(http::Clock::now() - sent_at_);
    stats_.response_time.observe(info.upstream_time);
    group_.report_success(idx);
    if ((resp_.status == 502 || resp_.status == 503) && attempt + 1 < max_tries && may_retry()) {
      // Drop this answer (and its connection) and ask another instance.
      continue;
    }
    co_await relay(a);
    co_return;
  }
  co_await fail(last, last_status);
}

}  // namespace

asio::awaitable<void> serve(Downstream& down, const Router::Match& match, WorkerState& state, Worker& worker) {
  Exchange ex(down, match, state, worker);
  co_await ex.run();
}

}  // namespace gateway::proxy
