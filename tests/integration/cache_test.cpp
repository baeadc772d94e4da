// The disk cache end to end: real gateway and sample-service processes, a
// cache zone in a temporary directory. What DESIGN.md "What the cache
// promises" and issue 3 list: MISS then HIT with one upstream request,
// coalescing, revalidation, stale-while-revalidate, stale-if-error, restarts,
// damaged files, max_size under eviction (LRU and S3-FIFO), purges, what a
// shared cache must not store or serve, Vary, invalidation, bypass,
// per-status TTLs and the cache metrics.
//
// The instance's /stats ("requests") counts what reached the fleet. Where
// time must pass for an entry to go stale, TTLs are 1-3 s and the test polls
// (each poll a HIT, which costs the fleet nothing) until the cache's answer
// changes; nothing sleeps blindly.
#include <doctest/doctest.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "harness.hpp"

using namespace itest;
namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;

std::string x_cache(const Response& r) { return r.header("X-Cache").value_or("(none)"); }
std::string cache_status(const Response& r) { return r.header("Cache-Status").value_or("(none)"); }

// The configuration of one cache zone "main" under dir/cache, an upstream
// "app" and the given route lines (each "  - {...}\n").
struct Setup {
  int workers = 2;
  std::string zone_extra;  // ", max_size: 2MiB, policy: lru"
  std::string routes = "  - {prefix: /, upstream: app, cache: {zone: main, ttl: 60s}}\n";
  std::string upstream_extra = "retries: 0\nmax_fails: 0";
};

std::string zone_path(const TempDir& dir) { return dir.file("cache"); }

std::string config(const TempDir& dir, const std::vector<const SampleService*>& services, const Setup& s = {}) {
  return "workers: " + std::to_string(s.workers) + "\ncaches:\n  main: {path: \"" + zone_path(dir) + "\"" +
         s.zone_extra + "}\nupstreams:\n" + upstream_yaml("app", services, s.upstream_extra) + "routes:\n" + s.routes;
}

std::string config(const TempDir& dir, const SampleService& svc, const Setup& s = {}) {
  return config(dir, std::vector<const SampleService*>{&svc}, s);
}

// Entry files of a zone: regular files anywhere under it but in tmp/.
std::vector<fs::path> entry_files(const std::string& zone) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(zone, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    if (it->is_directory(ec) && it->path().filename() == "tmp" && it->path().parent_path() == fs::path(zone)) {
      it.disable_recursion_pending();
      continue;
    }
    if (it->is_regular_file(ec)) out.push_back(it->path());
  }
  return out;
}

// Every regular file under the zone that holds bytes, tmp/ included (the
// store keeps a few empty temporary files ready for fills).
std::size_t all_files(const std::string& zone) {
  std::size_t n = 0;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(zone, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec))
    if (it->is_regular_file(ec) && it->file_size(ec) > 0) ++n;
  return n;
}

std::uint64_t disk_usage(const std::string& zone) {
  std::uint64_t total = 0;
  std::error_code ec;
  for (const auto& p : entry_files(zone)) total += fs::file_size(p, ec);
  return total;
}

// The entry file whose metadata holds `needle` (a target; keys are stored
// in clear in the file).
std::optional<fs::path> file_holding(const std::string& zone, std::string_view needle) {
  for (const auto& p : entry_files(zone))
    if (read_file(p.string()).find(needle) != std::string::npos) return p;
  return std::nullopt;
}

Response post(const std::string& u, std::vector<std::string> headers = {}, std::string body = "x") {
  Client c;
  Request r;
  r.method = "POST";
  r.url = u;
  r.headers = std::move(headers);
  r.body = std::move(body);
  return c.send(r);
}

Response head(const std::string& u) {
  Client c;
  Request r;
  r.method = "HEAD";
  r.url = u;
  return c.send(r);
}

std::optional<std::int64_t> purge(const Gateway& gw, std::string_view what, std::string_view value) {
  auto r = post(url(gw.admin_port(), "/purge?" + std::string(what) + "=" + pct(value)), {}, "");
  INFO("purge " << what << "=" << value << ": " << r.status << " " << r.body);
  CHECK(r.status == 200);
  return json_int(r.body, "purged");
}

// Polls `u` until the cache stops answering HIT (the entry went stale or
// away), at most `timeout`; returns that response (or the last HIT).
Response until_not_hit(const std::string& u, std::vector<std::string> headers = {}, Ms timeout = 5s) {
  Response r;
  eventually(
      [&] {
        r = http_get(u, headers);
        return x_cache(r) != "HIT";
      },
      timeout);
  return r;
}

double stores(const Gateway& gw) {
  return metric(gw.metrics(), "gateway_cache_stores_total{zone=\"main\"}").value_or(-1);
}

// A GET that fills the cache: returns once the entry is committed. (The
// client has the whole body a moment before the store has published the
// entry; a request in between follows the fill and is a MISS too.)
Response fill(const Gateway& gw, const std::string& u, std::vector<std::string> headers = {}) {
  auto before = stores(gw);
  auto r = http_get(u, headers);
  CHECK_MESSAGE(eventually([&] { return stores(gw) > before; }, 5s), "not stored: " << u);
  return r;
}

std::int64_t age_of(const Response& r) { return std::stoll(r.header("Age").value_or("-1")); }

// Waits until the start-up loader went through `files` entry files (or
// timeout); returns the last /status.
std::string wait_loaded(const Gateway& gw, std::int64_t files) {
  std::string st;
  eventually([&] {
    st = gw.status();
    return st.find("\"loading\":false") != std::string::npos &&
           json_int(st, "loaded").value_or(0) + json_int(st, "load_dropped").value_or(0) == files;
  });
  return st;
}

std::string zone_metric(std::string_view series) { return std::string(series) + "{zone=\"main\"}"; }

}  // namespace

// ------------------------------------------------------------------ hits

