#include "gateway/admin.hpp"

#include "cache/policy.hpp"
#include "cache/shared_tier.hpp"
#include "gateway/access_serve.hpp"
#include "gateway/runtime.hpp"

#include <boost/asio/this_coro.hpp>
#include "base/http/url.hpp"
#include "base/json.hpp"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include "gateway/prometheus.hpp"
#include "gateway/worker.hpp"

#ifndef GATEWAY_VERSION
#define GATEWAY_VERSION "dev"
#endif

namespace gateway {

Admin::Admin() : started_(std::chrono::steady_clock::now()) {}

void Admin::set_workers(std::vector<const Worker*> workers, std::size_t running) {
  std::lock_guard lock(workers_mu_);
  workers_ = std::move(workers);
  running_ = running;
}

std::vector<const Worker*> Admin::workers() const {
  std::lock_guard lock(workers_mu_);
  return workers_;
}

std::string Admin::metrics_text(const Worker& worker) const {
  std::vector<const WorkerMetrics*> m;
  for (const auto* w : workers()) m.push_back(&w->metrics());
  return prometheus::render(m, *worker.state()->runtime);
}

std::string Admin::status_json(const Worker& worker) const {
  const auto& rt = *worker.state()->runtime;
  auto now = Clock::now();
  std::uint64_t active = 0;
  for (const auto* w : workers()) active += w->metrics().connections_active.get();
  auto uptime = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started_).count();

  std::string out = "{\"version\":";
  json::append_string(out, GATEWAY_VERSION);
  out += ",\"pid\":" + std::to_string(::getpid());  // which process answers, across a binary upgrade
  out += ",\"config\":";
  json::append_string(out, rt.config->file);
  out += ",\"uptime_seconds\":" + std::to_string(uptime);
  std::size_t running = 0;
  {
    std::lock_guard lock(workers_mu_);
    running = running_;
  }
  out += ",\"workers\":" + std::to_string(running);
  out += ",\"connections_active\":" + std::to_string(active);
  out += ",\"upstreams\":{";
  for (std::size_t g = 0; g < rt.groups.size(); ++g) {
    auto& group = *rt.groups[g];  // check() may note a change of panic state
    if (g) out += ",";
    json::append_string(out, group.name());
    out += ":{\"balance\":\"" + std::string(upstreams::to_string(group.config().balance)) + "\"";
    // In panic every instance takes traffic, whatever its state below.
    out += std::string(",\"panic\":") + (group.check(now) ? "true" : "false");
    out += ",\"panic_threshold\":" + std::to_string(group.config().panic_threshold);
    out += ",\"panic_entries_total\":" + std::to_string(group.panic_entries());
    const auto& q = group.queue();  // max_conns (upstreams/slots.hpp)
    out += ",\"max_conns\":" + std::to_string(group.config().max_conns) + ",\"queued\":" + std::to_string(q.waiting()) +
           ",\"queue_timeouts_total\":" + std::to_string(q.timeouts.load()) +
           ",\"queue_rejections_total\":" + std::to_string(q.rejections.load()) +
           ",\"queue_wakeups_total\":" + std::to_string(q.wakeups.load()) +
           ",\"queue_rechecks_total\":" + std::to_string(q.rechecks.load());
    out += ",\"instances\":[";
    for (std::size_t i = 0; i < group.size(); ++i) {
      const auto& inst = group.instance(i);
      if (i) out += ",";
      bool probe_up = inst.probe_up.load();
      bool ejected = !group.usable(i, now) && probe_up;
      const char* state = !probe_up ? "down" : ejected ? "ejected" : "up";
      out += "{\"address\":";
      json::append_string(out, inst.address.text);
      out += ",\"weight\":" + std::to_string(inst.weight);
      out += ",\"state\":\"" + std::string(state) + "\"";
      out += ",\"health_check\":\"" + std::string(!group.config().health ? "off" : probe_up ? "up" : "down") + "\"";
      out += ",\"fails\":" + std::to_string(inst.fails.load());
      out += ",\"failures_total\":" + std::to_string(inst.failures_total.load());
      out += ",\"ejections_total\":" + std::to_string(inst.ejections_total.load());
      out += ",\"in_flight\":" + std::to_string(inst.in_flight.load());
      out += "}";
    }
    out += "]}";
  }
  out += "},\"caches\":{";
  for (std::size_t i = 0; i < rt.zones.size(); ++i) {
    const auto& z = *rt.zones[i];
    const auto& st = z.store.stats();
    if (i) out += ",";
    const auto& zc = rt.config->caches[i];  // the running limits (a reload resizes a kept zone)
    json::append_string(out, zc.name);
    out += ":{\"path\":" + json::quote(zc.path) + ",\"policy\":" + json::quote(cache::to_string(zc.policy)) +
           ",\"admission\":" + json::quote(cache::to_string(zc.admission)) +
           ",\"admission_refused\":" + std::to_string(st.admission_refused.load()) +
           ",\"max_size\":" + std::to_string(zc.max_size) + ",\"bytes\":" + std::to_string(st.bytes.load()) +
           ",\"entries\":" + std::to_string(st.entries.load()) +
           ",\"memory_bytes\":" + std::to_string(st.memory_bytes.load()) +
           ",\"stores\":" + std::to_string(st.stores.load()) + ",\"evictions\":" + std::to_string(st.evictions.load()) +
           ",\"loading\":" + (st.loading.load() ? "true" : "false") + ",\"loaded\":" + std::to_string(st.loaded.load()) +
           ",\"load_dropped\":" + std::to_string(st.load_dropped.load());
    if (z.tier) out += std::string(",\"redis\":{\"up\":") + (z.tier->up() ? "true" : "false") + ",\"hits\":" +
                       std::to_string(z.tier->stats().hits.load()) + "}";
    out += "}";
  }
  out += "}}\n";
  return out;
}

