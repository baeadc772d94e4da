// Tests for a zone's `policy:` and `admission:` (gateway/config/caches.cpp,
// issue 13): the spec strings of cache/eviction.hpp and cache/admission.hpp,
// as gateway-lab's --policy / --admission take them, and each mistake at
// its column inside the string.
#include <doctest/doctest.h>

#include "config_check.hpp"
#include "gateway/config.hpp"

using namespace gateway;
using namespace gateway::config::testing;

namespace {

constexpr const char* kApp = R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)";

constexpr ErrorCase kSpecErrors[] = {
    {"an unknown policy", R"(caches:
  main: {path: var/cache, policy: clock}
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)", 2, 35, "caches.main.policy: unknown policy \"clock\" (lru, s3fifo, sieve)"},

    {"an S3-FIFO share out of range, plain", R"(caches:
  main:
    path: var/cache
    policy: s3fifo:small=150%
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)", 4, 26, "caches.main.policy: small must be a share in (0, 1)"},

    {"an S3-FIFO promotion threshold out of range, quoted", R"(caches:
  main:
    path: var/cache
    policy: "s3fifo:small=5%:promote=4"
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)", 4, 38, "caches.main.policy: promote must be 1, 2 or 3"},

    {"parameters on a policy that has none", R"(caches:
  main:
    path: var/cache
    policy: "sieve:promote=2"
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)", 4, 20, "caches.main.policy: sieve takes no parameters"},

    {"an unknown S3-FIFO parameter", R"(caches:
  main:
    path: var/cache
    policy: s3fifo:ghost=90%
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)", 4, 20, "caches.main.policy: expected small=<share> or promote=<1..3>, got \"ghost=90%\""},

    {"a policy that is not a string", R"(caches:
  main:
    path: var/cache
    policy: [lru]
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)", 4, 13, "caches.main.policy"},

    {"an unknown admission", R"(caches:
  main:
    path: var/cache
    admission: lfu
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)", 4, 16, "caches.main.admission: unknown admission \"lfu\" (none, min_uses:N, tinylfu)"},

    {"min_uses out of range", R"(caches:
  main:
    path: var/cache
    admission: "min_uses:0"
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)", 4, 26, "caches.main.admission: min_uses must be a whole number from 1 to 64"},

    {"min_uses without its count", R"(caches:
  main:
    path: var/cache
    admission: min_uses
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)", 4, 16, "caches.main.admission: unknown admission \"min_uses\""},
};

}  // namespace

TEST_CASE("config caches: a zone's policy and admission specs") {
  auto config = load_ok(std::string(R"(caches:
  a: {path: var/a, policy: sieve, admission: tinylfu}
  b: {path: var/b, policy: "s3fifo:small=5%:promote=2", admission: "min_uses:2"}
  c: {path: var/c, policy: s3fifo:promote=2, admission: min_uses:3}
  d: {path: var/d}
)") + kApp);
  REQUIRE(config->caches.size() == 4);
  const auto& c = config->caches;
  CHECK(c[0].policy.kind == cache::PolicyKind::sieve);
  CHECK(c[0].admission.kind == cache::AdmissionKind::tinylfu);
  CHECK(c[1].policy == cache::PolicySpec{cache::PolicyKind::s3fifo, 0.05, 2});
  CHECK(c[1].admission == cache::AdmissionSpec{cache::AdmissionKind::min_uses, 2});
  CHECK(c[2].policy == cache::PolicySpec{cache::PolicyKind::s3fifo, 0.10, 2});
  CHECK(c[2].admission == cache::AdmissionSpec{cache::AdmissionKind::min_uses, 3});
  // The defaults: S3-FIFO as the paper has it, no admission rule.
  CHECK(c[3].policy == cache::PolicySpec{cache::PolicyKind::s3fifo, 0.10, 1});
  CHECK(cache::to_string(c[3].policy) == "s3fifo");
  CHECK(c[3].admission.kind == cache::AdmissionKind::none);
}

TEST_CASE("config caches: policy and admission: each mistake at its column inside the string") {
  check_errors(kSpecErrors);
}
