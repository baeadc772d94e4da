// Tests for upstreams/membership: the merge of file, resolved and admin API
// instances, the API's change rules, and a new Group taking over the
// InstanceStates (health, in-flight count, drain flag) of the addresses
// that stay.
#include "upstreams/membership.hpp"

#include <doctest/doctest.h>

#include "upstreams/group.hpp"

using namespace gateway;
using namespace gateway::upstreams;

namespace {

InstanceConfig inst(std::string_view host, std::uint16_t port, int weight = 1, Source s = Source::file) {
  return InstanceConfig{endpoint_of(host, port), weight, s};
}

GroupConfig group(std::vector<InstanceConfig> instances, Duration resolve = Duration{0}) {
  GroupConfig g;
  g.name = "app";
  g.instances = std::move(instances);
  g.resolve = resolve;
  return g;
}

std::string texts(const std::vector<InstanceConfig>& v) {
  std::string out;
  for (const auto& i : v)
    out += (out.empty() ? "" : " ") + i.address.text + "/" + std::to_string(i.weight) + "/" + to_string(i.source);
  return out;
}

MemberChange change(MemberChange::Kind k, std::string_view address, int weight = 1) {
  auto e = parse_endpoint(address);
  REQUIRE(e);
  return MemberChange{k, *e, weight};
}

}  // namespace

TEST_CASE("membership: endpoint text of IPv4 and IPv6 addresses") {
  CHECK(endpoint_of("10.0.0.1", 80).text == "10.0.0.1:80");
  CHECK(endpoint_of("::1", 8080).text == "[::1]:8080");
  CHECK(endpoint_of("::1", 8080).host == "::1");
  CHECK(is_ip_literal("10.0.0.1"));
  CHECK(is_ip_literal("::1"));
  CHECK_FALSE(is_ip_literal("svc.internal"));
}

