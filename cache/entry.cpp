// Entries (see entry.hpp): their metadata built from an exchange, its
// encoding, the file header, checksums and ids. Pure functions, callable
// from any thread.
#include "cache/entry.hpp"

#include <zlib.h>

#include <cstring>

#include "base/hash.hpp"
#include "base/http/serializer.hpp"

namespace gateway::cache {

namespace {
// A little-endian, length-prefixed encoding; the reader checks every length
// against what is left.
class Writer {
 public:
  void u8(std::uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void u32(std::uint32_t v) {
    for (int i = 0; i < 4; ++i) out_.push_back(static_cast<char>(v >> (8 * i)));
  }
  void i64(std::int64_t v) {
    auto u = static_cast<std::uint64_t>(v);
    for (int i = 0; i < 8; ++i) out_.push_back(static_cast<char>(u >> (8 * i)));
  }
  void str(std::string_view s) {
    u32(static_cast<std::uint32_t>(s.size()));
    out_.append(s);
  }
  void opt_str(const std::optional<std::string>& s) {
    u8(s ? 1 : 0);
    if (s) str(*s);
  }
  void list(const std::vector<std::string>& v) {
    u32(static_cast<std::uint32_t>(v.size()));
    for (const auto& s : v) str(s);
  }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  bool ok() const { return ok_; }
  bool done() const { return ok_ && in_.empty(); }
  std::uint8_t u8() { return static_cast<std::uint8_t>(take(1)[0]); }
  std::uint32_t u32() {
    auto b = take(4);
    std::uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v |= static_cast<std::uint32_t>(static_cast<unsigned char>(b[i])) << (8 * i);
    return v;
  }
  std::int64_t i64() {
    auto b = take(8);
    std::uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v |= static_cast<std::uint64_t>(static_cast<unsigned char>(b[i])) << (8 * i);
    return static_cast<std::int64_t>(v);
  }
  std::string str() {
    auto n = u32();
    return std::string(take(n));
  }
  std::optional<std::string> opt_str() {
    if (u8() == 0) return std::nullopt;
    return str();
  }
  std::vector<std::string> list() {
    auto n = u32();
    std::vector<std::string> v;
    for (std::uint32_t i = 0; i < n && ok_; ++i) v.push_back(str());
    return v;
  }

 private:
  std::string_view take(std::size_t n) {
    static const char zeros[8] = {};
    if (!ok_ || in_.size() < n) {
      ok_ = false;
      return std::string_view(zeros, n <= 8 ? n : 0);
    }
    auto v = in_.substr(0, n);
    in_.remove_prefix(n);
    return v;
  }
  std::string_view in_;
  bool ok_ = true;
};

constexpr std::uint32_t kMetaVersion = 1;

void put_u32(char* p, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<char>(v >> (8 * i));
}
void put_u64(char* p, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<char>(v >> (8 * i));
}
std::uint32_t get_u32(const char* p) {
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= static_cast<std::uint32_t>(static_cast<unsigned char>(p[i])) << (8 * i);
  return v;
}
std::uint64_t get_u64(const char* p) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= static_cast<std::uint64_t>(static_cast<unsigned char>(p[i])) << (8 * i);
  return v;
}
}  // namespace

EntryMeta response_meta(std::string key, const http::Request& req, const http::Response& resp, const RuleConfig& rule,
                        std::string_view tags_header, Seconds request_time, Seconds response_time) {
  EntryMeta meta;
  meta.key = std::move(key);
  auto vary = parse_vary(resp.headers);
  meta.vary_fields = vary.fields;
  meta.vary_key = vary_key(vary, req);
  meta.status = resp.status;
  meta.request_time = request_time;
  meta.response_time = response_time;
  meta.initial_age = corrected_initial_age(resp.headers, request_time, response_time);
  meta.freshness = freshness(resp, rule, response_time);
  meta.validators = validators_of(resp.headers);
  if (auto tags = resp.headers.get_all(tags_header); !tags.empty()) meta.tags = parse_tags(tags);
  meta.head = stored_head(resp, response_time);
  return meta;
}

std::optional<EntryMeta> revalidated_meta(const EntryMeta& stored, const http::HeaderMap& not_modified,
                                          const RuleConfig& rule, Seconds request_time, Seconds response_time) {
  http::Response merged;
  if (!http::parse_response_head(stored.head, merged)) return std::nullopt;
  merge_not_modified(merged.headers, not_modified);
  EntryMeta meta = stored;
  meta.head = stored_head(merged, response_time);
  meta.request_time = request_time;
  meta.response_time = response_time;
  meta.initial_age = corrected_initial_age(merged.headers, request_time, response_time);
  meta.freshness = freshness(merged, rule, response_time);
  if (auto v = validators_of(merged.headers); v.etag || v.last_modified) meta.validators = v;
  return meta;
}

std::string encode_meta(const EntryMeta& m) {
  Writer w;
  w.u32(kMetaVersion);
  w.str(m.key);
  w.str(m.vary_key);
  w.list(m.vary_fields);
  w.u32(static_cast<std::uint32_t>(m.status));
  w.i64(m.request_time);
  w.i64(m.response_time);
  w.i64(m.initial_age);
  w.i64(m.freshness.lifetime);
  w.i64(m.freshness.stale_while_revalidate);
  w.i64(m.freshness.stale_if_error);
  w.u8(static_cast<std::uint8_t>((m.freshness.must_revalidate ? 1 : 0) | (m.freshness.no_cache ? 2 : 0) |
                                  (m.freshness.heuristic ? 4 : 0)));
  w.opt_str(m.validators.etag);
  w.u8(m.validators.last_modified ? 1 : 0);
  w.i64(m.validators.last_modified.value_or(0));
  w.list(m.tags);
  w.str(m.head);
  return w.take();
}

std::optional<EntryMeta> decode_meta(std::string_view bytes) {
  Reader r(bytes);
  if (r.u32() != kMetaVersion) return std::nullopt;
  EntryMeta m;
  m.key = r.str();
  m.vary_key = r.str();
  m.vary_fields = r.list();
  m.status = static_cast<int>(r.u32());
  m.request_time = r.i64();
  m.response_time = r.i64();
  m.initial_age = r.i64();
  m.freshness.lifetime = r.i64();
  m.freshness.stale_while_revalidate = r.i64();
  m.freshness.stale_if_error = r.i64();
  auto flags = r.u8();
  m.freshness.must_revalidate = (flags & 1) != 0;
  m.freshness.no_cache = (flags & 2) != 0;
  m.freshness.heuristic = (flags & 4) != 0;  // files written before it existed have 0: not heuristic
  m.validators.etag = r.opt_str();
  bool has_lm = r.u8() != 0;
  auto lm = r.i64();
  if (has_lm) m.validators.last_modified = lm;
  m.tags = r.list();
  m.head = r.str();
  if (!r.done() || m.key.empty() || m.status < 100 || m.status > 599) return std::nullopt;
  return m;
}

std::string FileHeader::encode() const {
  std::string out(kSize, '\0');
  std::memcpy(out.data(), kMagic, 8);
  put_u32(out.data() + 8, meta_len);
  put_u32(out.data() + 12, meta_crc);
  put_u64(out.data() + 16, body_len);
  put_u32(out.data() + 24, body_crc);
  // The header's own checksum, over everything before it.
  put_u32(out.data() + 60, crc32(0, std::string_view(out.data(), 60)));
  return out;
}

std::optional<FileHeader> FileHeader::decode(std::string_view b) {
  if (b.size() < kSize || std::memcmp(b.data(), kMagic, 8) != 0) return std::nullopt;
  if (get_u32(b.data() + 60) != crc32(0, b.substr(0, 60))) return std::nullopt;
  FileHeader h;
  h.meta_len = get_u32(b.data() + 8);
  h.meta_crc = get_u32(b.data() + 12);
  h.body_len = get_u64(b.data() + 16);
  h.body_crc = get_u32(b.data() + 24);
  return h;
}

std::uint32_t crc32(std::uint32_t crc, std::string_view data) {
  // zlib's crc32 takes a uInt length: feed large buffers in pieces.
  while (!data.empty()) {
    auto n = std::min<std::size_t>(data.size(), 1u << 30);
    crc = static_cast<std::uint32_t>(::crc32(crc, reinterpret_cast<const Bytef*>(data.data()), static_cast<uInt>(n)));
    data.remove_prefix(n);
  }
  return crc;
}

std::uint64_t entry_id(std::string_view key, std::string_view vary_key) {
  return mix64(fnv1a(vary_key, fnv1a(key) ^ 0x1f));
}

}  // namespace gateway::cache
