// Compressed variants of cached responses (see compress_variant.hpp).
#include "gateway/compress_variant.hpp"

#include <unistd.h>

#include <atomic>

#include "base/http/serializer.hpp"
#include "cache/coded.hpp"

namespace gateway::compress {

namespace {

std::atomic<std::uint64_t> g_made{0};
std::atomic<std::uint64_t> g_hits{0};

// The body of `e`: its RAM copy, or read from its file.
std::optional<std::string> stored_body(cache::Store& store, const cache::Entry& e) {
  if (e.body) return *e.body;
  auto file = store.open(e);
  if (!file) return std::nullopt;
  std::string body(static_cast<std::size_t>(e.meta.body_size), '\0');
  std::size_t got = 0;
  while (got < body.size()) {
    ssize_t n = ::pread(file->fd, body.data() + got, body.size() - got, static_cast<off_t>(e.body_offset + got));
    if (n <= 0) return std::nullopt;
    got += static_cast<std::size_t>(n);
  }
  return body;
}

// `base`'s stored head as the variant in `coding` has it.
std::optional<std::string> coded_head(std::string_view head, Coding coding) {
  http::Response resp;
  if (!http::parse_response_head(head, resp)) return std::nullopt;
  edit_head(resp.headers, coding);
  std::string out;
  http::serialize_response_head(resp, out);
  out.resize(out.size() - 2);  // stored heads go without the blank line
  return out;
}

// A variant is of its entry's response while their exchange times agree: a
// 304 that refreshes the entry makes it new (and its head may have changed),
// and a new fill drops the variants (Store::drop_coded).
bool made_from(const cache::Entry& variant, const cache::Entry& base) {
  const auto& v = variant.meta;
  const auto& b = base.meta;
  return v.response_time == b.response_time && v.request_time == b.request_time && v.status == b.status;
}

}  // namespace

bool entry_compressible(const CompressConfig& config, const cache::Entry& e) {
  http::Response resp;
  if (!http::parse_response_head(e.meta.head, resp)) return false;
  return compressible(config, facts_of(resp.headers, e.meta.status, e.meta.body_size));
}

std::shared_ptr<const cache::Entry> coded_variant(cache::Store& store, const std::shared_ptr<const cache::Entry>& base,
                                                  const http::Request& req, Coding coding,
                                                  const CompressConfig& config, cache::Seconds now) {
  const auto key = cache::coded_key(base->meta.key, coding_name(coding));
  if (auto v = store.find(key, req); v && made_from(*v, *base)) {
    store.use(*v, now);
    g_hits.fetch_add(1, std::memory_order_relaxed);
    return v;
  }
  // A HEAD uses a variant, never makes one: it has no body to save work on.
  if (req.is_head() || base->meta.body_size > kVariantMaxBody) return nullptr;
  auto body = stored_body(store, *base);
  auto head = coded_head(base->meta.head, coding);
  if (!body || !head) return nullptr;
  auto encoded = encode_all(coding, config, *body);
  if (!encoded) return nullptr;
  cache::EntryMeta meta = base->meta;
  meta.key = key;
  meta.head = std::move(*head);
  store.count_request(key);  // for the admission rule, as a lookup of the key would
  auto writer = store.begin(std::move(meta));
  if (!writer || !writer->write(*encoded)) return nullptr;
  auto v = writer->commit(encoded->size());
  if (v) g_made.fetch_add(1, std::memory_order_relaxed);
  return v;
}

VariantCounts variant_counts() { return {g_made.load(), g_hits.load()}; }

}  // namespace gateway::compress
