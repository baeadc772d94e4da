// The request trace's file format: what a zone's `trace:` writes (one
// record per request the zone saw) and what `gateway-lab` reads. Plain
// values and byte-exact encode/decode, no I/O: the writer (cache/trace.*)
// and the lab's reader (lab/) both use these, so there is one definition.
//
// A trace file is a 32-byte file header followed by 32-byte records, all
// integers little-endian:
//
//   file header   0  char[8]  magic "GWTRACE1"
//                 8  u32      version (1)
//                12  u32      record size (32)
//                16  u32      sample: records kept per 2^24 keys (2^24 = all)
//                20  u32      reserved (0)
//                24  u64      start: wall-clock time of the file's opening, µs since the epoch
//
//   record        0  u64      time: µs since the epoch
//                 8  u64      key: hash64 (base/hash.hpp) of the cache key
//                16  u32      size: bytes the entry is (or would be) charged on disk,
//                             i.e. its file (stored head + body) rounded up to 4 KiB
//                20  u32      body: body bytes sent
//                24  u32      ttl: freshness lifetime in seconds as stored (0: none)
//                28  u16      route: index into the file's route names (see below)
//                30  u8       status: CacheStatus (cache/policy.hpp), 0..6
//                31  u8       flags: kTraceStorable | kTraceStored | kTraceRefused
//
// A route name is introduced before its first use by a record with status
// kTraceRouteName: `route` is the index it defines, `size` the name's length
// in bytes; the name follows, zero-padded to a multiple of 32 bytes. Indexes
// start at 0 in each file (a rotated file starts its own table).
//
// Sampling is spatial (by key), as SHARDS (Waldspurger et al., FAST '15)
// samples: a key is kept if (key >> 40) < sample, so a key is either always
// or never in the trace, and a trace sampled at rate R behaves as the full
// trace would in a cache R times the size.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

namespace gateway::cache {

inline constexpr std::array<char, 8> kTraceMagic = {'G', 'W', 'T', 'R', 'A', 'C', 'E', '1'};
inline constexpr std::uint32_t kTraceVersion = 1;
inline constexpr std::size_t kTraceRecordSize = 32;
inline constexpr std::uint32_t kTraceSampleAll = 1u << 24;
inline constexpr std::uint8_t kTraceRouteName = 0xFF;  // status of a route-name record

// flags
inline constexpr std::uint8_t kTraceStorable = 1;  // the response could be stored (can_store said yes)
inline constexpr std::uint8_t kTraceStored = 2;    // ... and was stored (admission and the disk allowed it)
// ... but the zone refused the fill because evicted files still waited for
// deletion (the disk bound, cache/store.hpp): load, not policy. A replay
// keeps it unstored, as the zone did, so a captured trace replays to the
// hit ratio the zone had.
inline constexpr std::uint8_t kTraceRefused = 4;

struct TraceHeader {
  std::uint32_t sample = kTraceSampleAll;
  std::uint64_t start_us = 0;
};

struct TraceRecord {
  std::uint64_t time_us = 0;
  std::uint64_t key = 0;
  std::uint32_t size = 0;
  std::uint32_t body = 0;
  std::uint32_t ttl = 0;
  std::uint16_t route = 0;
  std::uint8_t status = 0;
  std::uint8_t flags = 0;
};

// A sample rate in (0, 1] as the header's per-2^24 count (at least 1).
constexpr std::uint32_t trace_sample_count(double rate) noexcept {
  if (rate >= 1.0) return kTraceSampleAll;
  const auto n = static_cast<std::uint32_t>(rate * kTraceSampleAll);
  return n == 0 ? 1 : n;
}

// Whether a key with this hash is in a trace sampled at `sample`.
constexpr bool trace_keeps(std::uint64_t key, std::uint32_t sample) noexcept { return (key >> 40) < sample; }

namespace trace_detail {
template <typename T>
inline void put(unsigned char* at, T v) noexcept {
  for (std::size_t i = 0; i < sizeof(T); ++i) at[i] = static_cast<unsigned char>(static_cast<std::uint64_t>(v) >> (8 * i));
}
template <typename T>
inline T get(const unsigned char* at) noexcept {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < sizeof(T); ++i) v |= static_cast<std::uint64_t>(at[i]) << (8 * i);
  return static_cast<T>(v);
}
}  // namespace trace_detail

inline void encode(const TraceHeader& h, unsigned char* out) noexcept {
  using namespace trace_detail;
  std::memcpy(out, kTraceMagic.data(), kTraceMagic.size());
  put<std::uint32_t>(out + 8, kTraceVersion);
  put<std::uint32_t>(out + 12, static_cast<std::uint32_t>(kTraceRecordSize));
  put<std::uint32_t>(out + 16, h.sample);
  put<std::uint32_t>(out + 20, 0);
  put<std::uint64_t>(out + 24, h.start_us);
}

// Null if the bytes are not a version-1 trace header.
inline std::optional<TraceHeader> decode_header(const unsigned char* in) noexcept {
  using namespace trace_detail;
  if (std::memcmp(in, kTraceMagic.data(), kTraceMagic.size()) != 0) return std::nullopt;
  if (get<std::uint32_t>(in + 8) != kTraceVersion || get<std::uint32_t>(in + 12) != kTraceRecordSize) return std::nullopt;
  TraceHeader h;
  h.sample = get<std::uint32_t>(in + 16);
  h.start_us = get<std::uint64_t>(in + 24);
  if (h.sample == 0 || h.sample > kTraceSampleAll) return std::nullopt;
  return h;
}

inline void encode(const TraceRecord& r, unsigned char* out) noexcept {
  using namespace trace_detail;
  put<std::uint64_t>(out, r.time_us);
  put<std::uint64_t>(out + 8, r.key);
  put<std::uint32_t>(out + 16, r.size);
  put<std::uint32_t>(out + 20, r.body);
  put<std::uint32_t>(out + 24, r.ttl);
  put<std::uint16_t>(out + 28, r.route);
  out[30] = r.status;
  out[31] = r.flags;
}

inline TraceRecord decode_record(const unsigned char* in) noexcept {
  using namespace trace_detail;
  TraceRecord r;
  r.time_us = get<std::uint64_t>(in);
  r.key = get<std::uint64_t>(in + 8);
  r.size = get<std::uint32_t>(in + 16);
  r.body = get<std::uint32_t>(in + 20);
  r.ttl = get<std::uint32_t>(in + 24);
  r.route = get<std::uint16_t>(in + 28);
  r.status = in[30];
  r.flags = in[31];
  return r;
}

// Bytes of zero padding after a route-name record's name of `length` bytes.
constexpr std::size_t trace_name_padded(std::size_t length) noexcept {
  return (length + kTraceRecordSize - 1) / kTraceRecordSize * kTraceRecordSize;
}

// Appends the route-name record that defines `index` as `name`, the name
// and its padding: what a writer puts before the route's first use in a file.
inline void append_route_name(std::string& out, std::uint16_t index, std::string_view name, std::uint64_t time_us) {
  std::array<unsigned char, kTraceRecordSize> rec{};
  encode(TraceRecord{.time_us = time_us, .size = static_cast<std::uint32_t>(name.size()), .route = index,
                     .status = kTraceRouteName},
         rec.data());
  out.append(reinterpret_cast<const char*>(rec.data()), rec.size());
  out.append(name);
  out.append(trace_name_padded(name.size()) - name.size(), '\0');
}

}  // namespace gateway::cache
