// A zone's request trace (`trace:`): one trace_format.hpp record per request
// the zone saw, written to a file rotated by size (FILE -> FILE.1 -> ...,
// `files` kept in all, each with its own header and route table).
//
// Cheap enough to leave on: a worker's add() only copies the record into a
// bounded buffer under a mutex (no system call); the writer's own thread
// encodes and writes the buffer in blocks. When the buffer is full (the disk
// cannot keep up) a record is dropped and counted, never waited for.
// Sampling is spatial, by key (trace_keeps), before anything else.
//
// Threads: add(), reopen(), flush() and stats() from any thread; the
// constructor and destructor on one (the destructor writes what is left).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "cache/config.hpp"
#include "cache/trace_format.hpp"

namespace gateway::cache {

// One request as the trace sees it; route is the route's name.
struct TraceEvent {
  std::uint64_t time_us = 0;
  std::uint64_t key = 0;  // hash64 of the cache key
  std::uint32_t size = 0;
  std::uint32_t body = 0;
  std::uint32_t ttl = 0;
  std::string_view route;
  std::uint8_t status = 0;
  std::uint8_t flags = 0;
};

// Bytes an entry with `head_bytes` of stored metadata (file header, key,
// head...) and `body` bytes of body is charged on disk: 4 KiB blocks.
constexpr std::uint64_t trace_charge(std::uint64_t head_bytes, std::uint64_t body) noexcept {
  constexpr std::uint64_t kBlock = 4096;
  return (head_bytes + body + kBlock - 1) / kBlock * kBlock;
}

// A u32 field of the trace, saturated.
constexpr std::uint32_t trace_u32(std::uint64_t v) noexcept {
  return v > 0xFFFFFFFFull ? 0xFFFFFFFFu : static_cast<std::uint32_t>(v);
}

// A freshness lifetime in seconds as the trace's ttl (none below 0).
constexpr std::uint32_t trace_ttl(std::int64_t lifetime) noexcept {
  return lifetime <= 0 ? 0 : trace_u32(static_cast<std::uint64_t>(lifetime));
}

struct TraceStats {
  std::atomic<std::uint64_t> records{0};    // request records written
  std::atomic<std::uint64_t> dropped{0};    // buffer full or write failed
  std::atomic<std::uint64_t> bytes{0};      // written, headers and route names included
  std::atomic<std::uint64_t> rotations{0};  // files started after the first
};

class TraceWriter {
 public:
  // Opens config.path (an existing non-empty file is rotated away first)
  // and starts the writer thread. `flush_every`: how long a record may wait
  // in the buffer when fewer than a block are pending.
  explicit TraceWriter(TraceConfig config, std::chrono::milliseconds flush_every = std::chrono::milliseconds(1000));
  ~TraceWriter();
  TraceWriter(const TraceWriter&) = delete;
  TraceWriter& operator=(const TraceWriter&) = delete;

  // Buffers the record if its key is sampled; drops it if the buffer is full.
  void add(const TraceEvent& e);
  // Until everything added before the call is written (tests, shutdown).
  void flush();
  // SIGUSR1: if FILE was moved away, the next write starts a new FILE.
  void reopen();
  // Stops taking records and writes what is buffered (a reload replaced it).
  void close();

  const TraceConfig& config() const noexcept { return config_; }
  const TraceStats& stats() const noexcept { return stats_; }
  // The last open or write error, empty if none.
  std::string error() const;

 private:
  struct Pending {
    TraceRecord record;  // route: index into names_
  };
  void run();
  void write_batch(std::vector<Pending>& batch, std::size_t names_known);
  void open_file(bool rotate_existing);
  void rotate();
  bool write_all(std::string_view bytes);
  void check_reopen();
  void fail(const std::string& what);

  const TraceConfig config_;
  const std::chrono::milliseconds flush_every_;
  TraceStats stats_;

  mutable std::mutex mu_;  // guards everything below up to the writer thread's state
  std::condition_variable wake_;
  std::condition_variable written_;
  std::vector<Pending> pending_;
  std::vector<std::string> names_;  // route names, by global index
  bool stop_ = false;
  bool reopen_ = false;
  std::uint64_t flush_asked_ = 0;  // generations: flush() waits for written_gen_ >= its ask
  std::uint64_t written_gen_ = 0;
  std::string error_;

  // The writer thread's own state.
  int fd_ = -1;
  std::uint64_t file_bytes_ = 0;
  std::vector<int> file_route_;      // global route index -> this file's index, -1 if not yet named
  std::uint16_t next_file_route_ = 0;
  std::vector<std::string> known_names_;
  std::thread thread_;
};

}  // namespace gateway::cache
