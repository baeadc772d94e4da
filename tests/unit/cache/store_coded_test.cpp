// Conformance suite for cache/store, coded variants (cache/coded.hpp): a
// variant stored under coded_key() goes with the entry it was made from
// when that entry is removed, purged or replaced by a new fill, and only
// the variants of that entry's Vary variant go. Over every store
// configuration (store_fixture.hpp).
#include "cache/coded.hpp"

#include <doctest/doctest.h>

#include <string>

#include "cache/store.hpp"
#include "store_fixture.hpp"

using namespace gateway::cache;
using namespace gateway::cache::testing;

namespace {

// The variant of `base` in `coding`, as gateway/compress_variant.cpp makes it.
std::shared_ptr<const Entry> put_coded(Store& store, const Entry& base, std::string_view coding) {
  EntryMeta meta = base.meta;
  meta.key = coded_key(base.meta.key, coding);
  return put(store, std::move(meta), "coded body of " + std::string(coding));
}

}  // namespace

TEST_CASE("store coded: coded keys are told apart from entry keys") {
  const std::string key = cache_key(get("example.com", "/a?x=1"), RuleConfig{});
  CHECK(is_coded_key(coded_key(key, "gzip")));
  CHECK(is_coded_key(coded_key(key, "br")));
  CHECK_FALSE(is_coded_key(key));
  CHECK(coded_key(key, "br").starts_with(key + kKeySeparator));
}

TEST_CASE_TEMPLATE("store coded: variants go with their entry on remove, and only that entry's", C, STORE_CONFIGS) {
  Harness<C> h;
  auto& store = h.store();
  auto en = get("example.com", "/a", {{"Accept-Language", "en"}});
  auto fr = get("example.com", "/a", {{"Accept-Language", "fr"}});
  auto base_en = put(store, make_meta(en, {"accept-language"}), make_body(3000, 1));
  auto base_fr = put(store, make_meta(fr, {"accept-language"}), make_body(3000, 2));
  REQUIRE(base_en);
  REQUIRE(base_fr);
  for (auto coding : kCodings) {
    REQUIRE(put_coded(store, *base_en, coding));
    REQUIRE(put_coded(store, *base_fr, coding));
  }
  CHECK(store.stats().entries == 6);
  CHECK(store.find(coded_key(base_en->meta.key, "gzip"), en) != nullptr);

  store.remove(base_en);
  CHECK(store.stats().entries == 3);
  CHECK(store.find(coded_key(base_en->meta.key, "gzip"), en) == nullptr);
  CHECK(store.find(coded_key(base_en->meta.key, "br"), en) == nullptr);
  CHECK(store.find(coded_key(base_fr->meta.key, "gzip"), fr) != nullptr);  // the other Vary variant's stay
}

TEST_CASE_TEMPLATE("store coded: a purge counts each removed entry once, variants included", C, STORE_CONFIGS) {
  Harness<C> h;
  auto& store = h.store();
  auto req = get("example.com", "/p");
  auto base = put(store, make_meta(req), make_body(2000, 3));
  REQUIRE(base);
  for (auto coding : kCodings) REQUIRE(put_coded(store, *base, coding));
  CHECK(store.purge_url(url_key("example.com", "/p", RuleConfig{})) == 3);
  CHECK(store.stats().purged == 3);
  CHECK(store.stats().entries == 0);
  CHECK(store.stats().bytes == 0);
}

TEST_CASE_TEMPLATE("store coded: a new fill of the entry drops the variants made from the old body", C,
                   STORE_CONFIGS) {
  Harness<C> h;
  auto& store = h.store();
  auto req = get("example.com", "/r");
  auto base = put(store, make_meta(req), make_body(2000, 4));
  REQUIRE(base);
  REQUIRE(put_coded(store, *base, "gzip"));
  REQUIRE(put(store, make_meta(req), make_body(2000, 5)));  // replaces the entry
  CHECK(store.find(coded_key(base->meta.key, "gzip"), req) == nullptr);
  CHECK(store.stats().entries == 1);
}
