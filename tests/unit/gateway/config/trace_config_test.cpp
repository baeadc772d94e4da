// Tests for a zone's `trace:` (caches.cpp, cache/trace.hpp): off by default,
// a path alone or the map with its defaults, and each mistake at its node.
#include <doctest/doctest.h>

#include <string>

#include "cache/trace_format.hpp"
#include "config_check.hpp"
#include "gateway/config.hpp"

using namespace gateway;
using namespace gateway::config::testing;

namespace {

constexpr ErrorCase kTraceErrors[] = {
    {"a trace without a path", R"(caches:
  main: {path: var/cache, trace: {sample: 10%}}
upstreams: {app: {instances: ["127.0.0.1:1"]}}
routes: [{prefix: /, upstream: app}]
)", 2, 34, "missing required key \"path\""},

    {"an unknown key in trace", R"(caches:
  main: {path: var/cache, trace: {path: t.bin, size: 1m}}
upstreams: {app: {instances: ["127.0.0.1:1"]}}
routes: [{prefix: /, upstream: app}]
)", 2, 48, "unknown key \"size\" in caches.main.trace"},

    {"a trace sample of 0%", R"(caches:
  main: {path: var/cache, trace: {path: t.bin, sample: 0%}}
upstreams: {app: {instances: ["127.0.0.1:1"]}}
routes: [{prefix: /, upstream: app}]
)", 2, 56, "invalid percentage \"0%\""},

    {"a trace max_size under 1k", R"(caches:
  main: {path: var/cache, trace: {path: t.bin, max_size: 100}}
upstreams: {app: {instances: ["127.0.0.1:1"]}}
routes: [{prefix: /, upstream: app}]
)", 2, 58, "caches.main.trace.max_size"},

    {"no trace files", R"(caches:
  main: {path: var/cache, trace: {path: t.bin, files: 0}}
upstreams: {app: {instances: ["127.0.0.1:1"]}}
routes: [{prefix: /, upstream: app}]
)", 2, 55, "caches.main.trace.files"},

    {"a trace inside the zone's own directory", R"(caches:
  main: {path: var/cache, trace: var/cache/t.bin}
upstreams: {app: {instances: ["127.0.0.1:1"]}}
routes: [{prefix: /, upstream: app}]
)", 2, 34, "is inside the path of zone \"main\""},

    {"a trace inside another zone's directory", R"(caches:
  main: {path: var/cache}
  other: {path: var/other, trace: {path: var/cache/sub/t.bin}}
upstreams: {app: {instances: ["127.0.0.1:1"]}}
routes: [{prefix: /, upstream: app}]
)", 3, 42, "is inside the path of zone \"main\" (line 2)"},

    {"two zones tracing into one file", R"(caches:
  main: {path: var/cache, trace: t.bin}
  other: {path: var/other, trace: t.bin}
upstreams: {app: {instances: ["127.0.0.1:1"]}}
routes: [{prefix: /, upstream: app}]
)", 3, 35, "is the trace of zone \"main\" (line 2)"},

    {"a trace path naming a directory", R"(caches:
  main: {path: var/cache, trace: traces/}
upstreams: {app: {instances: ["127.0.0.1:1"]}}
routes: [{prefix: /, upstream: app}]
)", 2, 34, "names a directory"},
};

constexpr const char* kRest = R"(upstreams: {app: {instances: ["127.0.0.1:1"]}}
routes: [{prefix: /, upstream: app}]
)";

}  // namespace

TEST_CASE("config trace: off by default, a path alone takes the defaults, the map sets each") {
  auto config = load_ok(std::string(R"(caches:
  plain: {path: var/plain}
  short: {path: var/short, trace: traces/short.bin}
  tuned: {path: var/tuned, trace: {path: /var/log/gw/t.bin, sample: 1%, max_size: 8m, files: 2}}
)") + kRest);
  const auto& zones = config->caches;
  REQUIRE(zones.size() == 3);
  CHECK_FALSE(zones[0].trace);
  REQUIRE(zones[1].trace);
  CHECK(zones[1].trace->path == "/etc/gateway/traces/short.bin");  // relative to the config file
  CHECK(zones[1].trace->sample == cache::kTraceSampleAll);
  CHECK(zones[1].trace->max_size == 64ull << 20);
  CHECK(zones[1].trace->files == 4);
  REQUIRE(zones[2].trace);
  CHECK(zones[2].trace->path == "/var/log/gw/t.bin");
  CHECK(zones[2].trace->sample == cache::trace_sample_count(0.01));
  CHECK(zones[2].trace->max_size == 8ull << 20);
  CHECK(zones[2].trace->files == 2);
}

TEST_CASE("config trace: each mistake at the node at fault") { check_errors(kTraceErrors); }