namespace {
void append_ratio(std::string& out, std::uint64_t part, std::uint64_t whole) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4f", whole ? static_cast<double>(part) / static_cast<double>(whole) : 0.0);
  out += buf;
}

void append_counts(std::string& out, const cache::HitCounts& c) {
  out += "{\"requests\":" + std::to_string(c.requests) + ",\"hits\":" + std::to_string(c.hits) + ",\"hit_ratio\":";
  append_ratio(out, c.hits, c.requests);
  out += ",\"bytes\":" + std::to_string(c.bytes) + ",\"hit_bytes\":" + std::to_string(c.hit_bytes) +
         ",\"byte_hit_ratio\":";
  append_ratio(out, c.hit_bytes, c.bytes);
  out += "}";
}

void append_periods(std::string& out, const cache::HitPeriods& p) {
  out += "\"last_minute\":";
  append_counts(out, p.minute);
  out += ",\"last_hour\":";
  append_counts(out, p.hour);
}

void append_top(std::string& out, const std::vector<cache::TopKeys::Item>& items, std::string_view what) {
  out += "[";
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i) out += ",";
    // The key's parts (method, host, target, key headers) apart by spaces, not U+001F.
    std::string key = items[i].key;
    std::replace(key.begin(), key.end(), cache::kKeySeparator, ' ');
    out += "{\"key\":";
    json::append_string(out, key);
    out += ",\"" + std::string(what) + "\":" + std::to_string(items[i].count) +
           ",\"error\":" + std::to_string(items[i].error) + "}";
  }
  out += "]";
}

void append_zone_report(std::string& out, const cache::Zone& z) {
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch());
  const auto v = z.report.view(now.count());
  out += "{";
  append_periods(out, v.zone);
  out += ",\"routes\":{";
  for (std::size_t i = 0; i < v.routes.size(); ++i) {
    if (i) out += ",";
    json::append_string(out, v.routes[i].first);
    out += ":{";
    append_periods(out, v.routes[i].second);
    out += "}";
  }
  out += "},\"top_misses\":";
  append_top(out, v.top_misses, "misses");
  out += ",\"top_fetched\":";
  append_top(out, v.top_fetched, "bytes");
  if (const auto* t = z.trace()) {
    const auto& st = t->stats();
    out += ",\"trace\":{\"path\":" + json::quote(t->config().path) + ",\"records\":" +
           std::to_string(st.records.load()) + ",\"dropped\":" + std::to_string(st.dropped.load()) +
           ",\"bytes\":" + std::to_string(st.bytes.load()) + ",\"rotations\":" + std::to_string(st.rotations.load()) +
           "}";
  }
  out += "}";
}

// "http://Host:80/p?q" -> ("host", "/p?q"); "/p?q" -> ("", "/p?q").
std::pair<std::string, std::string> split_url(std::string_view url) {
  std::string host;
  if (auto scheme = url.find("://"); scheme != std::string_view::npos) {
    url.remove_prefix(scheme + 3);
    auto slash = url.find_first_of("/?");
    host = std::string(url.substr(0, slash));
    url = slash == std::string_view::npos ? std::string_view("/") : url.substr(slash);
    for (auto& c : host) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (host.size() > 3 && host.ends_with(":80")) host.resize(host.size() - 3);
  }
  return {host, std::string(url)};
}
}  // namespace

// Top keys count since the zone started (Space-Saving: `error` bounds the
// overcount); hit ratios over the last minute and hour.
std::optional<std::string> Admin::report_json(const Worker& worker, std::optional<std::string_view> zone) const {
  const auto& rt = *worker.state()->runtime;
  std::string out = "{\"zones\":{";
  bool any = false;
  for (std::size_t i = 0; i < rt.zones.size(); ++i) {
    const auto& name = rt.config->caches[i].name;
    if (zone && *zone != name) continue;
    if (any) out += ",";
    any = true;
    json::append_string(out, name);
    out += ":";
    append_zone_report(out, *rt.zones[i]);
  }
  if (zone && !any) return std::nullopt;
  out += "}}\n";
  return out;
}

