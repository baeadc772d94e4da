#include "gateway/proxy.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/container/small_vector.hpp>
#include <algorithm>
#include <array>
#include <optional>
#include <vector>

#include "base/http/serializer.hpp"
#include "base/log.hpp"
#include "gateway/upgrade.hpp"
#include "gateway/worker.hpp"
#include "upstreams/availability.hpp"
#include "upstreams/retry.hpp"
#include "upstreams/slots.hpp"
#include "upstreams/tls.hpp"

namespace gateway::proxy {

namespace asio = boost::asio;
using upstreams::Outcome;
using upstreams::Retry;

namespace {
constexpr std::string_view kVia = "1.1 gateway";
constexpr std::size_t kBufferedBody = 64 * 1024;
// One flag per instance, inline for groups of up to this many: a pick
// allocates nothing.
using Flags = boost::container::small_vector<std::uint8_t, 16>;

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

}  // namespace

void build_upstream_head(const http::Request& req, const RouteConfig& route, std::string_view peer, std::string& out,
                         std::string_view extra_fields) {
  const bool has_host = req.headers.contains("Host");
  out.append(req.method);
  out.push_back(' ');
  append_target(req, route, out);
  out.append(" HTTP/1.1\r\n");

  // The route's strip_request_headers: never forwarded, and a stripped
  // X-Forwarded-For or Via is not continued either (the client's claims
  // about earlier hops are dropped, as at an edge that trusts none).
  auto stripped = [&](std::string_view name) {
    return std::any_of(route.strip_request_headers.begin(), route.strip_request_headers.end(),
                       [&](const std::string& s) { return http::iequals(s, name); });
  };
  // Fields named in Connection are hop-by-hop too.
  std::string named = req.headers.get_all("Connection");
  auto dropped = [&](std::string_view name) {
    if (http::is_hop_by_hop(name) || http::iequals(name, "Content-Length") || http::iequals(name, "Expect") ||
        http::iequals(name, "X-Forwarded-For") || http::iequals(name, "X-Forwarded-Proto") ||
        http::iequals(name, "X-Forwarded-Host") || http::iequals(name, "Via") || stripped(name))
      return true;
    bool listed = false;
    http::for_each_token(named, [&](std::string_view t) { listed = listed || http::iequals(t, name); });
    return listed;
  };
  req.headers.for_each([&](const http::HeaderMap::Field& f) {
    if (dropped(f.name)) return;
    out.append(f.name).append(": ").append(f.value).append(http::kCrlf);
  });
  // HTTP/1.0 allowed a request without Host; HTTP/1.1 upstream requires
  // one: name the upstream group, as nginx's proxy_pass does.
  if (!has_host) out.append("Host: ").append(route.upstream).append(http::kCrlf);
  out.append(extra_fields);

  // X-Forwarded-For: append the client to what earlier proxies said.
  out.append("X-Forwarded-For: ");
  if (auto prior = req.headers.get_all("X-Forwarded-For"); !prior.empty() && !stripped("X-Forwarded-For"))
    out.append(prior).append(", ");
  out.append(peer).append(http::kCrlf);
  out.append(req.tls ? "X-Forwarded-Proto: https\r\n" : "X-Forwarded-Proto: http\r\n");
  if (auto host = req.headers.get("Host")) out.append("X-Forwarded-Host: ").append(*host).append(http::kCrlf);
  out.append("Via: ");
  if (auto prior = req.headers.get_all("Via"); !prior.empty() && !stripped("Via")) out.append(prior).append(", ");
  out.append(kVia).append(http::kCrlf);

  if (req.chunked) out.append("Transfer-Encoding: chunked\r\n");
  else if (req.content_length) out.append("Content-Length: ").append(std::to_string(*req.content_length)).append(http::kCrlf);
  out.append(http::kCrlf);
}

bool forwards_interim(int status, int client_version_minor) noexcept {
  return client_version_minor >= 1 && status > 101 && status < 200;
}

void rewrite_response_head(http::Response& resp) {
  http::remove_hop_by_hop(resp.headers);
  std::string via = resp.headers.get_all("Via");
  via = via.empty() ? std::string(kVia) : via + ", " + std::string(kVia);
  resp.headers.set("Via", via);
}

// ---------------------------------------------------------------- Fetch

class Fetch::Impl {
 public:
  Impl(Fetch& outer, const http::Request& req, std::string_view peer, Downstream* body_source,
       const RouteConfig& route, WorkerState& state, Worker& worker, RequestInfo& info)
      : outer_(outer),
        req_(req),
        peer_(peer),
        body_source_(body_source),
        route_(route),
        pool_(*state.pools[route.upstream_index]),
        group_(pool_.group()),
        stats_(*state.upstream_stats[route.upstream_index]),
        timeouts_(state.runtime->config->timeouts),
        limits_(state.runtime->response_limits),
        worker_(worker),
        info_(info),
        tried_(group_.size(), 0),
        out_(group_.size(), 0),
        excluded_(group_.size(), 0) {}

