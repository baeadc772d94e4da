// A zone's request trace (see trace.hpp): workers fill a bounded buffer, the
// writer thread encodes it in blocks and rotates the file by size.
#include "cache/trace.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <utility>

#include "base/log.hpp"

namespace gateway::cache {

namespace {

// Records that wake the writer thread before its flush interval.
constexpr std::size_t kBlockRecords = 1024;

std::uint64_t wall_us() {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch()).count());
}

std::string numbered(const std::string& path, unsigned n) { return n == 0 ? path : path + "." + std::to_string(n); }

}  // namespace

TraceWriter::TraceWriter(TraceConfig config, std::chrono::milliseconds flush_every)
    : config_(std::move(config)), flush_every_(flush_every) {
  pending_.reserve(std::min<std::size_t>(config_.buffer_records, kBlockRecords * 4));
  open_file(true);
  thread_ = std::thread([this] { run(); });
}

TraceWriter::~TraceWriter() {
  close();
  if (fd_ >= 0) ::close(fd_);
}

void TraceWriter::close() {
  {
    std::lock_guard lock(mu_);
    if (stop_) return;
    stop_ = true;
  }
  wake_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void TraceWriter::add(const TraceEvent& e) {
  if (!trace_keeps(e.key, config_.sample)) return;
  std::lock_guard lock(mu_);
  if (stop_) return;
  if (pending_.size() >= config_.buffer_records) {
    stats_.dropped.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  std::size_t route = names_.size();
  for (std::size_t i = 0; i < names_.size(); ++i) {
    if (names_[i] == e.route) {
      route = i;
      break;
    }
  }
  if (route == names_.size()) names_.emplace_back(e.route);
  pending_.push_back({TraceRecord{.time_us = e.time_us, .key = e.key, .size = e.size, .body = e.body, .ttl = e.ttl,
                                  .route = static_cast<std::uint16_t>(std::min<std::size_t>(route, 0xFFFF)),
                                  .status = e.status, .flags = e.flags}});
  if (pending_.size() == kBlockRecords) wake_.notify_one();
}

void TraceWriter::flush() {
  std::unique_lock lock(mu_);
  if (stop_) return;  // close() wrote everything
  const auto ask = ++flush_asked_;
  wake_.notify_one();
  written_.wait(lock, [&] { return written_gen_ >= ask; });
}

void TraceWriter::reopen() {
  {
    std::lock_guard lock(mu_);
    reopen_ = true;
  }
  wake_.notify_one();
}

std::string TraceWriter::error() const {
  std::lock_guard lock(mu_);
  return error_;
}

void TraceWriter::run() {
  std::vector<Pending> batch;
  batch.reserve(pending_.capacity());
  std::unique_lock lock(mu_);
  for (;;) {
    wake_.wait_for(lock, flush_every_, [&] {
      return stop_ || reopen_ || flush_asked_ > written_gen_ || pending_.size() >= kBlockRecords;
    });
    batch.swap(pending_);
    const bool reopen = std::exchange(reopen_, false);
    const bool stopping = stop_;
    const auto ask = flush_asked_;
    for (std::size_t i = known_names_.size(); i < names_.size(); ++i) known_names_.push_back(names_[i]);
    lock.unlock();
    if (reopen) check_reopen();
    if (!batch.empty()) write_batch(batch, known_names_.size());
    batch.clear();
    lock.lock();
    written_gen_ = ask;
    written_.notify_all();
    if (stopping) {
      written_gen_ = ~std::uint64_t{0};
      written_.notify_all();
      return;
    }
  }
}

void TraceWriter::write_batch(std::vector<Pending>& batch, std::size_t names_known) {
  if (fd_ < 0) open_file(true);  // an earlier failure: try again
  if (fd_ < 0) {
    stats_.dropped.fetch_add(batch.size(), std::memory_order_relaxed);
    return;
  }
  if (file_route_.size() < names_known) file_route_.resize(names_known, -1);
  std::string out;
  out.reserve(batch.size() * kTraceRecordSize + 256);
  std::uint64_t records = 0;
  auto write_out = [&] {
    if (write_all(out)) stats_.records.fetch_add(records, std::memory_order_relaxed);
    else stats_.dropped.fetch_add(records, std::memory_order_relaxed);
    out.clear();
    records = 0;
  };
  std::array<unsigned char, kTraceRecordSize> rec{};
  for (auto& p : batch) {
    const std::string& name = known_names_[p.record.route];
    auto need = [&] {
      return kTraceRecordSize + (file_route_[p.record.route] < 0 ? kTraceRecordSize + trace_name_padded(name.size()) : 0);
    };
    // Rotate before a record would take the file past max_size (a file
    // holds at least one record, whatever max_size says).
    if (file_bytes_ + out.size() + need() > config_.max_size && file_bytes_ + out.size() > kTraceRecordSize) {
      write_out();
      rotate();
      if (fd_ < 0) {
        stats_.dropped.fetch_add(1, std::memory_order_relaxed);
        continue;
      }
    }
    if (file_route_[p.record.route] < 0) {
      const auto index = next_file_route_++;
      file_route_[p.record.route] = index;
      append_route_name(out, index, name, p.record.time_us);
    }
    TraceRecord r = p.record;
    r.route = static_cast<std::uint16_t>(file_route_[p.record.route]);
    encode(r, rec.data());
    out.append(reinterpret_cast<const char*>(rec.data()), rec.size());
    ++records;
  }
  write_out();
}

bool TraceWriter::write_all(std::string_view bytes) {
  if (fd_ < 0) return false;
  while (!bytes.empty()) {
    ssize_t n = ::write(fd_, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      fail("cannot write trace " + config_.path + ": " + std::strerror(errno));
      return false;
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
    file_bytes_ += static_cast<std::uint64_t>(n);
    stats_.bytes.fetch_add(static_cast<std::uint64_t>(n), std::memory_order_relaxed);
  }
  return true;
}

// FILE -> FILE.1 -> ... -> FILE.(files-1); the oldest is replaced.
void TraceWriter::rotate() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  stats_.rotations.fetch_add(1, std::memory_order_relaxed);
  open_file(true);
}

void TraceWriter::open_file(bool rotate_existing) {
  struct stat st{};
  if (rotate_existing && ::stat(config_.path.c_str(), &st) == 0 && st.st_size > 0) {
    for (unsigned i = config_.files - 1; i >= 1; --i) ::rename(numbered(config_.path, i - 1).c_str(), numbered(config_.path, i).c_str());
  }
  // The directory is made as a zone's is: a trace under var/ needs no set-up.
  std::error_code ignored;
  std::filesystem::create_directories(std::filesystem::path(config_.path).parent_path(), ignored);
  fd_ = ::open(config_.path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) {
    fail("cannot open trace " + config_.path + ": " + std::strerror(errno));
    return;
  }
  file_bytes_ = 0;
  file_route_.assign(file_route_.size(), -1);
  next_file_route_ = 0;
  std::array<unsigned char, kTraceRecordSize> header{};
  encode(TraceHeader{.sample = config_.sample, .start_us = wall_us()}, header.data());
  write_all(std::string_view(reinterpret_cast<const char*>(header.data()), header.size()));
}

// SIGUSR1: a FILE moved away (or removed) is started anew.
void TraceWriter::check_reopen() {
  struct stat at_path{}, open{};
  if (fd_ >= 0 && ::stat(config_.path.c_str(), &at_path) == 0 && ::fstat(fd_, &open) == 0 &&
      at_path.st_ino == open.st_ino && at_path.st_dev == open.st_dev)
    return;
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  open_file(true);
}

void TraceWriter::fail(const std::string& what) {
  {
    std::lock_guard lock(mu_);
    if (error_ == what) return;
    error_ = what;
  }
  log::warn(what);
}

}  // namespace gateway::cache
