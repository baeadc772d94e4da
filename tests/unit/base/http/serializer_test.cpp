// Tests for gateway/http/serializer: heads back to exact bytes, chunk framing,
// the hop-by-hop rules and HTTP dates.
#include "base/http/serializer.hpp"

#include <doctest/doctest.h>

#include <cstdint>
#include <ctime>
#include <string>
#include <vector>

using namespace gateway::http;

namespace {

std::string names(const HeaderMap& h) {
  std::string s;
  h.for_each([&](const HeaderMap::Field& f) {
    if (!s.empty()) s += ",";
    s.append(f.name);
  });
  return s;
}

}  // namespace

TEST_SUITE("http serializer") {
  TEST_CASE("a request head is serialized as request line, fields in order and a blank line") {
    Request req;
    req.method = "POST";
    req.target = "/submit?a=1&b=%20";
    req.headers.add("Host", "example.com");
    req.headers.add("content-type", "text/plain; charset=utf-8");
    req.headers.add("X-Dup", "1");
    req.headers.add("X-Dup", "2");
    std::string out = "previous bytes|";
    serialize_request_head(req, out);
    CHECK(out ==
          "previous bytes|"
          "POST /submit?a=1&b=%20 HTTP/1.1\r\n"
          "Host: example.com\r\n"
          "content-type: text/plain; charset=utf-8\r\n"
          "X-Dup: 1\r\n"
          "X-Dup: 2\r\n"
          "\r\n");
  }

  TEST_CASE("a request head is always sent as HTTP/1.1 and skips removed fields") {
    Request req;
    req.method = "GET";
    req.target = "/";
    req.version_minor = 0;
    req.headers.add("Host", "h");
    req.headers.add("Connection", "keep-alive");
    req.headers.add("Accept", "*/*");
    req.headers.remove("connection");
    std::string out;
    serialize_request_head(req, out);
    CHECK(out == "GET / HTTP/1.1\r\nHost: h\r\nAccept: */*\r\n\r\n");
  }

  TEST_CASE("a response head uses its own reason or the standard phrase") {
    struct Case {
      int status;
      const char* reason;
      const char* line;
    };
    const Case cases[] = {
        {200, "", "HTTP/1.1 200 OK\r\n"},
        {404, "", "HTTP/1.1 404 Not Found\r\n"},
        {404, "Nowhere To Be Found", "HTTP/1.1 404 Nowhere To Be Found\r\n"},
        {503, "", "HTTP/1.1 503 Service Unavailable\r\n"},
        {299, "", "HTTP/1.1 299 Unknown\r\n"},
    };
    for (const auto& c : cases) {
      INFO(c.status);
      Response resp;
      resp.status = c.status;
      resp.reason = c.reason;
      resp.headers.add("Content-Length", "0");
      std::string out;
      serialize_response_head(resp, out);
      CHECK(out == std::string(c.line) + "Content-Length: 0\r\n\r\n");
    }
  }

  TEST_CASE("a response head without fields ends right after the status line") {
    Response resp;
    resp.status = 204;
    std::string out;
    serialize_response_head(resp, out);
    CHECK(out == "HTTP/1.1 204 No Content\r\n\r\n");
  }

  TEST_CASE("chunk size lines are lowercase hex followed by CRLF") {
    struct Case {
      std::size_t n;
      const char* line;
    };
    const Case cases[] = {
        {0, "0\r\n"},       {1, "1\r\n"},         {10, "a\r\n"},
        {15, "f\r\n"},      {16, "10\r\n"},       {255, "ff\r\n"},
        {4096, "1000\r\n"}, {0xdeadbeef, "deadbeef\r\n"}, {SIZE_MAX, "ffffffffffffffff\r\n"},
    };
    for (const auto& c : cases) {
      INFO(c.n);
      std::string out = "x";
      append_chunk_header(c.n, out);
      CHECK(out == std::string("x") + c.line);
    }
  }

  TEST_CASE("frame_chunk gives the size line before and the CRLF (and last chunk) after") {
    struct Case {
      std::size_t n;
      bool last;
      const char* prefix;
      const char* suffix;
    };
    const Case cases[] = {
        {0, false, "", ""},
        {0, true, "", "0\r\n\r\n"},
        {5, false, "5\r\n", "\r\n"},
        {26, false, "1a\r\n", "\r\n"},
        {26, true, "1a\r\n", "\r\n0\r\n\r\n"},
    };
    for (const auto& c : cases) {
      INFO(c.n << (c.last ? " last" : ""));
      std::string prefix = "<";
      auto suffix = frame_chunk(c.n, c.last, prefix);
      CHECK(prefix == std::string("<") + c.prefix);
      CHECK(suffix == c.suffix);
    }
  }

  TEST_CASE("framing a body as chunks and parsing it gives the body back") {
    std::string wire;
    std::string body;
    const char* pieces[] = {"hello", " ", "", "chunked world, with a longer piece of text"};
    for (std::size_t i = 0; i < std::size(pieces); ++i) {
      std::string piece = pieces[i];
      body += piece;
      auto suffix = frame_chunk(piece.size(), i + 1 == std::size(pieces), wire);
      wire += piece;
      wire += suffix;
    }
    CHECK(wire == "5\r\nhello\r\n1\r\n \r\n2a\r\nchunked world, with a longer piece of text\r\n0\r\n\r\n");
  }

  TEST_CASE("the seven hop-by-hop fields are recognised in any case, and nothing else") {
    const char* hop[] = {"Connection", "keep-alive", "PROXY-CONNECTION", "te", "Trailer", "transfer-encoding", "Upgrade"};
    for (const char* name : hop) {
      INFO(std::string(name));
      CHECK(is_hop_by_hop(name));
    }
    const char* end_to_end[] = {"Content-Length", "Host", "Tee", "T", "", "Connections", "X-Connection", "Upgrade-Insecure-Requests", "Trailers"};
    for (const char* name : end_to_end) {
      INFO(std::string(name));
      CHECK_FALSE(is_hop_by_hop(name));
    }
  }

  TEST_CASE("remove_hop_by_hop drops the hop-by-hop fields and those named in Connection") {
    HeaderMap h;
    h.add("Host", "h");
    h.add("Connection", "keep-alive, X-Drop-Me");
    h.add("connection", "x-also-gone");
    h.add("Keep-Alive", "timeout=5");
    h.add("Proxy-Connection", "keep-alive");
    h.add("TE", "trailers");
    h.add("Trailer", "X-Checksum");
    h.add("Transfer-Encoding", "chunked");
    h.add("Upgrade", "websocket");
    h.add("x-drop-me", "1");
    h.add("X-DROP-ME", "2");
    h.add("X-Also-Gone", "3");
    h.add("X-Keep", "4");
    h.add("Content-Type", "text/html");
    remove_hop_by_hop(h);
    CHECK(names(h) == "Host,X-Keep,Content-Type");
    CHECK(h.size() == 3u);
    CHECK(h.get("X-Keep") == "4");
  }

  TEST_CASE("remove_hop_by_hop leaves a map without hop-by-hop fields as it was") {
    HeaderMap h;
    h.add("Content-Type", "a");
    h.add("Cache-Control", "max-age=60, public");
    remove_hop_by_hop(h);
    CHECK(names(h) == "Content-Type,Cache-Control");
    CHECK(h.get("Cache-Control") == "max-age=60, public");
  }
}

