// Tests for the access log's lines (gateway/access_log_format.hpp): the
// combined and JSON forms of the same exchanges, and what hostile request
// lines and headers become in each (quotes, backslashes, control bytes,
// invalid UTF-8 never end a field or a line, and JSON stays valid UTF-8).
#include "gateway/access_log_format.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace gateway;
using namespace std::chrono_literals;

namespace {

constexpr std::time_t kTime = 1796553900;  // 2026-12-06T10:45:00Z

RequestInfo cached_info() {
  RequestInfo info;
  info.route = "api";
  info.upstream = "app";
  info.instance = "10.0.0.2:9001";
  info.upstream_time = 12'000us;
  info.cache = "miss";
  info.tries = 1;
  info.tls = "TLSv1.3";
  return info;
}

AccessRecord record(const RequestInfo& info) {
  AccessRecord r;
  r.client = "192.0.2.7";
  r.time = kTime;
  r.method = "GET";
  r.target = "/v1/items?x=1";
  r.protocol = "HTTP/1.1";
  r.status = 200;
  r.body_bytes = 1234;
  r.referer = "https://example.com/";
  r.user_agent = "curl/7.88";
  r.elapsed = 15'250us;
  r.info = &info;
  return r;
}

std::string line(AccessLogFormat f, const AccessRecord& r) {
  std::string out;
  format_access_line(out, f, r, access_log_time(f, r.time));
  return out;
}

}  // namespace

TEST_CASE("access log format: the time field of each format") {
  CHECK(access_log_time(AccessLogFormat::combined, kTime) == "[06/Dec/2026:10:45:00 +0000]");
  CHECK(access_log_time(AccessLogFormat::json, kTime) == "2026-12-06T10:45:00Z");
}

TEST_CASE("access log format: one exchange in both formats") {
  auto info = cached_info();
  auto r = record(info);
  CHECK(line(AccessLogFormat::combined, r) ==
        "192.0.2.7 - - [06/Dec/2026:10:45:00 +0000] \"GET /v1/items?x=1 HTTP/1.1\" 200 1234 "
        "\"https://example.com/\" \"curl/7.88\" rt=0.015 route=api upstream=app instance=10.0.0.2:9001 "
        "urt=0.012 tries=1 cache=miss tls=TLSv1.3\n");
  CHECK(line(AccessLogFormat::json, r) ==
        "{\"time\":\"2026-12-06T10:45:00Z\",\"remote_addr\":\"192.0.2.7\","
        "\"request\":\"GET /v1/items?x=1 HTTP/1.1\",\"method\":\"GET\",\"uri\":\"/v1/items?x=1\","
        "\"protocol\":\"HTTP/1.1\",\"status\":200,\"body_bytes_sent\":1234,"
        "\"http_referer\":\"https://example.com/\",\"http_user_agent\":\"curl/7.88\",\"request_time\":0.015,"
        "\"route\":\"api\",\"upstream\":\"app\",\"instance\":\"10.0.0.2:9001\",\"upstream_response_time\":0.012,"
        "\"tries\":1,\"cache\":\"miss\",\"tls\":\"TLSv1.3\"}\n");
}

TEST_CASE("access log format: what an exchange did not have is - in combined, null in JSON") {
  RequestInfo info;  // no route, upstream, instance, upstream time, TLS
  auto r = record(info);
  r.referer = "";
  r.user_agent = "";
  r.status = 404;
  r.body_bytes = 0;
  CHECK(line(AccessLogFormat::combined, r) ==
        "192.0.2.7 - - [06/Dec/2026:10:45:00 +0000] \"GET /v1/items?x=1 HTTP/1.1\" 404 0 \"-\" \"-\" rt=0.015 "
        "route=- upstream=- instance=- urt=- tries=0 cache=- tls=-\n");
  CHECK(line(AccessLogFormat::json, r) ==
        "{\"time\":\"2026-12-06T10:45:00Z\",\"remote_addr\":\"192.0.2.7\","
        "\"request\":\"GET /v1/items?x=1 HTTP/1.1\",\"method\":\"GET\",\"uri\":\"/v1/items?x=1\","
        "\"protocol\":\"HTTP/1.1\",\"status\":404,\"body_bytes_sent\":0,\"http_referer\":null,"
        "\"http_user_agent\":null,\"request_time\":0.015,\"route\":null,\"upstream\":null,\"instance\":null,"
        "\"upstream_response_time\":null,\"tries\":0,\"cache\":null,\"tls\":null}\n");
}