  asio::awaitable<Outcome> start();
  asio::awaitable<Outcome> read_body(std::span<const char>& piece, bool& done);
  asio::awaitable<void> finish();
  void forward_interim(Downstream& down);
  void upgrade(std::string fields) { upgrade_fields_ = std::move(fields); }
  upstreams::Connection& connection() { return *conn_; }

 private:
  asio::awaitable<Outcome> connect(std::size_t i);
  asio::awaitable<Outcome> send_request(upstreams::Connection& c);
  asio::awaitable<Outcome> stream_body(upstreams::Connection& c);
  void start_body_sender();
  asio::awaitable<void> join_body_sender();
  bool body_failed(boost::system::error_code ec);
  asio::awaitable<Outcome> exchange_once(std::size_t i);
  void update_excluded();
  int pick();
  asio::awaitable<int> pick_queued();
  bool another_instance_left();
  upstreams::Attempt attempt_facts(Outcome o, int attempt);
  void note_success(std::size_t i);
  void note_failure(std::size_t i, Outcome o);

  Fetch& outer_;
  const http::Request& req_;
  std::string_view peer_;
  Downstream* body_source_;
  const RouteConfig& route_;
  upstreams::Pool& pool_;
  upstreams::Group& group_;
  UpstreamStats& stats_;
  const Timeouts& timeouts_;
  const http::ParserLimits& limits_;
  Worker& worker_;
  RequestInfo& info_;

