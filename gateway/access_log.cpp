#include "gateway/access_log.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace gateway {

namespace {
constexpr std::size_t kFlushAt = 32 * 1024;

void append_quoted(std::string& out, std::string_view v) {
  out.push_back('"');
  if (v.empty()) out.push_back('-');
  for (char c : v) {
    if (c == '"' || c == '\\') out.push_back('\\');
    if (static_cast<unsigned char>(c) < 0x20) {
      char esc[5];
      std::snprintf(esc, sizeof esc, "\\x%02X", static_cast<unsigned char>(c));
      out.append(esc);
      continue;
    }
    out.push_back(c);
  }
  out.push_back('"');
}

void append_seconds(std::string& out, std::chrono::microseconds us) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", static_cast<double>(us.count()) / 1e6);
  out.append(buf);
}
}  // namespace

std::shared_ptr<AccessLogSink> AccessLogSink::open(const std::string& target, std::string& error) {
  if (target == "off") return std::shared_ptr<AccessLogSink>(new AccessLogSink(-1, false));
  if (target == "stdout") return std::shared_ptr<AccessLogSink>(new AccessLogSink(STDOUT_FILENO, false));
  int fd = ::open(target.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    error = "cannot open access log " + target + ": " + std::strerror(errno);
    return nullptr;
  }
  return std::shared_ptr<AccessLogSink>(new AccessLogSink(fd, true));
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

void AccessLog::set_sink(std::shared_ptr<AccessLogSink> sink) {
  flush();
  sink_ = std::move(sink);
}

const std::string& AccessLog::timestamp() {
  std::time_t now = std::time(nullptr);
  if (now != stamp_second_) {
    stamp_second_ = now;
    std::tm tm{};
    gmtime_r(&now, &tm);
    char buf[40];
    std::strftime(buf, sizeof buf, "[%d/%b/%Y:%H:%M:%S +0000]", &tm);
    stamp_ = buf;
  }
  return stamp_;
}

void AccessLog::record(std::string_view peer, const http::Request& req, int status, std::uint64_t body_bytes,
                       const RequestInfo& info, std::chrono::microseconds elapsed) {
  if (!enabled()) return;
  auto& b = buf_;
  b.append(info.client.empty() ? peer : std::string_view(info.client)).append(" - - ").append(timestamp()).push_back(' ');
  b.push_back('"');
  b.append(req.method).push_back(' ');
  b.append(req.target).push_back(' ');
  b.append(!info.protocol.empty() ? info.protocol : req.version_minor == 0 ? "HTTP/1.0" : "HTTP/1.1").append("\" ");
  b.append(std::to_string(status)).push_back(' ');
  b.append(std::to_string(body_bytes)).push_back(' ');
  append_quoted(b, req.headers.get("Referer").value_or(""));
  b.push_back(' ');
  append_quoted(b, req.headers.get("User-Agent").value_or(""));
  b.append(" rt=");
  append_seconds(b, elapsed);
  b.append(" route=").append(info.route.empty() ? "-" : info.route);
  b.append(" upstream=").append(info.upstream.empty() ? "-" : info.upstream);
  b.append(" instance=").append(info.instance.empty() ? "-" : info.instance);
  b.append(" urt=");
  if (info.upstream_time.count() >= 0) append_seconds(b, info.upstream_time);
  else b.push_back('-');
  b.append(" tries=").append(std::to_string(info.tries));
  b.append(" cache=").append(info.cache);
  b.append(" tls=").append(info.tls.empty() ? "-" : info.tls);
  // A tunnel (status 101): the bytes field is what the client was sent;
  // these say what it sent and why the tunnel ended.
  if (!info.queue.empty()) b.append(" queue=").append(info.queue);
  if (info.tunnel_from_client >= 0)
    b.append(" tunnel_in=").append(std::to_string(info.tunnel_from_client)).append(" tunnel_end=").append(info.tunnel_end);
  b.push_back('\n');
  if (b.size() >= kFlushAt) flush();
}

void AccessLog::flush() {
  if (buf_.empty()) return;
  if (sink_) sink_->write(buf_);
  buf_.clear();
}

}  // namespace gateway
