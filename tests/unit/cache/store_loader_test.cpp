// Conformance suite for cache/store, persistence: entries survive a restart,
// the start-up loader leaves alone the fills made since start and drops
// damaged files. Every case runs over each store configuration (eviction
// policy, RAM tier on or off, background thread started or not), Envoy's
// http_cache_implementation_test_common style. Each case gets a fresh
// temporary directory, removed afterwards.
//
// Deletions and rewrites happen on the store's background thread once it is
// started (inline otherwise), so checks of the disk poll with a bounded loop
// (`eventually`) instead of sleeping a fixed time. The configurations and
// helpers are in store_fixture.hpp.
#include "cache/store.hpp"

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "store_fixture.hpp"

namespace http = gateway::http;
namespace fs = std::filesystem;
using namespace gateway::cache;
using namespace gateway::cache::testing;

// ---------------------------------------------------------------- persistence

TEST_CASE_TEMPLATE("store: entries survive a restart with identical meta and body", C, STORE_CONFIGS) {
  Harness<C> h;
  const std::vector<std::string> vary = {"accept-language"};
  struct Item {
    http::Request req;
    EntryMeta meta;
    std::string body;
  };
  std::vector<Item> items;
  auto add = [&](http::Request req, std::vector<std::string> v, std::vector<std::string> tags, std::string body) {
    auto meta = make_meta(req, std::move(v), std::move(tags));
    meta.body_size = body.size();
    items.push_back({std::move(req), std::move(meta), std::move(body)});
  };
  add(get("example.com", "/p/small"), {}, {"t1"}, "small body");
  add(get("example.com", "/p/v", {{"Accept-Language", "en"}}), vary, {}, "english");
  add(get("example.com", "/p/v", {{"Accept-Language", "fr"}}), vary, {"t1", "t2"}, "french");
  add(get("example.com", "/p/empty"), {}, {}, "");
  add(get("example.com", "/p/big"), {}, {"t2"}, make_body(200'000, 9));
  add(get("other.com", "/p/small"), {}, {}, make_body(5000, 10));
  items[0].meta.validators.last_modified.reset();
  items[1].meta.validators.etag.reset();
  items[2].meta.freshness.must_revalidate = true;
  items[3].meta.freshness.no_cache = true;
  items[3].meta.status = 204;

  for (auto& it : items) REQUIRE(put(h.store(), it.meta, it.body));
  const auto bytes = h->stats().bytes.load();
  h.restart();
  CHECK(h->stats().loaded == items.size());
  CHECK(h->stats().load_dropped == 0);
  CHECK(h->stats().entries == items.size());
  CHECK(h->stats().bytes == bytes);
  CHECK_FALSE(h->stats().loading);
  for (std::size_t i = 0; i < items.size(); ++i) {
    CAPTURE(i);
    auto e = h.lookup(items[i].req);
    REQUIRE(e);
    check_meta(e->meta, items[i].meta);
    CHECK(fp(served_body(h.store(), *e)) == fp(items[i].body));
    CHECK(fp(file_body(h.store(), *e)) == fp(items[i].body));
    CHECK(static_cast<bool>(e->body) == (C::memory > 0 && items[i].body.size() <= h.options().memory_entry_max));
  }
  CHECK_FALSE(h.lookup(get("example.com", "/p/v", {{"Accept-Language", "de"}})));
  // Tags came back too.
  CHECK(h->purge_tag("t2") == 2);
  // And a second restart sees the purge.
  h.restart();
  CHECK(h->stats().loaded == items.size() - 2);
  CHECK_FALSE(h.lookup(items[2].req));
  CHECK_FALSE(h.lookup(items[4].req));
  CHECK(h.lookup(items[0].req));
}

// Fills do not wait for the loader: a file written by this run is already
// indexed, and the loader neither indexes it twice nor deletes it as a stale
// copy of its own key.
TEST_CASE_TEMPLATE("store: the start-up loader leaves alone the files of fills made since start", C, STORE_CONFIGS) {
  Harness<C> h;
  auto old_req = get("example.com", "/before");
  auto new_req = get("example.com", "/since");
  auto refilled_req = get("example.com", "/refilled");
  REQUIRE(put(h.store(), make_meta(old_req), make_body(3000, 1)));
  auto stale_copy = put(h.store(), make_meta(refilled_req), make_body(3000, 2));
  REQUIRE(stale_copy);
  h.reopen_unstarted();
  auto fresh = put(h.store(), make_meta(new_req), make_body(3000, 3));
  auto refilled = put(h.store(), make_meta(refilled_req), make_body(3000, 4));
  REQUIRE(fresh);
  REQUIRE(refilled);
  h.start();
  CHECK(h->stats().loaded == 1);         // /before
  CHECK(h->stats().load_dropped == 1);   // the older copy of /refilled
  CHECK(h->stats().entries == 3);
  CHECK(fs::exists(fresh->path));
  CHECK(fs::exists(refilled->path));
  CHECK_FALSE(fs::exists(stale_copy->path));
  auto e = h.lookup(refilled_req);
  REQUIRE(e);
  CHECK(fp(served_body(h.store(), *e)) == fp(make_body(3000, 4)));
  REQUIRE(h.lookup(new_req));
  CHECK(fp(file_body(h.store(), *h.lookup(new_req))) == fp(make_body(3000, 3)));
  CHECK(eventually([&] { return h.settled(); }));
}

TEST_CASE_TEMPLATE("store: damaged files are dropped at start-up and never served", C, STORE_CONFIGS) {
  Harness<C> h;
  auto req = [](const std::string& name) { return get("example.com", "/d/" + name); };
  const std::vector<std::string> names = {"intact", "truncated", "body-flip", "meta-flip", "header-flip",
                                          "no-header", "extended"};
  std::map<std::string, std::shared_ptr<const Entry>> e;
  for (std::size_t i = 0; i < names.size(); ++i) {
    e[names[i]] = put(h.store(), make_meta(req(names[i])), make_body(10'000, static_cast<std::uint32_t>(i)));
    REQUIRE(e[names[i]]);
  }
  h.close();

  auto flip = [](const std::string& path, std::uint64_t offset) {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    REQUIRE(f);
    f.seekg(static_cast<std::streamoff>(offset));
    char c = 0;
    f.get(c);
    f.seekp(static_cast<std::streamoff>(offset));
    f.put(static_cast<char>(c ^ 0x20));
  };
  fs::resize_file(e["truncated"]->path, fs::file_size(e["truncated"]->path) - 1);
  flip(e["body-flip"]->path, e["body-flip"]->body_offset + 5000);
  flip(e["meta-flip"]->path, FileHeader::kSize + 10);
  flip(e["header-flip"]->path, 20);
  {
    std::fstream f(e["no-header"]->path, std::ios::in | std::ios::out | std::ios::binary);
    f.write(std::string(FileHeader::kSize, '\0').data(), FileHeader::kSize);
  }
  { std::ofstream(e["extended"]->path, std::ios::app | std::ios::binary) << "x"; }
  // Files that were never entries, in a bucket directory.
  const auto bucket = fs::path(h.path()) / "ab" / "cd";
  fs::create_directories(bucket);
  const auto zero = (bucket / "00000000000000ab-1").string();
  const auto garbage = (bucket / "garbage name.txt").string();
  { std::ofstream(zero, std::ios::binary); }
  { std::ofstream(garbage, std::ios::binary) << std::string(200, 'g'); }
  const std::size_t damaged = names.size() - 1 + 2;

  h.restart();
  CHECK(h->stats().loaded == 1);
  CHECK(h->stats().load_dropped == damaged);
  CHECK(h->stats().entries == 1);
  CHECK(h->stats().bytes == e["intact"]->charged);
  for (const auto& name : names) {
    CAPTURE(name);
    auto found = h.lookup(req(name));
    if (name == "intact") {
      REQUIRE(found);
      CHECK(fp(served_body(h.store(), *found)) == fp(make_body(10'000, 0)));
    } else {
      CHECK_FALSE(found);
      CHECK_FALSE(exists(e[name]->path));
    }
  }
  CHECK_FALSE(exists(zero));
  CHECK_FALSE(exists(garbage));
  CHECK(entry_files(h.path()).size() == 1);
}
