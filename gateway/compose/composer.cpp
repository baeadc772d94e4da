#include "gateway/compose/composer.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/this_coro.hpp>
#include <cstdio>

#include "gateway/cache_proxy.hpp"
#include "gateway/compose/fragment.hpp"
#include "gateway/compose/json.hpp"
#include "gateway/compose/template.hpp"
#include "base/log.hpp"
#include "gateway/runtime.hpp"
#include "gateway/worker.hpp"

namespace gateway::compose {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::size_t kFlushAt = 16 * 1024;

// Everything the fragments of one composition share.
struct Context {
  const http::Request& req;
  std::string peer;
  std::shared_ptr<WorkerState> state;
  Worker& worker;
  ChainPtr chain;  // includes this page or aggregate
  std::size_t max_bytes;
  int max_depth;
  RouteStats& stats;
  std::string_view route_name;
};

std::shared_ptr<Fragment> start(Context& ctx, asio::any_io_executor ex, std::string_view url) {
  auto f = std::make_shared<Fragment>(ex, fragment_request(ctx.req, url), ctx.peer, ctx.max_bytes);
  // Most fragments of a busy page are fresh cache hits: answer those here,
  // without a coroutine of their own.
  const auto& req = f->down.request();
  Router::Match match;
  if (ctx.state->runtime->router.match(req.headers.get("Host").value_or(""), req.path(), match)) {
    if (auto e = cache_proxy::fresh_memory_hit(req, match, *ctx.state)) {
      f->started = f->finished = Clock::now();
      f->down.set_cached(std::move(e));
      f->status = f->down.status();
      f->state = f->status >= 200 && f->status < 300 ? Fragment::State::ok : Fragment::State::failed;
      if (f->state == Fragment::State::failed) f->error = "status " + std::to_string(f->status);
      if (f->down.body().size() > ctx.max_bytes) {
        f->state = Fragment::State::failed;
        f->error = "larger than the fragment size limit";
      }
      return f;
    }
  }
  asio::co_spawn(ex, fetch(f, ctx.state, ctx.worker, ctx.chain), log::on_exception("fragment"));
  return f;
}

bool served_from_cache(const Fragment& f) {
  auto c = f.down.served().cache;
  return c == "HIT" || c == "STALE" || c == "UPDATING" || c == "REVALIDATED";
}

void count(Context& ctx, const Fragment& f) {
  switch (f.state) {
    case Fragment::State::ok: (served_from_cache(f) ? ctx.stats.fragment_hits : ctx.stats.fragment_misses).inc(); break;
    case Fragment::State::timed_out: ctx.stats.fragment_timeouts.inc(); break;
    default: ctx.stats.fragment_errors.inc(); break;
  }
}

// One Server-Timing entry (https://w3c.github.io/server-timing/).
void append_timing(std::string& out, std::string_view name, const Fragment& f) {
  if (!out.empty()) out += ", ";
  // Milliseconds with one decimal, without printf's floating point.
  auto tenths = static_cast<long long>(f.millis() * 10 + 0.5);
  char dur[32];
  std::snprintf(dur, sizeof dur, "%lld.%lld", tenths / 10, tenths % 10);
  std::string desc(f.down.request().target);
  desc += ' ';
  desc += f.state == Fragment::State::timed_out ? "TIMEOUT"
          : f.state == Fragment::State::failed  ? "ERROR"
                                                : std::string(f.down.served().cache);
  for (auto& c : desc)
    if (c == '"' || c == '\\') c = '_';
  out.append(name).append(";dur=").append(dur).append(";desc=\"").append(desc).append("\"");
}

int failure_status(const Fragment& f) { return f.state == Fragment::State::timed_out ? 504 : 502; }

// One pass over the body: an SSI or ESI tag starts "<!--#", "<!--esi" or "<esi:".
bool may_hold_includes(std::string_view body) {
  for (auto at = body.find('<'); at != std::string_view::npos; at = body.find('<', at + 1)) {
    auto rest = body.substr(at + 1);
    if (rest.starts_with("esi:") || rest.starts_with("!--#") || rest.starts_with("!--esi")) return true;
  }
  return false;
}

asio::awaitable<std::string> compose_to_string(Context& ctx, const page::Template& tpl, Clock::time_point deadline,
                                               int depth);

// The include's content once it is settled: the fragment, or its alt or
// fallback URL fetched within what is left of its time, or its inline
// fallback, or nothing. `ok` tells whether real content (not a fallback)
// came.
asio::awaitable<std::string> settle(Context& ctx, const page::Include& inc, std::shared_ptr<Fragment> f,
                                    Clock::time_point deadline, int depth, bool& ok) {
  auto ex = co_await asio::this_coro::executor;
  co_await f->wait(deadline);
  count(ctx, *f);
  for (const std::string* next : {&inc.alt, &inc.fallback_url}) {
    if (f->state == Fragment::State::ok || next->empty() || Clock::now() >= deadline) break;
    f = start(ctx, ex, *next);
    co_await f->wait(deadline);
  }
  ok = f->state == Fragment::State::ok;
  if (!ok) {
    log::warn("route=" + std::string(ctx.route_name) + " fragment " + f->down.request().target + ": " + f->error);
    ctx.stats.fragment_fallbacks.inc();
    co_return inc.fallback_html.value_or("");
  }
  // A fragment may itself hold includes (ESI or SSI in an upstream's body).
  auto body = f->down.body();
  if (depth < ctx.max_depth && may_hold_includes(body)) {
    auto nested = page::parse_template(body);
    if (nested.errors.empty() && nested.tpl.includes() > 0)
      co_return co_await compose_to_string(ctx, nested.tpl, deadline, depth + 1);
  }
  co_return std::string(body);
}

// A nested template, assembled whole (its includes in parallel).
asio::awaitable<std::string> compose_to_string(Context& ctx, const page::Template& tpl, Clock::time_point deadline,
                                               int depth) {
  auto ex = co_await asio::this_coro::executor;
  std::vector<std::shared_ptr<Fragment>> frags;
  for (const auto& seg : tpl.segments)
    frags.push_back(seg.include ? start(ctx, ex, page::expand(seg.include->src, {})) : nullptr);
  std::string out;
  for (std::size_t i = 0; i < tpl.segments.size(); ++i) {
    const auto& seg = tpl.segments[i];
    if (!seg.include) {
      out += seg.literal;
      continue;
    }
    bool ok = false;
    out += co_await settle(ctx, *seg.include, frags[i], deadline, depth, ok);
  }
  co_return out;
}

// The includes of one page, by segment index: each one's fragment,
// deadline, and content once settled (null / unset for literals).
struct Includes {
  std::vector<std::shared_ptr<Fragment>> frags;
  std::vector<Clock::time_point> deadlines;
  std::vector<std::optional<std::string>> settled;
};

// Every include starts now, in parallel.
Includes start_includes(Context& ctx, const asio::any_io_executor& ex, const page::Template& tpl,
                        const Router::Match& match, Duration timeout) {
  const auto started = Clock::now();
  const auto n = tpl.segments.size();
  Includes out{std::vector<std::shared_ptr<Fragment>>(n), std::vector<Clock::time_point>(n),
               std::vector<std::optional<std::string>>(n)};
  for (std::size_t i = 0; i < n; ++i) {
    const auto& inc = tpl.segments[i].include;
    if (!inc) continue;
    out.frags[i] = start(ctx, ex, page::expand(inc->src, match.params));
    out.deadlines[i] = started + inc->timeout.value_or(timeout);
  }
  return out;
}

// The head waits for the required and primary fragments only. The primary
// one decides the page's status and may set headers on it (Tailor's
// primary), in `resp`. False when a required fragment failed: the page has
// been answered with that failure.
asio::awaitable<bool> settle_head(Context& ctx, Downstream& down, const page::Template& tpl, Includes& incs,
                                  int depth, http::Response& resp) {
  for (std::size_t i = 0; i < tpl.segments.size(); ++i) {
    const auto& inc = tpl.segments[i].include;
    if (!inc || !(inc->required || inc->primary)) continue;
    auto& f = *incs.frags[i];
    bool ok = false;
    incs.settled[i] = co_await settle(ctx, *inc, incs.frags[i], incs.deadlines[i], depth, ok);
    if (!ok && inc->required) {
      int status = failure_status(f);
      co_await respond(down, status,
                       std::to_string(status) + " " + std::string(http::reason_phrase(status)) +
                           ": required fragment " + f.down.request().target + " failed (" + f.error + ")\n");
      co_return false;
    }
    if (inc->primary && f.status != 0) {
      resp.status = f.status;
      for (auto name : {"Location", "Set-Cookie", "Cache-Control", "Content-Language"})
        f.down.headers().for_each([&](const http::HeaderMap::Field& h) {
          if (http::iequals(h.name, name)) resp.headers.add(h.name, h.value);
        });
    }
  }
  co_return true;
}

// The body in template order, waiting for a fragment only when it is next,
// then Server-Timing in the trailer. Stops if the client goes away.
asio::awaitable<void> stream_body(Context& ctx, Downstream& down, const page::Template& tpl, Includes& incs,
                                  int depth) {
  std::string out;
  for (std::size_t i = 0; i < tpl.segments.size(); ++i) {
    const auto& seg = tpl.segments[i];
    if (!seg.include) {
      out += seg.literal;
    } else {
      if (!incs.settled[i]) {
        if (!incs.frags[i]->done()) {
          // Let what is ready leave before waiting (the head, at least).
          if (co_await down.write_body(out, false)) co_return;
          out.clear();
        }
        bool ok = false;
        incs.settled[i] = co_await settle(ctx, *seg.include, incs.frags[i], incs.deadlines[i], depth, ok);
      }
      out += *incs.settled[i];
    }
    if (out.size() >= kFlushAt) {
      if (co_await down.write_body(out, false)) co_return;
      out.clear();
    }
  }
  std::string timing;
  int n = 0;
  for (const auto& f : incs.frags)
    if (f) append_timing(timing, "fragment-" + std::to_string(++n), *f);
  if (!timing.empty()) down.set_trailer("Server-Timing: " + timing + "\r\n");
  co_await down.write_body(out, true);
}

}  // namespace

