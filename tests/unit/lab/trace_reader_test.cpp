// Tests for lab/trace_reader: the gateway's trace (several files, route
// names, sampling), CSV and oracleGeneral, format detection, and bad input
// named by file:offset or file:line.
#include "lab/trace_reader.hpp"

#include <doctest/doctest.h>

#include <array>
#include <fstream>

#include "base/hash.hpp"
#include "cache/trace_format.hpp"
#include "tests/unit/cache/temp_dir.hpp"
#include "tests/unit/lab/error_text.hpp"

using namespace gateway;
using namespace gateway::lab;

namespace {

// A gateway trace in memory: header, then records and route names.
struct GwTraceBytes {
  std::string bytes;
  explicit GwTraceBytes(std::uint32_t sample = cache::kTraceSampleAll) {
    std::array<unsigned char, 32> b{};
    cache::encode(cache::TraceHeader{.sample = sample, .start_us = 1}, b.data());
    bytes.append(reinterpret_cast<const char*>(b.data()), b.size());
  }
  GwTraceBytes& route(std::uint16_t index, const std::string& name) {
    std::array<unsigned char, 32> b{};
    cache::encode(cache::TraceRecord{.size = static_cast<std::uint32_t>(name.size()), .route = index,
                                     .status = cache::kTraceRouteName},
                  b.data());
    bytes.append(reinterpret_cast<const char*>(b.data()), b.size());
    std::string padded = name;
    padded.resize(cache::trace_name_padded(name.size()), '\0');
    bytes += padded;
    return *this;
  }
  GwTraceBytes& record(std::uint64_t time_us, std::uint64_t key, std::uint32_t ttl, std::uint16_t route,
                       std::uint8_t flags = cache::kTraceStorable) {
    std::array<unsigned char, 32> b{};
    cache::encode(cache::TraceRecord{.time_us = time_us, .key = key, .size = 8192, .body = 5000, .ttl = ttl,
                                     .route = route, .status = 1, .flags = flags},
                  b.data());
    bytes.append(reinterpret_cast<const char*>(b.data()), b.size());
    return *this;
  }
};

std::string error_of(auto&& f) { return testing::error_text<LabError>(f); }

}  // namespace

TEST_CASE("trace reader: gateway records become requests with their routes, ttl and storability") {
  GwTraceBytes t;
  t.route(0, "/api/channels/").record(1'000'000, 11, 60, 0).route(1, "/chat/").record(2'000'000, 12, 0, 1)
      .record(3'000'000, 11, 60, 0, 0);
  Trace trace;
  parse_gateway_trace("t.bin", t.bytes, trace, true);
  REQUIRE(trace.requests.size() == 3);
  CHECK(trace.routes == std::vector<std::string>{"/api/channels/", "/chat/"});
  CHECK(trace.sample_rate == 1.0);
  CHECK(trace.requests[0].key == 11);
  CHECK(trace.requests[0].size == 8192);
  CHECK(trace.requests[0].body == 5000);
  CHECK(trace.requests[0].ttl == 60);
  CHECK(trace.requests[0].storable);
  CHECK(trace.requests[1].route == 1);
  CHECK_FALSE(trace.requests[1].storable);  // ttl 0: not storable
  CHECK_FALSE(trace.requests[2].storable);  // flag clear
}

TEST_CASE("trace reader: a fill the zone refused for its deletion backlog replays as not stored") {
  GwTraceBytes t;
  t.route(0, "/").record(1'000'000, 11, 60, 0, cache::kTraceStorable | cache::kTraceRefused)
      .record(2'000'000, 11, 60, 0, cache::kTraceStorable | cache::kTraceStored);
  Trace trace;
  parse_gateway_trace("t.bin", t.bytes, trace, true);
  REQUIRE(trace.requests.size() == 2);
  CHECK_FALSE(trace.requests[0].storable);  // as the zone did: load, not policy
  CHECK(trace.requests[1].storable);
}

