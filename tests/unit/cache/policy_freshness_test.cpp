// Tests for cache/policy, continued (policy_test.cpp has Cache-Control,
// methods, keys and storing): freshness and age, usability and stale
// serving, Vary, validation, invalidation, tags, and a stored response over
// time. Tables with `now` injected; expected values are exact.
#include "policy_fixture.hpp"

using gateway::cache::RuleConfig;
using gateway::Duration;
using namespace gateway::cache;
using namespace gateway::cache::policy_testing;
namespace http = gateway::http;

TEST_SUITE("cache/policy") {

// --- Freshness --------------------------------------------------------------------------

TEST_CASE("freshness: s-maxage > max-age > Expires - Date > valid > ttl, override, flags") {
  struct Case {
    const char* name;
    int status;
    Fields resp;
    RuleConfig rule;
    const char* expected;
  };
  const std::vector<Case> cases = {
      {"max-age", 200, {{"Cache-Control", "max-age=60"}}, rule(0), "lifetime=60"},
      {"s-maxage wins, implies proxy-revalidate", 200, {{"Cache-Control", "max-age=60, s-maxage=30"}}, rule(0),
       "lifetime=30 must-revalidate"},
      {"s-maxage=0", 200, {{"Cache-Control", "s-maxage=0, max-age=60"}}, rule(0), "lifetime=0 must-revalidate"},
      {"malformed s-maxage: 0", 200, {{"Cache-Control", "s-maxage=x, max-age=60"}}, rule(0), "lifetime=0 must-revalidate"},
      {"malformed max-age: 0, not the ttl", 200, {{"Cache-Control", "max-age=abc"}}, rule(), "lifetime=0"},
      {"max-age beats Expires", 200, {{"Cache-Control", "max-age=60"}, {"Date", date(kNow)}, {"Expires", date(kNow + 3600)}},
       rule(0), "lifetime=60"},
      {"Expires - Date", 200, {{"Date", date(kNow)}, {"Expires", date(kNow + 3600)}}, rule(), "lifetime=3600"},
      {"Expires - Date, not - now", 200, {{"Date", date(kNow - 600)}, {"Expires", date(kNow + 3600)}}, rule(), "lifetime=4200"},
      {"Expires, no Date: response_time", 200, {{"Expires", date(kNow + 100)}}, rule(), "lifetime=100"},
      {"Expires, bad Date: response_time", 200, {{"Date", "garbage"}, {"Expires", date(kNow + 100)}}, rule(), "lifetime=100"},
      {"Expires in the past", 200, {{"Date", date(kNow)}, {"Expires", date(kNow - 10)}}, rule(), "lifetime=0"},
      {"Expires: 0", 200, {{"Expires", "0"}}, rule(), "lifetime=0"},
      {"two Expires: invalid, in the past (RFC 9111 5.3)", 200, {{"Date", date(kNow)}, {"Expires", date(kNow + 10)}, {"Expires", date(kNow + 99)}}, rule(), "lifetime=0"},
      {"obsolete date format", 200, {{"Date", "Tuesday, 14-Nov-23 22:13:20 GMT"}, {"Expires", "Tue Nov 14 22:23:20 2023"}}, rule(), "lifetime=600"},
      {"the rule's ttl", 200, {}, rule(), "lifetime=60"},
      {"ttl rounded up to a second", 200, {}, rule(1'500), "lifetime=2"},
      {"valid for the status beats ttl", 200, {}, with_valid(rule(), 200, 10'000), "lifetime=10"},
      {"valid for another status", 200, {}, with_valid(rule(), 404, 10'000), "lifetime=60"},
      {"valid for 404", 404, {}, with_valid(rule(), 404, 10'000), "lifetime=10"},
      {"nothing at all", 200, {}, rule(0), "lifetime=0"},
      {"override: ttl beats max-age", 200, {{"Cache-Control", "max-age=600"}}, overriding(rule()), "lifetime=60"},
      {"override: valid beats s-maxage", 200, {{"Cache-Control", "s-maxage=600"}}, overriding(with_valid(rule(), 200, 5'000)),
       "lifetime=5 must-revalidate"},
      {"override without a rule ttl", 200, {{"Cache-Control", "max-age=600"}}, overriding(rule(0)), "lifetime=600"},
      {"override beats Expires", 200, {{"Date", date(kNow)}, {"Expires", date(kNow - 10)}}, overriding(rule()), "lifetime=60"},
      {"no-cache", 200, {{"Cache-Control", "no-cache, max-age=60"}}, rule(), "lifetime=60 no-cache"},
      {"qualified no-cache is not no-cache", 200, {{"Cache-Control", "no-cache=\"Set-Cookie\""}}, rule(), "lifetime=60"},
      {"must-revalidate", 200, {{"Cache-Control", "must-revalidate"}}, rule(), "lifetime=60 must-revalidate"},
      {"proxy-revalidate", 200, {{"Cache-Control", "proxy-revalidate"}}, rule(), "lifetime=60 must-revalidate"},
      {"stale windows", 200, {{"Cache-Control", "max-age=1, stale-while-revalidate=30, stale-if-error=600"}}, rule(),
       "lifetime=1 swr=30 sie=600"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    CHECK(describe(freshness(response(c.status, c.resp), c.rule, kNow)) == c.expected);
  }
}

TEST_CASE("corrected_initial_age: RFC 9111 4.2.3") {
  const Seconds req_t = kNow - 2, resp_t = kNow;
  struct Case {
    const char* name;
    Fields headers;
    Seconds request_time, response_time, expected;
  };
  const std::vector<Case> cases = {
      {"Date = response_time: the response delay", {{"Date", date(resp_t)}}, req_t, resp_t, 2},
      {"apparent age wins", {{"Date", date(resp_t - 10)}}, req_t, resp_t, 10},
      {"Age + delay wins", {{"Date", date(resp_t - 10)}, {"Age", "30"}}, req_t, resp_t, 32},
      {"Date in the future: apparent age 0", {{"Date", date(resp_t + 5)}}, req_t, resp_t, 2},
      {"no Date", {{"Age", "5"}}, req_t, resp_t, 7},
      {"bad Date", {{"Date", "soon"}, {"Age", "5"}}, req_t, resp_t, 7},
      {"bad Age ignored", {{"Date", date(resp_t)}, {"Age", "abc"}}, req_t, resp_t, 2},
      {"negative Age ignored", {{"Date", date(resp_t)}, {"Age", "-5"}}, req_t, resp_t, 2},
      {"Age list: the first", {{"Age", "10, 20"}}, req_t, resp_t, 12},
      {"two Age fields: the first", {{"Age", "10"}, {"Age", "20"}}, req_t, resp_t, 12},
      {"huge Age: 2^31", {{"Age", "99999999999"}}, req_t, resp_t, 2'147'483'648 + 2},
      {"request after response: no delay", {{"Age", "5"}}, resp_t + 5, resp_t, 5},
      {"nothing", {}, resp_t, resp_t, 0},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    CHECK(corrected_initial_age(header_map(c.headers), c.request_time, c.response_time) == c.expected);
  }
}

TEST_CASE("current_age adds the time resident") {
  CHECK(current_age(10, kNow, kNow) == 10);
  CHECK(current_age(10, kNow, kNow + 5) == 15);
  CHECK(current_age(10, kNow, kNow - 5) == 10);  // clock stepped back
}

TEST_CASE("usability: boundaries, stale-while-revalidate, request directives") {
  struct Case {
    const char* name;
    Freshness f;
    Seconds age;
    const char* request_cc;
    bool honor;
    Usability expected;
  };
  using U = Usability;
  const std::vector<Case> cases = {
      {"age 0", fr(60), 0, "", false, U::fresh},
      {"age 59", fr(60), 59, "", false, U::fresh},
      {"age == lifetime is stale", fr(60), 60, "", false, U::stale_revalidate},
      {"age 61", fr(60), 61, "", false, U::stale_revalidate},
      {"lifetime 0", fr(0), 0, "", false, U::stale_revalidate},
      // stale-while-revalidate: usable while lifetime + window > age.
      {"swr: still fresh", fr(60, 30), 59, "", false, U::fresh},
      {"swr: just stale", fr(60, 30), 60, "", false, U::stale_while_revalidate},
      {"swr: last second", fr(60, 30), 89, "", false, U::stale_while_revalidate},
      {"swr: window over", fr(60, 30), 90, "", false, U::stale_revalidate},
      {"swr + must-revalidate", fr(60, 30, 0, true), 60, "", false, U::stale_revalidate},
      {"must-revalidate while fresh", fr(60, 0, 0, true), 59, "", false, U::fresh},
      // no-cache: always revalidate.
      {"no-cache, age 0", fr(60, 0, 0, false, true), 0, "", false, U::stale_revalidate},
      {"no-cache in swr window", fr(60, 30, 0, false, true), 70, "", false, U::stale_revalidate},
      // Request no-cache / Pragma.
      {"request no-cache honoured", fr(60), 0, "no-cache", true, U::stale_revalidate},
      {"request no-cache ignored", fr(60), 0, "no-cache", false, U::fresh},
      // Request max-age: age <= max-age.
      {"max-age=10, age 10", fr(60), 10, "max-age=10", true, U::fresh},
      {"max-age=10, age 11", fr(60), 11, "max-age=10", true, U::stale_revalidate},
      {"max-age=10, age 11, ignored", fr(60), 11, "max-age=10", false, U::fresh},
      {"max-age=0, age 0", fr(60), 0, "max-age=0", true, U::fresh},
      {"max-age=0, age 1", fr(60), 1, "max-age=0", true, U::stale_revalidate},
      {"max-age=0 forbids swr", fr(60, 30), 70, "max-age=0", true, U::stale_revalidate},
      {"max-age=100 allows swr", fr(60, 30), 70, "max-age=100", true, U::stale_while_revalidate},
      // Request min-fresh: lifetime - age >= min-fresh.
      {"min-fresh=10, 10 left", fr(60), 50, "min-fresh=10", true, U::fresh},
      {"min-fresh=10, 9 left", fr(60), 51, "min-fresh=10", true, U::stale_revalidate},
      {"min-fresh=10, 9 left, ignored", fr(60), 51, "min-fresh=10", false, U::fresh},
      // Request max-stale: staleness <= max-stale.
      {"max-stale=10, stale by 10", fr(60), 70, "max-stale=10", true, U::fresh},
      {"max-stale=10, stale by 11", fr(60), 71, "max-stale=10", true, U::stale_revalidate},
      {"max-stale=10, ignored", fr(60), 70, "max-stale=10", false, U::stale_revalidate},
      {"max-stale, any staleness", fr(60), 1'000'000'000, "max-stale", true, U::fresh},
      {"max-stale vs must-revalidate", fr(60, 0, 0, true), 61, "max-stale", true, U::stale_revalidate},
      {"max-stale vs no-cache", fr(60, 0, 0, false, true), 61, "max-stale", true, U::stale_revalidate},
      {"max-stale too small, swr applies", fr(60, 30), 70, "max-stale=5", true, U::stale_while_revalidate},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    CHECK(std::string(name_of(usability(c.f, c.age, req_cc(c.request_cc), c.honor))) == name_of(c.expected));
  }
  // Pragma: no-cache from an HTTP/1.0 client.
  const auto pragma = parse_request_directives(header_map({{"Pragma", "no-cache"}}));
  CHECK(usability(fr(60), 0, pragma, true) == Usability::stale_revalidate);
}

TEST_CASE("may_serve_stale: stale-if-error window, use_stale, revalidation directives") {
  using S = StaleIf;
  struct Case {
    const char* name;
    Freshness f;
    Seconds age;
    std::vector<StaleIf> use_stale;
    StaleIf failure;
    bool expected;
  };
  const std::vector<Case> cases = {
      {"nothing allows it", fr(60), 100, {}, S::error, false},
      {"fresh anyway", fr(60), 10, {}, S::error, true},
      {"sie: stale by 40 of 100", fr(60, 0, 100), 100, {}, S::error, true},
      {"sie: stale by 99", fr(60, 0, 100), 159, {}, S::error, true},
      {"sie: stale by 100, window over", fr(60, 0, 100), 160, {}, S::error, false},
      {"sie covers timeout", fr(60, 0, 100), 100, {}, S::timeout, true},
      {"sie covers 500", fr(60, 0, 100), 100, {}, S::http_500, true},
      {"sie covers 502", fr(60, 0, 100), 100, {}, S::http_502, true},
      {"sie covers 503", fr(60, 0, 100), 100, {}, S::http_503, true},
      {"sie covers 504", fr(60, 0, 100), 100, {}, S::http_504, true},
      {"sie is not about updating", fr(60, 0, 100), 100, {}, S::updating, false},
      {"use_stale error, no time limit", fr(60), 1'000'000, {S::error}, S::error, true},
      {"use_stale error, not timeout", fr(60), 100, {S::error}, S::timeout, false},
      {"use_stale http_502", fr(60), 100, {S::http_502}, S::http_502, true},
      {"use_stale http_502, not 503", fr(60), 100, {S::http_502}, S::http_503, false},
      {"use_stale several", fr(60), 100, {S::error, S::timeout, S::http_503}, S::http_503, true},
      {"use_stale updating is not about errors", fr(60), 100, {S::updating}, S::error, false},
      {"use_stale updating while another request updates", fr(60), 100, {S::updating}, S::updating, true},
      {"updating needs use_stale updating", fr(60, 0, 100), 100, {S::error}, S::updating, false},
      {"must-revalidate beats use_stale updating", fr(60, 0, 0, true), 100, {S::updating}, S::updating, false},
      {"no-cache beats use_stale updating", fr(60, 0, 0, false, true), 100, {S::updating}, S::updating, false},
      // RFC 9111 4.2.4: must-revalidate / proxy-revalidate / s-maxage / no-cache forbid it.
      {"must-revalidate beats stale-if-error", fr(60, 0, 100, true), 100, {}, S::error, false},
      {"must-revalidate beats use_stale", fr(60, 0, 0, true), 100, {S::error}, S::error, false},
      {"no-cache beats use_stale", fr(60, 0, 0, false, true), 100, {S::error}, S::error, false},
      {"no-cache even when fresh", fr(60, 0, 0, false, true), 10, {}, S::error, false},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    RuleConfig r;
    for (auto s : c.use_stale) r.use_stale.add(s);
    CHECK(may_serve_stale(c.f, c.age, r, c.failure) == c.expected);
  }
}

TEST_CASE("stale_condition: the 5xx that use_stale and stale-if-error know") {
  CHECK(stale_condition(500) == StaleIf::http_500);
  CHECK(stale_condition(502) == StaleIf::http_502);
  CHECK(stale_condition(503) == StaleIf::http_503);
  CHECK(stale_condition(504) == StaleIf::http_504);
  CHECK_FALSE(stale_condition(501).has_value());  // not an error RFC 5861 names
  CHECK_FALSE(stale_condition(200).has_value());
  CHECK_FALSE(stale_condition(404).has_value());
}

TEST_CASE("failure_condition: a fetch without a response is use_stale's timeout after a 504, its error otherwise") {
  CHECK(failure_condition(504) == StaleIf::timeout);
  CHECK(failure_condition(502) == StaleIf::error);
  CHECK(failure_condition(503) == StaleIf::error);
}

// --- Vary ------------------------------------------------------------------------------------

TEST_CASE("parse_vary: lowercased, deduplicated, sorted, star") {
  struct Case {
    Fields headers;
    const char* fields;
    bool star;
  };
  const std::vector<Case> cases = {
      {{}, "", false},
      {{{"Vary", "Accept-Encoding"}}, "accept-encoding", false},
      {{{"Vary", "User-Agent, Accept-Encoding"}}, "accept-encoding,user-agent", false},
      {{{"Vary", "accept-encoding, ACCEPT-ENCODING,Accept-Encoding"}}, "accept-encoding", false},
      {{{"Vary", "Accept"}, {"Vary", "Accept-Language"}}, "accept,accept-language", false},
      {{{"Vary", "*"}}, "", true},
      {{{"Vary", "Accept, *"}}, "accept", true},
      {{{"Vary", " , ,"}}, "", false},
  };
  for (const auto& c : cases) {
    CAPTURE(dump(header_map(c.headers)));
    const auto v = parse_vary(header_map(c.headers));
    CHECK(join(v.fields) == c.fields);
    CHECK(v.star == c.star);
  }
}

TEST_CASE("vary_key: normalised values, absent differs from empty, no collisions") {
  const auto vary = [](std::vector<std::string> fields) {
    VarySpec v;
    v.fields = std::move(fields);
    return v;
  };
  struct Case {
    const char* name;
    VarySpec spec;
    Fields headers;
    std::string expected;
  };
  const std::string s(1, kKeySeparator);
  const std::vector<Case> cases = {
      {"no fields", vary({}), {{"Accept", "x"}}, ""},
      {"present", vary({"accept-encoding"}), {{"Accept-Encoding", "gzip"}}, "accept-encoding=gzip"},
      {"absent: bare name", vary({"accept-encoding"}), {}, "accept-encoding"},
      {"empty", vary({"accept-encoding"}), {{"Accept-Encoding", ""}}, "accept-encoding="},
      {"spaces around commas", vary({"accept-encoding"}), {{"Accept-Encoding", "gzip,   br"}}, "accept-encoding=gzip,br"},
      {"no spaces", vary({"accept-encoding"}), {{"Accept-Encoding", "gzip,br"}}, "accept-encoding=gzip,br"},
      {"lines combined", vary({"accept-encoding"}), {{"Accept-Encoding", "gzip"}, {"accept-encoding", "br"}},
       "accept-encoding=gzip,br"},
      {"inner spaces kept", vary({"user-agent"}), {{"User-Agent", "Mozilla/5.0 (X11; Linux)"}}, "user-agent=Mozilla/5.0 (X11; Linux)"},
      {"two fields", vary({"accept", "accept-encoding"}), {{"Accept-Encoding", "gzip"}, {"Accept", "text/html"}},
       "accept=text/html|accept-encoding=gzip"},
      {"one of two absent", vary({"accept", "accept-encoding"}), {{"Accept-Encoding", "gzip"}}, "accept|accept-encoding=gzip"},
      {"escaped value", vary({"x-a"}), {{"X-A", "1%" + s + "b"}}, "x-a=1%25%1Fb"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    CHECK(vary_key(c.spec, get("/a", c.headers)) == sep(c.expected));
  }
  // Distinct value lists never collide.
  const auto two = vary({"a", "b"});
  const std::vector<Fields> distinct = {
      {}, {{"A", ""}}, {{"A", "1"}, {"B", "2"}}, {{"A", "1" + s + "b=2"}}, {{"A", "1%1Fb=2"}},
      {{"B", "1"}}, {{"A", "1"}}, {{"A", "1,2"}}, {{"A", "2,1"}}, {{"A", "1"}, {"B", ""}},
  };
  std::vector<std::string> keys;
  for (const auto& f : distinct) keys.push_back(vary_key(two, get("/a", f)));
  for (std::size_t i = 0; i < keys.size(); ++i)
    for (std::size_t j = i + 1; j < keys.size(); ++j) {
      CAPTURE(i);
      CAPTURE(j);
      CHECK(keys[i] != keys[j]);
    }
}

// --- Validation ------------------------------------------------------------------------------

TEST_CASE("validators_of") {
  const auto both = validators_of(header_map({{"ETag", " \"abc\" "}, {"Last-Modified", date(kNow - 100)}}));
  CHECK(both.etag == std::optional<std::string>("\"abc\""));
  CHECK(both.last_modified == std::optional<Seconds>(kNow - 100));
  const auto weak = validators_of(header_map({{"ETag", "W/\"x\""}}));
  CHECK(weak.etag == std::optional<std::string>("W/\"x\""));
  CHECK_FALSE(weak.last_modified);
  const auto bad = validators_of(header_map({{"ETag", ""}, {"Last-Modified", "yesterday"}}));
  CHECK_FALSE(bad.etag);
  CHECK_FALSE(bad.last_modified);
  const auto none = validators_of(header_map({}));
  CHECK_FALSE(none.etag);
  CHECK_FALSE(none.last_modified);
}

TEST_CASE("add_conditional_headers: the stored validators replace the client's") {
  Validators stored;
  stored.etag = "\"v1\"";
  stored.last_modified = kNow - 100;
  auto h = header_map({{"Accept", "*/*"}, {"If-None-Match", "\"client\""}, {"If-Modified-Since", date(kNow)}});
  add_conditional_headers(h, stored);
  CHECK(dump(h) == "Accept: */*\nIf-None-Match: \"v1\"\nIf-Modified-Since: " + date(kNow - 100) + "\n");

  Validators lm_only;
  lm_only.last_modified = kNow - 100;
  h = header_map({{"If-None-Match", "\"client\""}});
  add_conditional_headers(h, lm_only);
  CHECK(dump(h) == "If-Modified-Since: " + date(kNow - 100) + "\n");

  h = header_map({{"If-None-Match", "\"client\""}, {"If-Modified-Since", date(kNow)}});
  add_conditional_headers(h, Validators{});
  CHECK(h.empty());
}

TEST_CASE("client_not_modified: If-None-Match (weak, lists, *) over If-Modified-Since, GET/HEAD only") {
  const Seconds lm = kNow - 100;
  auto stored = [](std::optional<std::string> etag, std::optional<Seconds> last_modified) {
    Validators v;
    v.etag = std::move(etag);
    v.last_modified = last_modified;
    return v;
  };
  const auto v1 = stored("\"v1\"", lm);
  struct Case {
    const char* name;
    const char* method;
    Fields req;
    Validators stored;
    bool expected;
  };
  const std::vector<Case> cases = {
      {"no conditionals", "GET", {}, v1, false},
      {"INM match", "GET", {{"If-None-Match", "\"v1\""}}, v1, true},
      {"INM mismatch", "GET", {{"If-None-Match", "\"v2\""}}, v1, false},
      {"INM list", "GET", {{"If-None-Match", "\"v2\", \"v1\""}}, v1, true},
      {"INM lines", "GET", {{"If-None-Match", "\"v2\""}, {"If-None-Match", "\"v1\""}}, v1, true},
      {"INM weak vs strong stored", "GET", {{"If-None-Match", "W/\"v1\""}}, v1, true},
      {"INM strong vs weak stored", "GET", {{"If-None-Match", "\"v1\""}}, stored("W/\"v1\"", std::nullopt), true},
      {"INM case-sensitive", "GET", {{"If-None-Match", "\"V1\""}}, v1, false},
      {"INM *", "GET", {{"If-None-Match", "*"}}, v1, true},
      {"INM * without a stored ETag", "GET", {{"If-None-Match", "*"}}, stored(std::nullopt, lm), true},
      {"INM without a stored ETag", "GET", {{"If-None-Match", "\"v1\""}}, stored(std::nullopt, lm), false},
      {"INM tag holding a comma", "GET", {{"If-None-Match", "\"a,b\""}}, stored("\"a,b\"", std::nullopt), true},
      {"INM comma tag is one tag", "GET", {{"If-None-Match", "\"a,b\""}}, stored("\"b\"", std::nullopt), false},
      {"INM empty", "GET", {{"If-None-Match", ""}}, v1, false},
      {"INM mismatch: IMS ignored", "GET", {{"If-None-Match", "\"v2\""}, {"If-Modified-Since", date(kNow)}}, v1, false},
      {"IMS == Last-Modified", "GET", {{"If-Modified-Since", date(lm)}}, v1, true},
      {"IMS after Last-Modified", "GET", {{"If-Modified-Since", date(lm + 1)}}, v1, true},
      {"IMS before Last-Modified", "GET", {{"If-Modified-Since", date(lm - 1)}}, v1, false},
      {"IMS invalid", "GET", {{"If-Modified-Since", "yesterday"}}, v1, false},
      {"IMS twice", "GET", {{"If-Modified-Since", date(kNow)}, {"If-Modified-Since", date(kNow)}}, v1, false},
      {"IMS without a stored Last-Modified", "GET", {{"If-Modified-Since", date(kNow)}}, stored("\"v1\"", std::nullopt), false},
      {"HEAD", "HEAD", {{"If-None-Match", "\"v1\""}}, v1, true},
      {"POST INM: 412 territory, not 304", "POST", {{"If-None-Match", "\"v1\""}}, v1, false},
      {"PUT IMS", "PUT", {{"If-Modified-Since", date(kNow)}}, v1, false},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    CHECK(client_not_modified(request(c.method, "/a", c.req), c.stored) == c.expected);
  }
}

TEST_CASE("merge_not_modified: 304 fields replace stored ones, except framing and hop-by-hop") {
  auto stored = header_map({
      {"Content-Type", "text/html"},
      {"Content-Length", "100"},
      {"ETag", "\"v1\""},
      {"Cache-Control", "max-age=60"},
      {"Date", date(kNow - 3600)},
      {"Age", "30"},
      {"X-Old", "1"},
      {"X-Multi", "a"},
      {"X-Multi", "b"},
  });
  const auto not_modified = header_map({
      {"Date", date(kNow)},
      {"Cache-Control", "max-age=120"},
      {"ETag", "\"v1\""},
      {"X-Multi", "c"},
      {"Content-Length", "0"},
      {"Transfer-Encoding", "chunked"},
      {"Connection", "close, X-Hop"},
      {"X-Hop", "1"},
      {"Set-Cookie", "s=1"},
  });
  merge_not_modified(stored, not_modified);
  CHECK(dump(stored) ==
        "Content-Type: text/html\n"
        "Content-Length: 100\n"
        "X-Old: 1\n"
        "Date: " + date(kNow) + "\n"
        "Cache-Control: max-age=120\n"
        "ETag: \"v1\"\n"
        "X-Multi: c\n");
}

TEST_CASE("merge_not_modified: Age and Date describe the new validation") {
  auto stored = header_map({{"Date", date(kNow - 3600)}, {"Age", "30"}, {"Cache-Control", "max-age=60"}});
  merge_not_modified(stored, header_map({{"ETag", "\"v2\""}}));
  CHECK(dump(stored) == "Cache-Control: max-age=60\nETag: \"v2\"\n");
  // So the refreshed response is fresh again, not stale from the old Date.
  CHECK(corrected_initial_age(stored, kNow - 1, kNow) == 1);

  stored = header_map({{"Age", "30"}, {"X-User", "bob"}});
  merge_not_modified(stored, header_map({{"Age", "5"}, {"Cache-Control", "private=\"X-User\""}}));
  CHECK(dump(stored) == "Age: 5\nCache-Control: private=\"X-User\"\n");
}

TEST_CASE("remove_unstorable_fields: RFC 9111 3.1 and Set-Cookie") {
  auto h = header_map({
      {"Connection", "X-Hop"},
      {"X-Hop", "1"},
      {"Keep-Alive", "timeout=5"},
      {"Transfer-Encoding", "chunked"},
      {"Proxy-Authenticate", "Basic"},
      {"Proxy-Authentication-Info", "x"},
      {"Set-Cookie", "a=1"},
      {"Set-Cookie", "b=2"},
      {"Cache-Control", "no-cache=\"X-Secret\", private=\"X-User\", max-age=60"},
      {"X-Secret", "s"},
      {"X-User", "u"},
      {"Content-Type", "text/plain"},
      {"Content-Length", "5"},
  });
  remove_unstorable_fields(h);
  CHECK(dump(h) ==
        "Cache-Control: no-cache=\"X-Secret\", private=\"X-User\", max-age=60\n"
        "Content-Type: text/plain\n"
        "Content-Length: 5\n");
}

// --- Invalidation ----------------------------------------------------------------------------

TEST_CASE("invalidates: unsafe methods with a non-error status") {
  struct Case {
    const char* method;
    int status;
    bool expected;
  };
  const std::vector<Case> cases = {
      {"POST", 200, true},  {"POST", 201, true},   {"POST", 204, true},   {"POST", 301, true},
      {"POST", 303, true},  {"POST", 399, true},   {"PUT", 200, true},    {"DELETE", 204, true},
      {"PATCH", 200, true}, {"PURGE", 200, true},  // unknown methods are unsafe
      {"POST", 199, false}, {"POST", 400, false},  {"POST", 404, false},  {"POST", 500, false},
      {"GET", 200, false},  {"HEAD", 200, false},  {"OPTIONS", 200, false}, {"TRACE", 200, false},
  };
  for (const auto& c : cases) {
    CAPTURE(c.method);
    CAPTURE(c.status);
    CHECK(invalidates(c.method, c.status) == c.expected);
  }
}

TEST_CASE("invalidated_targets: the target, same-host Location and Content-Location") {
  struct Case {
    const char* name;
    const char* host;
    Fields resp;
    std::vector<std::string> expected;
  };
  const std::string t = "/a/b?x=1";
  const std::vector<Case> cases = {
      {"no Location", "example.com", {}, {t}},
      {"absolute path", "example.com", {{"Location", "/c"}}, {t, "/c"}},
      {"absolute URL, same host", "example.com", {{"Location", "http://example.com/c?d=1"}}, {t, "/c?d=1"}},
      {"host case and :80", "example.com", {{"Location", "HTTP://EXAMPLE.com:80/c"}}, {t, "/c"}},
      {"request Host with :80", "Example.com:80", {{"Location", "http://example.com/c"}}, {t, "/c"}},
      {"https, same host", "example.com", {{"Location", "https://example.com/c"}}, {t, "/c"}},
      {"https :443", "example.com", {{"Location", "https://example.com:443/c"}}, {t, "/c"}},
      {"other port ignored", "example.com", {{"Location", "http://example.com:8080/c"}}, {t}},
      {"other host ignored", "example.com", {{"Location", "http://other.com/c"}}, {t}},
      {"subdomain ignored", "example.com", {{"Location", "http://www.example.com/c"}}, {t}},
      {"network-path, same host", "example.com", {{"Location", "//example.com/c"}}, {t, "/c"}},
      {"network-path, other host", "example.com", {{"Location", "//other.com/c"}}, {t}},
      {"userinfo dropped", "example.com", {{"Location", "http://user:pw@example.com/c"}}, {t, "/c"}},
      {"empty path is /", "example.com", {{"Location", "http://example.com"}}, {t, "/"}},
      {"empty path with query", "example.com", {{"Location", "http://example.com?q=1"}}, {t, "/?q=1"}},
      {"relative", "example.com", {{"Location", "c"}}, {t, "/a/c"}},
      {"relative ..", "example.com", {{"Location", "../c"}}, {t, "/c"}},
      {"relative . and ..", "example.com", {{"Location", "./c/../d"}}, {t, "/a/d"}},
      {"too many ..", "example.com", {{"Location", "../../../c"}}, {t, "/c"}},
      {"query only", "example.com", {{"Location", "?y=2"}}, {t, "/a/b?y=2"}},
      {"dot segments in an absolute path", "example.com", {{"Location", "/a/./b/../../c"}}, {t, "/c"}},
      {"fragment dropped", "example.com", {{"Location", "/c#top"}}, {t, "/c"}},
      {"other scheme ignored", "example.com", {{"Location", "mailto:a@example.com"}}, {t}},
      {"same as the target", "example.com", {{"Location", "/a/b?x=1"}}, {t}},
      {"empty reference: the target", "example.com", {{"Location", ""}}, {t}},
      {"both fields", "example.com", {{"Location", "/c"}, {"Content-Location", "/d"}}, {t, "/c", "/d"}},
      {"both fields, same URL", "example.com", {{"Location", "/c"}, {"Content-Location", "http://example.com/c"}}, {t, "/c"}},
      {"Content-Location only", "example.com", {{"Content-Location", "/d"}}, {t, "/d"}},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    const auto req = request("POST", t, {{"Host", c.host}});
    CHECK(join(invalidated_targets(req, response(201, c.resp)), " ") == join(c.expected, " "));
  }
}

// --- Tags ----------------------------------------------------------------------------------------

TEST_CASE("parse_tags: spaces, tabs and commas, empties and duplicates dropped") {
  struct Case {
    const char* value;
    const char* expected;
  };
  const std::vector<Case> cases = {
      {"", ""},
      {"a", "a"},
      {"a b", "a|b"},
      {"a,b", "a|b"},
      {" a , b ,,c ", "a|b|c"},
      {"a\tb", "a|b"},
      {"b a b a", "b|a"},
      {"product-1 category:shoes", "product-1|category:shoes"},
      {" , \t", ""},
  };
  for (const auto& c : cases) {
    CAPTURE(c.value);
    CHECK(join(parse_tags(c.value), "|") == c.expected);
  }
}

// --- A stored response over time -------------------------------------------------------------------

TEST_CASE("scenario: store, age, serve fresh, serve stale while revalidating, revalidate, refresh") {
  const Seconds request_time = kNow - 1, response_time = kNow;
  const auto resp = response(200, {{"Date", date(kNow - 5)},
                                   {"Age", "10"},
                                   {"Cache-Control", "max-age=60, stale-while-revalidate=30"},
                                   {"ETag", "\"v1\""}});
  const auto r = rule();
  REQUIRE(can_store(get("/a"), resp, r).store);
  const Freshness f = freshness(resp, r, response_time);
  const Seconds initial = corrected_initial_age(resp.headers, request_time, response_time);
  CHECK(initial == 11);  // Age 10 + 1 s of response delay beats the apparent age of 5
  const RequestDirectives none;
  CHECK(usability(f, current_age(initial, response_time, kNow + 48), none, false) == Usability::fresh);
  CHECK(usability(f, current_age(initial, response_time, kNow + 49), none, false) == Usability::stale_while_revalidate);
  CHECK(usability(f, current_age(initial, response_time, kNow + 78), none, false) == Usability::stale_while_revalidate);
  CHECK(usability(f, current_age(initial, response_time, kNow + 79), none, false) == Usability::stale_revalidate);

  // Revalidation at kNow + 100: conditional request, 304, refreshed headers.
  http::HeaderMap upstream;
  add_conditional_headers(upstream, validators_of(resp.headers));
  CHECK(upstream.get("If-None-Match") == std::optional<std::string_view>("\"v1\""));
  auto stored = resp.headers;
  merge_not_modified(stored, header_map({{"Date", date(kNow + 100)}, {"ETag", "\"v1\""}}));
  const auto refreshed = response(200, {});
  http::Response updated = refreshed;
  updated.headers = stored;
  const Freshness f2 = freshness(updated, r, kNow + 100);
  const Seconds initial2 = corrected_initial_age(stored, kNow + 100, kNow + 100);
  CHECK(initial2 == 0);  // the old Age is gone
  CHECK(usability(f2, current_age(initial2, kNow + 100, kNow + 159), none, false) == Usability::fresh);
  // And a client holding v1 gets a 304 from the cache.
  CHECK(client_not_modified(get("/a", {{"If-None-Match", "\"v1\""}}), validators_of(stored)));
}

}  // TEST_SUITE
