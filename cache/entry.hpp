// A stored response: its metadata (key, Vary, times, freshness, validators,
// tags), its header block as it will be sent, and where its body is.
//
// EntryMeta is built from the exchange by response_meta and
// revalidated_meta, pure functions over the decisions of policy.hpp.
//
// On disk an entry is one file:
//   [FileHeader, 64 bytes][metadata and header block][body]
// The header carries lengths and CRC-32s of both parts; a file whose sizes
// or checksums do not match is never served. Entries are written to a
// temporary file and renamed into place only when complete.
//
// Entry objects are immutable once built and shared (shared_ptr<const>) by
// the index and by every request serving them, on any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cache/policy.hpp"

namespace gateway::cache {

struct EntryMeta {
  std::string key;       // primary key (cache_key)
  std::string vary_key;  // secondary key (vary_key of the request that filled it)
  std::vector<std::string> vary_fields;
  int status = 200;
  Seconds request_time = 0;
  Seconds response_time = 0;
  Seconds initial_age = 0;  // corrected initial age (RFC 9111 4.2.3)
  Freshness freshness;
  Validators validators;
  std::vector<std::string> tags;
  // Status line and fields, each ending in CRLF, without the blank line and
  // without framing, hop-by-hop or per-response fields (Age, X-Cache...).
  std::string head;
  std::uint64_t body_size = 0;

  Seconds age(Seconds now) const { return current_age(initial_age, response_time, now); }
};

// The metadata of a new response to store under `key` (RFC 9111 3, 4.2):
// the Vary secondary key of the client's request `req`, the exchange's
// times and corrected initial age, the freshness under `rule`, validators,
// the purge tags listed in `tags_header`, and the head (stored_head, with
// response_time as Date if it has none). body_size is the store's to set.
EntryMeta response_meta(std::string key, const http::Request& req, const http::Response& resp, const RuleConfig& rule,
                        std::string_view tags_header, Seconds request_time, Seconds response_time);
// The metadata of a stored response a 304 revalidated (RFC 9111 4.3.4): its
// head with the 304's fields merged in (merge_not_modified), the new
// exchange's times and corrected initial age, the freshness of the merged
// head, and its validators (the stored ones kept if it has none). nullopt if
// the stored head cannot be read.
std::optional<EntryMeta> revalidated_meta(const EntryMeta& stored, const http::HeaderMap& not_modified,
                                          const RuleConfig& rule, Seconds request_time, Seconds response_time);

// Serialised metadata (everything but body_size, which the file header
// holds). decode returns nullopt on any inconsistency.
std::string encode_meta(const EntryMeta& meta);
std::optional<EntryMeta> decode_meta(std::string_view bytes);

struct FileHeader {
  static constexpr std::size_t kSize = 64;
  static constexpr char kMagic[8] = {'G', 'W', 'C', 'A', 'C', 'H', 'E', '1'};
  std::uint32_t meta_len = 0;
  std::uint32_t meta_crc = 0;
  std::uint64_t body_len = 0;
  std::uint32_t body_crc = 0;

  std::string encode() const;  // exactly kSize bytes
  static std::optional<FileHeader> decode(std::string_view bytes);
  std::uint64_t body_offset() const { return kSize + meta_len; }
  std::uint64_t file_size() const { return kSize + meta_len + body_len; }
};

std::uint32_t crc32(std::uint32_t crc, std::string_view data);

// The entry id: a hash of primary and secondary key. Names the variant in
// the index and its file.
std::uint64_t entry_id(std::string_view key, std::string_view vary_key);

struct FileRef;  // cache/store.hpp

struct Entry {
  std::uint64_t id = 0;
  EntryMeta meta;
  VarySpec vary;                  // meta.vary_fields, ready for vary_key()
  std::string path;               // the entry's file
  std::uint64_t body_offset = 0;  // where the body starts in it
  std::uint64_t charged = 0;      // bytes counted against max_size (file size in 4 KiB blocks)
  // The body in memory, for small entries of the RAM tier (else null).
  std::shared_ptr<const std::string> body;
  // A descriptor held for the entry's life: set on a refreshed entry, whose
  // file the background rewrite replaces (and deletes) under it.
  std::shared_ptr<FileRef> file;
  // Shared by every Entry object of this file and every FileRef opened on
  // it (Store::open, the fill's reader): the store recycles a retired file
  // (truncates it and writes another entry into it) only once nobody holds
  // this; until then it is unlinked instead. Null: never recycled.
  std::shared_ptr<const void> users;
  // Last use, for `inactive` (seconds since the epoch).
  mutable std::atomic<Seconds> last_used{0};
};

}  // namespace gateway::cache