TEST_CASE("cache: MISS then HIT with one upstream request, Age on the hit, HEAD from the GET entry") {
  TempDir dir;
  SampleService svc(dir);
  Gateway gw(dir, config(dir, svc));
  const auto u = url(gw.port(), "/api/channels/1?cache_control=max-age=60&size=3000");

  auto r1 = fill(gw, u);
  REQUIRE(r1.status == 200);
  CHECK(x_cache(r1) == "MISS");
  CHECK(cache_status(r1).find("fwd=uri-miss") != std::string::npos);
  CHECK(cache_status(r1).find("stored") != std::string::npos);
  CHECK_FALSE(r1.header("Age").has_value());
  CHECK(r1.body.size() == 3000);

  auto r2 = http_get(u);
  REQUIRE(r2.status == 200);
  CHECK(x_cache(r2) == "HIT");
  CHECK(cache_status(r2).rfind("gateway; hit", 0) == 0);
  REQUIRE(r2.header("Age").has_value());
  CHECK(age_of(r2) >= 0);
  CHECK(age_of(r2) <= 1);
  CHECK(r2.body == r1.body);
  CHECK(r2.header("Content-Type") == r1.header("Content-Type"));
  CHECK(r2.header("Cache-Control") == "max-age=60");
  CHECK(r2.header("X-Instance") == "svc");
  CHECK(r2.header_count("X-Cache") == 1);
  CHECK(svc.stat("requests") == 1);

  auto h = head(u);
  CHECK(h.status == 200);
  CHECK(x_cache(h) == "HIT");
  CHECK(h.header("Content-Length") == "3000");
  CHECK(h.body.empty());
  CHECK(svc.stat("requests") == 1);

  // A HEAD for a cold key fills the GET entry (the fleet sees a GET).
  const auto u2 = url(gw.port(), "/api/channels/2?cache_control=max-age=60");
  auto before = stores(gw);
  auto h2 = head(u2);
  CHECK(h2.status == 200);
  CHECK(x_cache(h2) == "MISS");
  CHECK(h2.body.empty());
  CHECK(eventually([&] { return stores(gw) > before; }));
  auto g2 = http_get(u2);
  CHECK(x_cache(g2) == "HIT");
  CHECK(!g2.body.empty());
  CHECK(g2.header("Content-Length") == std::to_string(g2.body.size()));
  CHECK(svc.stat("requests") == 2);
}

// ------------------------------------------------------------------ coalescing

TEST_CASE("cache: 200 concurrent requests for a cold key make one upstream request and 200 identical bodies") {
  TempDir dir;
  SampleService svc(dir);
  Gateway gw(dir, config(dir, svc));
  const std::string path = "/api/channels/7?cache_control=max-age=60&delay_ms=300&size=50000";

  // All connections are open before any request leaves, then the 200
  // requests go out back to back: they all reach the gateway well inside
  // the instance's 300 ms.
  constexpr int kClients = 200;
  std::vector<std::unique_ptr<RawConnection>> conns;
  for (int i = 0; i < kClients; ++i) conns.push_back(std::make_unique<RawConnection>(gw.port()));
  const std::string request = "GET " + path + " HTTP/1.1\r\nHost: cache.test\r\n\r\n";
  for (auto& c : conns) REQUIRE(c->send(request));
  std::vector<RawResponse> responses;
  for (auto& c : conns) {
    auto got = parse_responses(c->read_responses(1, 20s));
    responses.push_back(got.empty() ? RawResponse{} : got.front());
  }

  CHECK(svc.stat("requests") == 1);
  int ok = 0, miss = 0, collapsed = 0, same = 0;
  std::set<std::string> others;
  for (const auto& r : responses) {
    auto xc = head_header(r.head, "X-Cache").value_or("(none)");
    if (r.status == 200) ++ok;
    if (xc == "MISS") ++miss;
    else others.insert(xc + " " + std::to_string(r.status));
    if (head_header(r.head, "Cache-Status").value_or("").find("collapsed") != std::string::npos) ++collapsed;
    if (r.body.size() == 50000 && r.body == responses[0].body) ++same;
  }
  INFO("other answers: " << (others.empty() ? "" : *others.begin()));
  CHECK(ok == kClients);
  CHECK(miss == kClients);
  CHECK(collapsed == kClients - 1);
  CHECK(same == kClients);

  // The body is the instance's own, byte for byte.
  auto direct = http_get(url(svc.port(), path));
  CHECK(direct.body.size() == 50000);
  CHECK(direct.body == responses[0].body);
  auto m = gw.metrics();
  CHECK(metric(m, zone_metric("gateway_cache_coalesced_total")) == kClients - 1);
  CHECK(metric(m, "gateway_cache_responses_total{zone=\"main\",status=\"MISS\"}") == kClients);
}

// ------------------------------------------------------------------ revalidation

TEST_CASE("cache: a stale entry revalidates with If-None-Match / If-Modified-Since and a 304 refreshes it") {
  TempDir dir;
  SampleService svc(dir);
  Gateway gw(dir, config(dir, svc));

  SUBCASE("ETag") {
    const auto u = url(gw.port(), "/api/channels/1?cache_control=max-age=1&etag=abc");
    auto r1 = fill(gw, u);
    REQUIRE(r1.status == 200);
    CHECK(x_cache(r1) == "MISS");
    CHECK(r1.header("ETag") == "\"abc\"");
    auto r2 = until_not_hit(u);
    CHECK(r2.status == 200);
    CHECK(x_cache(r2) == "REVALIDATED");
    CHECK(cache_status(r2).find("fwd-status=304") != std::string::npos);
    CHECK(r2.body == r1.body);
    CHECK(r2.header("ETag") == "\"abc\"");
    CHECK(svc.stat("requests") == 2);  // the conditional request reached the instance, which said 304
    auto r3 = http_get(u);
    CHECK(x_cache(r3) == "HIT");  // refreshed: fresh again for a second
    CHECK(svc.stat("requests") == 2);
  }
  SUBCASE("Last-Modified") {
    const auto u = url(gw.port(), "/api/channels/2?cache_control=max-age=1&last_modified=1700000000");
    auto r1 = fill(gw, u);
    REQUIRE(r1.status == 200);
    CHECK(x_cache(r1) == "MISS");
    CHECK(r1.header("Last-Modified") == "Tue, 14 Nov 2023 22:13:20 GMT");
    auto r2 = until_not_hit(u);
    CHECK(r2.status == 200);
    CHECK(x_cache(r2) == "REVALIDATED");
    CHECK(r2.body == r1.body);
    CHECK(svc.stat("requests") == 2);
  }
  SUBCASE("a client's own validator matching a fresh entry gets 304 from the cache") {
    const auto u = url(gw.port(), "/api/channels/3?cache_control=max-age=60&etag=v1&last_modified=1700000000");
    REQUIRE(x_cache(fill(gw, u)) == "MISS");
    auto inm = http_get(u, {"If-None-Match: \"v1\""});
    CHECK(inm.status == 304);
    CHECK(x_cache(inm) == "HIT");
    CHECK(inm.body.empty());
    CHECK(inm.header("ETag") == "\"v1\"");
    auto ims = http_get(u, {"If-Modified-Since: Tue, 14 Nov 2023 22:13:20 GMT"});
    CHECK(ims.status == 304);
    CHECK(x_cache(ims) == "HIT");
    auto other = http_get(u, {"If-None-Match: \"v0\""});
    CHECK(other.status == 200);
    CHECK(x_cache(other) == "HIT");
    CHECK(!other.body.empty());
    CHECK(svc.stat("requests") == 1);
  }
}

