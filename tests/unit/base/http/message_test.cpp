// Tests for gateway/http/message: HeaderMap, list tokens, Request helpers and
// the small status/method predicates.
#include "base/http/message.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using namespace gateway::http;

namespace {

std::string dump(const HeaderMap& h) {
  std::string s;
  h.for_each([&](const HeaderMap::Field& f) { s.append(f.name).append("=").append(f.value).append(";"); });
  return s;
}

std::vector<std::string> tokens(std::string_view list) {
  std::vector<std::string> out;
  for_each_token(list, [&](std::string_view t) { out.emplace_back(t); });
  return out;
}

}  // namespace

TEST_SUITE("http message: HeaderMap") {
  TEST_CASE("an empty map has nothing") {
    HeaderMap h;
    CHECK(h.empty());
    CHECK(h.size() == 0u);
    CHECK(h.bytes() == 0u);
    CHECK_FALSE(h.get("Host").has_value());
    CHECK_FALSE(h.contains("Host"));
    CHECK(h.count("Host") == 0u);
    CHECK(h.get_all("Host") == "");
    CHECK(dump(h) == "");
  }

  TEST_CASE("fields are kept in order and found by name in any case") {
    HeaderMap h;
    h.add("Content-Type", "text/html");
    h.add("X-Request-Id", "abc");
    CHECK(h.size() == 2u);
    CHECK_FALSE(h.empty());
    CHECK(h.get("content-type") == "text/html");
    CHECK(h.get("CONTENT-TYPE") == "text/html");
    CHECK(h.get("x-request-ID") == "abc");
    CHECK(h.contains("X-REQUEST-ID"));
    CHECK_FALSE(h.contains("Content"));
    CHECK_FALSE(h.contains("Content-Type-X"));
    CHECK(dump(h) == "Content-Type=text/html;X-Request-Id=abc;");
    CHECK(h.bytes() == std::string("Content-Typetext/htmlX-Request-Idabc").size());
  }

  TEST_CASE("repeated fields: get gives the first, count and get_all see all") {
    HeaderMap h;
    h.add("Accept", "text/html");
    h.add("Host", "h");
    h.add("accept", "application/json");
    h.add("ACCEPT", "*/*;q=0.1");
    CHECK(h.get("Accept") == "text/html");
    CHECK(h.count("Accept") == 3u);
    CHECK(h.get_all("accept") == "text/html, application/json, */*;q=0.1");
    CHECK(h.get_all("Host") == "h");
    CHECK(h.size() == 4u);
  }

  TEST_CASE("set replaces every field of that name with one at the end") {
    HeaderMap h;
    h.add("Via", "1.0 a");
    h.add("Host", "h");
    h.add("via", "1.0 b");
    h.set("VIA", "1.1 c");
    CHECK(h.count("Via") == 1u);
    CHECK(h.get("via") == "1.1 c");
    CHECK(h.size() == 2u);
    CHECK(dump(h) == "Host=h;VIA=1.1 c;");

    h.set("New", "n");  // set of an absent name adds it
    CHECK(dump(h) == "Host=h;VIA=1.1 c;New=n;");
  }

  TEST_CASE("remove takes every field of that name and says how many") {
    HeaderMap h;
    h.add("Cookie", "a=1");
    h.add("Host", "h");
    h.add("cookie", "b=2");
    CHECK(h.remove("COOKIE") == 2u);
    CHECK(h.size() == 1u);
    CHECK_FALSE(h.contains("Cookie"));
    CHECK(h.remove("Cookie") == 0u);
    CHECK(h.remove("Absent") == 0u);
    CHECK(h.size() == 1u);
    CHECK(dump(h) == "Host=h;");
    h.add("Cookie", "c=3");  // a removed name can come back
    CHECK(h.get("Cookie") == "c=3");
    CHECK(h.size() == 2u);
  }

  TEST_CASE("an empty value is present, not absent") {
    HeaderMap h;
    h.add("X-Empty", "");
    h.add("X-After", "v");
    REQUIRE(h.get("X-Empty").has_value());
    CHECK(h.get("X-Empty") == "");
    CHECK(h.get("X-After") == "v");
    CHECK(dump(h) == "X-Empty=;X-After=v;");
  }

  TEST_CASE("a thousand fields are all kept intact as the store grows") {
    HeaderMap h;
    for (int i = 0; i < 1000; ++i) h.add("X-Field-" + std::to_string(i), "value-" + std::to_string(i * 7));
    CHECK(h.size() == 1000u);
    int wrong = 0;
    for (int i = 0; i < 1000; ++i)
      if (h.get("x-field-" + std::to_string(i)) != "value-" + std::to_string(i * 7)) ++wrong;
    CHECK(wrong == 0);
    int seen = 0;
    h.for_each([&](const HeaderMap::Field& f) {
      if (f.name != "X-Field-" + std::to_string(seen)) ++wrong;
      ++seen;
    });
    CHECK(seen == 1000);
    CHECK(wrong == 0);
  }

  TEST_CASE("a field built from name and value pieces reads as one field") {
    HeaderMap h;
    h.begin_field();
    h.append_name("Cont");
    h.append_name("ent-Ty");
    h.append_name("pe");
    h.append_value("text/");
    h.append_value("ht");
    h.append_value("ml");
    h.begin_field();
    h.append_name("X");
    h.append_value("1");
    h.begin_field();
    h.append_name("X-Empty");
    CHECK(h.size() == 3u);
    CHECK(h.get("content-type") == "text/html");
    CHECK(h.get("X") == "1");
    CHECK(h.get("X-Empty") == "");
    CHECK(dump(h) == "Content-Type=text/html;X=1;X-Empty=;");
  }

  TEST_CASE("clear empties the map for reuse") {
    HeaderMap h;
    h.add("A", "1");
    h.add("B", "2");
    h.clear();
    CHECK(h.empty());
    CHECK(h.bytes() == 0u);
    CHECK_FALSE(h.contains("A"));
    h.add("C", "3");
    CHECK(dump(h) == "C=3;");
  }

  TEST_CASE("iequals folds ASCII letters only") {
    CHECK(iequals("Content-Length", "content-length"));
    CHECK(iequals("", ""));
    CHECK(iequals("X-1_a", "x-1_A"));
    CHECK_FALSE(iequals("abc", "abcd"));
    CHECK_FALSE(iequals("abc", "abd"));
    CHECK_FALSE(iequals("[", "{"));  // 0x5B and 0x7B differ by 0x20 too
    CHECK_FALSE(iequals("@", "`"));
    CHECK_FALSE(iequals("-", "\r"));
  }
}

