// Recycling evicted files (issue 14, the miss path under churn): a file
// leaving the deletion backlog becomes the next fill's file (truncated,
// renamed into tmp/) instead of being unlinked while the next fill creates
// a new one; but never while anybody holds it (an Entry of it, a FileRef on
// it), and a restart loads only complete entries, never a spare.
#include <doctest/doctest.h>
#include <sys/stat.h>

#include <filesystem>
#include <map>
#include <string>

#include "store_fixture.hpp"

using namespace gateway::cache;
using namespace gateway::cache::testing;
namespace fs = std::filesystem;
namespace http = gateway::http;

namespace {

StoreOptions small_zone(const std::string& path) {
  StoreOptions o;
  o.path = path;
  o.max_size = 64 << 10;  // a dozen 5 KB entries
  o.memory = 0;           // every body is read from its file
  return o;
}

http::Request req_of(int i) { return get("example.com", "/r/" + std::to_string(i)); }

// Fill i: a body of its own (make_body's seed), committed; then waits until
// the background thread has dealt with what it evicted.
std::shared_ptr<const Entry> churn_one(Store& store, int i) {
  auto e = put(store, make_meta(req_of(i)), make_body(5000, static_cast<std::uint32_t>(i)));
  REQUIRE(e);
  REQUIRE(eventually([&] { return store.stats().backlog_files == 0; }));
  return e;
}

// Files in tmp/ (spares: empty), and the bytes of the entry files.
std::size_t spares(const std::string& root) {
  std::size_t n = 0;
  for (const auto& f : fs::directory_iterator(fs::path(root) / "tmp")) n += f.is_regular_file();
  return n;
}

std::uint64_t entry_bytes(const std::string& root) {
  std::uint64_t n = 0;
  for (const auto& f : entry_files(root)) n += fs::file_size(f);
  return n;
}

std::size_t fd_size(int fd) {
  struct stat st {};
  REQUIRE(::fstat(fd, &st) == 0);
  return static_cast<std::size_t>(st.st_size);
}

}  // namespace

TEST_CASE("store recycle: a retired file is recycled only if nobody holds it and the pool has room") {
  struct Row {
    bool held;
    std::size_t spares, max_spares;
    RetiredFate fate;
  };
  const Row rows[] = {
      {false, 0, 256, RetiredFate::recycle},
      {false, 255, 256, RetiredFate::recycle},
      {false, 256, 256, RetiredFate::unlink},  // the pool is full
      {false, 300, 256, RetiredFate::unlink},
      {true, 0, 256, RetiredFate::unlink},  // a hit still reads it, or a FileRef is open on it
      {true, 256, 256, RetiredFate::unlink},
      {false, 0, 0, RetiredFate::unlink},
  };
  for (const auto& r : rows) {
    CAPTURE(r.held);
    CAPTURE(r.spares);
    CHECK(retired_file_fate(r.held, r.spares, r.max_spares) == r.fate);
  }
}

TEST_CASE("store recycle: under churn the fills reuse evicted files instead of creating new ones") {
  TempDir dir;
  Store store(small_zone(dir.path()));
  store.start();
  store.wait_loaded();
  for (int i = 0; i < 200; ++i) churn_one(store, i);
  CHECK(store.stats().evictions.load() > 150);
  CHECK(store.stats().recycled_files.load() > 150);
  // The first spares and the fills before the zone was full: the rest are
  // evicted files again.
  CHECK(store.stats().files_created.load() < 60);
  // Spares are empty: the disk holds the entries' bytes only.
  CHECK(spares(dir.path()) > 0);
  CHECK(disk_usage(dir.path()) == disk_usage((fs::path(dir.path()) / "tmp").string()) + entry_bytes(dir.path()));
  CHECK(disk_usage((fs::path(dir.path()) / "tmp").string()) == 0);
  CHECK(disk_usage(dir.path()) <= store.stats().disk_bytes.load());
  for (int i = 195; i < 200; ++i) {
    auto e = store.lookup(make_meta(req_of(i)).key, req_of(i), now());
    REQUIRE(e);
    CHECK(fp(file_body(store, *e)) == fp(make_body(5000, static_cast<std::uint32_t>(i))));
  }
}

TEST_CASE("store recycle: a file open for a hit keeps its bytes while later fills churn the zone") {
  TempDir dir;
  Store store(small_zone(dir.path()));
  store.start();
  store.wait_loaded();
  const std::string body = make_body(5000, 7);
  auto e = put(store, make_meta(req_of(-1)), body);
  REQUIRE(e);
  auto ref = store.open(*e);  // a hit in progress: sendfile() from this descriptor
  REQUIRE(ref);
  const auto offset = e->body_offset;
  const auto size = fd_size(ref->fd);
  e.reset();  // only the descriptor is held now
  for (int i = 0; i < 100; ++i) churn_one(store, i);
  CHECK(store.stats().recycled_files.load() > 50);
  CHECK(fd_size(ref->fd) == size);
  CHECK(fp(read_at(ref->fd, offset, body.size())) == fp(body));
}

TEST_CASE("store recycle: a fill's reader keeps its bytes while later fills churn the zone") {
  TempDir dir;
  Store store(small_zone(dir.path()));
  store.start();
  store.wait_loaded();
  const std::string body = make_body(5000, 9);
  std::shared_ptr<FileRef> reader;
  std::uint64_t offset = 0;
  {
    auto w = store.begin(make_meta(req_of(-2)));
    REQUIRE(w);
    reader = w->reader();  // a request following the fill
    offset = w->body_offset();
    REQUIRE(w->write(body));
    REQUIRE(w->commit(body.size()));
  }
  for (int i = 0; i < 100; ++i) churn_one(store, i);
  CHECK(store.stats().recycled_files.load() > 50);
  CHECK(fp(read_at(reader->fd, offset, body.size())) == fp(body));
}

TEST_CASE("store recycle: a restart after recycling loads the complete entries only, never a spare") {
  TempDir dir, copy;
  std::map<int, std::string> indexed;  // fill number -> body, of the entries still indexed
  {
    Store store(small_zone(dir.path()));
    store.start();
    store.wait_loaded();
    for (int i = 0; i < 60; ++i) churn_one(store, i);
    REQUIRE(store.stats().recycled_files.load() > 0);
    REQUIRE(spares(dir.path()) > 0);  // empty, in tmp/
    for (int i = 0; i < 60; ++i)
      if (store.lookup(make_meta(req_of(i)).key, req_of(i), now(), false))
        indexed[i] = make_body(5000, static_cast<std::uint32_t>(i));
    // The disk as a crash would leave it: spares and all.
    fs::copy(dir.path(), copy.path(), fs::copy_options::recursive | fs::copy_options::overwrite_existing);
  }
  Store again(small_zone(copy.path()));
  again.start();
  again.wait_loaded();
  CHECK(again.stats().loaded == indexed.size());
  CHECK(again.stats().load_dropped == 0);
  CHECK(again.stats().entries == indexed.size());
  CHECK(entry_files(copy.path()).size() == indexed.size());
  for (const auto& [i, body] : indexed) {
    CAPTURE(i);
    auto e = again.lookup(make_meta(req_of(i)).key, req_of(i), now());
    REQUIRE(e);
    CHECK(fp(file_body(again, *e)) == fp(body));
  }
}
