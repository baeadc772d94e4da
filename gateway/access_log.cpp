#include "gateway/access_log.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "gateway/access_log_format.hpp"

namespace gateway {

namespace {
constexpr std::size_t kFlushAt = 32 * 1024;

int open_for_append(const std::string& path, std::string& error) {
  int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) error = "cannot open access log " + path + ": " + std::strerror(errno);
  return fd;
}
}  // namespace

std::shared_ptr<AccessLogSink> AccessLogSink::open(const std::string& target, AccessLogFormat format,
                                                   std::string& error) {
  if (target == "off") return std::shared_ptr<AccessLogSink>(new AccessLogSink(-1, false, "", format));
  if (target == "stdout") return std::shared_ptr<AccessLogSink>(new AccessLogSink(STDOUT_FILENO, false, "", format));
  int fd = open_for_append(target, error);
  if (fd < 0) return nullptr;
  return std::shared_ptr<AccessLogSink>(new AccessLogSink(fd, true, target, format));
}

AccessLogSink::~AccessLogSink() {
  if (owned_ && fd_ >= 0) ::close(fd_);
}

void AccessLogSink::write(const std::string& data) {
  if (fd_ < 0) return;
  std::lock_guard lock(mu_);
  const char* p = data.data();
  std::size_t left = data.size();
  while (left > 0) {
    ssize_t n = ::write(fd_, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // a full disk or closed pipe must not stop serving
    p += n;
    left -= static_cast<std::size_t>(n);
  }
}

bool AccessLogSink::reopen(std::string& error) {
  if (path_.empty()) return true;
  int fd = open_for_append(path_, error);
  if (fd < 0) return false;
  std::lock_guard lock(mu_);
  // fd_ keeps its number, so no writer ever sees a closed descriptor.
  int rc = ::dup3(fd, fd_, O_CLOEXEC);
  int saved = errno;
  ::close(fd);
  if (rc < 0) {
    error = "cannot reopen access log " + path_ + ": " + std::strerror(saved);
    return false;
  }
  return true;
}

void AccessLog::set_sink(std::shared_ptr<AccessLogSink> sink) {
  flush();
  sink_ = std::move(sink);
  if (sink_ && sink_->format() != format_) {
    format_ = sink_->format();
    stamp_second_ = 0;  // the time field changes form
  }
}

const std::string& AccessLog::timestamp(std::time_t now) {
  if (now != stamp_second_) {
    stamp_second_ = now;
    stamp_ = access_log_time(format_, now);
  }
  return stamp_;
}

void AccessLog::record(std::string_view peer, const http::Request& req, int status, std::uint64_t body_bytes,
                       const RequestInfo& info, std::chrono::microseconds elapsed) {
  if (!enabled()) return;
  AccessRecord r;
  r.client = info.client.empty() ? peer : std::string_view(info.client);
  r.time = std::time(nullptr);
  r.method = req.method;
  r.target = req.target;
  r.protocol = !info.protocol.empty() ? info.protocol : req.version_minor == 0 ? "HTTP/1.0" : "HTTP/1.1";
  r.status = status;
  r.body_bytes = body_bytes;
  auto referer = req.headers.get("Referer");
  auto user_agent = req.headers.get("User-Agent");
  r.referer = referer.value_or("");
  r.user_agent = user_agent.value_or("");
  r.elapsed = elapsed;
  r.info = &info;
  format_access_line(buf_, format_, r, timestamp(r.time));
  if (buf_.size() >= kFlushAt) flush();
}

void AccessLog::flush() {
  if (buf_.empty()) return;
  if (sink_) sink_->write(buf_);
  buf_.clear();
}

}  // namespace gateway