  std::string head_;            // request head for the upstream
  std::string upgrade_fields_;  // Upgrade and Connection, if it upgrades
  std::string first_body_;      // body bytes read before the first send
  bool body_in_memory_ = true;  // the whole body is in first_body_
  bool body_streamed_ = false;  // some body bytes left for an upstream: no replay
  // The rest of a streamed body goes up from its own coroutine while the
  // response is read: an upstream may answer (or echo) before the end.
  bool sender_running_ = false;
  Outcome sender_outcome_ = Outcome::ok;
  std::optional<asio::steady_timer> sender_done_;
  Flags tried_;     // instances this request went to
  Flags out_;       // ejected or down, at the last look
  Flags excluded_;  // what the next pick must avoid (upstreams::exclude)
  bool panic_ = false;          // the group was in panic at the last look
  bool panic_counted_ = false;  // this request is counted in panic_requests
  Downstream* interim_to_ = nullptr;  // where 1xx responses go, if anywhere
  upstreams::InterimSink interim_sink_;
  std::unique_ptr<upstreams::Connection> conn_;
  std::optional<upstreams::Slot> active_;  // the attempt's in-flight slot
  bool blocked_ = false;  // the last pick found every instance it may use full (max_conns)
  Clock::time_point sent_at_{};
};

// The group's health now, and from it what the next pick may use.
void Fetch::Impl::update_excluded() {
  panic_ = group_.check(Clock::now(), out_);
  upstreams::exclude(out_, tried_, panic_, excluded_);
  group_.exclude_draining(excluded_);
}

// Picks an instance and takes a slot on it (active_). Instances at
// max_conns are skipped; if they are all that is left, blocked_ is set and
// the request may wait for a slot (pick_queued).
int Fetch::Impl::pick() {
  update_excluded();
  std::uint64_t hash = group_.config().balance == upstreams::Balance::hash ? fnv1a(req_.target) : 0;
  auto picked = upstreams::pick_with_slot(group_, pool_.balancer(), excluded_, hash, Clock::now());
  blocked_ = picked.blocked;
  if (picked.instance < 0) return -1;
  active_.emplace(group_, static_cast<std::size_t>(picked.instance));
  if (panic_ && !panic_counted_) {
    panic_counted_ = true;
    stats_.panic_requests.inc();
  }
  return picked.instance;
}

// Every instance the request may use is at max_conns: it waits in the
// group's queue (slots.hpp) until a slot frees, for queue_timeout at most.
// -1 with info_.queue saying why when it gets none.
asio::awaitable<int> Fetch::Impl::pick_queued() {
  const auto& config = group_.config();
  auto& queue = group_.queue();
  auto waiter = queue.enter(co_await asio::this_coro::executor, config.max_queue);
  if (!waiter) {
    info_.queue = "full";
    co_return -1;
  }
  const auto deadline = Clock::now() + config.queue_timeout;
  for (;;) {
    queue.rejoin(waiter);  // in line before looking: a slot freed from now on wakes it
    std::atomic_thread_fence(std::memory_order_seq_cst);
    int i = pick();
    auto now = Clock::now();
    if (i >= 0 || !blocked_ || now >= deadline) {
      queue.leave(waiter);
      if (i < 0 && blocked_) {
        queue.timeouts.fetch_add(1, std::memory_order_relaxed);
        info_.queue = "timeout";
      }
      co_return i;
    }
    waiter->timer.expires_at(std::min(deadline, now + upstreams::kQueueRecheck));
    auto [ec] = co_await waiter->timer.async_wait(asio::as_tuple(asio::use_awaitable));
    if (!ec) queue.rechecks.fetch_add(1, std::memory_order_relaxed);
  }
}

bool Fetch::Impl::another_instance_left() {
  update_excluded();
  return std::find(excluded_.begin(), excluded_.end(), 0) != excluded_.end();
}

// What upstreams::should_retry needs to know about an attempt. Whether an
// instance is left is looked up only when the answer is not final.
upstreams::Attempt Fetch::Impl::attempt_facts(Outcome o, int attempt) {
  upstreams::Attempt a;
  a.outcome = o;
  a.status = o == Outcome::ok ? outer_.resp_.status : 0;
  a.idempotent = http::is_idempotent(req_.method);
  a.body_streamed = body_streamed_;
  a.attempt = attempt;
  a.retries = group_.config().retries;
  a.instance_left = !upstreams::final_answer(a.outcome, a.status) && another_instance_left();
  return a;
}

void Fetch::Impl::note_success(std::size_t i) {
  info_.upstream_time = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - sent_at_);
  stats_.response_time.observe(info_.upstream_time);
  group_.report_success(i);
}

void Fetch::Impl::note_failure(std::size_t i, Outcome o) {
  group_.report_failure(i, Clock::now());
  std::string msg = "route=" + route_.name + " upstream=" + group_.name() + " instance=" + info_.instance + ": " +
                    upstreams::to_string(o);
  if (conn_ && conn_->last_error() && o != Outcome::read_timeout && o != Outcome::connect_timeout)
    msg += " (" + conn_->last_error().message() + ")";
  if (o == Outcome::bad_response && conn_) msg += " (" + conn_->parse_error() + ")";
  log::warn(msg);
}

asio::awaitable<Outcome> Fetch::Impl::connect(std::size_t i) {
  auto ex = co_await asio::this_coro::executor;
  conn_ = std::make_unique<upstreams::Connection>(ex, worker_.deadlines(), i, limits_);
  auto tls = upstreams::tls_target(group_.config().tls, group_.instance(i).address);
  auto o = co_await conn_->connect(group_.instance(i).endpoints, timeouts_.upstream_connect, tls ? &*tls : nullptr);
  if (o == Outcome::ok) upstreams::count_connection(pool_.stats(), *conn_);
  co_return o;
}

// A failed read of the client's body: the client left, or sent a body we
// refuse. Either way the exchange is over; the status (if any) is for the
// caller to send.
bool Fetch::Impl::body_failed(boost::system::error_code ec) {
  if (!ec) return false;
  outer_.client_gone_ = true;
  outer_.body_status_ = body_source_->body_error_status();
  return true;
}

