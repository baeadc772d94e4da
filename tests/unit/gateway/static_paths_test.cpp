// Tables for gateway/static_paths.hpp: the request path made a path inside
// the root (and every way out of it refused), try_files expansion, the
// Content-Type table, nginx's ETag, and the Accept-Encoding check for
// precompressed siblings.
#include <doctest/doctest.h>

#include <optional>
#include <string>

#include "gateway/static_paths.hpp"

using namespace gateway::static_files;

TEST_CASE("static paths: clean_path decodes, drops dot and empty segments, refuses every way out of the root") {
  struct Row {
    const char* raw;
    std::optional<std::string> clean;  // nullopt: 400
  };
  const Row rows[] = {
      {"/", "/"},
      {"/index.html", "/index.html"},
      {"/a/b.css", "/a/b.css"},
      {"/a/", "/a/"},
      {"/a//b", "/a/b"},
      {"/a/./b", "/a/b"},
      {"/a/.", "/a/"},
      {"//", "/"},
      {"/hello%20world.txt", "/hello world.txt"},
      {"/a+b", "/a+b"},             // '+' is not a space in a path
      {"/%41bc", "/Abc"},
      {"/.well-known/x", "/.well-known/x"},
      {"/a..b", "/a..b"},           // dots inside a name are a name
      {"/...", "/..."},
      {"/..", std::nullopt},
      {"/../etc/passwd", std::nullopt},
      {"/a/../b", std::nullopt},
      {"/a/..", std::nullopt},
      {"/%2e%2e/etc/passwd", std::nullopt},
      {"/%2E%2E/etc/passwd", std::nullopt},
      {"/.%2e/x", std::nullopt},
      {"/a%2f..%2f..%2fetc", std::nullopt},  // an encoded '/'
      {"/a%2Fb", std::nullopt},
      {"/a%00.html", std::nullopt},
      {"/a%zz", std::nullopt},      // a malformed escape
      {"/a%2", std::nullopt},
      {"a/b", std::nullopt},
      {"", std::nullopt},
  };
  for (const auto& row : rows) {
    CAPTURE(std::string(row.raw));
    CHECK(clean_path(row.raw) == row.clean);
  }
  CHECK(clean_path(std::string_view("/a\0b", 4)) == std::nullopt);  // a raw NUL
}

TEST_CASE("static paths: expand_try replaces $uri, and a trailing slash asks for a directory") {
  CHECK(expand_try("$uri", "/a/b") == "/a/b");
  CHECK(expand_try("$uri/", "/a/b") == "/a/b/");
  CHECK(expand_try("$uri/", "/a/") == "/a/");
  CHECK(expand_try("$uri/", "/") == "/");
  CHECK(expand_try("/index.html", "/app/route") == "/index.html");
  CHECK(expand_try("$uri.html", "/about") == "/about.html");
  CHECK(expand_try("/cache$uri", "/x") == "/cache/x");
}

TEST_CASE("static paths: content_type_for by extension, octet-stream otherwise") {
  struct Row {
    const char* name;
    const char* type;
  };
  const Row rows[] = {
      {"index.html", "text/html; charset=utf-8"},
      {"a/b/app.JS", "application/javascript; charset=utf-8"},
      {"style.css", "text/css; charset=utf-8"},
      {"data.json", "application/json"},
      {"logo.svg", "image/svg+xml"},
      {"photo.jpeg", "image/jpeg"},
      {"font.woff2", "font/woff2"},
      {"module.wasm", "application/wasm"},
      {"archive.tar.gz", "application/gzip"},
      {"README", "application/octet-stream"},
      {".htaccess", "application/octet-stream"},
      {"dir.d/file", "application/octet-stream"},
      {"x.unknown", "application/octet-stream"},
  };
  for (const auto& row : rows) {
    CAPTURE(std::string(row.name));
    CHECK(content_type_for(row.name) == row.type);
  }
}

TEST_CASE("static paths: file_etag is nginx's quoted mtime-size in hex") {
  CHECK(file_etag(0x5f5e1000, 0x1000) == "\"5f5e1000-1000\"");
  CHECK(file_etag(1700000000, 0) == "\"6553f100-0\"");
}

