// Tests for cache/trace.hpp: the zone's trace writer encodes trace_format.hpp
// records with route-name records before each route's first use in a file,
// rotates by size (each file with its own header and route table), samples
// by key, and drops (and counts) what does not fit its buffer.
#include "cache/trace.hpp"

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include "base/hash.hpp"
#include "cache/policy.hpp"
#include "temp_dir.hpp"

using namespace gateway;
using namespace gateway::cache;
using gateway::cache::testing::TempDir;

namespace {

// A trace file read back: its header, its route names and its records.
struct ReadTrace {
  TraceHeader header;
  std::map<std::uint16_t, std::string> routes;
  std::vector<TraceRecord> records;
  std::vector<std::string> record_routes;  // each record's route name
};

ReadTrace read_trace(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  REQUIRE(bytes.size() >= kTraceRecordSize);
  REQUIRE(bytes.size() % kTraceRecordSize == 0);
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  ReadTrace t;
  auto h = decode_header(p);
  REQUIRE(h);
  t.header = *h;
  for (std::size_t at = kTraceRecordSize; at < bytes.size(); at += kTraceRecordSize) {
    auto r = decode_record(p + at);
    if (r.status == kTraceRouteName) {
      CHECK(t.routes.count(r.route) == 0);
      t.routes[r.route] = bytes.substr(at + kTraceRecordSize, r.size);
      at += trace_name_padded(r.size);
      continue;
    }
    REQUIRE(t.routes.count(r.route) == 1);  // named before its first use
    t.records.push_back(r);
    t.record_routes.push_back(t.routes[r.route]);
  }
  return t;
}

TraceEvent event(std::uint64_t n, std::string_view route, CacheStatus status = CacheStatus::miss) {
  return TraceEvent{.time_us = 1'000'000 + n, .key = hash64("key" + std::to_string(n)), .size = 4096,
                    .body = static_cast<std::uint32_t>(100 + n), .ttl = 60, .route = route,
                    .status = static_cast<std::uint8_t>(status), .flags = kTraceStorable | kTraceStored};
}

TraceConfig config_in(const TempDir& dir) {
  TraceConfig c;
  c.path = dir.path() + "/trace.bin";
  return c;
}

}  // namespace

TEST_CASE("trace writer: records in order, each route named once before its first use") {
  TempDir dir;
  TraceWriter w(config_in(dir));
  w.add(event(1, "api"));
  w.add(event(2, "static", CacheStatus::hit));
  w.add(event(3, "api", CacheStatus::expired));
  w.flush();
  auto t = read_trace(dir.path() + "/trace.bin");
  CHECK(t.header.sample == kTraceSampleAll);
  CHECK(t.header.start_us > 0);
  REQUIRE(t.records.size() == 3);
  CHECK(t.routes.size() == 2);
  CHECK(t.routes[0] == "api");
  CHECK(t.routes[1] == "static");
  CHECK(t.record_routes == std::vector<std::string>{"api", "static", "api"});
  CHECK(t.records[0].time_us == 1'000'001);
  CHECK(t.records[0].key == hash64("key1"));
  CHECK(t.records[1].status == static_cast<std::uint8_t>(CacheStatus::hit));
  CHECK(t.records[2].status == static_cast<std::uint8_t>(CacheStatus::expired));
  CHECK(t.records[2].body == 103);
  CHECK(t.records[2].ttl == 60);
  CHECK(t.records[2].flags == (kTraceStorable | kTraceStored));
  CHECK(w.stats().records.load() == 3);
  CHECK(w.stats().dropped.load() == 0);
}

TEST_CASE("trace writer: rotation by size keeps `files` files, each with its own header and route table") {
  TempDir dir;
  auto c = config_in(dir);
  // The header, one route name ("r" padded to 32) and 6 records.
  c.max_size = 32 + 64 + 6 * 32;
  c.files = 3;
  TraceWriter w(c);
  for (std::uint64_t i = 0; i < 20; ++i) w.add(event(i, "r"));
  w.flush();
  namespace fs = std::filesystem;
  CHECK(fs::exists(c.path));
  CHECK(fs::exists(c.path + ".1"));
  CHECK(fs::exists(c.path + ".2"));
  CHECK_FALSE(fs::exists(c.path + ".3"));  // files: 3 in all
  // 20 records: 6, 6, 6, 2; the first file was rotated away.
  auto newest = read_trace(c.path);
  auto older = read_trace(c.path + ".1");
  auto oldest = read_trace(c.path + ".2");
  CHECK(newest.records.size() == 2);
  CHECK(older.records.size() == 6);
  CHECK(oldest.records.size() == 6);
  CHECK(oldest.records.front().time_us == 1'000'006);
  CHECK(newest.records.back().time_us == 1'000'019);
  for (const auto* t : {&newest, &older, &oldest}) {
    CHECK(t->routes.size() == 1);
    CHECK(t->routes.at(0) == "r");
  }
  CHECK(fs::file_size(c.path + ".1") <= c.max_size);
  CHECK(w.stats().rotations.load() == 3);
  CHECK(w.stats().records.load() == 20);
}