TEST_CASE("membership: names to resolve only with resolve on, each once, never IP literals") {
  auto g = group({inst("10.0.0.1", 80), InstanceConfig{*parse_endpoint("svc.test:80"), 1, Source::file},
                  InstanceConfig{*parse_endpoint("svc.test:81"), 1, Source::file}});
  CHECK(names_to_resolve(g).empty());
  g.resolve = Duration{5'000};
  CHECK(names_to_resolve(g) == std::vector<std::string>{"svc.test"});
}

TEST_CASE("membership: merge table") {
  auto named = InstanceConfig{*parse_endpoint("svc.test:80"), 3, Source::file};
  struct Row {
    const char* what;
    GroupConfig group;
    ResolvedNames resolved;
    ApiChanges api;
    const char* expected;
  };
  ApiChanges add9;
  add9.added.push_back(inst("10.0.0.9", 80, 2, Source::api));
  ApiChanges remove1;
  remove1.removed.push_back("10.0.0.1:80");
  ApiChanges weight1;
  weight1.weights.emplace_back("10.0.0.1:80", 7);
  ApiChanges add_dup;
  add_dup.added.push_back(inst("10.0.0.1", 80, 5, Source::api));
  Row rows[] = {
      {"file only", group({inst("10.0.0.1", 80), inst("10.0.0.2", 80)}), {}, {}, "10.0.0.1:80/1/file 10.0.0.2:80/1/file"},
      {"a name without resolve stays one instance", group({named}), {{"svc.test", {"10.1.1.1"}}}, {},
       "svc.test:80/3/file"},
      {"with resolve every address is an instance, same port and weight", group({named}, Duration{1'000}),
       {{"svc.test", {"10.1.1.1", "::1"}}}, {}, "10.1.1.1:80/3/resolve [::1]:80/3/resolve"},
      {"a name not resolved yet has no instance", group({named, inst("10.0.0.1", 80)}, Duration{1'000}), {}, {},
       "10.0.0.1:80/1/file"},
      {"an address both in the file and resolved is listed once", group({inst("10.1.1.1", 80), named}, Duration{1'000}),
       {{"svc.test", {"10.1.1.1", "10.1.1.2"}}}, {}, "10.1.1.1:80/1/file 10.1.1.2:80/3/resolve"},
      {"api add", group({inst("10.0.0.1", 80)}), {}, add9, "10.0.0.1:80/1/file 10.0.0.9:80/2/api"},
      {"api remove of a file instance", group({inst("10.0.0.1", 80), inst("10.0.0.2", 80)}), {}, remove1,
       "10.0.0.2:80/1/file"},
      {"api weight on a file instance", group({inst("10.0.0.1", 80)}), {}, weight1, "10.0.0.1:80/7/file"},
      {"api add of an address already there keeps the first", group({inst("10.0.0.1", 80)}), {}, add_dup,
       "10.0.0.1:80/1/file"},
  };
  for (const auto& r : rows) {
    INFO(r.what);
    CHECK(texts(merge(r.group, r.resolved, r.api)) == r.expected);
  }
}

TEST_CASE("membership: admin API change rules") {
  using K = MemberChange::Kind;
  std::vector<InstanceConfig> current = {inst("10.0.0.1", 80), inst("10.0.0.2", 80)};
  ApiChanges api;
  CHECK_FALSE(apply_change(api, current, change(K::add, "10.0.0.3:80", 2)));
  REQUIRE(api.added.size() == 1);
  CHECK(api.added[0].source == Source::api);
  CHECK(api.added[0].weight == 2);
  auto dup = apply_change(api, current, change(K::add, "10.0.0.1:80"));
  REQUIRE(dup);
  CHECK(dup->status == 409);
  auto missing = apply_change(api, current, change(K::remove, "10.0.0.7:80"));
  REQUIRE(missing);
  CHECK(missing->status == 404);
  auto missing_weight = apply_change(api, current, change(K::weight, "10.0.0.7:80", 3));
  REQUIRE(missing_weight);
  CHECK(missing_weight->status == 404);
  CHECK_FALSE(apply_change(api, current, change(K::weight, "10.0.0.1:80", 4)));
  CHECK(api.weights == std::vector<std::pair<std::string, int>>{{"10.0.0.1:80", 4}});
  CHECK_FALSE(apply_change(api, current, change(K::remove, "10.0.0.2:80")));
  CHECK(api.removed == std::vector<std::string>{"10.0.0.2:80"});
  auto last = apply_change(api, {inst("10.0.0.1", 80)}, change(K::remove, "10.0.0.1:80"));
  REQUIRE(last);
  CHECK(last->status == 409);
  // Removing an instance the API added forgets the addition.
  current.push_back(api.added[0]);
  CHECK_FALSE(apply_change(api, current, change(K::remove, "10.0.0.3:80")));
  CHECK(api.added.empty());
  // Adding back a removed file instance undoes the removal.
  CHECK_FALSE(apply_change(api, {inst("10.0.0.1", 80)}, change(K::add, "10.0.0.2:80")));
  CHECK(api.removed.empty());
}

TEST_CASE("membership: a new group shares the states of the addresses that stay, and only those") {
  auto g1 = group({inst("127.0.0.1", 9001), inst("127.0.0.1", 9002)});
  Group a(g1);
  a.instance(0).in_flight.store(2);
  a.instance(1).draining.store(true);
  a.report_failure(1, Clock::now());
  auto g2 = group({inst("127.0.0.1", 9002, 5), inst("127.0.0.1", 9003)});
  Group b(g2, &a);
  REQUIRE(b.size() == 2);
  CHECK(b.shared_instance(0) == a.shared_instance(1));
  CHECK(b.instance(0).draining.load());
  CHECK(b.instance(0).failures_total.load() == 1);
  CHECK(b.instance(0).weight.load() == 5);
  CHECK(b.instance(1).in_flight.load() == 0);
  CHECK(b.find("127.0.0.1:9003") == 1);
  CHECK(b.find("127.0.0.1:9001") == -1);
  std::vector<std::uint8_t> excluded(2, 0);
  b.exclude_draining(excluded);
  CHECK(excluded == std::vector<std::uint8_t>{1, 0});
}
