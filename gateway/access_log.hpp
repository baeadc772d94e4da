// The access log: one line per response, in nginx's "combined" format
// followed by key=value fields naming the route, upstream, instance, upstream
// response time and cache status, or as one JSON object
// (gateway/access_log_format.hpp writes the lines).
//
// Each worker appends to its own buffer, flushed when it fills or on the
// worker's tick (100 ms), so logging costs no syscall per request. The sink
// (a file descriptor) is shared; flushes take its mutex so batches from
// different workers never interleave.
//
// SIGUSR1 reopens a file sink (logrotate's postrotate, as nginx -s reopen):
// the path is opened again and the new descriptor takes the old one's number
// (dup2) under the sink's mutex, so a batch goes wholly to the old file or
// wholly to the new one and none is lost.
#pragma once

#include <chrono>
#include <ctime>
#include <memory>
#include <mutex>
#include <string>

#include "gateway/config.hpp"
#include "gateway/exchange.hpp"

namespace gateway {

class AccessLogSink {
 public:
  // "stdout", "off" (null sink) or a file path opened for appending; lines
  // in `format`. Returns null and sets error on failure.
  static std::shared_ptr<AccessLogSink> open(const std::string& target, AccessLogFormat format,
                                             std::string& error);
  ~AccessLogSink();
  bool enabled() const noexcept { return fd_ >= 0; }
  AccessLogFormat format() const noexcept { return format_; }
  void write(const std::string& data);
  // A file sink opens its path again (after logrotate renamed it) and writes
  // there from now on; stdout and off do nothing. False with `error` set if
  // the path cannot be opened: the sink keeps writing where it did.
  bool reopen(std::string& error);

 private:
  AccessLogSink(int fd, bool owned, std::string path, AccessLogFormat format)
      : fd_(fd), owned_(owned), path_(std::move(path)), format_(format) {}
  int fd_;
  bool owned_;
  std::string path_;  // a file sink's; empty for stdout and off
  AccessLogFormat format_;
  std::mutex mu_;
};

class AccessLog {
 public:
  void set_sink(std::shared_ptr<AccessLogSink> sink);
  bool enabled() const noexcept { return sink_ && sink_->enabled(); }
  void record(std::string_view peer, const http::Request& req, int status, std::uint64_t body_bytes,
              const RequestInfo& info, std::chrono::microseconds elapsed);
  void flush();

 private:
  const std::string& timestamp(std::time_t now);
  std::shared_ptr<AccessLogSink> sink_;
  AccessLogFormat format_ = AccessLogFormat::combined;
  std::string buf_;
  std::string stamp_;
  std::time_t stamp_second_ = 0;
};

}  // namespace gateway
