// Tests for the HTTP semantics of cache/policy added for issue 10: Expires
// that is not one valid HTTP-date (RFC 9111 5.3), only-if-cached (RFC 9111
// 5.2.1.7), targeted cache control (RFC 9213), heuristic freshness (RFC
// 9111 4.2.2), and the Cache-Status facts that go with them. Ranges have
// their own file (policy_ranges_test.cpp). Tables with exact expected
// values; times are injected.
#include <doctest/doctest.h>

#include <string>
#include <utility>
#include <vector>

#include "base/http/serializer.hpp"
#include "cache/policy.hpp"

namespace http = gateway::http;
using gateway::Duration;
using namespace gateway::cache;

namespace {

using Fields = std::vector<std::pair<std::string, std::string>>;

constexpr Seconds kNow = 1'700'000'000;  // 2023-11-14T22:13:20Z
constexpr Seconds kDay = 86'400;

http::Request get(const Fields& fields = {}) {
  http::Request r;
  r.method = "GET";
  r.target = "/a";
  r.headers.add("Host", "example.com");
  for (const auto& [name, value] : fields) r.headers.add(name, value);
  return r;
}

http::Response response(int status, const Fields& fields) {
  http::Response r;
  r.status = status;
  for (const auto& [name, value] : fields) r.headers.add(name, value);
  return r;
}

std::string date(Seconds t) { return http::format_http_date(t); }

RuleConfig rule(long long ttl_ms = 0) {
  RuleConfig r;
  r.ttl = Duration(ttl_ms);
  return r;
}

RuleConfig heuristic_rule(double fraction = 0.1, long long max_ms = 86'400'000, long long ttl_ms = 0) {
  RuleConfig r = rule(ttl_ms);
  r.heuristic.enabled = true;
  r.heuristic.fraction = fraction;
  r.heuristic.max = Duration(max_ms);
  return r;
}

RuleConfig targeting(std::vector<std::string> fields) {
  RuleConfig r;
  r.targeted_fields = std::move(fields);
  return r;
}

std::string describe(const Freshness& f) {
  std::string out = "lifetime=" + std::to_string(f.lifetime);
  if (f.heuristic) out += " heuristic";
  if (f.stale_while_revalidate) out += " swr=" + std::to_string(f.stale_while_revalidate);
  if (f.must_revalidate) out += " must-revalidate";
  if (f.no_cache) out += " no-cache";
  return out;
}

}  // namespace