TEST_CASE("trace reader: rotated files read in order share one route table") {
  cache::testing::TempDir dir;
  GwTraceBytes older, newer;
  older.route(0, "/a/").record(1, 1, 60, 0);
  newer.route(0, "/b/").route(1, "/a/").record(2, 2, 60, 0).record(3, 3, 60, 1);
  std::ofstream(dir.path() + "/trace.bin.1", std::ios::binary) << older.bytes;
  std::ofstream(dir.path() + "/trace.bin", std::ios::binary) << newer.bytes;
  const Trace trace = read_traces({dir.path() + "/trace.bin.1", dir.path() + "/trace.bin"});
  REQUIRE(trace.requests.size() == 3);
  CHECK(trace.routes == std::vector<std::string>{"/a/", "/b/"});
  CHECK(trace.requests[0].route == 0);
  CHECK(trace.requests[1].route == 1);  // "/b/" in the second file's index 0
  CHECK(trace.requests[2].route == 0);
}

TEST_CASE("trace reader: a sampled trace carries its rate") {
  GwTraceBytes t(cache::trace_sample_count(0.25));
  t.route(0, "/").record(1, 1, 60, 0);
  Trace trace;
  parse_gateway_trace("t.bin", t.bytes, trace, true);
  CHECK(trace.sample_rate == doctest::Approx(0.25));
  GwTraceBytes full;
  CHECK(error_of([&] { parse_gateway_trace("u.bin", full.bytes, trace, false); }).starts_with("u.bin:16: sampled at 1"));
}

TEST_CASE("trace reader: bad gateway traces are named by file and offset") {
  Trace trace;
  CHECK(error_of([&] { parse_gateway_trace("a.bin", "GWTRACE1", trace, true); }) ==
        "a.bin:0: too short for a trace header");
  CHECK(error_of([&] { parse_gateway_trace("a.bin", std::string(32, 'x'), trace, true); })
            .starts_with("a.bin:0: not a version-1 gateway trace"));
  GwTraceBytes t;
  t.route(0, "/").record(1, 1, 60, 0);
  CHECK(error_of([&] { parse_gateway_trace("b.bin", t.bytes + "short", trace, true); }) ==
        "b.bin:128: truncated record");
  CHECK(error_of([&] { parse_gateway_trace("c.bin", t.bytes.substr(0, 70), trace, true); }) ==
        "c.bin:32: truncated route name");
  GwTraceBytes no_name;
  no_name.record(1, 1, 60, 4);
  CHECK(error_of([&] { parse_gateway_trace("d.bin", no_name.bytes, trace, true); }) ==
        "d.bin:32: route 4 used before its name record");
  GwTraceBytes bad_status;
  bad_status.route(0, "/").record(1, 1, 60, 0);
  bad_status.bytes[96 + 30] = 9;
  bad_status.bytes.resize(96 + 32);
  CHECK(error_of([&] { parse_gateway_trace("e.bin", bad_status.bytes, trace, true); }) ==
        "e.bin:96: bad cache status 9");
}

TEST_CASE("trace reader: CSV rows, header, quotes, numeric keys, optional ttl, 4 KiB blocks") {
  Trace trace;
  parse_csv_trace("t.csv",
                  "time,key,size,ttl\n"
                  "1.5,/a,100,60\n"
                  "# a comment\n"
                  "\n"
                  "2,\"/b,c\"\"d\",4097,0\r\n"
                  "3,42,5000\n",
                  trace, kBlock);
  REQUIRE(trace.requests.size() == 3);
  CHECK(trace.requests[0].time_us == 1'500'000);
  CHECK(trace.requests[0].key == hash64("/a"));
  CHECK(trace.requests[0].size == 4096);
  CHECK(trace.requests[0].body == 100);
  CHECK(trace.requests[0].ttl == 60);
  CHECK(trace.requests[0].storable);
  CHECK(trace.requests[1].key == hash64("/b,c\"d"));
  CHECK(trace.requests[1].size == 8192);
  CHECK_FALSE(trace.requests[1].storable);
  CHECK(trace.requests[2].key == object_id(42));
  CHECK(trace.requests[2].ttl == kNoExpiry);
  Trace exact;
  parse_csv_trace("t.csv", "1,a,100\n", exact, 1);
  CHECK(exact.requests[0].size == 100);
}

