// Tests for cache/policy's ranges (policy_ranges.cpp): the Range field
// against a known length (RFC 9110 14.1.2, 14.2), If-Range (13.1.5), when
// a range applies at all, when a Range miss passes to the upstream, and the
// 206 / 416 / multipart heads (15.3.7, 15.5.17, 14.6). Tables with exact
// expected values.
#include <doctest/doctest.h>

#include <string>
#include <utility>
#include <vector>

#include "base/http/serializer.hpp"
#include "cache/policy.hpp"

namespace http = gateway::http;
using namespace gateway::cache;

namespace {

using Fields = std::vector<std::pair<std::string, std::string>>;
using Kind = RangePlan::Kind;

constexpr Seconds kNow = 1'700'000'000;

http::Request request(std::string method, const Fields& fields) {
  http::Request r;
  r.method = std::move(method);
  r.target = "/a";
  for (const auto& [name, value] : fields) r.headers.add(name, value);
  return r;
}

http::HeaderMap fields_of(const Fields& fields) {
  http::HeaderMap h;
  for (const auto& [name, value] : fields) h.add(name, value);
  return h;
}

// "full", "416", or the ranges as "first-last" joined by spaces.
std::string describe(const RangePlan& p) {
  if (p.kind == Kind::full) return "full";
  if (p.kind == Kind::unsatisfiable) return "416";
  std::string out;
  for (const auto& r : p.ranges) {
    if (!out.empty()) out += ' ';
    out += std::to_string(r.first) + "-" + std::to_string(r.last);
  }
  return out;
}

std::string dump(const http::HeaderMap& h) {
  std::string out;
  h.for_each([&](const http::HeaderMap::Field& f) { out.append(f.name).append(": ").append(f.value).append("\n"); });
  return out;
}

}  // namespace