TEST_SUITE("cache/policy semantics") {

// --- Expires (RFC 9111 5.3) ---------------------------------------------------------

TEST_CASE("freshness: an Expires that is not one valid HTTP-date is in the past (RFC 9111 5.3)") {
  struct Case {
    const char* name;
    Fields expires;  // the Expires lines
    Seconds lifetime;
  };
  const std::string valid = date(kNow + 3600);  // "Tue, 14 Nov 2023 23:13:20 GMT"
  const std::vector<Case> cases = {
      {"IMF-fixdate: valid", {{"Expires", valid}}, 3600},
      {"rfc850-date: valid", {{"Expires", "Tuesday, 14-Nov-23 23:13:20 GMT"}}, 3600},
      {"asctime-date: valid", {{"Expires", "Tue Nov 14 23:13:20 2023"}}, 3600},
      {"one-digit hour", {{"Expires", "Tue, 14 Nov 2023 9:13:20 GMT"}}, 0},
      {"one-digit day", {{"Expires", "Tue, 4 Nov 2023 23:13:20 GMT"}}, 0},
      {"a zone other than GMT", {{"Expires", "Tue, 14 Nov 2023 23:13:20 PST"}}, 0},
      {"UTC is not GMT", {{"Expires", "Tue, 14 Nov 2023 23:13:20 UTC"}}, 0},
      {"a numeric zone", {{"Expires", "Tue, 14 Nov 2023 23:13:20 +0000"}}, 0},
      {"no zone", {{"Expires", "Tue, 14 Nov 2023 23:13:20"}}, 0},
      {"two Expires lines, both valid", {{"Expires", valid}, {"Expires", valid}}, 0},
      {"two spaces after the comma", {{"Expires", "Tue,  14 Nov 2023 23:13:20 GMT"}}, 0},
      {"two spaces before the zone", {{"Expires", "Tue, 14 Nov 2023 23:13:20  GMT"}}, 0},
      {"no space after the comma", {{"Expires", "Tue,14 Nov 2023 23:13:20 GMT"}}, 0},
      {"trailing text", {{"Expires", valid + " x"}}, 0},
      {"lower-case month", {{"Expires", "Tue, 14 nov 2023 23:13:20 GMT"}}, 0},
      {"a day the month does not have", {{"Expires", "Fri, 31 Nov 2023 23:13:20 GMT"}}, 0},
      {"a two-digit year in IMF-fixdate", {{"Expires", "Tue, 14 Nov 23 23:13:20 GMT"}}, 0},
      {"a list of two dates on one line", {{"Expires", valid + ", " + valid}}, 0},
      {"0", {{"Expires", "0"}}, 0},
      {"-1", {{"Expires", "-1"}}, 0},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    Fields fields = {{"Date", date(kNow)}};
    fields.insert(fields.end(), c.expires.begin(), c.expires.end());
    CHECK(freshness(response(200, fields), rule(60'000), kNow).lifetime == c.lifetime);
  }
}

TEST_CASE("can_store: an invalid Expires without a validator is not stored, whatever the route's ttl") {
  // The route's ttl is for responses that give no freshness; an invalid
  // Expires gives one: already expired.
  for (const char* expires : {"Tue, 14 Nov 2023 9:13:20 GMT", "Tue, 14 Nov 2023 23:13:20 PST"}) {
    CAPTURE(expires);
    const auto d = can_store(get(), response(200, {{"Date", date(kNow)}, {"Expires", expires}}), rule(60'000));
    CHECK_FALSE(d.store);
    CHECK(std::string(d.reason) == "no validator");
    CHECK(can_store(get(), response(200, {{"Expires", expires}, {"ETag", "\"v\""}}), rule(60'000)).store);
  }
}

// --- only-if-cached (RFC 9111 5.2.1.7) ----------------------------------------------

TEST_CASE("only_if_cached: the request directive, whatever its case, alone or in a list") {
  struct Case {
    Fields fields;
    bool expected;
  };
  const std::vector<Case> cases = {
      {{}, false},
      {{{"Cache-Control", "only-if-cached"}}, true},
      {{{"Cache-Control", "ONLY-IF-CACHED"}}, true},
      {{{"Cache-Control", "max-stale=10, only-if-cached"}}, true},
      {{{"Cache-Control", "max-age=0"}, {"Cache-Control", "only-if-cached"}}, true},
      {{{"Cache-Control", "only-if-cached-not"}}, false},
      {{{"Pragma", "only-if-cached"}}, false},
  };
  for (const auto& c : cases) {
    CAPTURE(c.fields.size());
    CHECK(only_if_cached(get(c.fields)) == c.expected);
  }
}

TEST_CASE("cache_fields: a 504 for only-if-cached says nothing was forwarded") {
  CacheStatusFacts facts;
  facts.only_if_cached = true;
  CHECK(cache_fields(CacheStatus::miss, facts) == "X-Cache: MISS\r\nCache-Status: gateway; detail=only-if-cached\r\n");
}

// --- Targeted cache control (RFC 9213) ----------------------------------------------

TEST_CASE("valid_targeted_value: what the Cache-Control parser reads cleanly (RFC 9213 2.1)") {
  struct Case {
    const char* value;
    bool valid;
  };
  const std::vector<Case> cases = {
      {"max-age=60", true},
      {"no-store", true},
      {"none", true},  // RFC 9213 3.1's example: an unknown directive, still a value
      {"max-age=60, stale-while-revalidate=30", true},
      {"max-age=60,private", true},
      {"no-cache=\"Set-Cookie, X-User\"", true},
      {"Max-Age=60", true},  // what Cache-Control accepts
      {"", false},           // empty: as if absent
      {"  ", false},
      {",", false},
      {"max-age=", false},
      {"max-age=60 s", false},
      {"max-age=\"60", false},  // unclosed quote
      {"max-age=6\"0\"", false},
      {"max age", false},
      {"max-age=60;x=1", false},  // parameters: no Cache-Control directive has them
      {"\"quoted\"", false},
      {"max-age=60, (x)", false},
  };
  for (const auto& c : cases) {
    CAPTURE(c.value);
    CHECK(valid_targeted_value(c.value) == c.valid);
  }
}

TEST_CASE("freshness: the first valid targeted field replaces Cache-Control and Expires (RFC 9213 2.2)") {
  struct Case {
    const char* name;
    Fields resp;
    RuleConfig rule;
    const char* expected;
  };
  const RuleConfig cdn = targeting({"CDN-Cache-Control"});
  const RuleConfig two = targeting({"Gateway-Cache-Control", "CDN-Cache-Control"});
  const std::string later = date(kNow + 3600);
  const std::vector<Case> cases = {
      {"CDN-Cache-Control by default", {{"Cache-Control", "max-age=60"}, {"CDN-Cache-Control", "max-age=600"}}, RuleConfig{},
       "lifetime=600"},
      {"its name in any case", {{"Cache-Control", "max-age=60"}, {"cdn-cache-control", "max-age=600"}}, cdn, "lifetime=600"},
      {"Cache-Control alone", {{"Cache-Control", "max-age=60"}}, cdn, "lifetime=60"},
      {"targeted field wins over s-maxage too", {{"Cache-Control", "s-maxage=5"}, {"CDN-Cache-Control", "max-age=600"}}, cdn,
       "lifetime=600"},
      {"Expires ignored with a targeted field", {{"Date", date(kNow)}, {"Expires", later}, {"CDN-Cache-Control", "public"}},
       cdn, "lifetime=0"},
      {"Expires used without one", {{"Date", date(kNow)}, {"Expires", later}}, cdn, "lifetime=3600"},
      {"no targeted fields configured", {{"Cache-Control", "max-age=60"}, {"CDN-Cache-Control", "max-age=600"}},
       targeting({}), "lifetime=60"},
      {"invalid targeted field: as if absent", {{"Cache-Control", "max-age=60"}, {"CDN-Cache-Control", "max-age=\"600"}}, cdn,
       "lifetime=60"},
      {"empty targeted field: as if absent", {{"Cache-Control", "max-age=60"}, {"CDN-Cache-Control", ""}}, cdn, "lifetime=60"},
      {"the first in the rule's order", {{"CDN-Cache-Control", "max-age=600"}, {"Gateway-Cache-Control", "max-age=6"}}, two,
       "lifetime=6"},
      {"an invalid first: the next", {{"CDN-Cache-Control", "max-age=600"}, {"Gateway-Cache-Control", "max-age=6 x"}}, two,
       "lifetime=600"},
      {"a field not on the list changes nothing", {{"Cache-Control", "max-age=60"}, {"Other-Cache-Control", "max-age=6"}},
       two, "lifetime=60"},
      {"two lines of a targeted field combine", {{"CDN-Cache-Control", "max-age=600"}, {"CDN-Cache-Control", "must-revalidate"}},
       cdn, "lifetime=600 must-revalidate"},
      {"stale-while-revalidate from the targeted field",
       {{"Cache-Control", "max-age=1, stale-while-revalidate=99"}, {"CDN-Cache-Control", "max-age=60, stale-while-revalidate=5"}},
       cdn, "lifetime=60 swr=5"},
      {"no-cache from the targeted field", {{"Cache-Control", "max-age=60"}, {"CDN-Cache-Control", "no-cache"}}, cdn,
       "lifetime=0 no-cache"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    CHECK(describe(freshness(response(200, c.resp), c.rule, kNow)) == c.expected);
  }
}

TEST_CASE("can_store: storage follows the targeted field, Cache-Control is for the caches downstream") {
  struct Case {
    const char* name;
    Fields req;
    Fields resp;
    const char* reason;  // "" means stored
  };
  const std::vector<Case> cases = {
      {"Cache-Control no-store, CDN-Cache-Control max-age", {},
       {{"Cache-Control", "no-store"}, {"CDN-Cache-Control", "max-age=60"}}, ""},
      {"Cache-Control private, CDN-Cache-Control max-age", {},
       {{"Cache-Control", "private"}, {"CDN-Cache-Control", "max-age=60"}}, ""},
      {"Cache-Control max-age, CDN-Cache-Control no-store", {},
       {{"Cache-Control", "max-age=60"}, {"CDN-Cache-Control", "no-store"}}, "no-store"},
      {"Cache-Control max-age, CDN-Cache-Control private", {},
       {{"Cache-Control", "public, max-age=60"}, {"CDN-Cache-Control", "private"}}, "private"},
      // RFC 9213 3.1's example: "none" is a valid value, so Cache-Control's
      // no-store is not this cache's; without a TTL there is no freshness.
      {"RFC 9213 3.1: none, no-store for the others", {},
       {{"Cache-Control", "no-store"}, {"CDN-Cache-Control", "none"}}, "no freshness"},
      {"an invalid targeted field: Cache-Control decides", {},
       {{"Cache-Control", "no-store"}, {"CDN-Cache-Control", "max-age=60 x"}}, "no-store"},
      {"Authorization: public in the targeted field", {{"Authorization", "Bearer x"}},
       {{"Cache-Control", "max-age=60"}, {"CDN-Cache-Control", "public, max-age=60"}}, ""},
      {"Authorization: public only in Cache-Control", {{"Authorization", "Bearer x"}},
       {{"Cache-Control", "public, max-age=60"}, {"CDN-Cache-Control", "max-age=60"}}, "authorization"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    const auto d = can_store(get(c.req), response(200, c.resp), RuleConfig{});
    CHECK(std::string(d.reason) == c.reason);
  }
}

TEST_CASE("reusable_with_authorization: under a rule, the targeted field decides") {
  auto stored = [](const Fields& fields) {
    std::string out;
    http::Response r = response(200, fields);
    http::serialize_response_head(r, out);
    return out;
  };
  const auto with_credentials = get({{"Authorization", "Bearer x"}});
  const auto h = stored({{"Cache-Control", "max-age=60"}, {"CDN-Cache-Control", "public, max-age=60"}});
  CHECK(reusable_with_authorization(with_credentials, h, RuleConfig{}));
  CHECK_FALSE(reusable_with_authorization(with_credentials, h));  // Cache-Control alone
  CHECK_FALSE(reusable_with_authorization(with_credentials, h, targeting({})));
}

TEST_CASE("stored_head keeps the targeted field for the caches downstream") {
  const auto h = stored_head(response(200, {{"Cache-Control", "no-store"}, {"CDN-Cache-Control", "max-age=60"}}), kNow);
  CHECK(h.find("\r\nCache-Control: no-store\r\n") != std::string::npos);
  CHECK(h.find("\r\nCDN-Cache-Control: max-age=60\r\n") != std::string::npos);
}

// --- Heuristic freshness (RFC 9111 4.2.2) -------------------------------------------

TEST_CASE("freshness: the zone's heuristic, a fraction of Date - Last-Modified, capped, only without explicit freshness") {
  struct Case {
    const char* name;
    int status;
    Fields resp;
    RuleConfig rule;
    const char* expected;
  };
  const std::string date_now = date(kNow);
  const std::string ten_days_ago = date(kNow - 10 * kDay);
  const std::string hour_ago = date(kNow - 3600);
  const std::vector<Case> cases = {
      {"off by default", 200, {{"Date", date_now}, {"Last-Modified", hour_ago}}, rule(), "lifetime=0"},
      {"10% of an hour", 200, {{"Date", date_now}, {"Last-Modified", hour_ago}}, heuristic_rule(), "lifetime=360 heuristic"},
      {"10% of 10 days is the 1-day cap", 200, {{"Date", date_now}, {"Last-Modified", ten_days_ago}}, heuristic_rule(),
       "lifetime=86400 heuristic"},
      {"capped by max", 200, {{"Date", date_now}, {"Last-Modified", ten_days_ago}}, heuristic_rule(0.1, 3'600'000),
       "lifetime=3600 heuristic"},
      {"another fraction", 200, {{"Date", date_now}, {"Last-Modified", hour_ago}}, heuristic_rule(0.5), "lifetime=1800 heuristic"},
      {"rounded down", 200, {{"Date", date_now}, {"Last-Modified", date(kNow - 19)}}, heuristic_rule(), "lifetime=1 heuristic"},
      {"no Date: the response time", 200, {{"Last-Modified", hour_ago}}, heuristic_rule(), "lifetime=360 heuristic"},
      {"Last-Modified after Date: none", 200, {{"Date", hour_ago}, {"Last-Modified", date_now}}, heuristic_rule(), "lifetime=0"},
      {"Last-Modified equal to Date: none", 200, {{"Date", date_now}, {"Last-Modified", date_now}}, heuristic_rule(),
       "lifetime=0"},
      {"invalid Last-Modified: none", 200, {{"Date", date_now}, {"Last-Modified", "Tue, 14 Nov 2023 1:00:00 GMT"}},
       heuristic_rule(), "lifetime=0"},
      {"max-age wins", 200, {{"Date", date_now}, {"Last-Modified", hour_ago}, {"Cache-Control", "max-age=7"}}, heuristic_rule(),
       "lifetime=7"},
      {"Expires wins", 200, {{"Date", date_now}, {"Last-Modified", hour_ago}, {"Expires", date(kNow + 5)}}, heuristic_rule(),
       "lifetime=5"},
      {"an invalid Expires is explicit: expired", 200, {{"Date", date_now}, {"Last-Modified", hour_ago}, {"Expires", "0"}},
       heuristic_rule(), "lifetime=0"},
      {"the route's ttl wins", 200, {{"Date", date_now}, {"Last-Modified", hour_ago}}, heuristic_rule(0.1, 86'400'000, 30'000),
       "lifetime=30"},
      {"a 404 is heuristically cacheable", 404, {{"Date", date_now}, {"Last-Modified", hour_ago}}, heuristic_rule(),
       "lifetime=360 heuristic"},
      {"a 302 is not", 302, {{"Date", date_now}, {"Last-Modified", hour_ago}}, heuristic_rule(), "lifetime=0"},
      {"a 302 marked public is", 302, {{"Date", date_now}, {"Last-Modified", hour_ago}, {"Cache-Control", "public"}},
       heuristic_rule(), "lifetime=360 heuristic"},
      {"no-cache keeps its flag", 200, {{"Date", date_now}, {"Last-Modified", hour_ago}, {"Cache-Control", "no-cache"}},
       heuristic_rule(), "lifetime=360 heuristic no-cache"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    CHECK(describe(freshness(response(c.status, c.resp), c.rule, kNow)) == c.expected);
  }
}

TEST_CASE("can_store: a response fresh only by the heuristic is stored when the zone has it") {
  const Fields lm = {{"Date", date(kNow)}, {"Last-Modified", date(kNow - 3600)}};
  CHECK(std::string(can_store(get(), response(200, lm), rule()).reason) == "no freshness");
  CHECK(can_store(get(), response(200, lm), heuristic_rule()).store);
  // Without Last-Modified there is nothing to take a fraction of.
  CHECK(std::string(can_store(get(), response(200, {{"Date", date(kNow)}}), heuristic_rule()).reason) == "no freshness");
  // Statuses the heuristic may not apply to are still refused.
  CHECK(std::string(can_store(get(), response(302, lm), heuristic_rule()).reason) == "status");
}

TEST_CASE("cache_fields: a hit fresh by the heuristic says so in Cache-Status, other details first") {
  CacheStatusFacts facts;
  facts.age = 10;
  facts.ttl = 350;
  facts.heuristic = true;
  CHECK(cache_fields(CacheStatus::hit, facts) ==
        "Age: 10\r\nX-Cache: HIT\r\nCache-Status: gateway; hit; ttl=350; detail=heuristic\r\n");
  facts.ttl = -5;
  CHECK(cache_fields(CacheStatus::stale, facts) ==
        "Age: 10\r\nX-Cache: STALE\r\nCache-Status: gateway; hit; ttl=-5; detail=stale\r\n");
  facts.accept_ranges = true;
  facts.ttl = 350;
  CHECK(cache_fields(CacheStatus::hit, facts) ==
        "Age: 10\r\nAccept-Ranges: bytes\r\nX-Cache: HIT\r\nCache-Status: gateway; hit; ttl=350; detail=heuristic\r\n");
}

TEST_CASE("scenario: a heuristic lifetime, stored at its boundaries") {
  // Last-Modified 10 000 s before Date: 10% is 1 000 s.
  const auto resp = response(200, {{"Date", date(kNow)}, {"Last-Modified", date(kNow - 10'000)}});
  const RuleConfig r = heuristic_rule();
  REQUIRE(can_store(get(), resp, r).store);
  const Freshness f = freshness(resp, r, kNow);
  CHECK(f.lifetime == 1000);
  CHECK(f.heuristic);
  const Seconds age0 = corrected_initial_age(resp.headers, kNow, kNow);
  CHECK(usability(f, current_age(age0, kNow, kNow + 999), get(), r) == Usability::fresh);
  CHECK(usability(f, current_age(age0, kNow, kNow + 1000), get(), r) == Usability::stale_revalidate);
}

}  // TEST_SUITE
