// Recycling races (issue 14, the miss path under churn): the background
// thread and a committing fill both delete backlog files (a fill deletes
// them itself while the disk is past max_size). They must never work on the
// same retired file: one of them could empty it after the other had already
// made it the next fill's file, truncating a live entry (the revert of
// 21ee9e9: under parallel load an indexed entry with no body, and a restart
// that dropped an indexed entry as torn). The interleaving is injected
// through Store::set_recycle_hook, not by timing.
#include <doctest/doctest.h>

#include <atomic>
#include <string>
#include <thread>

#include "store_fixture.hpp"

using namespace gateway::cache;
using namespace gateway::cache::testing;
namespace http = gateway::http;

namespace {

constexpr std::size_t kBody = 5000;

StoreOptions small_lru_zone(const std::string& path) {
  StoreOptions o;
  o.path = path;
  o.max_size = 64 << 10;  // eight 5 KB entries (two blocks each)
  o.memory = 0;           // every body is read from its file
  o.policy.kind = PolicyKind::lru;
  return o;
}

http::Request req_of(int i) { return get("example.com", "/race/" + std::to_string(i)); }

std::string body_of(int i) { return make_body(kBody, static_cast<std::uint32_t>(i)); }

// A fill without doctest assertions (it runs on a thread of its own).
bool fill(Store& store, int i) {
  auto w = store.begin(make_meta(req_of(i)));
  if (!w || !w->write(body_of(i))) return false;
  return w->commit(kBody) != nullptr;
}

}  // namespace

TEST_CASE("store recycle race: a fill that reuses a file while the background thread empties it keeps its body") {
  TempDir dir;
  Store store(small_lru_zone(dir.path()));
  std::atomic<bool> armed{false}, fired{false}, done{false};
  std::string victim;  // the purged entry's file, set before arming
  std::unique_ptr<EntryWriter> first;  // fill 100, begun before the purge (admitted: no backlog then)
  std::atomic<bool> first_done{false};
  // The first thread about to empty the purged entry's file (the background
  // thread: nobody else deletes anything then) stops there while a fill
  // thread commits fill 100, which finds the disk past max_size and deletes
  // backlog files itself, and then writes fill 101 into a spare (the newest
  // spare goes first: before the fix, the purged file).
  store.set_recycle_hook([&](const std::string& path) {
    if (!armed.load() || path != victim || fired.exchange(true)) return;
    std::thread helper([&] {
      first_done = first->commit(kBody) != nullptr;
      fill(store, 101);  // may be refused (disk-backlog) while the purged file waits: that is fine
    });
    helper.join();
    done = true;
  });
  store.start();
  store.wait_loaded();
  for (int i = 0; i < 20; ++i) {
    REQUIRE(fill(store, i));
    REQUIRE(eventually([&] { return store.stats().backlog_files == 0; }));
  }
  REQUIRE(store.stats().evictions.load() > 5);
  auto v = store.lookup(make_meta(req_of(19)).key, req_of(19), now(), false);
  REQUIRE(v);
  victim = v->path;
  v.reset();  // nobody holds it: recycled, not unlinked
  first = store.begin(make_meta(req_of(100)));
  REQUIRE(first);
  REQUIRE(first->write(body_of(100)));
  armed = true;
  REQUIRE(store.purge_url(make_meta(req_of(19)).key) == 1);
  REQUIRE(eventually([&] { return done.load(); }));
  REQUIRE(eventually([&] { return store.stats().backlog_files == 0; }));
  CHECK(first_done);
  // Every indexed entry reads back as written.
  std::size_t indexed = 0;
  for (int i = 0; i < 102; ++i) {
    auto e = store.lookup(make_meta(req_of(i)).key, req_of(i), now(), false);
    if (!e) continue;
    ++indexed;
    CAPTURE(i);
    CHECK(fp(file_body(store, *e)) == fp(body_of(i)));
  }
  CHECK(indexed == store.stats().entries);
}
