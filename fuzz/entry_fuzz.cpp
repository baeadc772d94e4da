// libFuzzer target: the cache's stored formats, which come back from disk
// (a file another process or a crash may have cut or garbled) and from
// Redis (a value any client of that Redis may have written):
//   cache::FileHeader::decode   the 64-byte header of an entry file
//   cache::decode_meta          an entry's metadata (cache/entry.hpp)
//   cache::decode_shared_entry  an entry as the shared tier stores it
//                               (cache/shared_tier.hpp)
// Each runs on the whole input; a garbled input must be refused, never read
// past. What decodes must survive a round trip: encoding it again and
// decoding that gives the same values, and that encoding is a fixed point
// (the formats promise value round trips, not byte ones: flag bytes and
// reserved header bytes are read leniently). The header's CRC is beyond a
// fuzzer, so the header is also decoded with its magic and CRC set right.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "cache/entry.hpp"
#include "cache/shared_tier.hpp"
#include "check.hpp"

namespace {

using gateway::cache::EntryMeta;
using gateway::cache::FileHeader;

using fuzz::check;
using fuzz::fail;

bool same(const EntryMeta& a, const EntryMeta& b) {
  return a.key == b.key && a.vary_key == b.vary_key && a.vary_fields == b.vary_fields && a.status == b.status &&
         a.request_time == b.request_time && a.response_time == b.response_time && a.initial_age == b.initial_age &&
         a.freshness.lifetime == b.freshness.lifetime &&
         a.freshness.stale_while_revalidate == b.freshness.stale_while_revalidate &&
         a.freshness.stale_if_error == b.freshness.stale_if_error &&
         a.freshness.must_revalidate == b.freshness.must_revalidate && a.freshness.no_cache == b.freshness.no_cache &&
         a.validators.etag == b.validators.etag && a.validators.last_modified == b.validators.last_modified &&
         a.tags == b.tags && a.head == b.head;
}

bool same(const FileHeader& a, const FileHeader& b) {
  return a.meta_len == b.meta_len && a.meta_crc == b.meta_crc && a.body_len == b.body_len && a.body_crc == b.body_crc;
}

void meta(std::string_view input) {
  auto m = gateway::cache::decode_meta(input);
  if (!m) return;
  check(!m->key.empty() && m->status >= 100 && m->status <= 599, "decode_meta accepted a key or status it refuses");
  std::string once = gateway::cache::encode_meta(*m);
  auto again = gateway::cache::decode_meta(once);
  check(again.has_value(), "encode_meta's output does not decode");
  check(same(*m, *again), "metadata changed in a round trip");
  check(gateway::cache::encode_meta(*again) == once, "encode_meta is not a fixed point");
  check(once.size() <= input.size(), "the canonical metadata is longer than the input it came from");
}

void header(std::string_view input) {
  auto h = FileHeader::decode(input);
  if (h) {
    std::string once = h->encode();
    check(once.size() == FileHeader::kSize, "an encoded header is not kSize bytes");
    auto again = FileHeader::decode(once);
    check(again && same(*h, *again), "a header changed in a round trip");
  }
  if (input.size() < FileHeader::kSize) {
    check(!h, "a header decoded from fewer than kSize bytes");
    return;
  }
  // The same bytes with a right magic and CRC: the fields must read back
  // as they are, and encoding gives these bytes with the reserved ones zero.
  std::string fixed(input.substr(0, FileHeader::kSize));
  std::memcpy(fixed.data(), FileHeader::kMagic, 8);
  std::memset(fixed.data() + 28, 0, 32);
  std::uint32_t crc = gateway::cache::crc32(0, std::string_view(fixed).substr(0, 60));
  for (int i = 0; i < 4; ++i) fixed[60 + i] = static_cast<char>(crc >> (8 * i));
  auto f = FileHeader::decode(fixed);
  check(f.has_value(), "a header with a right magic and CRC is refused");
  check(f->encode() == fixed, "a header does not encode back to its bytes");
  check(f->file_size() == FileHeader::kSize + std::uint64_t{f->meta_len} + f->body_len, "file_size is not the sum");
}

void shared(std::string_view input) {
  EntryMeta m;
  std::string body;
  if (!gateway::cache::decode_shared_entry(input, m, body)) return;
  check(m.body_size == body.size(), "a shared entry's body_size is not its body's");
  check(body.size() <= input.size(), "a shared entry's body is longer than the value");
  std::string once = gateway::cache::encode_shared_entry(m, body);
  EntryMeta m2;
  std::string body2;
  check(gateway::cache::decode_shared_entry(once, m2, body2), "encode_shared_entry's output does not decode");
  check(same(m, m2) && body == body2, "a shared entry changed in a round trip");
  check(gateway::cache::encode_shared_entry(m2, body2) == once, "encode_shared_entry is not a fixed point");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  meta(input);
  header(input);
  shared(input);
  return 0;
}
