// A `static:` route: see static_files.hpp.
#include "gateway/static_files.hpp"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <ctime>
#include <span>

#include "base/http/serializer.hpp"
#include "cache/policy.hpp"
#include "gateway/cache_ranges.hpp"
#include "gateway/compress_rules.hpp"
#include "gateway/exchange.hpp"
#include "gateway/static_memory.hpp"
#include "gateway/static_paths.hpp"

namespace gateway::static_files {

namespace asio = boost::asio;

namespace {

// A descriptor closed when the request is done with it.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  Fd& operator=(Fd&& o) noexcept {
    std::swap(fd_, o.fd_);
    return *this;
  }
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_ = -1;
};

// Before Linux 5.6: realpath and a prefix check (racy against a symlink
// swapped in between, which openat2 is not).
int open_checked(const RootDir& root, const std::string& rel) {
  std::string full = root.path() + "/" + rel;
  char resolved[PATH_MAX];
  if (!::realpath(full.c_str(), resolved)) return -errno;
  std::string_view r(resolved);
  if (r != root.path() && !(r.starts_with(root.path()) && r[root.path().size()] == '/')) return -EXDEV;
  int fd = ::open(resolved, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  return fd >= 0 ? fd : -errno;
}

// `rel` (relative, "" for the root itself) opened beneath the root: the
// descriptor, or -errno; -EXDEV or -ELOOP when it would leave the root.
// O_NONBLOCK: a FIFO in the root must not block the worker.
int open_beneath(const RootDir& root, const std::string& rel) {
  static std::atomic<bool> no_openat2{false};  // all workers learn the same
  if (!no_openat2.load(std::memory_order_relaxed)) {
    open_how how{};
    how.flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
    long fd = ::syscall(SYS_openat2, root.fd(), rel.empty() ? "." : rel.c_str(), &how, sizeof how);
    if (fd >= 0) return static_cast<int>(fd);
    if (errno != ENOSYS) return -errno;
    no_openat2.store(true, std::memory_order_relaxed);
  }
  return open_checked(root, rel);
}

// What a request path led to. A file is either kept in memory or open.
struct Found {
  enum class Kind { none, file, redirect, forbidden } kind = Kind::none;
  std::shared_ptr<const KeptFile> kept;
  Fd fd;
  struct stat st {};
  std::string name;  // the file, relative to the root: its type, its siblings

  std::uint64_t size() const { return kept ? kept->version.size : static_cast<std::uint64_t>(st.st_size); }
  std::time_t mtime() const { return kept ? kept->version.mtime_ns / 1'000'000'000 : st.st_mtim.tv_sec; }
};

// The open file `fd` read whole into a copy to keep, if it is keepable and
// reads as long as fstat said; else null (the file changes: serve it open).
std::shared_ptr<const KeptFile> read_to_keep(const Memory& memory, int fd, const struct stat& st) {
  const FileVersion version = version_of(st);
  if (!keepable(version, memory.budget(), wall_clock_ns())) return nullptr;
  auto file = std::make_shared<KeptFile>();
  file->version = version;
  file->bytes.resize(version.size);
  std::size_t got = 0;
  while (got < version.size) {
    ssize_t n = ::pread(fd, file->bytes.data() + got, version.size - got, static_cast<off_t>(got));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return nullptr;
    got += static_cast<std::size_t>(n);
  }
  file->etag = file_etag(st.st_mtim.tv_sec, version.size);
  file->last_modified = http::format_http_date(st.st_mtim.tv_sec);
  return file;
}

// Whether the file at `rel` is still the version kept (one statx; it
// follows symlinks, but a version is one inode, which open_beneath found
// beneath the root when it was kept).
bool current(const RootDir& root, const std::string& rel, const KeptFile& kept) {
  struct statx stx {};
  return ::statx(root.fd(), rel.c_str(), AT_STATX_SYNC_AS_STAT, STATX_BASIC_STATS, &stx) == 0 &&
         S_ISREG(stx.stx_mode) && version_of(stx) == kept.version;
}

// 0 and the file in `out` if `rel` is a regular file; else -errno (-EISDIR
// for anything but a regular file). A copy in memory of the file's current
// version costs one statx; otherwise (or on an error: the open decides what
// it means) the file is opened, and a copy kept when it may be.
int open_file(const StaticConfig& config, const std::string& rel, Found& out) {
  const RootDir& root = *config.dir;
  auto kept = config.kept && !rel.empty() ? config.kept->find(rel) : nullptr;
  if (kept && current(root, rel, *kept)) {
    out.kept = std::move(kept);
  } else {
    if (kept) config.kept->forget(rel);
    Fd fd(open_beneath(root, rel));
    if (fd.get() < 0) return fd.get();
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) return -errno;
    if (!S_ISREG(st.st_mode)) return -EISDIR;
    out.kept = config.kept ? read_to_keep(*config.kept, fd.get(), st) : nullptr;
    if (out.kept) config.kept->keep(rel, out.kept);
    out.fd = std::move(fd);
    out.st = st;
  }
  out.name = rel;
  out.kind = Found::Kind::file;
  return 0;
}

// A name that leads out of the root (a symlink: EXDEV, ELOOP) or that the
// gateway may not read: 403, as nginx's disable_symlinks and permissions.
bool forbidden(int error) { return error == -EXDEV || error == -ELOOP || error == -EACCES; }

// One directory entry of try_files ("$uri/", "/docs/"): its index, a 301 to
// add the '/' the request lacks, or 403 (a directory without an index,
// nginx's answer with autoindex off). False if it is no directory.
bool try_directory(const StaticConfig& config, const std::string& rel, std::string_view uri, Found& out) {
  const auto& root = *config.dir;
  Fd fd(open_beneath(root, rel));
  if (forbidden(fd.get())) {
    out.kind = Found::Kind::forbidden;
    return true;
  }
  struct stat st {};
  if (fd.get() < 0 || ::fstat(fd.get(), &st) != 0 || !S_ISDIR(st.st_mode)) return false;
  if (uri.back() != '/' && uri.substr(1) == rel) {
    out.kind = Found::Kind::redirect;
    return true;
  }
  for (const auto& index : config.index)
    if (open_file(config, rel.empty() ? index : rel + "/" + index, out) == 0) return true;
  out.kind = Found::Kind::forbidden;
  return true;
}

// nginx's try_files: the first entry that exists, in order.
Found lookup(const StaticConfig& config, const std::string& uri) {
  Found out;
  for (const auto& entry : config.try_files) {
    const std::string target = expand_try(entry, uri);
    const bool directory = target.back() == '/';
    std::string rel = target.substr(1);
    if (directory && !rel.empty()) rel.pop_back();
    if (directory) {
      if (try_directory(config, rel, uri, out)) return out;
      continue;
    }
    const int error = open_file(config, rel, out);
    if (error == 0) return out;
    if (forbidden(error)) {
      out.kind = Found::Kind::forbidden;
      return out;
    }
  }
  return out;
}

// A sibling `name.br` or `name.gz` the client accepts, in place of the file.
std::string_view use_precompressed(const StaticConfig& config, const http::Request& req, Found& found) {
  auto accept = req.headers.get("Accept-Encoding");
  if (!config.precompressed || !accept) return {};
  for (auto coding : compress::preference(accept)) {
    if (coding == compress::Coding::identity) break;
    const std::string_view suffix = coding == compress::Coding::br ? ".br" : ".gz";
    Found sibling;
    if (open_file(config, found.name + std::string(suffix), sibling) != 0) continue;
    found.kept = std::move(sibling.kept);
    found.fd = std::move(sibling.fd);
    found.st = sibling.st;
    return compress::coding_name(coding);
  }
  return {};
}

// Bytes [offset, offset + n) of the file, from memory or with sendfile.
// (Not a coroutine: the downstream's own operation, no frame of its own.)
asio::awaitable<boost::system::error_code> write_part(Downstream& down, const Found& found, std::uint64_t offset,
                                                      std::uint64_t n, bool last) {
  if (found.kept) return down.write_body(std::span<const char>(found.kept->bytes).subspan(offset, n), last);
  return down.write_file(found.fd.get(), offset, n, last);
}

asio::awaitable<void> send_file(Downstream& down, const StaticConfig& config, Found found) {
  const auto& req = down.request();
  const auto type = content_type_for(found.name);
  const auto coding = use_precompressed(config, req, found);
  const KeptFile* kept = found.kept.get();
  const auto size = found.size();
  const std::time_t mtime = found.mtime();
  http::Response resp;
  resp.headers.add("Server", "gateway");
  resp.headers.add("Content-Type", type);
  resp.headers.add("Last-Modified", kept ? kept->last_modified : http::format_http_date(mtime));
  const std::string etag = kept ? kept->etag : file_etag(mtime, size);
  resp.headers.add("ETag", etag);
  resp.headers.add("Accept-Ranges", "bytes");
  if (config.precompressed) resp.headers.add("Vary", "Accept-Encoding");
  if (!coding.empty()) resp.headers.add("Content-Encoding", coding);
  if (cache::client_not_modified(req, cache::Validators{etag, mtime})) {
    resp.status = 304;
    down.write_head(resp);
    co_await down.finish();
    co_return;
  }
  if (cache::range_requested(req)) {
    // If-Range by date needs a Date a second past Last-Modified (RFC 9110 8.8.2.2).
    http::HeaderMap fields = resp.headers;
    fields.add("Date", http::format_http_date(std::time(nullptr)));
    const auto plan = cache::range_plan(req, 200, fields, size);
    if (plan.kind != cache::RangePlan::Kind::full) {
      co_await cache_proxy::write_range_plan(
          down, std::move(resp), plan, size, {}, [&](cache::ByteRange r, bool last) -> asio::awaitable<bool> {
            co_return static_cast<bool>(co_await write_part(down, found, r.first, r.size(), last));
          });
      co_return;
    }
  }
  resp.content_length = size;
  down.write_head(resp);
  co_await write_part(down, found, 0, size, true);
}

std::string status_text(int status) {
  return std::to_string(status) + " " + std::string(http::reason_phrase(status)) + "\n";
}

asio::awaitable<void> refuse_method(Downstream& down) {
  http::HeaderMap fields;
  fields.add("Allow", "GET, HEAD");
  co_await respond(down, 405, status_text(405), std::move(fields));
}

// 301 to the directory's URL with its '/' (and the query kept).
asio::awaitable<void> redirect_to_directory(Downstream& down) {
  const auto& req = down.request();
  std::string location = std::string(req.path()) + "/";
  if (!req.query().empty()) location.append("?").append(req.query());
  co_await redirect(down, 301, location);
}

}  // namespace

asio::awaitable<void> serve(Downstream& down, const StaticConfig& config, std::string_view strip) {
  const auto& req = down.request();
  if (req.method != "GET" && req.method != "HEAD") co_return co_await refuse_method(down);
  std::string_view path = req.path();
  std::string rooted;  // the path after the prefix, with its '/'
  if (!strip.empty() && path.starts_with(strip)) {
    path.remove_prefix(strip.size());
    // "/assets" for prefix "/assets": the directory without its '/'.
    if (path.empty()) co_return co_await redirect_to_directory(down);
    if (path.front() != '/') path = rooted = "/" + std::string(path);
  }
  const auto uri = clean_path(path);
  if (!uri) {
    co_await respond(down, 400, status_text(400));
    co_return;
  }
  Found found = lookup(config, *uri);
  switch (found.kind) {
    case Found::Kind::file: co_await send_file(down, config, std::move(found)); break;
    case Found::Kind::redirect: co_await redirect_to_directory(down); break;
    case Found::Kind::forbidden: co_await respond(down, 403, status_text(403)); break;
    case Found::Kind::none: co_await respond(down, config.fallback, status_text(config.fallback)); break;
  }
}

}  // namespace gateway::static_files