TEST_SUITE("cache/policy ranges") {

TEST_CASE("parse_ranges: RFC 9110 14.1.2 byte ranges against a 100-byte representation") {
  struct Case {
    const char* range;
    const char* expected;
  };
  const std::vector<Case> cases = {
      // One range.
      {"bytes=0-0", "0-0"},
      {"bytes=0-9", "0-9"},
      {"bytes=10-19", "10-19"},
      {"bytes=90-99", "90-99"},
      {"bytes=90-", "90-99"},           // open: to the end
      {"bytes=0-", "0-99"},
      {"bytes=95-200", "95-99"},        // last-pos past the end: cut
      {"bytes=99-99", "99-99"},
      {"bytes=-1", "99-99"},            // suffix
      {"bytes=-10", "90-99"},
      {"bytes=-100", "0-99"},
      {"bytes=-500", "0-99"},           // a suffix longer than the representation: all of it
      {"BYTES=0-9", "0-9"},             // units are case-insensitive (14.1)
      {"bytes=5-5", "5-5"},
      {"bytes=0-99999999999999999999999", "0-99"},  // saturates, then cut
      // Unsatisfiable (14.1.1): 416.
      {"bytes=100-", "416"},
      {"bytes=100-200", "416"},
      {"bytes=-0", "416"},
      {"bytes=100-,-0", "416"},
      {"bytes=99999999999999999999999-", "416"},
      // Invalid: ignored, the full 200 (14.2: a server MAY ignore it).
      {"bytes=9-5", "full"},            // last-pos < first-pos
      {"bytes=0-9,9-5", "full"},        // one invalid spec makes the field invalid
      {"bytes=", "full"},
      {"bytes=,", "full"},
      {"bytes=-", "full"},
      {"bytes=a-b", "full"},
      {"bytes=0-9x", "full"},
      {"bytes=1", "full"},
      {"bytes=--1", "full"},
      {"bytes=+1-2", "full"},
      {"bytes 0-9", "full"},
      {"items=0-9", "full"},            // another unit
      {"", "full"},
      // Several ranges: in the order given, unsatisfiable ones dropped.
      {"bytes=0-0,-1", "0-0 99-99"},
      {"bytes=50-59, 0-9", "50-59 0-9"},
      {"bytes=0-9,,20-29", "0-9 20-29"},  // empty list elements (RFC 9110 5.6.1.2)
      {"bytes=0-9,200-", "0-9"},          // one left: a single part
      // Overlaps adding up to more than the representation: ignored (14.2).
      {"bytes=0-99,0-99", "full"},
      {"bytes=0-60,40-99", "full"},
      {"bytes=0-50,40-60", "0-50 40-60"},  // overlapping but within the length
      // More than kMaxRanges specs: ignored.
      {"bytes=0-0,1-1,2-2,3-3,4-4,5-5,6-6,7-7,8-8,9-9,10-10,11-11,12-12,13-13,14-14,15-15", "0-0 1-1 2-2 3-3 4-4 5-5 6-6 "
                                                                                           "7-7 8-8 9-9 10-10 11-11 12-12 "
                                                                                           "13-13 14-14 15-15"},
      {"bytes=0-0,1-1,2-2,3-3,4-4,5-5,6-6,7-7,8-8,9-9,10-10,11-11,12-12,13-13,14-14,15-15,16-16", "full"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.range);
    CHECK(describe(parse_ranges(c.range, 100)) == c.expected);
  }
}

TEST_CASE("parse_ranges: an empty representation takes no range, a one-byte one takes any") {
  CHECK(describe(parse_ranges("bytes=0-", 0)) == "full");
  CHECK(describe(parse_ranges("bytes=-5", 0)) == "full");
  CHECK(describe(parse_ranges("bytes=0-", 1)) == "0-0");
  CHECK(describe(parse_ranges("bytes=-5", 1)) == "0-0");
  CHECK(describe(parse_ranges("bytes=1-", 1)) == "416");
}

TEST_CASE("if_range_matches: strong entity-tags only, a date only against a strong Last-Modified (RFC 9110 13.1.5)") {
  struct Case {
    const char* name;
    std::string if_range;
    Fields response;
    bool matches;
  };
  const std::string lm = http::format_http_date(kNow - 3600);
  const std::string date_later = http::format_http_date(kNow);
  const std::vector<Case> cases = {
      {"same strong tag", "\"v1\"", {{"ETag", "\"v1\""}}, true},
      {"another tag", "\"v2\"", {{"ETag", "\"v1\""}}, false},
      {"weak If-Range", "W/\"v1\"", {{"ETag", "\"v1\""}}, false},
      {"weak stored tag", "\"v1\"", {{"ETag", "W/\"v1\""}}, false},
      {"both weak", "W/\"v1\"", {{"ETag", "W/\"v1\""}}, false},
      {"no stored tag", "\"v1\"", {{"Last-Modified", lm}, {"Date", date_later}}, false},
      {"spaces around", "  \"v1\" ", {{"ETag", "\"v1\""}}, true},
      {"an unclosed tag", "\"v1", {{"ETag", "\"v1"}}, false},
      {"date equal to a strong Last-Modified", lm, {{"Last-Modified", lm}, {"Date", date_later}}, true},
      {"date, Last-Modified one second before Date", lm,
       {{"Last-Modified", lm}, {"Date", http::format_http_date(kNow - 3599)}}, true},
      {"date, Last-Modified equal to Date: weak", lm, {{"Last-Modified", lm}, {"Date", lm}}, false},
      {"date, no Date: weak", lm, {{"Last-Modified", lm}}, false},
      {"an earlier date", http::format_http_date(kNow - 7200), {{"Last-Modified", lm}, {"Date", date_later}}, false},
      {"a later date", date_later, {{"Last-Modified", lm}, {"Date", date_later}}, false},
      {"an invalid date", "yesterday", {{"Last-Modified", lm}, {"Date", date_later}}, false},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    CHECK(if_range_matches(c.if_range, fields_of(c.response)) == c.matches);
  }
}

TEST_CASE("range_plan: only a GET, a 200 of known length, one Range field, and a matching If-Range") {
  struct Case {
    const char* name;
    const char* method;
    Fields req;
    int status;
    std::optional<std::uint64_t> length;
    const char* expected;
  };
  const Fields stored = {{"ETag", "\"v1\""}};
  const std::vector<Case> cases = {
      {"no Range", "GET", {}, 200, 100, "full"},
      {"a single range", "GET", {{"Range", "bytes=0-9"}}, 200, 100, "0-9"},
      {"HEAD: ranges are for GET (14.2)", "HEAD", {{"Range", "bytes=0-9"}}, 200, 100, "full"},
      {"POST", "POST", {{"Range", "bytes=0-9"}}, 200, 100, "full"},
      {"a 404 is never partial", "GET", {{"Range", "bytes=0-9"}}, 404, 100, "full"},
      {"a 301 is never partial", "GET", {{"Range", "bytes=0-9"}}, 301, 100, "full"},
      {"length not known yet", "GET", {{"Range", "bytes=0-9"}}, 200, std::nullopt, "full"},
      {"two Range lines: invalid", "GET", {{"Range", "bytes=0-9"}, {"Range", "bytes=10-19"}}, 200, 100, "full"},
      {"If-Range matching", "GET", {{"Range", "bytes=0-9"}, {"If-Range", "\"v1\""}}, 200, 100, "0-9"},
      {"If-Range not matching: the whole 200", "GET", {{"Range", "bytes=0-9"}, {"If-Range", "\"v0\""}}, 200, 100, "full"},
      {"If-Range weak: the whole 200", "GET", {{"Range", "bytes=0-9"}, {"If-Range", "W/\"v1\""}}, 200, 100, "full"},
      {"If-Range without Range: nothing", "GET", {{"If-Range", "\"v1\""}}, 200, 100, "full"},
      {"unsatisfiable", "GET", {{"Range", "bytes=100-"}}, 200, 100, "416"},
      {"If-Range not matching an unsatisfiable range: 200", "GET", {{"Range", "bytes=100-"}, {"If-Range", "\"x\""}}, 200,
       100, "full"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    CHECK(describe(range_plan(request(c.method, c.req), c.status, fields_of(stored), c.length)) == c.expected);
  }
  CHECK(range_requested(request("GET", {{"Range", "bytes=0-1"}})));
  CHECK_FALSE(range_requested(request("HEAD", {{"Range", "bytes=0-1"}})));
  CHECK_FALSE(range_requested(request("GET", {})));
}

TEST_CASE("passes_range: a Range miss of a 200 larger than range_fill_max goes upstream with its Range") {
  struct Case {
    const char* name;
    Fields req;
    int status;
    std::optional<std::uint64_t> length;
    bool chunked;
    bool passes;
  };
  const std::vector<Case> cases = {
      {"at the limit: filled", {{"Range", "bytes=0-9"}}, 200, 1000, false, false},
      {"over the limit", {{"Range", "bytes=0-9"}}, 200, 1001, false, true},
      {"over the limit, no Range", {}, 200, 1001, false, false},
      {"over the limit, a Range that is ignored", {{"Range", "bytes=9-0"}}, 200, 1001, false, false},
      {"over the limit, If-Range mismatch: the whole 200 anyway", {{"Range", "bytes=0-9"}, {"If-Range", "\"x\""}}, 200, 1001,
       false, false},
      {"over the limit, unsatisfiable", {{"Range", "bytes=5000-"}}, 200, 1001, false, true},
      {"a 404 over the limit", {{"Range", "bytes=0-9"}}, 404, 1001, false, false},
      {"chunked: length unknown, filled", {{"Range", "bytes=0-9"}}, 200, std::nullopt, true, false},
  };
  RuleConfig rule;
  rule.range_fill_max = 1000;
  for (const auto& c : cases) {
    CAPTURE(c.name);
    http::Response resp;
    resp.status = c.status;
    resp.content_length = c.length;
    resp.chunked = c.chunked;
    CHECK(passes_range(request("GET", c.req), resp, rule) == c.passes);
  }
}

TEST_CASE("make_partial and unsatisfiable_response: 206 with Content-Range, 416 with bytes */length") {
  http::Response resp;
  resp.status = 200;
  resp.reason = "OK";
  resp.headers.add("Content-Type", "text/plain");
  resp.headers.add("ETag", "\"v1\"");
  resp.content_length = 100;
  make_partial(resp, ByteRange{10, 19}, 100);
  CHECK(resp.status == 206);
  CHECK(resp.content_length == 10);
  CHECK(dump(resp.headers) == "Content-Type: text/plain\nETag: \"v1\"\nContent-Range: bytes 10-19/100\n");
  std::string head;
  http::serialize_response_head(resp, head);
  CHECK(head.starts_with("HTTP/1.1 206 Partial Content\r\n"));

  auto refused = unsatisfiable_response(100);
  CHECK(refused.status == 416);
  CHECK(refused.content_length == 0);
  CHECK(dump(refused.headers) == "Content-Range: bytes */100\n");
}

TEST_CASE("make_multipart: RFC 9110 14.6 parts, each with its Content-Type and Content-Range, and the exact length") {
  http::Response resp;
  resp.status = 200;
  resp.headers.add("Content-Type", "text/plain");
  resp.headers.add("ETag", "\"v1\"");
  const std::vector<ByteRange> ranges = {{0, 0}, {99, 99}};
  const auto m = make_multipart(resp, ranges, 100, "B0UND");
  CHECK(resp.status == 206);
  CHECK(dump(resp.headers) == "ETag: \"v1\"\nContent-Type: multipart/byteranges; boundary=B0UND\n");
  REQUIRE(m.part_heads.size() == 2);
  CHECK(m.part_heads[0] == "--B0UND\r\nContent-Type: text/plain\r\nContent-Range: bytes 0-0/100\r\n\r\n");
  CHECK(m.part_heads[1] == "\r\n--B0UND\r\nContent-Type: text/plain\r\nContent-Range: bytes 99-99/100\r\n\r\n");
  CHECK(m.end == "\r\n--B0UND--\r\n");
  const std::string body = m.part_heads[0] + "a" + m.part_heads[1] + "z" + m.end;
  CHECK(m.content_length == body.size());
  CHECK(resp.content_length == body.size());

  // Without a Content-Type, the parts have none either.
  http::Response bare;
  const auto b = make_multipart(bare, ranges, 100, "x");
  CHECK(b.part_heads[0] == "--x\r\nContent-Range: bytes 0-0/100\r\n\r\n");
}

TEST_CASE("stored_head leaves Accept-Ranges out: the cache says what it serves") {
  http::Response resp;
  resp.status = 200;
  resp.headers.add("Accept-Ranges", "none");
  resp.headers.add("ETag", "\"v1\"");
  const auto h = stored_head(resp, kNow);
  CHECK(h.find("Accept-Ranges") == std::string::npos);
  CHECK(h.find("ETag: \"v1\"") != std::string::npos);
}

TEST_CASE("fast_hit_request: a Range request takes the full path") {
  RuleConfig rule;
  CHECK(fast_hit_request(request("GET", {}), rule));
  CHECK_FALSE(fast_hit_request(request("GET", {{"Range", "bytes=0-1"}}), rule));
}

}  // TEST_SUITE
