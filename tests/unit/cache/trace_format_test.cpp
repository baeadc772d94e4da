// Tests for cache/trace_format.hpp: the trace file's header and records
// encode to the documented bytes and decode back; sampling keeps a key
// always or never.
#include "cache/trace_format.hpp"

#include <doctest/doctest.h>

#include <array>

using namespace gateway::cache;

TEST_CASE("trace format: a record encodes little-endian at the documented offsets and decodes back") {
  TraceRecord r{.time_us = 0x0102030405060708ull, .key = 0xA1A2A3A4A5A6A7A8ull, .size = 8192, .body = 5000,
                .ttl = 60, .route = 3, .status = 1, .flags = kTraceStorable | kTraceStored};
  std::array<unsigned char, kTraceRecordSize> bytes{};
  encode(r, bytes.data());
  CHECK(bytes[0] == 0x08);
  CHECK(bytes[7] == 0x01);
  CHECK(bytes[8] == 0xA8);
  CHECK(bytes[16] == 0x00);
  CHECK(bytes[17] == 0x20);  // 8192
  CHECK(bytes[24] == 60);
  CHECK(bytes[28] == 3);
  CHECK(bytes[30] == 1);
  CHECK(bytes[31] == 3);
  const TraceRecord back = decode_record(bytes.data());
  CHECK(back.time_us == r.time_us);
  CHECK(back.key == r.key);
  CHECK(back.size == r.size);
  CHECK(back.body == r.body);
  CHECK(back.ttl == r.ttl);
  CHECK(back.route == r.route);
  CHECK(back.status == r.status);
  CHECK(back.flags == r.flags);
}

TEST_CASE("trace format: the header round-trips and anything else is refused") {
  std::array<unsigned char, kTraceRecordSize> bytes{};
  encode(TraceHeader{.sample = trace_sample_count(0.01), .start_us = 42}, bytes.data());
  auto h = decode_header(bytes.data());
  REQUIRE(h);
  CHECK(h->sample == 167772);
  CHECK(h->start_us == 42);
  bytes[12] = 24;  // another record size
  CHECK_FALSE(decode_header(bytes.data()));
  std::array<unsigned char, kTraceRecordSize> other{};
  CHECK_FALSE(decode_header(other.data()));
}

TEST_CASE("trace format: spatial sampling keeps a key always or never, at about the rate") {
  CHECK(trace_sample_count(1.0) == kTraceSampleAll);
  CHECK(trace_sample_count(1e-12) == 1);
  CHECK(trace_keeps(~0ull, kTraceSampleAll));
  const std::uint32_t tenth = trace_sample_count(0.1);
  int kept = 0;
  for (std::uint64_t i = 0; i < 100'000; ++i) {
    const std::uint64_t key = i * 0x9E3779B97F4A7C15ull;
    kept += trace_keeps(key, tenth) ? 1 : 0;
    CHECK(trace_keeps(key, tenth) == trace_keeps(key, tenth));
  }
  CHECK(kept > 9'000);
  CHECK(kept < 11'000);
  CHECK(trace_name_padded(0) == 0);
  CHECK(trace_name_padded(1) == 32);
  CHECK(trace_name_padded(32) == 32);
}