// Sends the head with the body bytes already read, in one gather write.
asio::awaitable<Outcome> Fetch::Impl::send_request(upstreams::Connection& c) {
  std::string frame;  // a chunk size line: short enough to stay inline
  std::string_view tail;
  if (req_.chunked) tail = http::frame_chunk(first_body_.size(), body_in_memory_, frame);
  std::array<asio::const_buffer, 4> bufs = {asio::buffer(head_), asio::buffer(frame), asio::buffer(first_body_),
                                            asio::buffer(tail)};
  co_return co_await c.send(bufs, timeouts_.upstream_send);
}

// The rest of the body, as it arrives from the client.
asio::awaitable<Outcome> Fetch::Impl::stream_body(upstreams::Connection& c) {
  std::string frame;
  for (bool done = false; !done;) {
    std::span<const char> piece;
    if (body_failed(co_await body_source_->read_body(piece, done))) {
      c.close();  // the upstream got a partial body: end the exchange
      co_return Outcome::ok;
    }
    frame.clear();
    std::string_view tail = req_.chunked ? http::frame_chunk(piece.size(), done, frame) : std::string_view{};
    std::array<asio::const_buffer, 3> out = {asio::buffer(frame), asio::buffer(piece.data(), piece.size()),
                                             asio::buffer(tail)};
    if (auto so = co_await c.send(out, timeouts_.upstream_send); so != Outcome::ok) co_return so;
  }
  co_return Outcome::ok;
}

void Fetch::Impl::start_body_sender() {
  body_streamed_ = true;  // from here on the request cannot be replayed
  sender_running_ = true;
  auto ex = conn_->executor();
  sender_done_.emplace(ex, Clock::time_point::max());
  asio::co_spawn(
      ex, [this, &c = *conn_]() -> asio::awaitable<void> { sender_outcome_ = co_await stream_body(c); },
      [this](std::exception_ptr e) {
        sender_running_ = false;
        sender_done_->cancel();
        if (e) log::error("request body sender failed");
      });
}

asio::awaitable<void> Fetch::Impl::join_body_sender() {
  while (sender_running_) co_await sender_done_->async_wait(asio::as_tuple(asio::use_awaitable));
}

asio::awaitable<Outcome> Fetch::Impl::exchange_once(std::size_t i) {
  // A kept-alive connection first; if the server closed it while idle the
  // request is sent once more on a fresh one.
  const bool upgrade = !upgrade_fields_.empty();
  conn_ = upgrade ? nullptr : pool_.take_idle(i, Clock::now());
  for (int fresh_retry = 0;; ++fresh_retry) {
    if (!conn_) {
      auto o = co_await connect(i);
      if (o != Outcome::ok) co_return o;
    } else {
      upstreams::PoolStats::inc(pool_.stats().reused);
    }
    sent_at_ = Clock::now();
    auto o = co_await send_request(*conn_);
    if (o == Outcome::ok && !body_in_memory_) start_body_sender();
    if (o == Outcome::ok)
      o = co_await conn_->read_head(outer_.resp_, req_.is_head(), timeouts_.upstream_read,
                                    interim_to_ ? &interim_sink_ : nullptr, upgrade);
    if (o != Outcome::ok && sender_running_) {
      conn_->close();
      co_await join_body_sender();
    }
    if (outer_.client_gone_) co_return o;
    if (upstreams::resend_on_fresh_connection(o, conn_->reused(), conn_->response_started(), body_streamed_,
                                              fresh_retry)) {
      conn_.reset();
      continue;
    }
    co_return o;
  }
}

