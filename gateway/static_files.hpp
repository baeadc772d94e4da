// A `static:` route: files under a root directory, as nginx's `root`,
// `index` and `try_files` serve them. GET and HEAD; the body goes out with
// sendfile (Downstream::write_file); ETag and Last-Modified as nginx makes
// them, 304 for a matching If-None-Match / If-Modified-Since, Range and
// If-Range by the cache's own decisions (cache/policy.hpp), and a `.br` or
// `.gz` sibling for a client that accepts it (`precompressed: true`).
//
// Nothing outside the root is ever opened: the request path is cleaned
// first (gateway/static_paths.hpp: no "..", no encoded '/', no NUL), and
// every file is opened relative to the root's descriptor with openat2(2)
// and RESOLVE_BENEATH, so a symlink leading out of the root fails (403).
// Kernels without openat2 (before 5.6) fall back to realpath(3) and a
// prefix check.
//
// Files up to 64 KiB are kept in memory (`memory:`, gateway/static_memory.hpp)
// and checked against the file with one statx(2) per request; the others
// are opened per request. Runs on the worker that owns the exchange; the
// statx, open and fstat calls block it briefly, as nginx's do.
#pragma once

#include <unistd.h>

#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace gateway {

class Downstream;

namespace static_files {

class Memory;

// The root directory, opened at load (O_PATH); closed with the last
// configuration that names it.
class RootDir {
 public:
  RootDir(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  ~RootDir() {
    if (fd_ >= 0) ::close(fd_);
  }
  RootDir(const RootDir&) = delete;
  RootDir& operator=(const RootDir&) = delete;
  int fd() const { return fd_; }
  const std::string& path() const { return path_; }  // resolved, no symlinks

 private:
  int fd_;
  std::string path_;
};

}  // namespace static_files

// A route's `static:` block.
struct StaticConfig {
  std::string root;  // absolute
  std::shared_ptr<const static_files::RootDir> dir;
  std::vector<std::string> index = {"index.html"};          // names tried in a directory
  std::vector<std::string> try_files = {"$uri", "$uri/"};  // nginx's try_files, without the last =code
  int fallback = 404;                                       // ... which is this
  bool precompressed = false;  // nginx's gzip_static + brotli_static
  std::uint64_t memory = 4 << 20;  // bytes of small files kept in memory; 0: none
  std::shared_ptr<static_files::Memory> kept;  // null when memory is 0
};

namespace static_files {

// `strip`: the route's prefix with `strip_prefix: true` (nginx's alias:
// the file is root + the path after the prefix), else empty.
boost::asio::awaitable<void> serve(Downstream& down, const StaticConfig& config, std::string_view strip);

}  // namespace static_files
}  // namespace gateway