// POST /purge?url=URL       the entries of one URL (all Vary variants)
// POST /purge?prefix=URL    every URL starting so ("/api/" or "http://host/api/")
// POST /purge?tag=TAG       every entry tagged so (the zone's tags_header)
boost::asio::awaitable<void> Admin::purge(Downstream& down, Worker& worker) const {
  const auto& rt = *worker.state()->runtime;
  auto query = down.request().query();
  auto ex = co_await boost::asio::this_coro::executor;
  auto client = [&](cache::Zone& z) -> cache::RedisClient& { return z.tier->client(static_cast<std::size_t>(worker.id()), ex); };
  std::size_t purged = 0, shared = 0;
  if (auto url = http::query_param(query, "url")) {
    auto [host, target] = split_url(*url);
    // The route that serves the URL knows its zone and how its keys
    // normalise the query.
    Router::Match m;
    auto path = std::string_view(target).substr(0, target.find('?'));
    if (rt.router.match(host, path, m) && m.route->cache) {
      const auto& rule = *m.route->cache;
      auto key = cache::url_key(host.empty() ? "-" : host, target, rule);
      auto second = key.find(cache::kKeySeparator, key.find(cache::kKeySeparator) + 1);
      std::string stored_target = key.substr(second + 1);
      auto& zone = *rt.zones[rule.zone_index];
      purged = zone.store.purge_prefix(host, stored_target, true);
      if (zone.tier) shared += co_await zone.tier->purge_target(client(zone), host, stored_target);
    }
  } else if (auto prefix = http::query_param(query, "prefix")) {
    auto [host, path] = split_url(*prefix);
    for (const auto& z : rt.zones) {
      purged += z->store.purge_prefix(host, path);
      if (z->tier) shared += co_await z->tier->purge_prefix(client(*z), host, path);
    }
  } else if (auto tag = http::query_param(query, "tag")) {
    for (const auto& z : rt.zones) {
      purged += z->store.purge_tag(*tag);
      if (z->tier) shared += co_await z->tier->purge_tag(client(*z), *tag);
    }
  } else {
    co_await respond(down, 400, "{\"error\":\"give url=, prefix= or tag=\"}\n", "application/json");
    co_return;
  }
  std::string body = "{\"purged\":" + std::to_string(purged);
  bool any_tier = false;
  for (const auto& z : rt.zones) any_tier = any_tier || z->tier;
  if (any_tier) body += ",\"purged_shared\":" + std::to_string(shared);
  body += "}\n";
  co_await respond(down, 200, body, "application/json");
}

boost::asio::awaitable<void> Admin::upstreams(Downstream& down, Worker& worker) {
  // The bodies are a few bytes: read whole, bounded.
  std::string body;
  constexpr std::size_t kMaxBody = 4096;
  for (bool done = down.body_complete(); !done;) {
    std::span<const char> piece;
    if (co_await down.read_body(piece, done)) co_return;
    body.append(piece.data(), piece.size());
    if (body.size() > kMaxBody) {
      auto r = admin_error(413, "body too large");
      co_await respond(down, r.status, r.body, "application/json");
      co_return;
    }
  }
  auto parsed = parse_upstreams_request(down.request().method, down.request().path(), body);
  AdminReply reply;
  if (auto* r = std::get_if<AdminReply>(&parsed)) {
    reply = std::move(*r);
  } else if (auto& req = std::get<UpstreamsRequest>(parsed); req.kind == UpstreamsRequest::Kind::list) {
    reply.body = upstreams_json(*worker.state()->runtime);
  } else if (!control_) {
    reply = admin_error(503, "membership changes are not available");
  } else {
    reply = co_await control_(std::move(req));
  }
  co_await respond(down, reply.status, reply.body, "application/json");
}

boost::asio::awaitable<void> Admin::serve(Downstream& down, Worker& worker) {
  const auto& req = down.request();
  auto path = req.path();
  down.info().route = "admin";
  if (!co_await access::admit_admin(down, worker.state()->runtime->config->admin)) co_return;
  if (path == "/purge") {
    if (req.method != "POST") {
      co_await respond(down, 405, "405 Method Not Allowed: POST /purge?url=|prefix=|tag=\n");
      co_return;
    }
    co_await purge(down, worker);
    co_return;
  }
  if (path == "/upstreams" || path.starts_with("/upstreams/")) {
    co_await upstreams(down, worker);
    co_return;
  }
  if (req.method != "GET" && req.method != "HEAD") {
    co_await respond(down, 405, "405 Method Not Allowed\n");
    co_return;
  }
  if (path == "/metrics") {
    co_await respond(down, 200, metrics_text(worker), "text/plain; version=0.0.4; charset=utf-8");
  } else if (path == "/status") {
    co_await respond(down, 200, status_json(worker), "application/json");
  } else if (path == "/cache/report") {
    auto zone = http::query_param(req.query(), "zone");
    if (auto body = report_json(worker, zone ? std::optional<std::string_view>(*zone) : std::nullopt))
      co_await respond(down, 200, *body, "application/json");
    else
      co_await respond(down, 404, "{\"error\":\"no cache zone " + json::quote(*zone).substr(1) + "}\n", "application/json");
  } else if (path == "/health") {
    co_await respond(down, 200, "ok\n");
  } else {
    co_await respond(down, 404, "404 Not Found: admin endpoints are /metrics, /status, /health, /cache/report, POST /purge, /upstreams\n");
  }
}

}  // namespace gateway