asio::awaitable<void> serve_page(Downstream& down, const Router::Match& match, WorkerState& state, Worker& worker,
                                 ChainPtr chain) {
  const auto& route = *match.route;
  const auto& pc = *route.page;
  const auto& tpl = *pc.parsed;
  const auto& req = down.request();
  auto ex = co_await asio::this_coro::executor;
  const int depth = chain ? chain->depth : 0;
  if (depth > pc.max_depth) {
    co_await respond(down, 508, "508 Loop Detected: includes nested too deep\n");
    co_return;
  }
  if (!chain) chain = std::make_shared<const ComposeChain>(ComposeChain{nullptr, req.target, 0});
  Context ctx{req, std::string(down.peer()), state.shared_from_this(), worker, chain, pc.max_fragment_bytes,
              pc.max_depth, *state.route_stats[match.index], route.name};

  auto incs = start_includes(ctx, ex, tpl, match, pc.timeout);
  http::Response resp;
  resp.status = 200;
  if (!co_await settle_head(ctx, down, tpl, incs, depth, resp)) co_return;
  if (resp.status >= 300 && resp.status < 400) {
    // A redirecting primary: the page is the redirect.
    resp.content_length = 0;
    down.write_head(resp);
    co_await down.finish();
    co_return;
  }
  resp.headers.add("Content-Type", "text/html; charset=utf-8");
  if (!resp.headers.contains("Cache-Control")) resp.headers.add("Cache-Control", "no-store");
  resp.headers.add("Trailer", "Server-Timing");
  down.write_head(resp);
  co_await stream_body(ctx, down, tpl, incs, depth);
}

