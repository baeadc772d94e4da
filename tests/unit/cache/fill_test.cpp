// Tests for cache/fill: fill coalescing. Who leads and who follows a key's
// fill, that a leader's end always tells its followers (released, failed or
// complete) and frees the key, hit-for-miss after a response that was not
// storable, followers counted until they leave, and which requests a fill
// serves. Single-threaded: the wake-ups are plain callbacks here.
#include "cache/fill.hpp"

#include <doctest/doctest.h>

#include <memory>
#include <string>

using namespace gateway::cache;
namespace http = gateway::http;

namespace {

constexpr Seconds kNow = 1'700'000'000;

http::Request request(std::string_view accept_language = {}) {
  http::Request r;
  r.method = "GET";
  r.target = "/a";
  if (!accept_language.empty()) r.headers.add("Accept-Language", accept_language);
  return r;
}

std::shared_ptr<const EntryMeta> meta(std::vector<std::string> vary_fields, std::string vary_key) {
  auto m = std::make_shared<EntryMeta>();
  m->key = "k";
  m->vary_fields = std::move(vary_fields);
  m->vary_key = std::move(vary_key);
  return m;
}

}  // namespace

TEST_CASE("fill: the first request leads, the next follow up to max_followers, then nobody coalesces") {
  FillTable table;
  auto a = table.join("k", 2, kNow);
  REQUIRE(a.lead);
  CHECK(!a.follow);
  CHECK(table.in_flight("k"));
  auto b = table.join("k", 2, kNow);
  auto c = table.join("k", 2, kNow);
  CHECK((b.follow && !b.lead && c.follow && !c.lead));
  CHECK(&*b.follow == a.lead.operator->());
  auto d = table.join("k", 2, kNow);
  CHECK((!d.lead && !d.follow));  // two followers already
  CHECK(table.join("other", 2, kNow).lead);
  SUBCASE("a follower that leaves frees its place") {
    b.follow = {};
    CHECK(table.join("k", 2, kNow).follow);
  }
}

TEST_CASE("fill: a lead's end tells its followers and frees the key, whatever state the fill is in") {
  struct Row {
    const char* name;
    void (*advance)(Fill&);
    Fill::State after;
    bool told;  // the followers are woken by the end
  };
  const Row rows[] = {
      {"pending: released, the followers fetch for themselves", [](Fill&) {}, Fill::State::released, true},
      {"streaming: failed, the followers abort", [](Fill& f) { f.stream(meta({}, ""), nullptr, 64, std::nullopt); },
       Fill::State::failed, true},
      {"complete: stays complete", [](Fill& f) { f.complete(); }, Fill::State::complete, false},
      {"released: stays released", [](Fill& f) { f.release(); }, Fill::State::released, false},
  };
  for (const auto& r : rows) {
    CAPTURE(r.name);
    for (bool by_destructor : {true, false}) {
      CAPTURE(by_destructor);
      FillTable table;
      auto leader = table.join("k", 10, kNow);
      auto follower = table.join("k", 10, kNow);
      REQUIRE((leader.lead && follower.follow));
      r.advance(*follower.follow);
      bool woken = false;
      follower.follow->on_change(follower.follow->view().version, [&] { woken = true; });
      if (by_destructor) leader = {};
      else leader.lead.finish();
      CHECK(!leader.lead);
      CHECK(follower.follow->view().state == r.after);
      CHECK(woken == r.told);
      CHECK(!table.in_flight("k"));
      CHECK(table.join("k", 10, kNow).lead);  // the key is free for a new fill
    }
  }
}

TEST_CASE("fill: a moved lead ends once, where it was moved to") {
  FillTable table;
  FillLead moved;
  {
    auto joined = table.join("k", 10, kNow);
    moved = std::move(joined.lead);
  }
  CHECK(table.in_flight("k"));  // the moved-from lead ended nothing
  moved->complete();
  moved.finish();
  CHECK(!table.in_flight("k"));
}

TEST_CASE("fill: after a response that was not storable, the key's requests go upstream in parallel for kPassFor") {
  FillTable table;
  {
    auto joined = table.join("k", 10, kNow);
    joined.lead.pass(kNow + 5);
  }
  for (Seconds t : {kNow + 5, kNow + 5 + FillTable::kPassFor - 1}) {
    CAPTURE(t);
    auto j = table.join("k", 10, t);
    CHECK((!j.lead && !j.follow));
  }
  CHECK(table.join("k", 10, kNow + 5 + FillTable::kPassFor).lead);
}

TEST_CASE("fill: a follower streams only a fill whose head is known and was stored for its Vary variant") {
  const VarySpec lang{{"accept-language"}, false};
  const auto en_key = vary_key(lang, request("en"));
  struct Row {
    const char* name;
    Fill::State state;
    std::shared_ptr<const EntryMeta> meta;
    http::Request req;
    bool serves;
  };
  const Row rows[] = {
      {"pending", Fill::State::pending, nullptr, request(), false},
      {"streaming, no Vary", Fill::State::streaming, meta({}, ""), request("fr"), true},
      {"complete, no Vary", Fill::State::complete, meta({}, ""), request(), true},
      {"streaming, same variant", Fill::State::streaming, meta({"accept-language"}, en_key), request("en"), true},
      {"streaming, another variant", Fill::State::streaming, meta({"accept-language"}, en_key), request("fr"), false},
      {"released", Fill::State::released, meta({}, ""), request(), false},
      {"failed", Fill::State::failed, meta({}, ""), request(), false},
  };
  for (const auto& r : rows) {
    CAPTURE(r.name);
    Fill::View v;
    v.state = r.state;
    v.meta = r.meta;
    CHECK(v.serves(r.req) == r.serves);
  }
}

TEST_CASE("fill: on_change wakes at once for a version already past, else at the next change, once") {
  Fill f;
  int woken = 0;
  f.on_change(f.view().version, [&] { ++woken; });
  CHECK(woken == 0);
  f.progress(10);
  CHECK(woken == 1);
  f.progress(20);
  CHECK(woken == 1);  // once
  f.on_change(0, [&] { ++woken; });
  CHECK(woken == 2);  // version 0 is past
}
