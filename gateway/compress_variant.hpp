// The compressed variants of cached responses (the design is in
// cache/coded.hpp): found next to the entry, or made from its stored body on
// the first hit that asks for their coding, then served as any hit (RAM tier
// or sendfile).
//
// Made on the first hit rather than at fill: most entries of a zone are
// never asked for in every coding, a fill's client gets its response
// compressed as it streams anyway, and the first hit's cost (one encoding
// of a body already on hand) is what nginx pays on every hit. A body over
// kVariantMaxBody is not made into a variant (its encoding would hold the
// worker too long): it is compressed as it streams on each hit. Two hits
// racing for a variant may both make it; the second commit replaces the
// first.
//
// Runs on the worker of the exchange.
#pragma once

#include <memory>

#include "cache/entry.hpp"
#include "cache/store.hpp"
#include "gateway/compress_rules.hpp"

namespace gateway::compress {

inline constexpr std::uint64_t kVariantMaxBody = 1 << 20;

// Whether the stored entry `e` would be compressed for a client accepting a
// coding (compressible() over its stored head).
bool entry_compressible(const CompressConfig& config, const cache::Entry& e);

// The variant of `base` in `coding` for `req`: the stored one if it was made
// from `base`'s response (a use of it at `now`), else made now from `base`'s
// body and stored (not for a HEAD). Null if it cannot be had (body too
// large, unreadable, encoder failure, the store refused it, a HEAD before
// any GET made it): `base` is then served compressed as it streams.
std::shared_ptr<const cache::Entry> coded_variant(cache::Store& store, const std::shared_ptr<const cache::Entry>& base,
                                                  const http::Request& req, Coding coding,
                                                  const CompressConfig& config, cache::Seconds now);

// Counted in /metrics: variants made (gateway_compress_variants_made_total)
// and hits served from one (gateway_compress_variant_hits_total).
struct VariantCounts {
  std::uint64_t made = 0;
  std::uint64_t hits = 0;
};
VariantCounts variant_counts();

}  // namespace gateway::compress