asio::awaitable<Outcome> Fetch::Impl::start() {
  info_.upstream = group_.name();
  // One allocation: the client's fields plus what is added (Forwarded and Via fields).
  head_.reserve(req_.target.size() + req_.headers.bytes() + 4 * req_.headers.size() + 256);
  build_upstream_head(req_, route_, peer_, head_, upgrade_fields_);

  // Buffer the first kBufferedBody bytes of the body before choosing an
  // instance (as nginx's client_body_buffer_size): a body up to that size
  // is checked whole (framing, body_bytes) before any instance sees a byte
  // of it, and can be replayed on a retry. A larger one streams.
  if (req_.has_body() && body_source_) {
    bool done = false;
    while (!done && first_body_.size() < kBufferedBody) {
      std::span<const char> piece;
      if (body_failed(co_await body_source_->read_body(piece, done))) co_return Outcome::ok;
      first_body_.append(piece.data(), piece.size());
    }
    body_in_memory_ = done;
  }

  // Instance after instance, as upstreams::should_retry allows.
  Outcome last = Outcome::connect_failed;
  bool attempted = false;
  for (int attempt = 0;; ++attempt) {
    active_.reset();  // the last attempt's slot, before looking for one
    int i = pick();
    if (i < 0 && blocked_) i = co_await pick_queued();
    if (i < 0) break;
    auto idx = static_cast<std::size_t>(i);
    tried_[idx] = 1;
    attempted = true;
    info_.instance = group_.instance(idx).address.text;
    ++info_.tries;
    if (attempt > 0) stats_.retries.inc();

    auto o = co_await exchange_once(idx);
    if (outer_.client_gone_) co_return o;
    if (o == Outcome::ok) {
      note_success(idx);
    } else {
      note_failure(idx, o);
      last = o;
      conn_.reset();
    }
    if (upstreams::should_retry(attempt_facts(o, attempt)) != Retry::yes) {
      if (o == Outcome::ok) co_return Outcome::ok;  // the answer, even a 502/503 nobody else can better
      break;
    }
    conn_.reset();  // drop this answer (and its connection): another instance is asked
  }
  active_.reset();
  outer_.failure_status_ = attempted && info_.queue.empty() ? upstreams::status_for(last) : 503;
  co_return attempted ? last : Outcome::connect_failed;
}

void Fetch::Impl::forward_interim(Downstream& down) {
  interim_to_ = &down;
  interim_sink_ = [this](const http::Response& interim) -> asio::awaitable<void> {
    if (!forwards_interim(interim.status, interim_to_->request().version_minor)) co_return;
    http::Response out = interim;
    rewrite_response_head(out);
    co_await interim_to_->write_interim(out);
  };
}

asio::awaitable<Outcome> Fetch::Impl::read_body(std::span<const char>& piece, bool& done) {
  auto o = co_await conn_->read_body(piece, done, timeouts_.upstream_read);
  if (o != Outcome::ok) {
    note_failure(conn_->instance(), o);
    conn_.reset();
    active_.reset();
  }
  co_return o;
}

asio::awaitable<void> Fetch::Impl::finish() {
  if (sender_running_) {
    // The upstream answered before taking the whole body: the connection
    // cannot carry another request, and the sender must stop first.
    conn_->close();
    co_await join_body_sender();
  }
  const bool switched = !upgrade_fields_.empty() && outer_.resp_.status == 101;  // a tunnel's: never reused
  if (conn_ && !switched && conn_->reusable() && !sender_running_ && sender_outcome_ == Outcome::ok) {
    // To the worker's current pool of the group: a reload or membership
    // change may have replaced ours meanwhile.
    upstreams::Pool* latest = &pool_;
    for (auto& p : worker_.state()->pools)
      if (p->group().name() == group_.name()) latest = p.get();
    latest->give_back(std::move(conn_), Clock::now(), pool_);
  }
  conn_.reset();
  active_.reset();
}

Fetch::Fetch(const http::Request& req, std::string_view peer, Downstream* body_source, const RouteConfig& route,
             WorkerState& state, Worker& worker, RequestInfo& info)
    : impl_(std::make_unique<Impl>(*this, req, peer, body_source, route, state, worker, info)) {}

Fetch::~Fetch() = default;  // callers end with finish(): no body sender can outlive it

void Fetch::forward_interim(Downstream& down) { impl_->forward_interim(down); }

void Fetch::upgrade(std::string fields) { impl_->upgrade(std::move(fields)); }

upstreams::Connection& Fetch::connection() { return impl_->connection(); }

asio::awaitable<Outcome> Fetch::start() { return impl_->start(); }

asio::awaitable<Outcome> Fetch::read_body(std::span<const char>& piece, bool& done) {
  return impl_->read_body(piece, done);
}

asio::awaitable<void> Fetch::finish() { return impl_->finish(); }

// ---------------------------------------------------------------- relaying