TEST_CASE("cache: the conditional request sent upstream carries the stored validators") {
  TempDir dir;
  CaptureServer origin(
      "HTTP/1.1 200 OK\r\nCache-Control: max-age=1\r\nETag: \"e1\"\r\n"
      "Last-Modified: Tue, 14 Nov 2023 22:13:20 GMT\r\nContent-Length: 2\r\n\r\nok");
  Gateway gw(dir, "workers: 1\ncaches:\n  main: {path: \"" + zone_path(dir) + "\"}\nupstreams:\n  app:\n"
                  "    instances: [\"" + origin.address() + "\"]\nroutes:\n"
                  "  - {prefix: /, upstream: app, cache: {zone: main}}\n");
  const auto u = url(gw.port(), "/v");
  // The client's own conditions are not forwarded on a fill.
  auto r1 = fill(gw, u, {"If-None-Match: \"mine\""});
  CHECK(r1.status == 200);
  CHECK(x_cache(r1) == "MISS");
  auto r2 = until_not_hit(u);
  CHECK(x_cache(r2) == "EXPIRED");  // the origin answered 200, not 304
  auto reqs = origin.requests();
  REQUIRE(reqs.size() == 2);
  CHECK_FALSE(head_header(reqs[0], "If-None-Match").has_value());
  CHECK(head_header(reqs[1], "If-None-Match") == "\"e1\"");
  CHECK(head_header(reqs[1], "If-Modified-Since") == "Tue, 14 Nov 2023 22:13:20 GMT");
}

// ------------------------------------------------------------------ stale-while-revalidate

TEST_CASE("cache: stale-while-revalidate serves stale at once and refreshes once in the background") {
  TempDir dir;
  SampleService svc(dir);
  Gateway gw(dir, config(dir, svc));
  // The instance takes 1.5 s: a request that waited for the refresh shows.
  // max-age=3 leaves room, after the refresh, for the HIT at the end even
  // on a loaded machine.
  const auto u = url(gw.port(), "/api/channels/1?cache_control=max-age=3,stale-while-revalidate=30&delay_ms=1500");
  auto r1 = fill(gw, u);
  REQUIRE(r1.status == 200);
  REQUIRE(x_cache(r1) == "MISS");

  // Eight clients poll together until the entry goes stale: the first to
  // see it stale gets STALE and starts the refresh; nobody waits for it.
  constexpr int kPollers = 8;
  std::atomic<bool> stale_seen{false};
  std::mutex mu;
  std::vector<std::pair<std::string, Ms>> answers;  // X-Cache and status, latency; non-HIT only
  std::int64_t stale_age = -1;
  std::vector<std::thread> threads;
  for (int t = 0; t < kPollers; ++t)
    threads.emplace_back([&] {
      Client c;
      eventually(
          [&] {
            if (stale_seen.load()) return true;
            auto t0 = Clock::now();
            auto r = c.get(u);
            auto took = std::chrono::duration_cast<Ms>(Clock::now() - t0);
            if (x_cache(r) == "HIT") return false;
            stale_seen.store(true);
            std::lock_guard lock(mu);
            answers.emplace_back(x_cache(r) + " " + std::to_string(r.status), took);
            if (x_cache(r) == "STALE") stale_age = age_of(r);
            return true;
          },
          8s);
    });
  for (auto& t : threads) t.join();
  REQUIRE(stale_seen.load());
  int stale = 0;
  for (const auto& [what, took] : answers) {
    INFO(what << " in " << took.count() << " ms");
    CHECK((what == "STALE 200" || what == "UPDATING 200"));
    CHECK(took < 1000ms);  // not the 1.5 s of the refresh
    if (what == "STALE 200") ++stale;
  }
  CHECK(stale == 1);
  CHECK(stale_age >= 3);

  // While the refresh runs, more stale requests are served at once too.
  std::vector<Response> during(kPollers);
  threads.clear();
  for (int t = 0; t < kPollers; ++t) threads.emplace_back([&, t] { during[t] = http_get(u); });
  for (auto& t : threads) t.join();
  for (const auto& r : during) {
    CHECK(r.status == 200);
    CHECK(x_cache(r) == "UPDATING");
    CHECK(r.body == r1.body);
  }

  // Exactly one refresh reaches the instance; then a HIT with a new Age.
  CHECK(eventually([&] { return stores(gw) == 2; }, 5s));
  CHECK(svc.stat("requests") == 2);
  auto after = http_get(u);
  CHECK(x_cache(after) == "HIT");
  CHECK(age_of(after) >= 0);
  CHECK(age_of(after) < stale_age);
  CHECK(age_of(after) <= 1);
  CHECK(svc.stat("requests") == 2);
  CHECK(metric(gw.metrics(), zone_metric("gateway_cache_background_updates_total")) == 1);
}

