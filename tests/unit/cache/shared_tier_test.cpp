// Tests for cache/shared_tier, without a Redis:
//  - the value an entry has in Redis (encode_shared_entry /
//    decode_shared_entry) round trips, and anything damaged is refused;
//  - glob_escape makes a Redis glob match only itself.
// RedisClient, which carries these values, is tested in redis_client_test.cpp.
#include "cache/shared_tier.hpp"

#include <doctest/doctest.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "meta_check.hpp"

using namespace gateway::cache;

namespace {

// ------------------------------------------------------------------ entries

using testing::full_meta;

std::string binary_body() {
  std::string b;
  for (int i = 0; i < 3 * 256; ++i) b.push_back(static_cast<char>(i));  // NUL, \x1e, \x1f, \r, \n, 0xff...
  b += "GWR1";                                                             // the magic again, inside the body
  return b;
}

void put_u32(std::string& s, std::size_t at, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) s[at + static_cast<std::size_t>(i)] = static_cast<char>(v >> (8 * i));
}

std::uint32_t get_u32(const std::string& s, std::size_t at) {
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= static_cast<std::uint32_t>(static_cast<unsigned char>(s[at + i])) << (8 * i);
  return v;
}

}  // namespace

TEST_CASE("shared tier: an entry round trips through its Redis value (Vary fields, tags, validators)") {
  const auto m = full_meta();
  SUBCASE("binary body") {
    const auto body = binary_body();
    auto value = encode_shared_entry(m, body);
    CHECK(value.rfind("GWR2", 0) == 0);
    EntryMeta out;
    std::string got;
    REQUIRE(decode_shared_entry(value, out, got));
    testing::check_same_meta(out, m);
    CHECK(got == body);
    CHECK(out.body_size == body.size());
  }
  SUBCASE("empty body") {
    auto value = encode_shared_entry(m, "");
    EntryMeta out;
    std::string got = "left over";
    REQUIRE(decode_shared_entry(value, out, got));
    testing::check_same_meta(out, m);
    CHECK(got.empty());
    CHECK(out.body_size == 0);
  }
  SUBCASE("no Vary, no tags, no validators") {
    EntryMeta plain;
    plain.key = "GET\x1fh\x1f/";
    plain.head = "HTTP/1.1 200 OK\r\n";
    auto value = encode_shared_entry(plain, "x");
    EntryMeta out;
    std::string got;
    REQUIRE(decode_shared_entry(value, out, got));
    testing::check_same_meta(out, plain);
    CHECK(out.vary_fields.empty());
    CHECK(out.tags.empty());
    CHECK_FALSE(out.validators.etag);
    CHECK_FALSE(out.validators.last_modified);
    CHECK(got == "x");
  }
  SUBCASE("body_size is the body's, whatever the meta said") {
    auto lying = m;
    lying.body_size = 999'999;
    EntryMeta out;
    std::string got;
    REQUIRE(decode_shared_entry(encode_shared_entry(lying, "abc"), out, got));
    CHECK(out.body_size == 3);
  }
}

TEST_CASE("shared tier: the value is the magic, the meta length (LE 32), the body length (LE 64), the meta, then the body") {
  const auto m = full_meta();
  const std::string body = "hello";
  auto value = encode_shared_entry(m, body);
  auto meta = encode_meta(m);
  REQUIRE(value.size() == 16 + meta.size() + body.size());
  CHECK(value.substr(0, 4) == "GWR2");
  CHECK(get_u32(value, 4) == meta.size());
  CHECK(get_u32(value, 8) == body.size());
  CHECK(get_u32(value, 12) == 0);
  CHECK(value.substr(16, meta.size()) == meta);
  CHECK(value.substr(16 + meta.size()) == body);
}

TEST_CASE("shared tier: decode refuses a wrong magic, a bad meta length and truncated headers or meta") {
  const auto m = full_meta();
  const std::string body = "body bytes";
  const auto value = encode_shared_entry(m, body);
  const std::size_t meta_len = get_u32(value, 4);
  EntryMeta out;
  std::string got;

  SUBCASE("empty and short values") {
    for (std::string_view v : {std::string_view(), std::string_view("G"), std::string_view("GWR2"),
                               std::string_view("GWR2\0\0\0", 7)}) {
      CAPTURE(v.size());
      CHECK_FALSE(decode_shared_entry(v, out, got));
    }
  }
  SUBCASE("wrong magic") {
    for (const std::string& magic : std::vector<std::string>{"GWR0", "GWR1", "gwr2", "GWCA", std::string("\0\0\0\0", 4)}) {
      CAPTURE(magic);
      auto v = value;
      v.replace(0, 4, magic);
      CHECK_FALSE(decode_shared_entry(v, out, got));
    }
  }
  SUBCASE("truncated anywhere in the magic, the length or the meta") {
    for (std::size_t n = 0; n < 16 + meta_len; ++n) {
      CAPTURE(n);
      CHECK_FALSE(decode_shared_entry(std::string_view(value).substr(0, n), out, got));
    }
  }
  SUBCASE("a meta length past the end of the value") {
    for (std::uint32_t len : {static_cast<std::uint32_t>(meta_len + body.size() + 1), 0x7fffffffu, 0xffffffffu}) {
      CAPTURE(len);
      auto v = value;
      put_u32(v, 4, len);
      CHECK_FALSE(decode_shared_entry(v, out, got));
    }
  }
  SUBCASE("a meta length that cuts the meta short or runs into the body") {
    for (std::size_t len : {std::size_t{0}, std::size_t{1}, meta_len - 1, meta_len + 1, meta_len + body.size()}) {
      CAPTURE(len);
      auto v = value;
      put_u32(v, 4, static_cast<std::uint32_t>(len));
      CHECK_FALSE(decode_shared_entry(v, out, got));
    }
  }
  SUBCASE("a damaged meta") {
    auto v = value;
    v[16] = static_cast<char>(v[16] ^ 0x5a);  // the meta's version
    CHECK_FALSE(decode_shared_entry(v, out, got));
  }
}

TEST_CASE("shared tier: decode refuses a value truncated inside the body") {
  const auto value = encode_shared_entry(full_meta(), "0123456789");
  EntryMeta out;
  std::string got;
  REQUIRE(decode_shared_entry(value, out, got));
  for (std::size_t cut = 1; cut <= 10; ++cut) {
    CAPTURE(cut);
    CHECK_FALSE(decode_shared_entry(std::string_view(value).substr(0, value.size() - cut), out, got));
  }
}

TEST_CASE("shared tier: glob_escape makes a Redis glob match only itself") {
  CHECK(glob_escape("") == "");
  CHECK(glob_escape("/api/channels/1?a=b&c=d") == "/api/channels/1\\?a=b&c=d");
  CHECK(glob_escape("*") == "\\*");
  CHECK(glob_escape("a*b?c[d]e\\f") == "a\\*b\\?c\\[d\\]e\\\\f");
  CHECK(glob_escape("[^a-z]") == "\\[^a-z\\]");
  CHECK(glob_escape("\\*") == "\\\\\\*");
  // Everything else, control bytes included, goes through as is.
  const std::string plain = std::string("GET\x1fhost\x1f/p\x1e", 13) + "^$.+-{}()|!%";
  CHECK(glob_escape(plain) == plain);
}