TEST_SUITE("http dates") {
  TEST_CASE("dates are formatted as IMF-fixdate") {
    CHECK(format_http_date(0) == "Thu, 01 Jan 1970 00:00:00 GMT");
    CHECK(format_http_date(784111777) == "Sun, 06 Nov 1994 08:49:37 GMT");
    CHECK(format_http_date(951782400) == "Tue, 29 Feb 2000 00:00:00 GMT");
    CHECK(format_http_date(1700000000) == "Tue, 14 Nov 2023 22:13:20 GMT");
    CHECK(format_http_date(4102444799) == "Thu, 31 Dec 2099 23:59:59 GMT");
  }

  TEST_CASE("the three date formats of RFC 9110 parse to the same time") {
    CHECK(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT") == std::time_t{784111777});
    CHECK(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT") == std::time_t{784111777});
    CHECK(parse_http_date("Sun Nov  6 08:49:37 1994") == std::time_t{784111777});
  }

  TEST_CASE("a two-digit RFC 850 year below 70 is in the 2000s") {
    CHECK(parse_http_date("Thursday, 01-Jan-15 00:00:00 GMT") == std::time_t{1420070400});
    CHECK(parse_http_date("Thursday, 01-Jan-70 00:00:00 GMT") == std::time_t{0});
  }

  TEST_CASE("formatting then parsing gives the same time back") {
    const std::time_t times[] = {0, 1, 784111777, 951782400, 1234567890, 1700000000, 4102444799};
    for (auto t : times) {
      INFO(t);
      CHECK(parse_http_date(format_http_date(t)) == t);
    }
  }

  TEST_CASE("unparseable dates give nullopt") {
    const char* bad[] = {
        "",
        "yesterday",
        "0",
        "Sun, 06 Nov 1994",
        "Sun, 06 Foo 1994 08:49:37 GMT",
        "Sun, 00 Nov 1994 08:49:37 GMT",
        "Sun, 32 Nov 1994 08:49:37 GMT",
        "Sun, 06 Nov 1994 24:00:00 GMT",
        "Sun, 06 Nov 1994 08:60:00 GMT",
        "Sun, 06 Nov 1994 08:49:61 GMT",
        "Sunday, 06-Nov-94",
        "Sun Nov  6 08:49:37",
        "Sun, 06 Nov 1994 08:49:37 GMT and a great deal of trailing text to pass sixty four bytes",
    };
    for (const char* s : bad) {
      INFO(std::string(s));
      CHECK_FALSE(parse_http_date(s).has_value());
    }
  }
}