// ------------------------------------------------------------------ stale-if-error

TEST_CASE("cache: stale-if-error and use_stale serve stale when the instance is gone, otherwise 502") {
  TempDir dir;
  SampleService svc(dir);
  Setup s;
  s.routes =
      "  - {prefix: /api/chat/, upstream: app, cache: {zone: main, use_stale: [error]}}\n"
      "  - {prefix: /, upstream: app, cache: {zone: main}}\n";
  Gateway gw(dir, config(dir, svc, s));
  const auto with_sie = url(gw.port(), "/api/channels/1?cache_control=max-age=1,stale-if-error=60");
  const auto with_rule = url(gw.port(), "/api/chat/1?cache_control=max-age=1");
  const auto without = url(gw.port(), "/api/channels/2?cache_control=max-age=1");
  auto a = fill(gw, with_sie), b = fill(gw, with_rule), c = fill(gw, without);
  REQUIRE(x_cache(a) == "MISS");
  REQUIRE(x_cache(b) == "MISS");
  REQUIRE(x_cache(c) == "MISS");
  REQUIRE(svc.stat("requests") == 3);
  svc.process().stop();

  auto a2 = until_not_hit(with_sie);
  CHECK(a2.status == 200);
  CHECK(x_cache(a2) == "STALE");
  CHECK(a2.body == a.body);
  auto b2 = until_not_hit(with_rule);
  CHECK(b2.status == 200);
  CHECK(x_cache(b2) == "STALE");
  CHECK(b2.body == b.body);
  auto c2 = until_not_hit(without);
  CHECK(c2.status == 502);
  CHECK(x_cache(c2) != "STALE");
  // Still stale-served on the next try.
  CHECK(x_cache(http_get(with_sie)) == "STALE");
}

// ------------------------------------------------------------------ restarts and damaged files

TEST_CASE("cache: a restarted gateway serves the entries on disk without asking the instance") {
  TempDir dir;
  SampleService svc(dir);
  const auto yaml = config(dir, svc);
  // Keys hold the Host: a fixed one, as in production, not 127.0.0.1 with
  // each run's ephemeral port.
  const std::vector<std::string> host = {"Host: cache.test"};
  const std::string path = "/api/channels/1?cache_control=max-age=300&size=100000";
  std::string body;
  // Each gateway run gets its own directory for its config and logs (the
  // harness reads the listening ports from the log file, which must not
  // hold the previous run's lines); the zone stays in `dir`.
  {
    TempDir run;
    Gateway gw(run, yaml);
    auto r = fill(gw, url(gw.port(), path), host);
    REQUIRE(x_cache(r) == "MISS");
    body = r.body;
    REQUIRE(x_cache(http_get(url(gw.port(), path), host)) == "HIT");  // committed
  }
  TempDir run;
  Gateway gw(run, yaml);
  auto st = wait_loaded(gw, 1);
  INFO(st);
  REQUIRE(st.find("\"loading\":false") != std::string::npos);
  CHECK(json_int(st, "loaded") == 1);
  CHECK(json_int(st, "load_dropped") == 0);
  CHECK(json_int(st, "entries") == 1);
  auto r = http_get(url(gw.port(), path), host);
  CHECK(r.status == 200);
  CHECK(x_cache(r) == "HIT");
  CHECK(r.body == body);
  CHECK(svc.stat("requests") == 1);
}

