// Content-coded variants of a stored response (gzip, br): how the store
// finds them next to the entry they were made from.
//
// Design: a coded variant is an entry of its own, under a derived key (the
// entry's key, kKeySeparator, "~ce=" and the coding) and the entry's own
// Vary secondary key. Chosen over putting Accept-Encoding into the key as
// Varnish does, because that would make every coding a separate fill from
// the upstream (and a separate object to expire and revalidate); here the
// upstream is asked once, the variant is made from the stored body on the
// first hit that asks for its coding (gateway/compress_variant.hpp), and
// then it is an ordinary entry: charged to the zone's size, in the RAM tier
// or served with sendfile, evicted by the zone's policy. Its key starts with
// the URL's key followed by kKeySeparator, so a purge by URL, prefix or tag
// (the tags are copied) removes it with the entry; and when the store drops
// or replaces the entry it was made from (eviction, purge, inactive, a new
// fill), it drops the entry's variants too (Store::drop_coded), so a
// variant never outlives its entry's body.
//
// Pure; no thread affinity.
#pragma once

#include <array>
#include <string>
#include <string_view>

#include "cache/policy.hpp"

namespace gateway::cache {

inline constexpr std::string_view kCodedMark = "~ce=";
inline constexpr std::array<std::string_view, 2> kCodings = {"gzip", "br"};

// The key of `key`'s variant in `coding`.
inline std::string coded_key(std::string_view key, std::string_view coding) {
  std::string out;
  out.reserve(key.size() + 1 + kCodedMark.size() + coding.size());
  out.append(key).push_back(kKeySeparator);
  out.append(kCodedMark).append(coding);
  return out;
}

// Whether `key` is a variant's key (coded_key's).
inline bool is_coded_key(std::string_view key) {
  auto sep = key.rfind(kKeySeparator);
  return sep != std::string_view::npos && key.substr(sep + 1).starts_with(kCodedMark);
}

}  // namespace gateway::cache
