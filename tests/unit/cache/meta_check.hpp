// Entry metadata with every field set, and a field-by-field comparison, for
// the cache tests that round-trip it (file encoding, shared-tier values,
// store restarts).
#pragma once

#include <doctest/doctest.h>

#include <string>

#include "cache/entry.hpp"
#include "cache/policy.hpp"

namespace gateway::cache::testing {

inline constexpr Seconds kNow = 1'700'000'000;

// Every field set, with values that would expose a swapped or truncated field.
inline EntryMeta full_meta() {
  EntryMeta m;
  m.key = std::string("GET") + kKeySeparator + "example.com" + kKeySeparator + "/a?b=1" + kKeySeparator +
          "h:accept-language=en";
  m.vary_key = std::string("en") + kKeySeparator + "gzip";
  m.vary_fields = {"accept-encoding", "accept-language"};
  m.status = 203;
  m.request_time = kNow - 3;
  m.response_time = kNow - 1;
  m.initial_age = 17;
  m.freshness.lifetime = 600;
  m.freshness.stale_while_revalidate = 30;
  m.freshness.stale_if_error = 86'400;
  m.freshness.must_revalidate = true;
  m.freshness.no_cache = true;
  m.validators.etag = "W/\"abc\"";
  m.validators.last_modified = kNow - 86'400;
  m.tags = {"product-1", "category-7", ""};
  m.head = "HTTP/1.1 203 Non-Authoritative Information\r\nContent-Type: text/plain\r\nETag: W/\"abc\"\r\n";
  return m;
}

// All but body_size: where it travels apart from the metadata, the caller
// checks it.
inline void check_same_meta(const EntryMeta& got, const EntryMeta& want) {
  CHECK(got.key == want.key);
  CHECK(got.vary_key == want.vary_key);
  CHECK(got.vary_fields == want.vary_fields);
  CHECK(got.status == want.status);
  CHECK(got.request_time == want.request_time);
  CHECK(got.response_time == want.response_time);
  CHECK(got.initial_age == want.initial_age);
  CHECK(got.freshness.lifetime == want.freshness.lifetime);
  CHECK(got.freshness.stale_while_revalidate == want.freshness.stale_while_revalidate);
  CHECK(got.freshness.stale_if_error == want.freshness.stale_if_error);
  CHECK(got.freshness.must_revalidate == want.freshness.must_revalidate);
  CHECK(got.freshness.no_cache == want.freshness.no_cache);
  CHECK(got.validators.etag == want.validators.etag);
  CHECK(got.validators.last_modified == want.validators.last_modified);
  CHECK(got.tags == want.tags);
  CHECK(got.head == want.head);
}

}  // namespace gateway::cache::testing
