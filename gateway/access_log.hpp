// The access log: one line per response, in nginx's "combined" format
// followed by key=value fields naming the route, upstream, instance, upstream
// response time and cache status.
//
// Each worker appends to its own buffer, flushed when it fills or on the
// worker's tick (100 ms), so logging costs no syscall per request. The sink
// (a file descriptor) is shared; flushes take its mutex so batches from
// different workers never interleave.
#pragma once

#include <chrono>
#include <ctime>
#include <memory>
#include <mutex>
#include <string>

#include "gateway/exchange.hpp"

namespace gateway {

class AccessLogSink {
 public:
  // "stdout", "off" (null sink) or a file path opened for appending.
  // Returns null and sets error on failure.
  static std::shared_ptr<AccessLogSink> open(const std::string& target, std::string& error);
  ~AccessLogSink();
  bool enabled() const noexcept { return fd_ >= 0; }
  void write(const std::string& data);

 private:
  explicit AccessLogSink(int fd, bool owned) : fd_(fd), owned_(owned) {}
  int fd_;
  bool owned_;
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
  const std::string& timestamp();
  std::shared_ptr<AccessLogSink> sink_;
  std::string buf_;
  std::string stamp_;
  std::time_t stamp_second_ = 0;
};

}  // namespace gateway