TEST_SUITE("http message: tokens") {
  TEST_CASE("has_token finds a whole element of a list in any case") {
    CHECK(has_token("keep-alive, Upgrade", "upgrade"));
    CHECK(has_token("keep-alive, Upgrade", "KEEP-ALIVE"));
    CHECK(has_token("close", "close"));
    CHECK(has_token(" , close ,", "close"));
    CHECK(has_token("a,\tclose\t,b", "close"));
    CHECK_FALSE(has_token("upgraded", "upgrade"));
    CHECK_FALSE(has_token("keep-alive, Upgrade", "alive"));
    CHECK_FALSE(has_token("", "close"));
    CHECK_FALSE(has_token("closed, enclose", "close"));
  }

  TEST_CASE("for_each_token gives trimmed, non-empty elements in order") {
    CHECK(tokens("a, b,c") == std::vector<std::string>{"a", "b", "c"});
    CHECK(tokens(" a ,, b c ,\td\t") == std::vector<std::string>{"a", "b c", "d"});
    CHECK(tokens("") == std::vector<std::string>{});
    CHECK(tokens(" , ,, ") == std::vector<std::string>{});
    CHECK(tokens("single") == std::vector<std::string>{"single"});
    CHECK(tokens("trailing,") == std::vector<std::string>{"trailing"});
  }
}