TEST_CASE("cache: a truncated or corrupted entry file is dropped at start-up, never served") {
  TempDir dir;
  SampleService svc(dir);
  const auto yaml = config(dir, svc);
  const std::vector<std::string> host = {"Host: cache.test"};
  const std::string zone = zone_path(dir);
  constexpr std::size_t kBody = 30000;
  const std::string p1 = "/api/channels/1?cache_control=max-age=300&size=30000";
  const std::string p2 = "/api/channels/2?cache_control=max-age=300&size=30000";
  std::string b1, b2;
  {
    TempDir run;  // per gateway run: see the restart test above
    Gateway gw(run, yaml);
    b1 = fill(gw, url(gw.port(), p1), host).body;
    b2 = fill(gw, url(gw.port(), p2), host).body;
    REQUIRE(x_cache(http_get(url(gw.port(), p1), host)) == "HIT");
    REQUIRE(x_cache(http_get(url(gw.port(), p2), host)) == "HIT");
  }
  REQUIRE(b1.size() == kBody);
  REQUIRE(entry_files(zone).size() == 2);

  // Truncated: half the body gone.
  auto f1 = file_holding(zone, "/api/channels/1?");
  REQUIRE(f1.has_value());
  auto size1 = fs::file_size(*f1);
  fs::resize_file(*f1, size1 - kBody / 2);
  {
    TempDir run;
    Gateway gw(run, yaml);
    auto st = wait_loaded(gw, 2);
    INFO(st);
    REQUIRE(st.find("\"loading\":false") != std::string::npos);
    CHECK(json_int(st, "load_dropped") == 1);
    CHECK(json_int(st, "loaded") == 1);
    CHECK_FALSE(fs::exists(*f1));  // removed
    auto r1 = fill(gw, url(gw.port(), p1), host);
    CHECK(r1.status == 200);
    CHECK(x_cache(r1) == "MISS");
    CHECK(r1.body == b1);
    CHECK(svc.stat("requests") == 3);
    CHECK(x_cache(http_get(url(gw.port(), p2), host)) == "HIT");
    CHECK(x_cache(http_get(url(gw.port(), p1), host)) == "HIT");  // refetched and stored again
    CHECK(svc.stat("requests") == 3);
    CHECK(gw.process().running());
  }

  // Corrupted: one byte flipped in the middle of the body, size unchanged.
  auto f2 = file_holding(zone, "/api/channels/2?");
  REQUIRE(f2.has_value());
  auto size2 = fs::file_size(*f2);
  {
    std::fstream f(*f2, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(static_cast<std::streamoff>(size2 - kBody / 2));
    char ch = 0;
    f.get(ch);
    f.seekp(static_cast<std::streamoff>(size2 - kBody / 2));
    f.put(static_cast<char>(ch ^ 0x20));
  }
  REQUIRE(fs::file_size(*f2) == size2);
  {
    TempDir run;
    Gateway gw(run, yaml);
    auto st = wait_loaded(gw, 2);
    INFO(st);
    REQUIRE(st.find("\"loading\":false") != std::string::npos);
    CHECK(json_int(st, "load_dropped") == 1);
    CHECK(json_int(st, "loaded") == 1);
    auto r2 = http_get(url(gw.port(), p2), host);
    CHECK(r2.status == 200);
    CHECK(x_cache(r2) == "MISS");
    CHECK(r2.body == b2);
    CHECK(svc.stat("requests") == 4);
    CHECK(x_cache(http_get(url(gw.port(), p1), host)) == "HIT");
    CHECK(gw.process().running());
  }
}

// ------------------------------------------------------------------ max_size

namespace {
void eviction_keeps_disk_under_max_size(const std::string& policy) {
  TempDir dir;
  SampleService svc(dir);
  Setup s;
  constexpr std::uint64_t kMax = 2 << 20, kBody = 100 << 10;
  s.zone_extra = ", max_size: 2MiB, policy: " + policy;
  Gateway gw(dir, config(dir, svc, s));
  const std::string zone = zone_path(dir);
  // One entry: its body, the stored head and metadata, rounded up to 4 KiB.
  constexpr std::uint64_t kEntrySlack = kBody + 8192;

  std::uint64_t worst = 0;
  for (int i = 0; i < 60; ++i) {
    auto r = fill(gw, url(gw.port(), "/api/channels/" + std::to_string(i) + "?cache_control=max-age=300&size=102400"));
    REQUIRE(r.status == 200);
    REQUIRE(r.body.size() == kBody);
    CHECK(x_cache(r) == "MISS");
    // Evicted files are deleted by the store's background thread.
    std::uint64_t usage = 0;
    bool under = eventually(
        [&] {
          usage = disk_usage(zone);
          return usage <= kMax + kEntrySlack;
        },
        3s);
    worst = std::max(worst, usage);
    INFO("after request " << i << ": " << usage << " bytes on disk");
    CHECK(under);
  }
  INFO("worst disk usage " << worst);
  CHECK(svc.stat("requests") == 60);
  auto m = gw.metrics();
  CHECK(metric(m, "gateway_cache_evictions_total{zone=\"main\"}").value_or(0) > 0);
  CHECK(metric(m, "gateway_cache_bytes{zone=\"main\"}").value_or(kMax + 1) <= kMax);
  auto entries = metric(m, "gateway_cache_entries{zone=\"main\"}").value_or(0);
  CHECK(entries >= 10);  // it still holds most of what fits
  CHECK(entries <= 20);
  CHECK(entries + metric(m, "gateway_cache_evictions_total{zone=\"main\"}").value_or(0) == 60);
  auto st = gw.status();
  CHECK(st.find("\"policy\":\"" + policy + "\"") != std::string::npos);
  CHECK(eventually([&] { return static_cast<double>(entry_files(zone).size()) == entries; }));
  // The most recent key is still there.
  CHECK(x_cache(http_get(url(gw.port(), "/api/channels/59?cache_control=max-age=300&size=102400"))) == "HIT");
}
}  // namespace

TEST_CASE("cache: a workload 3x max_size keeps disk usage under it (LRU)") { eviction_keeps_disk_under_max_size("lru"); }

TEST_CASE("cache: a workload 3x max_size keeps disk usage under it (S3-FIFO)") {
  eviction_keeps_disk_under_max_size("s3fifo");
}

// ------------------------------------------------------------------ purge

TEST_CASE("cache: purge by URL (every Vary variant), by prefix and by tag, on the admin port only") {
  TempDir dir;
  SampleService svc(dir);
  Gateway gw(dir, config(dir, svc));
  auto get = [&](const std::string& p, std::vector<std::string> h = {}) { return http_get(url(gw.port(), p), h); };
  // A miss that stores the response.
  auto miss = [&](const std::string& p, std::vector<std::string> h = {}) { return x_cache(fill(gw, url(gw.port(), p), h)); };

  SUBCASE("by URL: all Vary variants") {
    const std::string p = "/api/channels/1?cache_control=max-age=300&vary=Accept-Language";
    REQUIRE(miss(p, {"Accept-Language: en"}) == "MISS");
    REQUIRE(miss(p, {"Accept-Language: de"}) == "MISS");
    REQUIRE(x_cache(get(p, {"Accept-Language: en"})) == "HIT");
    REQUIRE(x_cache(get(p, {"Accept-Language: de"})) == "HIT");
    const std::string other = "/api/channels/2?cache_control=max-age=300";
    REQUIRE(miss(other) == "MISS");
    CHECK(purge(gw, "url", "http://127.0.0.1:" + std::to_string(gw.port()) + p) == 2);
    CHECK(purge(gw, "url", "http://127.0.0.1:" + std::to_string(gw.port()) + p) == 0);
    CHECK(miss(p, {"Accept-Language: en"}) == "MISS");
    CHECK(miss(p, {"Accept-Language: de"}) == "MISS");
    CHECK(x_cache(get(other)) == "HIT");
    // A path without scheme and host works too.
    CHECK(purge(gw, "url", other) == 1);
    CHECK(x_cache(get(other)) == "MISS");
    CHECK(svc.stat("requests") == 6);
  }
  SUBCASE("by prefix") {
    const std::string c1 = "/api/chat/1?cache_control=max-age=300", c2 = "/api/chat/2?cache_control=max-age=300";
    const std::string keep = "/api/channels/1?cache_control=max-age=300";
    for (const auto& p : {c1, c2, keep}) REQUIRE(miss(p) == "MISS");
    CHECK(purge(gw, "prefix", "/api/chat/") == 2);
    CHECK(miss(c1) == "MISS");
    CHECK(miss(c2) == "MISS");
    CHECK(x_cache(get(keep)) == "HIT");
    CHECK(purge(gw, "prefix", "http://127.0.0.1:" + std::to_string(gw.port()) + "/api/") == 3);
    CHECK(x_cache(get(keep)) == "MISS");
  }
  SUBCASE("by tag") {
    const std::string ab = "/api/recommended/1?cache_control=max-age=300&header=Surrogate-Key:%20a%20b";
    const std::string bc = "/api/recommended/2?cache_control=max-age=300&header=Surrogate-Key:%20b%20c";
    const std::string none = "/api/recommended/3?cache_control=max-age=300";
    for (const auto& p : {ab, bc, none}) REQUIRE(miss(p) == "MISS");
    CHECK(get(ab).header("Surrogate-Key") == "a b");
    CHECK(purge(gw, "tag", "a") == 1);
    CHECK(miss(ab) == "MISS");
    CHECK(x_cache(get(bc)) == "HIT");
    CHECK(purge(gw, "tag", "b") == 2);  // ab again (refilled above) and bc
    CHECK(purge(gw, "tag", "c") == 0);
    CHECK(x_cache(get(ab)) == "MISS");
    CHECK(x_cache(get(bc)) == "MISS");
    CHECK(x_cache(get(none)) == "HIT");
  }
  SUBCASE("not on the public port") {
    const std::string p = "/api/channels/3?cache_control=max-age=300";
    REQUIRE(miss(p) == "MISS");
    auto r = post(url(gw.port(), "/purge?url=" + pct(p)), {}, "");
    CHECK(r.status == 404);  // proxied to the instance, which has no /purge
    CHECK(r.body.find("\"purged\"") == std::string::npos);
    auto r2 = post(url(gw.port(), "/purge?prefix=%2F"), {}, "");
    CHECK(r2.status == 404);
    CHECK(x_cache(get(p)) == "HIT");
    // On the admin port, only POST purges.
    auto g = http_get(url(gw.admin_port(), "/purge?url=" + pct(p)));
    CHECK(g.status == 405);
    CHECK(x_cache(get(p)) == "HIT");
    auto bad = post(url(gw.admin_port(), "/purge"), {}, "");
    CHECK(bad.status == 400);
  }
}

// ------------------------------------------------------------------ what a shared cache must not keep

TEST_CASE("cache: Set-Cookie responses are not stored unless the route allows it, and the cookie never is") {
  TempDir dir;
  SampleService svc(dir);
  Setup s;
  s.routes =
      "  - {prefix: /api/chat/, upstream: app, cache: {zone: main, ttl: 60s, store_set_cookie: true}}\n"
      "  - {prefix: /, upstream: app, cache: {zone: main, ttl: 60s}}\n";
  Gateway gw(dir, config(dir, svc, s));

  const auto u = url(gw.port(), "/api/channels/1?cache_control=max-age=60&set_cookie=sid%3Dsecret1");
  auto r1 = http_get(u);
  CHECK(r1.status == 200);
  CHECK(x_cache(r1) == "MISS");
  CHECK(r1.header("Set-Cookie") == "sid=secret1");
  auto r2 = http_get(u);
  CHECK(x_cache(r2) == "MISS");
  CHECK(r2.header("Set-Cookie") == "sid=secret1");  // the instance's answer to this client
  CHECK(cache_status(r2).find("set-cookie") != std::string::npos);
  CHECK(svc.stat("requests") == 2);

  const auto allowed = url(gw.port(), "/api/chat/1?cache_control=max-age=60&set_cookie=sid%3Dsecret2");
  auto a1 = fill(gw, allowed);
  CHECK(x_cache(a1) == "MISS");
  CHECK(a1.header("Set-Cookie") == "sid=secret2");  // the client that caused the fill gets its cookie
  auto a2 = http_get(allowed);
  CHECK(x_cache(a2) == "HIT");
  CHECK(a2.header_count("Set-Cookie") == 0);
  CHECK(svc.stat("requests") == 3);
  // Nor is it on disk (the URL holds it percent-encoded: look for the field).
  auto files = entry_files(zone_path(dir));
  CHECK(files.size() == 1);
  for (const auto& f : files) {
    auto bytes = read_file(f.string());
    CHECK(bytes.find("sid=secret") == std::string::npos);
    CHECK(bytes.find("Set-Cookie") == std::string::npos);
  }
}

TEST_CASE("cache: a response to a request with Authorization is stored only if public or s-maxage") {
  TempDir dir;
  SampleService svc(dir);
  Gateway gw(dir, config(dir, svc));
  const std::vector<std::string> auth = {"Authorization: Bearer alice"};

  // Not stored: the next (anonymous) client does not get Alice's response.
  const auto plain = url(gw.port(), "/api/channels/1?cache_control=max-age=60");
  auto p1 = http_get(plain, auth);
  CHECK(p1.status == 200);
  CHECK(x_cache(p1) == "MISS");
  CHECK(cache_status(p1).find("authorization") != std::string::npos);
  auto p2 = http_get(plain);
  CHECK(x_cache(p2) == "MISS");
  CHECK(svc.stat("requests") == 2);

  for (const char* cc : {"public,max-age=60", "s-maxage=60"}) {
    INFO(cc);
    const auto u = url(gw.port(), "/api/channels/2?cache_control=" + std::string(cc));
    auto before = svc.stat("requests");
    CHECK(x_cache(fill(gw, u, auth)) == "MISS");
    CHECK(x_cache(http_get(u)) == "HIT");
    CHECK(svc.stat("requests") == before + 1);
  }
}

TEST_CASE("cache: an entry stored for anonymous clients is not served to a request with Authorization") {
  TempDir dir;
  SampleService svc(dir);
  Gateway gw(dir, config(dir, svc));
  const auto u = url(gw.port(), "/api/channels/1?cache_control=max-age=60");
  REQUIRE(x_cache(fill(gw, u)) == "MISS");
  REQUIRE(x_cache(http_get(u)) == "HIT");
  auto r = http_get(u, {"Authorization: Bearer alice"});
  CHECK(r.status == 200);
  CHECK(x_cache(r) != "HIT");
  CHECK(svc.stat("requests") == 2);
  // With public the stored response may serve it.
  const auto pub = url(gw.port(), "/api/channels/2?cache_control=public,max-age=60");
  REQUIRE(x_cache(fill(gw, pub)) == "MISS");
  CHECK(x_cache(http_get(pub, {"Authorization: Bearer alice"})) == "HIT");
}

TEST_CASE("cache: no-store and private responses never reach the disk") {
  TempDir dir;
  SampleService svc(dir);
  Gateway gw(dir, config(dir, svc));
  const std::string zone = zone_path(dir);
  for (const char* cc : {"no-store", "private", "private,max-age=60", "no-store,max-age=60"}) {
    INFO(cc);
    const auto u = url(gw.port(), "/api/channels/1?size=20000&cache_control=" + std::string(cc));
    auto before = svc.stat("requests");
    auto r1 = http_get(u);
    CHECK(r1.status == 200);
    CHECK(x_cache(r1) == "MISS");
    CHECK(cache_status(r1).find(std::string(cc).substr(0, std::string(cc).find(','))) != std::string::npos);
    CHECK(x_cache(http_get(u)) == "MISS");
    CHECK(svc.stat("requests") == before + 2);
    CHECK(all_files(zone) == 0);  // not even a temporary file
  }
  CHECK(metric(gw.metrics(), "gateway_cache_stores_total{zone=\"main\"}") == 0);
  // The check above can see files: a storable response makes one.
  REQUIRE(x_cache(http_get(url(gw.port(), "/api/channels/2?cache_control=max-age=60"))) == "MISS");
  CHECK(eventually([&] { return entry_files(zone).size() == 1; }));
}

// ------------------------------------------------------------------ Vary

TEST_CASE("cache: Vary keeps one entry per Accept-Language, each served to its own clients") {
  TempDir dir;
  SampleService a(dir, "a"), b(dir, "b");
  Setup s;
  s.workers = 1;  // one round-robin rotation: the two fills come from different instances
  Gateway gw(dir, config(dir, {&a, &b}, s));
  const auto u = url(gw.port(), "/api/channels/1?cache_control=max-age=300&vary=Accept-Language");
  auto en1 = fill(gw, u, {"Accept-Language: en"});
  auto de1 = fill(gw, u, {"Accept-Language: de"});
  REQUIRE(x_cache(en1) == "MISS");
  REQUIRE(x_cache(de1) == "MISS");
  REQUIRE(en1.header("X-Instance").has_value());
  REQUIRE(en1.header("X-Instance") != de1.header("X-Instance"));
  CHECK(en1.header("Vary") == "Accept-Language");
  for (int i = 0; i < 3; ++i) {
    auto en = http_get(u, {"Accept-Language: en"});
    auto de = http_get(u, {"Accept-Language: de"});
    CHECK(x_cache(en) == "HIT");
    CHECK(x_cache(de) == "HIT");
    CHECK(en.header("X-Instance") == en1.header("X-Instance"));
    CHECK(de.header("X-Instance") == de1.header("X-Instance"));
    CHECK(en.body == en1.body);
    CHECK(de.body == de1.body);
  }
  CHECK(a.stat("requests") + b.stat("requests") == 2);
  // Another language, and no Accept-Language at all, are variants of their own.
  CHECK(x_cache(fill(gw, u, {"Accept-Language: fr"})) == "MISS");
  CHECK(x_cache(fill(gw, u)) == "MISS");
  CHECK(x_cache(http_get(u)) == "HIT");
  CHECK(a.stat("requests") + b.stat("requests") == 4);
  CHECK(metric(gw.metrics(), "gateway_cache_entries{zone=\"main\"}") == 4);
}

// ------------------------------------------------------------------ invalidation

TEST_CASE("cache: a successful POST invalidates the URL and its Location") {
  TempDir dir;
  SampleService svc(dir);
  Gateway gw(dir, config(dir, svc));
  const std::string p = "/api/channels/1?cache_control=max-age=300";
  auto u = url(gw.port(), p);
  REQUIRE(x_cache(fill(gw, u)) == "MISS");
  REQUIRE(x_cache(http_get(u)) == "HIT");

  // Another URL's POST changes nothing here.
  auto other = post(url(gw.port(), "/api/channels/1?other=1"));
  CHECK(other.status == 200);
  CHECK(x_cache(http_get(u)) == "HIT");

  auto r = post(u, {"Content-Type: application/json"}, "{\"title\":\"new\"}");
  CHECK(r.status == 200);
  CHECK(x_cache(r) == "BYPASS");
  CHECK(r.body.find("\"method\":\"POST\"") != std::string::npos);
  auto after = fill(gw, u);
  CHECK(x_cache(after) == "MISS");
  CHECK(x_cache(http_get(u)) == "HIT");

  // Location on the same host is invalidated too (the route's ttl makes
  // /api/channels/7 cacheable without a query).
  auto u7 = url(gw.port(), "/api/channels/7");
  REQUIRE(x_cache(fill(gw, u7)) == "MISS");
  REQUIRE(x_cache(http_get(u7)) == "HIT");
  auto loc = post(url(gw.port(), "/api/channels/8?header=Location:/api/channels/7"));
  CHECK(loc.status == 200);
  CHECK(loc.header("Location") == "/api/channels/7");
  CHECK(x_cache(http_get(u7)) == "MISS");
  for (const char* method : {"PUT", "DELETE", "PATCH"}) {
    INFO(method);
    REQUIRE(x_cache(http_get(u)) == "HIT");
    Client c;
    Request req;
    req.method = method;
    req.url = u;
    auto m = c.send(req);
    CHECK(m.status == 200);
    CHECK(x_cache(m) == "BYPASS");
    CHECK(x_cache(fill(gw, u)) == "MISS");
  }
}

// ------------------------------------------------------------------ bypass

TEST_CASE("cache: bypass headers and unsafe methods go past the cache") {
  TempDir dir;
  SampleService svc(dir);
  Setup s;
  s.routes = "  - {prefix: /, upstream: app, cache: {zone: main, ttl: 60s, bypass: {headers: [X-No-Cache]}}}\n";
  Gateway gw(dir, config(dir, svc, s));
  const auto u = url(gw.port(), "/api/channels/1?cache_control=max-age=300");
  auto b1 = http_get(u, {"X-No-Cache: 1"});
  CHECK(b1.status == 200);
  CHECK(x_cache(b1) == "BYPASS");
  CHECK(svc.stat("requests") == 1);
  CHECK(x_cache(fill(gw, u)) == "MISS");  // the bypassed response was not stored
  CHECK(x_cache(http_get(u)) == "HIT");
  auto b2 = http_get(u, {"X-No-Cache: yes"});
  CHECK(x_cache(b2) == "BYPASS");
  CHECK(svc.stat("requests") == 3);
  // "0" and "" do not bypass (nginx's proxy_cache_bypass).
  CHECK(x_cache(http_get(u, {"X-No-Cache: 0"})) == "HIT");
  auto p = post(url(gw.port(), "/api/channels/2"));
  CHECK(p.status == 200);
  CHECK(x_cache(p) == "BYPASS");
  CHECK(svc.stat("requests") == 4);
  CHECK(metric(gw.metrics(), "gateway_cache_responses_total{zone=\"main\",status=\"BYPASS\"}") == 3);
}

// ------------------------------------------------------------------ route TTLs

TEST_CASE("cache: valid stores a 404 for its TTL and override lets the route's TTL win over max-age=0") {
  TempDir dir;
  SampleService svc(dir);
  Setup s;
  s.routes =
      "  - {prefix: /api/chat/, upstream: app, cache: {zone: main, valid: {404: 10s}}}\n"
      "  - {prefix: /api/recommended/, upstream: app, cache: {zone: main, ttl: 60s, override: true}}\n"
      "  - {prefix: /, upstream: app, cache: {zone: main, ttl: 60s}}\n";
  Gateway gw(dir, config(dir, svc, s));
  auto get = [&](const std::string& p) { return http_get(url(gw.port(), p)); };

  auto n1 = fill(gw, url(gw.port(), "/api/chat/1?status=404"));
  CHECK(n1.status == 404);
  CHECK(x_cache(n1) == "MISS");
  auto n2 = get("/api/chat/1?status=404");
  CHECK(n2.status == 404);
  CHECK(x_cache(n2) == "HIT");
  CHECK(n2.body == n1.body);
  CHECK(svc.stat("requests") == 1);
  // A 200 on that route has no TTL (valid lists 404 only): not stored.
  CHECK(x_cache(get("/api/chat/2")) == "MISS");
  CHECK(x_cache(get("/api/chat/2")) == "MISS");
  CHECK(svc.stat("requests") == 3);

  // max-age=0 wins without override...
  CHECK(x_cache(get("/api/channels/1?cache_control=max-age=0")) == "MISS");
  CHECK(x_cache(get("/api/channels/1?cache_control=max-age=0")) == "MISS");
  CHECK(svc.stat("requests") == 5);
  // ... and loses with it.
  CHECK(x_cache(fill(gw, url(gw.port(), "/api/recommended/1?cache_control=max-age=0"))) == "MISS");
  auto o = get("/api/recommended/1?cache_control=max-age=0");
  CHECK(x_cache(o) == "HIT");
  CHECK(o.header("Cache-Control") == "max-age=0");
  CHECK(svc.stat("requests") == 6);
}

// ------------------------------------------------------------------ metrics

TEST_CASE("cache: metrics and status count a MISS and a HIT") {
  TempDir dir;
  SampleService svc(dir);
  Gateway gw(dir, config(dir, svc));
  const auto u = url(gw.port(), "/api/channels/1?cache_control=max-age=300&size=10000");
  REQUIRE(x_cache(fill(gw, u)) == "MISS");
  REQUIRE(x_cache(http_get(u)) == "HIT");
  // Per-route counts are taken once the response is out (as an access log
  // line is), which can be after the client has it.
  std::string m;
  CHECK(eventually([&] {
    m = gw.metrics();
    return metric(m, "gateway_route_cache_total{route=\"/\",status=\"HIT\"}") == 1;
  }));
  INFO(m.substr(m.find("gateway_cache_responses_total")));
  auto series = [](const char* status) {
    return "gateway_cache_responses_total{zone=\"main\",status=\"" + std::string(status) + "\"}";
  };
  CHECK(metric(m, series("HIT")) == 1);
  CHECK(metric(m, series("MISS")) == 1);
  for (const char* s : {"STALE", "REVALIDATED", "BYPASS", "EXPIRED", "UPDATING"}) CHECK(metric(m, series(s)) == 0);
  CHECK(metric(m, "gateway_cache_hit_ratio{zone=\"main\"}").value_or(-1) == doctest::Approx(0.5));
  CHECK(metric(m, "gateway_cache_entries{zone=\"main\"}") == 1);
  CHECK(metric(m, "gateway_cache_stores_total{zone=\"main\"}") == 1);
  CHECK(metric(m, "gateway_cache_evictions_total{zone=\"main\"}") == 0);
  CHECK(metric(m, "gateway_cache_coalesced_total{zone=\"main\"}") == 0);
  auto bytes = metric(m, "gateway_cache_bytes{zone=\"main\"}").value_or(0);
  auto files = entry_files(zone_path(dir));
  REQUIRE(files.size() == 1);
  auto on_disk = fs::file_size(files[0]);
  CHECK(bytes >= static_cast<double>(on_disk));  // charged in 4 KiB blocks
  CHECK(bytes < static_cast<double>(on_disk + 4096));
  CHECK(metric(m, "gateway_route_cache_total{route=\"/\",status=\"HIT\"}") == 1);
  CHECK(metric(m, "gateway_route_cache_total{route=\"/\",status=\"MISS\"}") == 1);

  auto st = gw.status();
  INFO(st);
  auto caches = st.substr(st.find("\"caches\""));
  CHECK(caches.find("\"main\":{") != std::string::npos);
  CHECK(json_int(caches, "entries") == 1);
  CHECK(json_int(caches, "stores") == 1);
  CHECK(json_int(caches, "bytes") == static_cast<std::int64_t>(bytes));
}
