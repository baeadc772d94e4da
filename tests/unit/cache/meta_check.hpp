// Field-by-field comparison of entry metadata, for the cache tests that
// round-trip it (file encoding, shared-tier values, store restarts). Not
// body_size: where it travels apart from the metadata, the caller checks it.
#pragma once

#include <doctest/doctest.h>

#include "cache/entry.hpp"

namespace gateway::cache::testing {

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
