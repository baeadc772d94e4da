// gateway/static_memory.hpp: which files may be kept (small, and settled
// for a second), and the memory's budget, least recently used out first.
#include <doctest/doctest.h>

#include <memory>
#include <string>

#include "gateway/static_memory.hpp"

using namespace gateway::static_files;

namespace {
constexpr std::int64_t kSecond = 1'000'000'000;

FileVersion version(std::uint64_t size, std::int64_t changed_ns) {
  return {1, 2, size, changed_ns, changed_ns};
}

std::shared_ptr<const KeptFile> file(std::uint64_t ino, std::size_t size) {
  auto f = std::make_shared<KeptFile>();
  f->version = {1, ino, size, 0, 0};
  f->bytes.assign(size, 'x');
  return f;
}
}  // namespace

TEST_CASE("static memory: a file is kept if small and unchanged for a second") {
  const std::int64_t now = 1000 * kSecond;
  constexpr std::uint64_t kBudget = 4 << 20;
  CHECK(keepable(version(4096, now - 2 * kSecond), kBudget, now));
  CHECK(keepable(version(kMemoryFileMax, now - kSecond), kBudget, now));
  CHECK_FALSE(keepable(version(kMemoryFileMax + 1, now - 2 * kSecond), kBudget, now));
  CHECK_FALSE(keepable(version(4096, now - kSecond + 1), kBudget, now));  // racy: same clock tick
  CHECK_FALSE(keepable(version(4096, now + kSecond), kBudget, now));      // from the future
  FileVersion ctime_only = version(4096, now - 5 * kSecond);
  ctime_only.ctime_ns = now;  // chmod, or a write with its mtime put back
  CHECK_FALSE(keepable(ctime_only, kBudget, now));
  CHECK_FALSE(keepable(version(4096, now - 2 * kSecond), 16 * 1024, now));  // over an eighth of the budget
  CHECK(keepable(version(2048, now - 2 * kSecond), 16 * 1024, now));
  CHECK(keepable(version(0, now - 2 * kSecond), kBudget, now));
}

TEST_CASE("static memory: within its budget, least recently used out first, forget drops one") {
  Memory m(300);
  m.keep("a", file(1, 100));
  m.keep("b", file(2, 100));
  m.keep("c", file(3, 100));
  CHECK(m.bytes() == 300);
  REQUIRE(m.find("a"));  // now the most recent: b is the oldest
  m.keep("d", file(4, 100));
  CHECK(m.files() == 3);
  CHECK_FALSE(m.find("b"));
  CHECK(m.find("a"));
  CHECK(m.find("c"));
  CHECK(m.find("d"));

  m.keep("a", file(5, 50));  // a new version replaces the old
  CHECK(m.bytes() == 250);
  CHECK(m.find("a")->version.ino == 5);
  m.forget("a");
  CHECK_FALSE(m.find("a"));
  CHECK(m.bytes() == 200);
  m.forget("nothing");
  m.keep("huge", file(6, 301));  // over the whole budget: not kept, nothing dropped
  CHECK(m.files() == 2);
  CHECK(m.bytes() == 200);
}
