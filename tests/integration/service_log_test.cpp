// The access log as a service runs it: `access_log: {path, format: json}`
// writes one JSON object per line, hostile request fields escaped; SIGUSR1
// reopens the file after logrotate renamed it, losing no line under load.
#include <doctest/doctest.h>

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "harness.hpp"

using namespace itest;

namespace {

// A route that needs no upstream: every request gets the gateway's 301.
const std::string kRedirectRoutes = "routes:\n  - {prefix: /, redirect: \"https://example.com$request_uri\"}\n";

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  while (start < text.size()) {
    auto end = text.find('\n', start);
    if (end == std::string::npos) break;  // a partial line is not counted
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

std::size_t lines_with(const std::string& text, std::string_view needle) {
  std::size_t n = 0;
  for (const auto& l : lines_of(text))
    if (l.find(needle) != std::string::npos) ++n;
  return n;
}

}  // namespace

TEST_CASE("access log json: one object per line, hostile request fields escaped and valid UTF-8") {
  TempDir dir;
  const std::string log = dir.file("access.json");
  Gateway gw(dir, "access_log: {path: " + log + ", format: json}\n" + kRedirectRoutes);

  RawConnection c(gw.port());
  // A quote, a backslash, a tab and a byte that is no UTF-8 in the
  // User-Agent (obs-text and HTAB are allowed in a field value); a quote
  // in the Referer.
  REQUIRE(c.send("GET /hostile?q=1 HTTP/1.1\r\nHost: x\r\nUser-Agent: a\"b\\c\td\xff\r\n"
                 "Referer: \"},{\"status\":1\r\n\r\n"));
  auto got = parse_responses(c.read_responses(1));
  REQUIRE(got.size() == 1);
  CHECK(got[0].status == 301);
  REQUIRE(eventually([&] { return lines_with(read_file(log), "/hostile") == 1; }));

  auto lines = lines_of(read_file(log));
  REQUIRE(lines.size() == 1);
  const auto& line = lines[0];
  INFO(line);
  CHECK(line.front() == '{');
  CHECK(line.back() == '}');
  CHECK(line.find("\"remote_addr\":\"127.0.0.1\"") != std::string::npos);
  CHECK(line.find("\"request\":\"GET /hostile?q=1 HTTP/1.1\"") != std::string::npos);
  CHECK(line.find("\"status\":301,") != std::string::npos);
  CHECK(line.find("\"http_user_agent\":\"a\\\"b\\\\c\\td\\ufffd\"") != std::string::npos);
  CHECK(line.find("\"http_referer\":\"\\\"},{\\\"status\\\":1\"") != std::string::npos);
  CHECK(line.find("\"upstream\":null") != std::string::npos);
  // Nothing but escaped ASCII and the time: no raw byte above 0x7f.
  for (unsigned char ch : line) CHECK(ch < 0x80);
}

TEST_CASE("access log: SIGUSR1 after a rename sends new lines to a new file, none lost under load") {
  TempDir dir;
  const std::string log = dir.file("access.log");
  const std::string rotated = dir.file("access.log.1");
  Gateway gw(dir, "workers: 2\naccess_log: {path: " + log + ", format: json}\n" + kRedirectRoutes);

  // Load on 4 keep-alive clients across the rotation.
  std::atomic<bool> stop{false};
  std::atomic<int> sent{0}, failed{0};
  std::vector<std::thread> load;
  for (int t = 0; t < 4; ++t)
    load.emplace_back([&, t] {
      Client client;
      for (int i = 0; !stop.load(); ++i) {
        auto r = client.get(url(gw.port(), "/load/" + std::to_string(t) + "/" + std::to_string(i)));
        ++(r.status == 301 ? sent : failed);
      }
    });

  REQUIRE(eventually([&] { return lines_with(read_file(log), "/load/") >= 200; }));
  // What logrotate does: rename, then the postrotate signal.
  REQUIRE(::rename(log.c_str(), rotated.c_str()) == 0);
  gw.process().signal(SIGUSR1);
  REQUIRE(gw.process().wait_for_output("access log reopened", 5s));
  REQUIRE(eventually([&] { return lines_with(read_file(log), "/load/") >= 200; }));

  // Requests made after the reopen was reported go to the new file only.
  Client client;
  constexpr int kAfter = 100;
  for (int i = 0; i < kAfter; ++i) CHECK(client.get(url(gw.port(), "/after/" + std::to_string(i))).status == 301);
  stop = true;
  for (auto& th : load) th.join();
  CHECK(failed.load() == 0);

  // Every response has its line, in one file or the other.
  const int expected = sent.load() + kAfter;
  bool all = eventually([&] {
    return static_cast<int>(lines_of(read_file(rotated)).size() + lines_of(read_file(log)).size()) == expected;
  });
  auto old_text = read_file(rotated), new_text = read_file(log);
  INFO("sent " << expected << ", rotated file " << lines_of(old_text).size() << " lines, new file "
               << lines_of(new_text).size());
  MESSAGE("responses " << expected << ": rotated file " << lines_of(old_text).size() << " lines, new file "
                      << lines_of(new_text).size());
  CHECK(all);
  CHECK(lines_with(old_text, "/after/") == 0);
  CHECK(lines_with(new_text, "/after/") == static_cast<std::size_t>(kAfter));
  CHECK(lines_with(old_text, "/load/") >= 200);
  CHECK(lines_with(new_text, "/load/") >= 200);
  CHECK(gw.process().running());
}

TEST_CASE("access log: SIGUSR1 with the log on stdout changes nothing and keeps serving") {
  TempDir dir;
  Gateway gw(dir, kRedirectRoutes);
  gw.process().signal(SIGUSR1);
  REQUIRE(gw.process().wait_for_output("access log reopened", 5s));
  CHECK(http_get(url(gw.port(), "/x")).status == 301);
  CHECK(eventually([&] { return gw.access_log().find("\"GET /x HTTP/1.1\" 301") != std::string::npos; }));
}
