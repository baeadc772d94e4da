// Conformance suite for cache/store, purge: by URL (every variant and extra
// key part), by prefix, by tag, and remove(). Every case runs over each store
// configuration (eviction policy, RAM tier on or off, background thread
// started or not), Envoy's http_cache_implementation_test_common style. Each
// case gets a fresh temporary directory, removed afterwards.
//
// Deletions and rewrites happen on the store's background thread once it is
// started (inline otherwise), so checks of the disk poll with a bounded loop
// (`eventually`) instead of sleeping a fixed time. The configurations and
// helpers are in store_fixture.hpp.
#include "cache/store.hpp"

#include <doctest/doctest.h>

#include <set>
#include <string>
#include <vector>

#include "store_fixture.hpp"

namespace http = gateway::http;
using gateway::cache::RuleConfig;
using namespace gateway::cache;
using namespace gateway::cache::testing;

// ---------------------------------------------------------------- purge

TEST_CASE_TEMPLATE("store: purge_url removes every variant and extra key part of one URL", C, STORE_CONFIGS) {
  Harness<C> h;
  auto& store = h.store();
  RuleConfig rule;
  rule.key_headers = {"x-device"};
  const std::vector<std::string> vary = {"accept-language"};
  struct Item {
    http::Request req;
    bool purged;
  };
  std::vector<Item> items = {
      {get("example.com", "/a", {{"X-Device", "mobile"}, {"Accept-Language", "en"}}), true},
      {get("example.com", "/a", {{"X-Device", "mobile"}, {"Accept-Language", "fr"}}), true},
      {get("example.com", "/a", {{"X-Device", "desktop"}, {"Accept-Language", "en"}}), true},
      {get("example.com", "/a", {{"Accept-Language", "en"}}), true},
      {get("example.com", "/a?x=1", {{"Accept-Language", "en"}}), false},
      {get("example.com", "/ab", {{"Accept-Language", "en"}}), false},
      {get("example.com", "/a/b", {{"Accept-Language", "en"}}), false},
      {get("other.com", "/a", {{"Accept-Language", "en"}}), false},
  };
  std::vector<std::shared_ptr<const Entry>> entries;
  for (std::size_t i = 0; i < items.size(); ++i) {
    auto e = put(store, make_meta(items[i].req, vary, {}, rule), "body " + std::to_string(i));
    REQUIRE(e);
    entries.push_back(e);
  }
  REQUIRE(store.stats().entries == items.size());

  CHECK(store.purge_url(url_key("example.com", "/a", rule)) == 4);
  CHECK(store.stats().purged == 4);
  CHECK(store.stats().entries == 4);
  std::uint64_t bytes = 0;
  for (std::size_t i = 0; i < items.size(); ++i) {
    CAPTURE(i);
    auto e = h.lookup(items[i].req, rule);
    CHECK(static_cast<bool>(e) == !items[i].purged);
    if (items[i].purged) {
      CHECK(eventually([&] { return !exists(entries[i]->path); }));
    } else {
      CHECK(exists(entries[i]->path));
      bytes += entries[i]->charged;
    }
  }
  CHECK(store.stats().bytes == bytes);
  CHECK(store.purge_url(url_key("example.com", "/a", rule)) == 0);
  CHECK(store.purge_url(url_key("example.com", "/nothing", rule)) == 0);
  CHECK(eventually([&] { return h.settled(); }));
}

