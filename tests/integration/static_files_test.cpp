// The `static:` route kind end to end (issue 15 item 2): files with their
// type, ETag and Last-Modified, HEAD, 405, 304s, ranges, an index, the 301
// that adds a directory's '/', 403 for a directory without an index, a
// single-page app's try_files, precompressed siblings, and every way out of
// the root refused over a raw connection (curl would clean the path):
// "..", "%2e%2e", an encoded '/', NUL, and symlinks leading out.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <thread>
#include <vector>

#include "harness.hpp"

using namespace itest;

namespace {

// www/ is the root; secret.txt sits beside it, outside.
void write_site(const TempDir& dir) {
  dir.write("secret.txt", "top secret\n");
  dir.write("www/index.html", "<p>home</p>\n");
  dir.write("www/hello.txt", "hello, world\n");
  dir.write("www/docs/index.html", "<p>docs</p>\n");
  dir.write("www/empty/.keep", "");
  dir.write("www/app.js", "console.log('plain')\n");
  dir.write("www/app.js.br", "BROTLI-BYTES");
  dir.write("www/app.js.gz", "GZIP-BYTES");
  dir.write("www/a+b c.txt", "odd name\n");
  REQUIRE(::symlink("../secret.txt", dir.file("www/leak.txt").c_str()) == 0);
  REQUIRE(::symlink("..", dir.file("www/up").c_str()) == 0);
  REQUIRE(::symlink("/etc/passwd", dir.file("www/passwd").c_str()) == 0);
  REQUIRE(::symlink("hello.txt", dir.file("www/alias.txt").c_str()) == 0);
}

std::string config(const TempDir& dir) {
  return "workers: 1\naccess_log: off\nroutes:\n"
         "  - prefix: /spa/\n    static: {root: \"" + dir.file("www") + "\", try_files: [$uri, /index.html]}\n"
         "  - prefix: /\n    static: {root: \"" + dir.file("www") + "\", precompressed: true}\n";
}

Request request(std::string method, std::string target, std::string body = "") {
  Request r;
  r.method = std::move(method);
  r.url = std::move(target);
  r.body = std::move(body);
  return r;
}

// One request over a raw connection, the target as written.
RawResponse raw_get(std::uint16_t port, const std::string& target) {
  RawConnection c(port);
  REQUIRE(c.send("GET " + target + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  auto responses = parse_responses(c.read_until_close());
  REQUIRE(responses.size() == 1);
  return responses[0];
}

}  // namespace

TEST_CASE("static: a file with its type, nginx's ETag and Last-Modified, HEAD without body, 405 for POST") {
  TempDir dir;
  write_site(dir);
  Gateway gw(dir, config(dir));
  auto r = http_get(url(gw.port(), "/hello.txt"));
  REQUIRE(r.status == 200);
  CHECK(r.body == "hello, world\n");
  CHECK(r.header("Content-Type") == "text/plain; charset=utf-8");
  CHECK(r.header("Content-Length") == "13");
  CHECK(r.header("Accept-Ranges") == "bytes");
  REQUIRE(r.header("ETag"));
  CHECK(r.header("ETag")->ends_with("-d\""));  // "<mtime hex>-<size hex>"
  REQUIRE(r.header("Last-Modified"));
  CHECK(r.header("Last-Modified")->ends_with(" GMT"));

  Client c;
  auto head = c.send(request("HEAD", url(gw.port(), "/hello.txt")));
  CHECK(head.status == 200);
  CHECK(head.header("Content-Length") == "13");
  CHECK(head.body.empty());

  auto post = c.send(request("POST", url(gw.port(), "/hello.txt"), "x"));
  CHECK(post.status == 405);
  CHECK(post.header("Allow") == "GET, HEAD");

  auto odd = http_get(url(gw.port(), "/a+b%20c.txt"));
  CHECK(odd.status == 200);
  CHECK(odd.body == "odd name\n");
  auto inside = http_get(url(gw.port(), "/alias.txt"));  // a symlink inside the root
  CHECK(inside.status == 200);
  CHECK(inside.body == "hello, world\n");
}

TEST_CASE("static: If-None-Match and If-Modified-Since give 304, a changed file 200") {
  TempDir dir;
  write_site(dir);
  Gateway gw(dir, config(dir));
  auto r = http_get(url(gw.port(), "/hello.txt"));
  REQUIRE(r.status == 200);
  const auto etag = *r.header("ETag");
  const auto modified = *r.header("Last-Modified");
  auto by_tag = http_get(url(gw.port(), "/hello.txt"), {"If-None-Match: " + etag});
  CHECK(by_tag.status == 304);
  CHECK(by_tag.header("ETag") == etag);
  CHECK(by_tag.body.empty());
  auto by_date = http_get(url(gw.port(), "/hello.txt"), {"If-Modified-Since: " + modified});
  CHECK(by_date.status == 304);
  auto other = http_get(url(gw.port(), "/hello.txt"), {"If-None-Match: \"0-0\""});
  CHECK(other.status == 200);

  dir.write("www/hello.txt", "hello again, world\n");  // another size: another ETag
  auto changed = http_get(url(gw.port(), "/hello.txt"), {"If-None-Match: " + etag});
  CHECK(changed.status == 200);
  CHECK(changed.body == "hello again, world\n");
}

TEST_CASE("static: Range gives 206, past the end 416, a stale If-Range the whole file, two ranges multipart") {
  TempDir dir;
  write_site(dir);
  Gateway gw(dir, config(dir));
  auto part = http_get(url(gw.port(), "/hello.txt"), {"Range: bytes=0-4"});
  CHECK(part.status == 206);
  CHECK(part.body == "hello");
  CHECK(part.header("Content-Range") == "bytes 0-4/13");
  auto tail = http_get(url(gw.port(), "/hello.txt"), {"Range: bytes=-6"});
  CHECK(tail.status == 206);
  CHECK(tail.body == "world\n");
  auto past = http_get(url(gw.port(), "/hello.txt"), {"Range: bytes=100-200"});
  CHECK(past.status == 416);
  CHECK(past.header("Content-Range") == "bytes */13");
  const auto etag = *http_get(url(gw.port(), "/hello.txt")).header("ETag");
  auto matching = http_get(url(gw.port(), "/hello.txt"), {"Range: bytes=7-11", "If-Range: " + etag});
  CHECK(matching.status == 206);
  CHECK(matching.body == "world");
  auto stale = http_get(url(gw.port(), "/hello.txt"), {"Range: bytes=7-11", "If-Range: \"1-1\""});
  CHECK(stale.status == 200);
  CHECK(stale.body == "hello, world\n");
  auto two = http_get(url(gw.port(), "/hello.txt"), {"Range: bytes=0-4,7-11"});
  CHECK(two.status == 206);
  CHECK(two.header("Content-Type")->starts_with("multipart/byteranges; boundary="));
  CHECK(two.body.find("Content-Range: bytes 0-4/13\r\n\r\nhello\r\n") != std::string::npos);
  CHECK(two.body.find("Content-Range: bytes 7-11/13\r\n\r\nworld\r\n") != std::string::npos);
}

TEST_CASE("static: index, 301 to add a directory's slash, 403 without an index, 404, and a SPA's try_files") {
  TempDir dir;
  write_site(dir);
  Gateway gw(dir, config(dir));
  auto home = http_get(url(gw.port(), "/"));
  CHECK(home.status == 200);
  CHECK(home.body == "<p>home</p>\n");
  CHECK(home.header("Content-Type") == "text/html; charset=utf-8");
  auto docs = http_get(url(gw.port(), "/docs/"));
  CHECK(docs.status == 200);
  CHECK(docs.body == "<p>docs</p>\n");
  auto bare = http_get(url(gw.port(), "/docs?x=1"));
  CHECK(bare.status == 301);
  CHECK(bare.header("Location") == "/docs/?x=1");
  CHECK(http_get(url(gw.port(), "/empty/")).status == 403);
  CHECK(http_get(url(gw.port(), "/missing.txt")).status == 404);
  CHECK(http_get(url(gw.port(), "/hello.txt/")).status == 404);  // a file is no directory

  auto deep = http_get(url(gw.port(), "/spa/users/42"));  // no such file: the app's page
  CHECK(deep.status == 200);
  CHECK(deep.body == "<p>home</p>\n");
  auto asset = http_get(url(gw.port(), "/spa/"));  // root semantics: www/spa/ is not there either
  CHECK(asset.status == 200);
  CHECK(asset.body == "<p>home</p>\n");
}

TEST_CASE("static: precompressed .br and .gz siblings for clients that accept them, with Vary") {
  TempDir dir;
  write_site(dir);
  Gateway gw(dir, config(dir));
  auto br = http_get(url(gw.port(), "/app.js"), {"Accept-Encoding: gzip, br"});
  CHECK(br.status == 200);
  CHECK(br.body == "BROTLI-BYTES");
  CHECK(br.header("Content-Encoding") == "br");
  CHECK(br.header("Content-Type") == "application/javascript; charset=utf-8");
  CHECK(br.header("Vary") == "Accept-Encoding");
  auto gz = http_get(url(gw.port(), "/app.js"), {"Accept-Encoding: gzip"});
  CHECK(gz.body == "GZIP-BYTES");
  CHECK(gz.header("Content-Encoding") == "gzip");
  auto refused = http_get(url(gw.port(), "/app.js"), {"Accept-Encoding: br;q=0, gzip;q=0"});
  CHECK(refused.body == "console.log('plain')\n");
  CHECK_FALSE(refused.header("Content-Encoding"));
  CHECK(refused.header("Vary") == "Accept-Encoding");
  auto plain = http_get(url(gw.port(), "/hello.txt"), {"Accept-Encoding: br"});  // no sibling
  CHECK(plain.body == "hello, world\n");
  CHECK_FALSE(plain.header("Content-Encoding"));
}

TEST_CASE("static: no way out of the root: dot-dot, encoded dots and slashes, NUL, symlinks leading out") {
  TempDir dir;
  write_site(dir);
  Gateway gw(dir, config(dir));
  struct Row {
    const char* target;
    int status;
  };
  const Row rows[] = {
      {"/../secret.txt", 400},
      {"/docs/../../secret.txt", 400},
      {"/%2e%2e/secret.txt", 400},
      {"/%2E%2E/secret.txt", 400},
      {"/.%2e/secret.txt", 400},
      {"/docs%2f..%2f..%2fsecret.txt", 400},
      {"/..%2fsecret.txt", 400},
      {"/hello.txt%00.html", 400},
      {"/leak.txt", 403},        // a symlink to ../secret.txt
      {"/up/secret.txt", 403},   // through a symlink to ..
      {"/passwd", 403},          // an absolute symlink
      {"/up/", 403},
  };
  for (const auto& row : rows) {
    CAPTURE(std::string(row.target));
    auto r = raw_get(gw.port(), row.target);
    CHECK(r.status == row.status);
    CHECK(r.body.find("top secret") == std::string::npos);
    CHECK(r.body.find("root:") == std::string::npos);
  }
  // The same through curl, which keeps the path as written.
  Client c;
  auto escaped = c.get(url(gw.port(), "/%2e%2e/secret.txt"));
  CHECK(escaped.status == 400);
}

// Small files are kept in memory (gateway/static_memory.hpp) and checked
// against their file on every request: each change below must be seen by
// the very next request, including a rewrite of the same size with the old
// mtime put back (only ctime tells), and a symlink out swapped in for a
// kept file.
TEST_CASE("static: kept small files follow their file: rewritten, mtime put back, renamed over, removed, symlinked out") {
  TempDir dir;
  write_site(dir);
  dir.write("www/big.bin", std::string(100 * 1024, 'b'));  // over 64 KiB: never kept
  std::this_thread::sleep_for(1100ms);  // a file changed within the last second is not kept
  Gateway gw(dir, config(dir));
  const std::string files = "gateway_static_memory_files{route=\"/\"}";
  const std::string hello = url(gw.port(), "/hello.txt");

  auto first = http_get(hello);
  CHECK(first.body == "hello, world\n");
  CHECK(http_get(url(gw.port(), "/big.bin")).body.size() == 100 * 1024);
  CHECK(metric(gw.metrics(), files) == 1);
  CHECK(metric(gw.metrics(), "gateway_static_memory_bytes{route=\"/\"}") == 13);

  // From memory: the same answers as from the file, HEAD and Range too,
  // on one keep-alive connection.
  Client c;
  auto kept = c.get(hello);
  CHECK(kept.body == "hello, world\n");
  CHECK(kept.header("ETag") == first.header("ETag"));
  CHECK(kept.header("Last-Modified") == first.header("Last-Modified"));
  auto head = c.send(request("HEAD", hello));
  CHECK(head.header("Content-Length") == "13");
  CHECK(head.body.empty());
  CHECK(c.get(hello, {"Range: bytes=7-11"}).body == "world");
  CHECK(c.get(hello, {"If-None-Match: " + *first.header("ETag")}).status == 304);

  // The same size, rewritten in place, its mtime put back: the ETag stays
  // (nginx's: mtime and size), the bytes are the new ones.
  struct stat before {};
  REQUIRE(::stat(dir.file("www/hello.txt").c_str(), &before) == 0);
  dir.write("www/hello.txt", "HELLO, WORLD\n");
  const timespec times[2] = {before.st_atim, before.st_mtim};
  REQUIRE(::utimensat(AT_FDCWD, dir.file("www/hello.txt").c_str(), times, 0) == 0);
  auto rewritten = c.get(hello);
  CHECK(rewritten.body == "HELLO, WORLD\n");
  CHECK(rewritten.header("ETag") == first.header("ETag"));
  CHECK(metric(gw.metrics(), files) == 0);  // changed just now: served, not kept

  std::this_thread::sleep_for(1100ms);
  CHECK(c.get(hello).body == "HELLO, WORLD\n");
  CHECK(metric(gw.metrics(), files) == 1);
  dir.write("www/next.txt", "the next one\n");
  REQUIRE(::rename(dir.file("www/next.txt").c_str(), dir.file("www/hello.txt").c_str()) == 0);
  CHECK(c.get(hello).body == "the next one\n");

  std::this_thread::sleep_for(1100ms);
  CHECK(c.get(hello).body == "the next one\n");
  CHECK(metric(gw.metrics(), files) == 1);
  REQUIRE(::unlink(dir.file("www/hello.txt").c_str()) == 0);
  REQUIRE(::symlink("../secret.txt", dir.file("www/hello.txt").c_str()) == 0);
  auto out = c.get(hello);
  CHECK(out.status == 403);
  CHECK(out.body.find("top secret") == std::string::npos);
  REQUIRE(::unlink(dir.file("www/hello.txt").c_str()) == 0);
  CHECK(c.get(hello).status == 404);
}

TEST_CASE("static: strip_prefix serves the path after the prefix from the root, as nginx's alias") {
  TempDir dir;
  write_site(dir);
  Gateway gw(dir, "workers: 1\naccess_log: off\nroutes:\n"
                  "  - prefix: /assets/\n    strip_prefix: true\n    static: {root: \"" + dir.file("www") + "\"}\n"
                  "  - prefix: /manual\n    strip_prefix: true\n    static: {root: \"" + dir.file("www/docs") + "\"}\n");
  auto hello = http_get(url(gw.port(), "/assets/hello.txt"));
  CHECK(hello.status == 200);
  CHECK(hello.body == "hello, world\n");
  auto dir_slash = raw_get(gw.port(), "/assets/docs?x=1");
  CHECK(dir_slash.status == 301);
  CHECK(dir_slash.head.find("Location: /assets/docs/?x=1\r\n") != std::string::npos);
  CHECK(http_get(url(gw.port(), "/assets/docs/")).body == "<p>docs</p>\n");
  // The prefix itself, without a '/': the directory's 301 first, as nginx.
  auto bare = raw_get(gw.port(), "/manual");
  CHECK(bare.status == 301);
  CHECK(bare.head.find("Location: /manual/\r\n") != std::string::npos);
  CHECK(http_get(url(gw.port(), "/manual/")).body == "<p>docs</p>\n");
  CHECK(http_get(url(gw.port(), "/assets/nothing.txt")).status == 404);
  CHECK(http_get(url(gw.port(), "/hello.txt")).status == 404);  // no route
  for (const char* target : {"/assets/../secret.txt", "/assets/%2e%2e/secret.txt", "/manual/../../secret.txt"}) {
    CAPTURE(std::string(target));
    auto r = raw_get(gw.port(), target);
    CHECK(r.status == 400);
    CHECK(r.body.find("top secret") == std::string::npos);
  }
  CHECK(raw_get(gw.port(), "/assets/leak.txt").status == 403);
}