TEST_CASE("trace reader: bad CSV is named by file and line") {
  Trace trace;
  CHECK(error_of([&] { parse_csv_trace("t.csv", "1,a,10\n2,b\n", trace, kBlock); }) ==
        "t.csv:2: expected time,key,size[,ttl], got 2 fields");
  CHECK(error_of([&] { parse_csv_trace("t.csv", "x,a,10\n", trace, kBlock); }) == "t.csv:1: bad time 'x'");
  CHECK(error_of([&] { parse_csv_trace("t.csv", "1,a,-3\n", trace, kBlock); }) == "t.csv:1: bad size '-3'");
  CHECK(error_of([&] { parse_csv_trace("t.csv", "\n\n1,a,3,soon\n", trace, kBlock); }) == "t.csv:3: bad ttl 'soon'");
  CHECK(error_of([&] { parse_csv_trace("t.csv", "1,\"a,3\n", trace, kBlock); }) == "t.csv:1: unterminated quote");
  CHECK(error_of([&] { parse_csv_trace("t.csv", "1,,3\n", trace, kBlock); }) == "t.csv:1: empty key");
  // Found by the trace fuzz target: a time past what µs hold in 64 bits.
  CHECK(error_of([&] { parse_csv_trace("t.csv", "2222222222222222220,a,10\n", trace, kBlock); }) ==
        "t.csv:1: bad time '2222222222222222220'");
}

TEST_CASE("trace reader: a CSV size past 4 GiB is charged as 4 GiB, not wrapped round") {
  Trace trace;
  parse_csv_trace("t.csv", "1,a,18446744073709551615\n", trace, kBlock);
  REQUIRE(trace.requests.size() == 1);
  CHECK(trace.requests[0].size == 0xffffffffu);
  CHECK(trace.requests[0].body == 0xffffffffu);
}

TEST_CASE("trace reader: oracleGeneral records (24 bytes) and a truncated one") {
  std::string bytes;
  auto record = [&](std::uint32_t time, std::uint64_t id, std::uint32_t size) {
    unsigned char b[24] = {};
    cache::trace_detail::put<std::uint32_t>(b, time);
    cache::trace_detail::put<std::uint64_t>(b + 4, id);
    cache::trace_detail::put<std::uint32_t>(b + 12, size);
    cache::trace_detail::put<std::int64_t>(b + 16, -1);
    bytes.append(reinterpret_cast<const char*>(b), sizeof b);
  };
  record(10, 7, 5000);
  record(11, 8, 100);
  Trace trace;
  parse_oracle_trace("w.oracleGeneral", bytes, trace, kBlock);
  REQUIRE(trace.requests.size() == 2);
  CHECK(trace.requests[0].time_us == 10'000'000);
  CHECK(trace.requests[0].key == object_id(7));
  CHECK(trace.requests[0].size == 8192);
  CHECK(trace.requests[1].body == 100);
  CHECK(trace.requests[1].ttl == kNoExpiry);
  CHECK(error_of([&] { parse_oracle_trace("w.oracleGeneral", bytes + "abc", trace, kBlock); }) ==
        "w.oracleGeneral:48: truncated oracleGeneral record (records are 24 bytes)");
}

TEST_CASE("trace reader: the format is found by magic, then by name, then by content") {
  CHECK(detect_format("x", "GWTRACE1....") == TraceFormat::gateway);
  CHECK(detect_format("w82.oracleGeneral.bin", std::string("\x01\x00", 2)) == TraceFormat::oracle);
  CHECK(detect_format("a.csv", "") == TraceFormat::csv);
  CHECK(detect_format("a.txt", "time,key,size\n") == TraceFormat::csv);
  CHECK(detect_format("a.txt", "12,k,3\n") == TraceFormat::csv);
  CHECK(error_of([] { detect_format("a.dat", std::string("\x01\x02", 2)); }).ends_with("use --trace-format"));
  CHECK(error_of([] { read_traces({"/nonexistent/trace.bin"}); }) == "/nonexistent/trace.bin: cannot open");
  CHECK(parse_trace_format("oracle") == TraceFormat::oracle);
  CHECK_FALSE(parse_trace_format("parquet"));
}