TEST_CASE_TEMPLATE("store: purge_prefix by host, any host and exact", C, STORE_CONFIGS) {
  Harness<C> h;
  auto& store = h.store();
  const std::vector<http::Request> reqs = {
      get("example.com", "/img/a.png"),    // 0
      get("example.com", "/img/b.png?v=1"),  // 1
      get("example.com", "/imgx"),         // 2
      get("example.com", "/css/a.css"),    // 3
      get("other.com", "/img/a.png"),      // 4
      get("other.com", "/"),               // 5
  };
  std::vector<std::shared_ptr<const Entry>> entries;
  for (std::size_t i = 0; i < reqs.size(); ++i) {
    auto e = put(store, make_meta(reqs[i]), "body " + std::to_string(i));
    REQUIRE(e);
    entries.push_back(e);
  }
  auto present = [&] {
    std::set<std::size_t> s;
    for (std::size_t i = 0; i < reqs.size(); ++i)
      if (h.lookup(reqs[i])) s.insert(i);
    return s;
  };
  std::set<std::size_t> gone;

  SUBCASE("one host") {
    CHECK(store.purge_prefix("example.com", "/img/") == 2);
    CHECK(present() == std::set<std::size_t>{2, 3, 4, 5});
    gone = {0, 1};
  }
  SUBCASE("any host") {
    CHECK(store.purge_prefix("", "/img/") == 3);
    CHECK(present() == std::set<std::size_t>{2, 3, 5});
    gone = {0, 1, 4};
  }
  SUBCASE("any host, every path") {
    CHECK(store.purge_prefix("", "/") == reqs.size());
    CHECK(present().empty());
    gone = {0, 1, 2, 3, 4, 5};
  }
  SUBCASE("exact") {
    CHECK(store.purge_prefix("example.com", "/img/a.png", true) == 1);
    CHECK(store.purge_prefix("example.com", "/img/b.png", true) == 0);  // the stored target has a query
    CHECK(store.purge_prefix("example.com", "/img/b.png?v=1", true) == 1);
    CHECK(store.purge_prefix("", "/", true) == 1);
    CHECK(present() == std::set<std::size_t>{2, 3, 4});
    gone = {0, 1, 5};
  }
  SUBCASE("no match") {
    CHECK(store.purge_prefix("example.org", "/") == 0);
    CHECK(store.purge_prefix("example.com", "/js/") == 0);
    CHECK(present().size() == reqs.size());
  }
  CHECK(store.stats().entries == reqs.size() - gone.size());
  CHECK(store.stats().purged == gone.size());
  for (auto i : gone) CHECK(eventually([&] { return !exists(entries[i]->path); }));
  CHECK(eventually([&] { return h.settled(); }));
}

TEST_CASE_TEMPLATE("store: purge_tag removes the tagged entries", C, STORE_CONFIGS) {
  Harness<C> h;
  auto& store = h.store();
  const std::vector<std::vector<std::string>> tags = {{"a", "b"}, {"b"}, {"c"}, {}, {"bb"}};
  std::vector<std::shared_ptr<const Entry>> entries;
  for (std::size_t i = 0; i < tags.size(); ++i) {
    auto e = put(store, make_meta(get("example.com", "/t/" + std::to_string(i)), {}, tags[i]), "x");
    REQUIRE(e);
    entries.push_back(e);
  }
  CHECK(store.purge_tag("b") == 2);
  CHECK(store.purge_tag("b") == 0);
  CHECK(store.purge_tag("") == 0);
  CHECK(store.purge_tag("B") == 0);  // tags are compared exactly
  CHECK_FALSE(h.lookup(get("example.com", "/t/0")));
  CHECK_FALSE(h.lookup(get("example.com", "/t/1")));
  for (int i : {2, 3, 4}) CHECK(h.lookup(get("example.com", "/t/" + std::to_string(i))));
  CHECK(store.purge_tag("a") == 0);  // its entry went with "b"
  CHECK(store.purge_tag("c") == 1);
  CHECK(store.stats().entries == 2);
  CHECK(store.stats().purged == 3);
  for (int i : {0, 1, 2}) CHECK(eventually([&] { return !exists(entries[i]->path); }));
  CHECK(eventually([&] { return h.settled(); }));
}

TEST_CASE_TEMPLATE("store: remove() drops one entry and open() then finds no file", C, STORE_CONFIGS) {
  Harness<C> h;
  auto& store = h.store();
  auto a = put(store, make_meta(get("example.com", "/a")), make_body(100'000, 1));
  auto b = put(store, make_meta(get("example.com", "/b")), "b");
  REQUIRE(a);
  REQUIRE(b);
  REQUIRE(store.open(*a));  // cached descriptor
  store.remove(a);
  CHECK_FALSE(h.lookup(get("example.com", "/a")));
  CHECK(h.lookup(get("example.com", "/b")));
  CHECK(store.stats().entries == 1);
  CHECK(store.stats().bytes == b->charged);
  CHECK(eventually([&] { return !exists(a->path); }));
  CHECK_FALSE(store.open(*a));
  store.remove(a);  // twice: harmless
  CHECK(store.stats().entries == 1);
}
