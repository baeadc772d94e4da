#include "gateway/static_paths.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdio>
#include <utility>

#include "base/http/message.hpp"

namespace gateway::static_files {

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// One segment percent-decoded; nullopt if it holds a malformed escape, an
// encoded '/' or a NUL. ('+' is a '+' in a path, not a space.)
std::optional<std::string> decode_segment(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size()) return std::nullopt;
      int hi = hex_value(in[i + 1]), lo = hex_value(in[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      c = static_cast<char>(hi * 16 + lo);
      i += 2;
      if (c == '/') return std::nullopt;
    }
    if (c == '\0') return std::nullopt;
    out += c;
  }
  return out;
}

}  // namespace

std::optional<std::string> clean_path(std::string_view raw) {
  if (raw.empty() || raw.front() != '/') return std::nullopt;
  std::string out = "/";
  bool directory = false;  // the last segment is empty or ".": a directory
  std::size_t start = 1;
  while (start <= raw.size()) {
    auto end = std::min(raw.find('/', start), raw.size());
    auto segment = decode_segment(raw.substr(start, end - start));
    if (!segment || *segment == "..") return std::nullopt;
    directory = segment->empty() || *segment == ".";
    if (!directory) {
      if (out.size() > 1) out += '/';
      out += *segment;
    }
    start = end + 1;
  }
  if (directory && out.size() > 1) out += '/';
  return out;
}

std::string expand_try(std::string_view entry, std::string_view uri) {
  std::string out;
  constexpr std::string_view kVar = "$uri";
  for (std::size_t i = 0; i < entry.size();) {
    if (entry.substr(i, kVar.size()) == kVar) {
      out += uri;
      i += kVar.size();
    } else {
      out += entry[i++];
    }
  }
  // "$uri/" for "/dir/" would be "/dir//".
  while (out.size() > 1 && out.ends_with("//")) out.pop_back();
  return out;
}

namespace {

// After nginx's conf/mime.types, the common part.
constexpr std::pair<std::string_view, std::string_view> kTypes[] = {
    {"html", "text/html; charset=utf-8"},
    {"htm", "text/html; charset=utf-8"},
    {"css", "text/css; charset=utf-8"},
    {"js", "application/javascript; charset=utf-8"},
    {"mjs", "application/javascript; charset=utf-8"},
    {"json", "application/json"},
    {"map", "application/json"},
    {"txt", "text/plain; charset=utf-8"},
    {"xml", "text/xml; charset=utf-8"},
    {"csv", "text/csv; charset=utf-8"},
    {"md", "text/markdown; charset=utf-8"},
    {"svg", "image/svg+xml"},
    {"png", "image/png"},
    {"jpg", "image/jpeg"},
    {"jpeg", "image/jpeg"},
    {"gif", "image/gif"},
    {"webp", "image/webp"},
    {"avif", "image/avif"},
    {"ico", "image/x-icon"},
    {"bmp", "image/bmp"},
    {"woff", "font/woff"},
    {"woff2", "font/woff2"},
    {"ttf", "font/ttf"},
    {"otf", "font/otf"},
    {"wasm", "application/wasm"},
    {"pdf", "application/pdf"},
    {"zip", "application/zip"},
    {"gz", "application/gzip"},
    {"tar", "application/x-tar"},
    {"mp4", "video/mp4"},
    {"webm", "video/webm"},
    {"mp3", "audio/mpeg"},
    {"ogg", "audio/ogg"},
    {"wav", "audio/wav"},
    {"webmanifest", "application/manifest+json"},
    {"rss", "application/rss+xml"},
    {"atom", "application/atom+xml"},
};

}  // namespace

std::string_view content_type_for(std::string_view name) {
  auto slash = name.rfind('/');
  if (slash != std::string_view::npos) name.remove_prefix(slash + 1);
  auto dot = name.rfind('.');
  if (dot == std::string_view::npos || dot == 0) return "application/octet-stream";
  auto ext = name.substr(dot + 1);
  for (const auto& [e, type] : kTypes)
    if (http::iequals(e, ext)) return type;
  return "application/octet-stream";
}

std::string file_etag(std::time_t mtime, std::uint64_t size) {
  char buf[48];
  int n = std::snprintf(buf, sizeof buf, "\"%llx-%llx\"", static_cast<unsigned long long>(mtime),
                        static_cast<unsigned long long>(size));
  return std::string(buf, static_cast<std::size_t>(n));
}

}  // namespace gateway::static_files