TEST_CASE("access log format: a tunnel adds what the client sent and why it ended") {
  auto info = cached_info();
  info.tunnel_from_client = 77;
  info.tunnel_end = "client_closed";
  auto r = record(info);
  r.status = 101;
  auto combined = line(AccessLogFormat::combined, r);
  CHECK(combined.ends_with(" tls=TLSv1.3 tunnel_in=77 tunnel_end=client_closed\n"));
  auto json = line(AccessLogFormat::json, r);
  CHECK(json.ends_with(",\"tls\":\"TLSv1.3\",\"tunnel_in\":77,\"tunnel_end\":\"client_closed\"}\n"));
}

TEST_CASE("access log format: hostile request lines and headers are escaped in both formats") {
  struct Row {
    const char* name;
    std::string user_agent;
    const char* combined;  // the quoted field as written, quotes included
    const char* json;      // the JSON string as written, quotes included
  };
  const Row rows[] = {
      {"a quote that would end the field", "a\"b", R"("a\"b")", R"("a\"b")"},
      {"a backslash", "a\\b", R"("a\\b")", R"("a\\b")"},
      {"a backslash before the closing quote", "ab\\", R"("ab\\")", R"("ab\\")"},
      {"a forged line", "x\n1.2.3.4 - - \"GET", R"("x\x0A1.2.3.4 - - \"GET")", R"("x\n1.2.3.4 - - \"GET")"},
      {"a carriage return and a tab", "a\rb\tc", R"("a\x0Db\x09c")", R"("a\rb\tc")"},
      {"a NUL and an escape byte", std::string("a\0b\x1b[31m", 8), R"("a\x00b\x1B[31m")",
       R"("a\u0000b\u001b[31m")"},
      {"DEL", "a\x7f", R"("a\x7F")", R"("a\u007f")"},
      {"valid UTF-8 passes", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"",
       "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\""},
      {"a lone continuation byte", "a\x80z", "\"a\x80z\"", R"("a\ufffdz")"},
      {"a truncated sequence at the end", "a\xe2\x82", "\"a\xe2\x82\"", R"("a\ufffd\ufffd")"},
      {"an overlong slash", "\xc0\xaf", "\"\xc0\xaf\"", R"("\ufffd\ufffd")"},
      {"an overlong three-byte form", "\xe0\x80\xaf", "\"\xe0\x80\xaf\"", R"("\ufffd\ufffd\ufffd")"},
      {"a UTF-16 surrogate", "\xed\xa0\x80", "\"\xed\xa0\x80\"", R"("\ufffd\ufffd\ufffd")"},
      {"above U+10FFFF", "\xf4\x90\x80\x80", "\"\xf4\x90\x80\x80\"", R"("\ufffd\ufffd\ufffd\ufffd")"},
      {"a Latin-1 byte before ASCII", "\xe9t\xe9", "\"\xe9t\xe9\"", R"("\ufffdt\ufffd")"},
  };
  for (const auto& row : rows) {
    const std::string name = row.name;
    CAPTURE(name);
    RequestInfo info;
    auto r = record(info);
    r.user_agent = row.user_agent;
    auto combined = line(AccessLogFormat::combined, r);
    CHECK(combined.find(std::string(" \"https://example.com/\" ") + row.combined + " rt=") != std::string::npos);
    CHECK(combined.find('\n') == combined.size() - 1);
    auto json = line(AccessLogFormat::json, r);
    CHECK(json.find(std::string("\"http_user_agent\":") + row.json + ",\"request_time\"") != std::string::npos);
    CHECK(json.find('\n') == json.size() - 1);
  }
}

TEST_CASE("access log format: a hostile request line is escaped in its fields") {
  RequestInfo info;
  auto r = record(info);
  r.method = "GET";
  r.target = "/a\"b\\c\x01\xff";
  auto combined = line(AccessLogFormat::combined, r);
  CHECK(combined.find(R"("GET /a\"b\\c\x01)" "\xff" R"( HTTP/1.1" 200 )") != std::string::npos);
  auto json = line(AccessLogFormat::json, r);
  CHECK(json.find(R"("request":"GET /a\"b\\c\u0001\ufffd HTTP/1.1","method":"GET","uri":"/a\"b\\c\u0001\ufffd",)") !=
        std::string::npos);
}