asio::awaitable<void> serve_aggregate(Downstream& down, const Router::Match& match, WorkerState& state,
                                      Worker& worker, ChainPtr chain) {
  const auto& route = *match.route;
  const auto& ac = *route.aggregate;
  const auto& req = down.request();
  auto ex = co_await asio::this_coro::executor;
  if (!chain) chain = std::make_shared<const ComposeChain>(ComposeChain{nullptr, req.target, 0});
  Context ctx{req, std::string(down.peer()), state.shared_from_this(), worker, chain, ac.max_part_bytes, 0,
              *state.route_stats[match.index], route.name};

  const auto started = Clock::now();
  std::vector<std::shared_ptr<Fragment>> frags;
  for (const auto& part : ac.parts) frags.push_back(start(ctx, ex, page::expand(part.path, match.params)));

  std::vector<std::pair<std::string, std::string_view>> merged;
  std::string missing, timing;
  for (std::size_t i = 0; i < ac.parts.size(); ++i) {
    const auto& part = ac.parts[i];
    auto& f = *frags[i];
    co_await f.wait(started + part.timeout.value_or(ac.timeout));
    count(ctx, f);
    if (f.state == Fragment::State::ok && !valid_json(f.down.body())) {
      f.state = Fragment::State::failed;
      f.error = "not JSON";
    }
    append_timing(timing, part.key, f);
    if (f.state == Fragment::State::ok) {
      merged.emplace_back(part.key, f.down.body());
      continue;
    }
    log::warn("route=" + route.name + " aggregate part " + part.key + " (" + f.down.request().target + "): " + f.error);
    if (part.required) {
      int status = failure_status(f);
      co_await respond(down, status,
                       "{\"error\":\"required part " + part.key + " failed: " + f.error + "\"}\n", "application/json");
      co_return;
    }
    ctx.stats.fragment_fallbacks.inc();
    if (!missing.empty()) missing += ", ";
    missing += part.key;
  }
  std::string body = merge_json(merged);
  http::Response resp;
  resp.status = 200;
  resp.headers.add("Content-Type", "application/json");
  resp.headers.add("Cache-Control", "no-store");
  if (!missing.empty()) resp.headers.add("X-Aggregate-Missing", missing);
  resp.headers.add("Server-Timing", timing);
  resp.content_length = body.size();
  down.write_head(resp);
  co_await down.write_body(body, true);
}

}  // namespace gateway::compose