asio::awaitable<void> respond_failure(Downstream& down, const RouteConfig& route, int status, std::string_view what) {
  auto& info = down.info();
  log::error("route=" + route.name + " upstream=" + std::string(info.upstream) +
             " instance=" + (info.instance.empty() ? "-" : info.instance) + ": " + std::string(what));
  if (down.head_written()) {
    down.abort();
    co_return;
  }
  std::string body = std::to_string(status) + " " + std::string(http::reason_phrase(status)) + ": ";
  body += !info.queue.empty() ? "upstream queue " + std::string(info.queue) + "\n"
          : status == 503     ? "no healthy upstream instance\n"
          : status == 504 ? "upstream timed out\n"
                          : "upstream " + std::string(what) + "\n";
  co_await respond(down, status, body);
}

asio::awaitable<void> respond_body_error(Downstream& down, int status) {
  if (status == 0 || down.head_written()) co_return;  // nobody to tell
  co_await respond(down, status,
                   std::to_string(status) + " " + std::string(http::reason_phrase(status)) + ": request body refused\n");
}

void add_fields(http::HeaderMap& headers, std::string_view fields) {
  while (!fields.empty()) {
    auto eol = fields.find(http::kCrlf);
    auto line = fields.substr(0, eol);
    if (auto colon = line.find(':'); colon != std::string_view::npos) {
      auto value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
      headers.add(line.substr(0, colon), value);
    }
    if (eol == std::string_view::npos) break;
    fields.remove_prefix(eol + 2);
  }
}

asio::awaitable<void> relay(Fetch& fetch, Downstream& down, std::string_view extra_fields) {
  auto& resp = fetch.response();
  rewrite_response_head(resp);
  add_fields(resp.headers, extra_fields);
  down.write_head(resp);
  for (;;) {
    std::span<const char> piece;
    bool done = false;
    auto o = co_await fetch.read_body(piece, done);
    if (o != Outcome::ok) {
      down.abort();  // the client sees a truncated response, never a wrong one
      break;
    }
    if (co_await down.write_body(piece, done)) break;  // client gone: the upstream connection is dropped
    if (done) break;
  }
  co_await fetch.finish();
}

// The instance switched protocols: its 101 goes to the client and the
// connection becomes a tunnel, if the 101 names a protocol the request
// offered (else 502). The upstream connection is closed afterwards.
static asio::awaitable<void> relay_tunnel(Fetch& fetch, Downstream& down, const RouteConfig& route, WorkerState& state,
                             std::string_view offered) {
  auto& resp = fetch.response();
  if (!accepts_switch(resp, offered)) {
    co_await fetch.finish();
    state.upstream_stats[route.upstream_index]->errors.inc();
    co_await respond_failure(down, route, 502, "switched to a protocol not offered");
    co_return;
  }
  rewrite_switch_head(resp);
  auto& conn = fetch.connection();
  co_await down.tunnel(resp, conn.stream(), conn.take_buffered());
  co_await fetch.finish();
}

asio::awaitable<void> serve(Downstream& down, const RouteConfig& route, WorkerState& state, Worker& worker,
                            const PassOptions& options) {
  Fetch fetch(down.request(), down.peer(), &down, route, state, worker, down.info());
  fetch.forward_interim(down);
  auto upgrade = decide_upgrade(down.request(), route.upgrade, down.can_tunnel());
  if (upgrade.tunnel) fetch.upgrade(std::move(upgrade.fields));
  auto o = co_await fetch.start();
  if (fetch.client_gone()) {
    co_await fetch.finish();
    co_await respond_body_error(down, fetch.body_status());
    co_return;
  }
  if (o != Outcome::ok) {
    co_await fetch.finish();
    state.upstream_stats[route.upstream_index]->errors.inc();
    int status = fetch.failure_status();
    // Named first: GCC 12 mishandles temporaries of a ?: inside co_await.
    std::string what = status == 503 ? "no healthy instance" : std::string(upstreams::to_string(o));
    if (const auto& queue = down.info().queue; !queue.empty())
      what = "queue " + std::string(queue) + " (every instance at max_conns)";
    co_await respond_failure(down, route, status, what);
    co_return;
  }
  if (options.on_response) options.on_response(fetch.response());
  if (upgrade.tunnel && fetch.response().status == 101) {
    co_await relay_tunnel(fetch, down, route, state, upgrade.protocols);
    co_return;
  }
  co_await relay(fetch, down, options.extra_fields);
}

}  // namespace gateway::proxy