TEST_CASE("trace writer: an existing trace is rotated away at start, not appended to") {
  TempDir dir;
  auto c = config_in(dir);
  {
    TraceWriter w(c);
    w.add(event(1, "a"));
  }  // the destructor writes what is left
  TraceWriter w(c);
  w.add(event(2, "b"));
  w.flush();
  auto old = read_trace(c.path + ".1");
  auto now = read_trace(c.path);
  REQUIRE(old.records.size() == 1);
  REQUIRE(now.records.size() == 1);
  CHECK(old.record_routes[0] == "a");
  CHECK(now.record_routes[0] == "b");
  CHECK(now.routes.at(0) == "b");  // indexes start at 0 in each file
}

TEST_CASE("trace writer: sampling is by key, a key always or never kept") {
  TempDir dir;
  auto c = config_in(dir);
  c.sample = trace_sample_count(0.25);
  TraceWriter w(c);
  std::size_t expected = 0;
  for (std::uint64_t i = 0; i < 2000; ++i) {
    auto e = event(i % 400, "r");  // each key five times
    if (trace_keeps(e.key, c.sample)) ++expected;
    w.add(e);
  }
  w.flush();
  auto t = read_trace(c.path);
  CHECK(t.header.sample == c.sample);
  CHECK(t.records.size() == expected);
  CHECK(expected % 5 == 0);
  CHECK(expected > 300);  // about a quarter of 2000
  CHECK(expected < 700);
  for (const auto& r : t.records) CHECK(trace_keeps(r.key, c.sample));
}

TEST_CASE("trace writer: a full buffer drops and counts, the rest is written") {
  TempDir dir;
  auto c = config_in(dir);
  c.buffer_records = 10;
  // The writer thread wakes only on flush (or every hour): the buffer fills.
  TraceWriter w(c, std::chrono::hours(1));
  for (std::uint64_t i = 0; i < 25; ++i) w.add(event(i, "r"));
  CHECK(w.stats().dropped.load() == 15);
  w.flush();
  CHECK(w.stats().records.load() == 10);
  CHECK(read_trace(c.path).records.size() == 10);
  w.add(event(99, "r"));  // room again
  w.flush();
  CHECK(read_trace(c.path).records.size() == 11);
}

TEST_CASE("trace writer: reopen after the file was moved away starts a new file with its own route table") {
  TempDir dir;
  auto c = config_in(dir);
  TraceWriter w(c);
  w.add(event(1, "a"));
  w.flush();
  std::filesystem::rename(c.path, dir.path() + "/moved.bin");
  w.add(event(2, "a"));
  w.flush();  // still into the moved file
  w.reopen();
  w.add(event(3, "a"));
  w.flush();
  CHECK(read_trace(dir.path() + "/moved.bin").records.size() == 2);
  auto now = read_trace(c.path);
  REQUIRE(now.records.size() == 1);
  CHECK(now.routes.at(0) == "a");
}

TEST_CASE("trace writer: a missing directory is made, as a zone's is") {
  TempDir dir;
  TraceConfig c = config_in(dir);
  c.path = dir.path() + "/logs/traces/trace.bin";
  TraceWriter w(c);
  w.add(event(1, "r"));
  w.flush();
  CHECK(w.stats().records.load() == 1);
  CHECK(std::filesystem::file_size(c.path) > 0);
}

TEST_CASE("trace writer: an unwritable path drops and counts, and says why") {
  TempDir dir;
  { std::ofstream blocker(dir.path() + "/file"); }  // a file where the trace's directory would be
  TraceConfig c;
  c.path = dir.path() + "/file/trace.bin";
  TraceWriter w(c);
  w.add(event(1, "r"));
  w.flush();
  CHECK(w.stats().dropped.load() == 1);
  CHECK(w.stats().records.load() == 0);
  CHECK(w.error().find("cannot open trace") != std::string::npos);
}

TEST_CASE("trace charge: file bytes rounded up to 4 KiB blocks") {
  CHECK(trace_charge(0, 0) == 0);
  CHECK(trace_charge(200, 1) == 4096);
  CHECK(trace_charge(200, 3896) == 4096);
  CHECK(trace_charge(200, 3897) == 8192);
  CHECK(trace_u32(5'000'000'000ull) == 0xFFFFFFFFu);
}