TEST_SUITE("http message: requests and responses") {
  TEST_CASE("path and query split the target at the first question mark") {
    Request r;
    r.target = "/a/b?x=1&y=?z";
    CHECK(r.path() == "/a/b");
    CHECK(r.query() == "x=1&y=?z");
    r.target = "/plain";
    CHECK(r.path() == "/plain");
    CHECK(r.query() == "");
    r.target = "/empty?";
    CHECK(r.path() == "/empty");
    CHECK(r.query() == "");
  }

  TEST_CASE("has_body follows chunked and a non-zero Content-Length") {
    Request r;
    CHECK_FALSE(r.has_body());
    r.content_length = 0;
    CHECK_FALSE(r.has_body());
    r.content_length = 1;
    CHECK(r.has_body());
    r.content_length.reset();
    r.chunked = true;
    CHECK(r.has_body());
  }

  TEST_CASE("clear returns a request to its defaults") {
    Request r;
    r.method = "POST";
    r.target = "/x";
    r.version_minor = 0;
    r.headers.add("A", "1");
    r.keep_alive = false;
    r.chunked = true;
    r.content_length = 5;
    r.expect_continue = true;
    r.clear();
    CHECK(r.method.empty());
    CHECK(r.target.empty());
    CHECK(r.version_minor == 1);
    CHECK(r.headers.empty());
    CHECK(r.keep_alive);
    CHECK_FALSE(r.chunked);
    CHECK_FALSE(r.content_length.has_value());
    CHECK_FALSE(r.expect_continue);

    Response resp;
    resp.status = 404;
    resp.reason = "Nope";
    resp.headers.add("A", "1");
    resp.keep_alive = false;
    resp.content_length = 3;
    resp.clear();
    CHECK(resp.status == 200);
    CHECK(resp.reason.empty());
    CHECK(resp.headers.empty());
    CHECK(resp.keep_alive);
    CHECK_FALSE(resp.content_length.has_value());
  }

  TEST_CASE("is_head is true for HEAD only") {
    Request r;
    r.method = "HEAD";
    CHECK(r.is_head());
    r.method = "GET";
    CHECK_FALSE(r.is_head());
  }

  TEST_CASE("safe and idempotent methods are the ones that may be retried") {
    for (const char* m : {"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"}) {
      INFO(std::string(m));
      CHECK(is_idempotent(m));
    }
    for (const char* m : {"POST", "PATCH", "CONNECT", "get", "", "GETS"}) {
      INFO(std::string(m));
      CHECK_FALSE(is_idempotent(m));
    }
  }

  TEST_CASE("a response body is forbidden for 1xx, 204, 304 and any answer to HEAD") {
    struct Case {
      int status;
      bool head;
      bool body;
    };
    const Case cases[] = {
        {100, false, false}, {101, false, false}, {199, false, false}, {200, false, true},  {200, true, false},
        {204, false, false}, {206, false, true},  {304, false, false}, {304, true, false},  {404, false, true},
        {404, true, false},  {500, false, true},  {302, false, true},
    };
    for (const auto& c : cases) {
      INFO(c.status << (c.head ? " to HEAD" : ""));
      CHECK(response_has_body(c.status, c.head) == c.body);
    }
  }

  TEST_CASE("reason phrases match the status codes") {
    CHECK(reason_phrase(200) == "OK");
    CHECK(reason_phrase(304) == "Not Modified");
    CHECK(reason_phrase(413) == "Content Too Large");
    CHECK(reason_phrase(431) == "Request Header Fields Too Large");
    CHECK(reason_phrase(502) == "Bad Gateway");
    CHECK(reason_phrase(505) == "HTTP Version Not Supported");
    CHECK(reason_phrase(799) == "Unknown");
  }
}
