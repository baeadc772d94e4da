// Helpers shared by the disk cache's end-to-end tests
// (tests/integration/cache_*_test.cpp): the configuration of one cache zone
// "main" with an upstream "app", the X-Cache and Cache-Status answers, the
// entry files of a zone, POST and HEAD requests, and fill(), a GET that
// returns once the entry is committed. Helpers only one of those files needs
// stay in it.
#pragma once

#include <doctest/doctest.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "harness.hpp"

namespace itest::cache_test {

inline std::string x_cache(const Response& r) { return r.header("X-Cache").value_or("(none)"); }
inline std::string cache_status(const Response& r) { return r.header("Cache-Status").value_or("(none)"); }

// The configuration of one cache zone "main" under dir/cache, an upstream
// "app" and the given route lines (each "  - {...}\n").
struct Setup {
  int workers = 2;
  std::string zone_extra;  // ", max_size: 2MiB, policy: lru"
  std::string routes = "  - {prefix: /, upstream: app, cache: {zone: main, ttl: 60s}}\n";
  std::string upstream_extra = "retries: 0\nmax_fails: 0";
};

inline std::string zone_path(const TempDir& dir) { return dir.file("cache"); }

inline std::string config(const TempDir& dir, const std::vector<const SampleService*>& services, const Setup& s = {}) {
  return "workers: " + std::to_string(s.workers) + "\ncaches:\n  main: {path: \"" + zone_path(dir) + "\"" +
         s.zone_extra + "}\nupstreams:\n" + upstream_yaml("app", services, s.upstream_extra) + "routes:\n" + s.routes;
}

inline std::string config(const TempDir& dir, const SampleService& svc, const Setup& s = {}) {
  return config(dir, std::vector<const SampleService*>{&svc}, s);
}

// Entry files of a zone: regular files anywhere under it but in tmp/.
inline std::vector<std::filesystem::path> entry_files(const std::string& zone) {
  namespace fs = std::filesystem;
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

inline Response post(const std::string& u, std::vector<std::string> headers = {}, std::string body = "x") {
  Client c;
  Request r;
  r.method = "POST";
  r.url = u;
  r.headers = std::move(headers);
  r.body = std::move(body);
  return c.send(r);
}

inline Response head(const std::string& u, std::vector<std::string> headers = {}) {
  Client c;
  Request r;
  r.method = "HEAD";
  r.url = u;
  r.headers = std::move(headers);
  return c.send(r);
}

inline double stores(const Gateway& gw) {
  return metric(gw.metrics(), "gateway_cache_stores_total{zone=\"main\"}").value_or(-1);
}

// A GET that fills the cache: returns once the entry is committed. (The
// client has the whole body a moment before the store has published the
// entry; a request in between follows the fill and is a MISS too.)
inline Response fill(const Gateway& gw, const std::string& u, std::vector<std::string> headers = {}) {
  auto before = stores(gw);
  auto r = http_get(u, headers);
  CHECK_MESSAGE(eventually([&] { return stores(gw) > before; }, 5s), "not stored: " << u);
  return r;
}

inline std::int64_t age_of(const Response& r) { return std::stoll(r.header("Age").value_or("-1")); }

inline std::string zone_metric(std::string_view series) { return std::string(series) + "{zone=\"main\"}"; }

}  // namespace itest::cache_test
