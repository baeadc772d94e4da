// Access control and rewrites end to end (issue 15 items 5 and 6): allow/
// deny by the client's address (the real one behind trusted proxies, IPv4,
// IPv6, IPv4-mapped), Basic authentication against an htpasswd file made
// at test time (SHA-512 by `openssl passwd -6`, bcrypt by python3's crypt
// where it has it), re-read at a reload, the Authorization field not
// forwarded unless asked, wrong passwords checked off the worker (its
// other requests not held up), the admin listener behind auth, and rewrites
// before routing (the instance sees the new path), redirects, and a route's
// rewrite of the path sent upstream; `--check` naming file:line:column.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "harness.hpp"
#include "harness_reload.hpp"

using namespace itest;

namespace {

// The output of a shell command, its trailing newline cut.
std::string run(const std::string& command) {
  std::string out;
  if (FILE* p = ::popen(command.c_str(), "r")) {
    char buf[512];
    while (std::size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
    ::pclose(p);
  }
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

std::string sha512_hash(const std::string& password) { return run("openssl passwd -6 '" + password + "'"); }

// A bcrypt hash by python3's crypt (libxcrypt), cost 4; empty where python3
// has no crypt module.
std::string bcrypt_hash(const std::string& password) {
  return run("python3 -W ignore -c \"import crypt; print(crypt.crypt('" + password +
             "', crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16)))\" 2>/dev/null");
}

// "Authorization: Basic ..." for user:password.
std::string basic(const std::string& user_password) {
  return "Authorization: Basic " + run("printf '%s' '" + user_password + "' | base64 -w0");
}

std::int64_t metric(const std::string& text, const std::string& sample) {
  auto at = text.find(sample + " ");
  return at == std::string::npos ? -1 : std::stoll(text.substr(at + sample.size() + 1));
}

}  // namespace

TEST_CASE("access: allow and deny by the client address behind a trusted proxy, 403 counted") {
  TempDir dir;
  CaptureServer up;
  Gateway gw(dir, "workers: 1\naccess_log: off\ntrusted_proxies: [127.0.0.1]\n"
                  "upstreams:\n  app: {instances: [\"" + up.address() + "\"]}\n"
                  "access: [{deny: 192.0.2.0/24}, {allow: [10.0.0.0/8, \"2001:db8::/32\"]}, {deny: all}]\n"
                  "routes:\n"
                  "  - {prefix: /lan/, upstream: app}\n"
                  "  - {prefix: /open/, upstream: app, access: []}\n"
                  "  - {prefix: /nobody/, upstream: app, access: [{deny: all}]}\n");
  auto from = [&](const std::string& path, const std::string& client) {
    std::vector<std::string> headers;
    if (!client.empty()) headers.push_back("X-Forwarded-For: " + client);
    return http_get(url(gw.port(), path), headers).status;
  };
  struct Row {
    const char* path;
    const char* client;  // forwarded by the trusted peer; empty: the peer itself (127.0.0.1)
    long status;
  };
  const Row rows[] = {
      {"/lan/a", "", 403},                 // 127.0.0.1: no rule allows it
      {"/lan/a", "10.1.2.3", 200},
      {"/lan/a", "::ffff:10.1.2.3", 200},  // IPv4-mapped IPv6
      {"/lan/a", "2001:db8::7", 200},
      {"/lan/a", "2001:db9::7", 403},
      {"/lan/a", "192.0.2.9", 403},        // the deny before the allow
      {"/open/a", "", 200},                // a route's own (empty) list replaces the default
      {"/nobody/a", "10.1.2.3", 403},
  };
  for (const auto& r : rows) {
    CAPTURE(r.path);
    CAPTURE(r.client);
    CHECK(from(r.path, r.client) == r.status);
  }
  auto refused = http_get(url(gw.port(), "/nobody/a"));
  CHECK(refused.body.find("access denied for this address") != std::string::npos);
  CHECK(up.requests().size() == 4);  // the instance saw only the allowed ones
  auto metrics = gw.metrics();
  CHECK(metric(metrics, "gateway_access_denied_total{route=\"/lan/\",reason=\"address\"}") == 3);
  CHECK(metric(metrics, "gateway_access_denied_total{route=\"/nobody/\",reason=\"address\"}") == 2);
  CHECK(metric(metrics, "gateway_access_denied_total{route=\"/nobody/\",reason=\"auth\"}") == 0);
}

TEST_CASE("access: basic auth against an htpasswd file made now, re-read at a reload") {
  TempDir dir;
  CaptureServer up;
  auto sha = sha512_hash("s3cret");
  REQUIRE(sha.starts_with("$6$"));
  std::string users = "ann:" + sha + "\n";
  auto bcrypt = bcrypt_hash("b-pass");
  if (bcrypt.starts_with("$2")) users += "bob:" + bcrypt + "\n";
  dir.write("users", users);
  const std::string yaml = "workers: 1\naccess_log: off\n"
                           "upstreams:\n  app: {instances: [\"" + up.address() + "\"]}\n"
                           "auth: {realm: \"staff \\\"only\\\"\", htpasswd: users}\n"
                           "routes:\n"
                           "  - {prefix: /private/, upstream: app}\n"
                           "  - {prefix: /forwarded/, upstream: app, auth: {htpasswd: users, forward: true}}\n"
                           "  - {prefix: /public/, upstream: app, auth: off}\n";
  Gateway gw(dir, yaml);

  auto none = http_get(url(gw.port(), "/private/a"));
  CHECK(none.status == 401);
  CHECK(none.header("WWW-Authenticate") == "Basic realm=\"staff \\\"only\\\"\", charset=\"UTF-8\"");
  CHECK(http_get(url(gw.port(), "/private/a"), {basic("ann:wrong")}).status == 401);
  CHECK(http_get(url(gw.port(), "/private/a"), {basic("nobody:s3cret")}).status == 401);
  CHECK(http_get(url(gw.port(), "/private/a"), {"Authorization: Bearer abc"}).status == 401);
  CHECK(http_get(url(gw.port(), "/private/a"), {basic("ann:s3cret")}).status == 200);
  CHECK(http_get(url(gw.port(), "/private/b"), {basic("ann:s3cret")}).status == 200);  // remembered
  if (bcrypt.starts_with("$2")) CHECK(http_get(url(gw.port(), "/private/c"), {basic("bob:b-pass")}).status == 200);
  CHECK(http_get(url(gw.port(), "/forwarded/a"), {basic("ann:s3cret")}).status == 200);
  CHECK(http_get(url(gw.port(), "/public/a")).status == 200);
  // The Authorization field was for the gateway: not forwarded, unless asked.
  for (const auto& head : up.requests()) {
    CAPTURE(head);
    bool forwarded = head.starts_with("GET /forwarded/");
    CHECK(head_header(head, "Authorization").has_value() == forwarded);
  }
  CHECK(metric(gw.metrics(), "gateway_access_denied_total{route=\"/private/\",reason=\"auth\"}") == 4);

  // A new password in the file takes effect at a reload; the old one stops working.
  dir.write("users", "ann:" + sha512_hash("n3w") + "\n");
  REQUIRE(reload(gw.process()));
  CHECK(http_get(url(gw.port(), "/private/a"), {basic("ann:n3w")}).status == 200);
  CHECK(http_get(url(gw.port(), "/private/a"), {basic("ann:s3cret")}).status == 401);
}

namespace {

// One worker, /private/ behind users with ann:right at bcrypt cost 13 (about
// half a second of CPU per check), `top` and `routes` added.
std::string costly_auth_config(const TempDir& dir, const SampleService& svc, const std::string& top,
                               const std::string& routes) {
  dir.write("users", "ann:$2b$13$EMVrmOFHKoD7zeyb/FlUmu4.xxPVP0qceElYQ2bpCc3/aqHgZmXDK\n");
  return "workers: 1\naccess_log: off\n" + top + "upstreams:\n" + upstream_yaml("app", {&svc}) +
         "routes:\n"
         "  - {prefix: /private/, upstream: app, strip_prefix: true, auth: {htpasswd: users}}\n" + routes;
}

}  // namespace

TEST_CASE("access: wrong passwords against a costly bcrypt do not hold up the worker's other requests") {
  TempDir dir;
  SampleService svc(dir);
  Gateway gw(dir, costly_auth_config(dir, svc, "", "  - {prefix: /, upstream: app}\n"));
  // Two guessers keep a check running for about three seconds.
  std::atomic<int> refused{0};
  std::vector<std::thread> guessers;
  for (int g = 0; g < 2; ++g)
    guessers.emplace_back([&] {
      for (int i = 0; i < 3; ++i)
        if (http_get(url(gw.port(), "/private/api/channels/1"), {basic("ann:wrong")}).status == 401) ++refused;
    });
  std::this_thread::sleep_for(200ms);
  // The same worker's other requests: on the worker, each would wait for
  // the check in progress (half a second); off it, they do not.
  Ms waited{0};
  for (int i = 0; i < 5; ++i) {
    const auto start = std::chrono::steady_clock::now();
    CHECK(http_get(url(gw.port(), "/api/channels/1")).status == 200);
    waited += std::chrono::duration_cast<Ms>(std::chrono::steady_clock::now() - start);
  }
  for (auto& t : guessers) t.join();
  CHECK(refused == 6);
  CAPTURE(waited.count());
  CHECK(waited < 1000ms);
  auto right = http_get(url(gw.port(), "/private/api/channels/1"), {basic("ann:right")});
  CAPTURE(right.body);
  CHECK(right.status == 200);
}

// A stop that ends the drain while credentials checks run on the crypt
// threads and more wait for them: the checks must not outlive the workers
// whose requests they answer (the pool is ended first).
TEST_CASE("access: stopped while bcrypt checks run and wait, the gateway exits cleanly") {
  TempDir dir;
  SampleService svc(dir);
  Gateway gw(dir, costly_auth_config(dir, svc, "timeouts: {shutdown: 100ms}\n", ""));
  std::vector<std::thread> guessers;
  for (int g = 0; g < 4; ++g)
    guessers.emplace_back([&] { (void)http_get(url(gw.port(), "/private/api/channels/1"), {basic("ann:wrong")}); });
  std::this_thread::sleep_for(300ms);  // one check runs on each crypt thread, the others wait
  const int status = gw.process().stop(20s);
  for (auto& t : guessers) t.join();
  CHECK(status == 0);
  // ~Gateway fails the test on a sanitizer report in the error log.
}

TEST_CASE("access: the admin listener behind basic auth") {
  TempDir dir;
  dir.write("users", "ops:" + sha512_hash("adm1n") + "\n");
  SampleService svc(dir);
  // The harness's Gateway gives its own admin block: this one is started by hand.
  auto config = dir.write("gw.yaml", "listen: [\"127.0.0.1:0\"]\nworkers: 1\naccess_log: off\n"
                                     "admin: {listen: \"127.0.0.1:0\", auth: {realm: ops, htpasswd: users}}\n"
                                     "upstreams:\n  app: {instances: [\"" + svc.address() + "\"]}\n"
                                     "routes: [{prefix: /, upstream: app}]\n");
  Process gw({GATEWAY_BIN, "-c", config}, dir.file("gw.out"), dir.file("gw.err"));
  std::uint16_t admin = 0;
  REQUIRE(eventually([&] {
    auto err = gw.err();
    auto at = err.find("admin listening on ");
    if (at == std::string::npos) return false;
    auto eol = err.find_first_of(" \n", at + 19);
    auto word = err.substr(at + 19, eol - at - 19);
    admin = static_cast<std::uint16_t>(std::stoi(word.substr(word.rfind(':') + 1)));
    return true;
  }));
  auto refused = http_get(url(admin, "/metrics"));
  CHECK(refused.status == 401);
  CHECK(refused.header("WWW-Authenticate") == "Basic realm=\"ops\", charset=\"UTF-8\"");
  CHECK(http_get(url(admin, "/metrics"), {basic("ops:wrong")}).status == 401);
  auto ok = http_get(url(admin, "/metrics"), {basic("ops:adm1n")});
  CHECK(ok.status == 200);
  CHECK(ok.body.find("gateway_requests_total") != std::string::npos);
  CHECK(gw.stop() == 0);
}

TEST_CASE("rewrite: before routing, as a redirect, and a route's path sent upstream") {
  TempDir dir;
  SampleService svc(dir);
  CaptureServer up;
  Gateway gw(dir, "workers: 1\naccess_log: off\n"
                  "upstreams:\n  svc: {instances: [\"" + svc.address() + "\"]}\n"
                  "  cap: {instances: [\"" + up.address() + "\"]}\n"
                  "rewrite:\n"
                  "  - {match: \"^/old/(.*)$\", to: \"/echo/v2/$1\"}\n"
                  "  - {match: \"^/gone(/.*)?$\", to: \"/here$1\", redirect: 301}\n"
                  "  - {match: \"^/q/([a-z]+)$\", to: \"/cap/search?term=$1\"}\n"
                  "routes:\n"
                  "  - {prefix: /echo/, upstream: svc}\n"
                  "  - prefix: /cap/\n    upstream: cap\n"
                  "    rewrite: [{match: \"^/cap/legacy/([0-9]+)$\", to: \"/items/$1\"}]\n");
  // Rewritten before routing: the instance sees the new path.
  auto echoed = http_get(url(gw.port(), "/old/a/b"));
  CHECK(echoed.status == 200);
  CHECK(echoed.body.find("\"path\":\"/echo/v2/a/b\"") != std::string::npos);
  // A redirect rule: 301 and Location, the query kept.
  auto moved = http_get(url(gw.port(), "/gone/page?x=1"));
  CHECK(moved.status == 301);
  CHECK(moved.header("Location") == "/here/page?x=1");
  // The route's rewrite: the path sent upstream; the query kept.
  CHECK(http_get(url(gw.port(), "/cap/legacy/42?v=1")).status == 200);
  CHECK(http_get(url(gw.port(), "/cap/other?v=2")).status == 200);
  // `to` with its own query: that one.
  CHECK(http_get(url(gw.port(), "/q/cats?ignored=1")).status == 200);
  auto reqs = up.requests();
  REQUIRE(reqs.size() == 3);
  CHECK(reqs[0].starts_with("GET /items/42?v=1 HTTP/1.1\r\n"));
  CHECK(reqs[1].starts_with("GET /cap/other?v=2 HTTP/1.1\r\n"));
  CHECK(reqs[2].starts_with("GET /cap/search?term=cats HTTP/1.1\r\n"));
}

TEST_CASE("--check: a bad CIDR, a bad regex and an htpasswd line at file:line:column") {
  TempDir dir;
  dir.write("users", "ann:$apr1$abc$PZF73YJz5hJ9yyI.7OP.R.\n");
  auto path = dir.write("gw.yaml", "upstreams: {app: {instances: [\"127.0.0.1:9001\"]}}\n"
                                   "access: [{allow: 10.0.0.1/8}]\n"
                                   "rewrite: [{match: \"(a\", to: /b}]\n"
                                   "auth: {htpasswd: users}\n"
                                   "routes: [{prefix: /, upstream: app}]\n");
  auto result = gateway_check(path);
  INFO(result.output);
  CHECK(result.exit_code != 0);
  CHECK(result.output.find(path + ":2:18: ") != std::string::npos);
  CHECK(result.output.find(path + ":3:19: rewrite[0].match: invalid regex: missing ): (a") != std::string::npos);
  CHECK(result.output.find(dir.file("users") + ":1:1: user \"ann\": apr1") != std::string::npos);
}
