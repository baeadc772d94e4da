// Tests for cache/entry: the on-disk encoding of an entry. Metadata round
// trips with every field set and is refused when truncated, extended,
// versioned differently or inconsistent; the file header round trips and
// its own checksum catches any flipped byte; CRC-32 matches the standard
// check value; entry ids depend on both keys. The metadata of an exchange
// (response_meta, revalidated_meta) is built from the policy's decisions.
#include "cache/entry.hpp"
#include "meta_check.hpp"

#include <doctest/doctest.h>

#include <cstdint>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "base/http/serializer.hpp"

using namespace gateway::cache;
namespace http = gateway::http;

namespace {

using testing::full_meta;
using testing::kNow;

void put_u32(std::string& s, std::size_t at, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) s[at + static_cast<std::size_t>(i)] = static_cast<char>(v >> (8 * i));
}

}  // namespace

TEST_CASE("entry: encode_meta/decode_meta round trip every field") {
  const auto m = full_meta();
  auto decoded = decode_meta(encode_meta(m));
  REQUIRE(decoded);
  testing::check_same_meta(*decoded, m);
  CHECK(decoded->body_size == 0);  // the file header carries it, not the metadata
}

TEST_CASE("entry: decode_meta round trips the optional and flag variants") {
  SUBCASE("minimal: no vary, no tags, no validators, no flags") {
    EntryMeta m;
    m.key = "k";
    m.head = "HTTP/1.1 200 OK\r\n";
    auto d = decode_meta(encode_meta(m));
    REQUIRE(d);
    testing::check_same_meta(*d, m);
    CHECK_FALSE(d->validators.etag);
    CHECK_FALSE(d->validators.last_modified);
  }
  SUBCASE("etag without last_modified") {
    auto m = full_meta();
    m.validators.last_modified.reset();
    auto d = decode_meta(encode_meta(m));
    REQUIRE(d);
    testing::check_same_meta(*d, m);
    CHECK_FALSE(d->validators.last_modified);
  }
  SUBCASE("last_modified without etag, at the epoch (present, not absent)") {
    auto m = full_meta();
    m.validators.etag.reset();
    m.validators.last_modified = 0;
    auto d = decode_meta(encode_meta(m));
    REQUIRE(d);
    testing::check_same_meta(*d, m);
    CHECK(d->validators.last_modified == Seconds{0});
  }
  SUBCASE("empty etag differs from none") {
    auto m = full_meta();
    m.validators.etag = "";
    auto d = decode_meta(encode_meta(m));
    REQUIRE(d);
    CHECK(d->validators.etag == std::string());
  }
  SUBCASE("each freshness flag alone") {
    for (int flags = 0; flags < 4; ++flags) {
      auto m = full_meta();
      m.freshness.must_revalidate = (flags & 1) != 0;
      m.freshness.no_cache = (flags & 2) != 0;
      auto d = decode_meta(encode_meta(m));
      REQUIRE(d);
      CHECK(d->freshness.must_revalidate == m.freshness.must_revalidate);
      CHECK(d->freshness.no_cache == m.freshness.no_cache);
    }
  }
  SUBCASE("negative and extreme times") {
    auto m = full_meta();
    m.request_time = -1;
    m.response_time = INT64_MAX;
    m.initial_age = INT64_MIN;
    m.freshness.lifetime = -600;
    auto d = decode_meta(encode_meta(m));
    REQUIRE(d);
    testing::check_same_meta(*d, m);
  }
  SUBCASE("boundary statuses 100 and 599") {
    for (int status : {100, 599}) {
      auto m = full_meta();
      m.status = status;
      auto d = decode_meta(encode_meta(m));
      REQUIRE(d);
      CHECK(d->status == status);
    }
  }
  SUBCASE("binary bytes in strings") {
    auto m = full_meta();
    m.head = std::string("a\0b\xff\r\n", 6);
    m.tags = {std::string("\0", 1), std::string(70'000, 'x')};
    auto d = decode_meta(encode_meta(m));
    REQUIRE(d);
    testing::check_same_meta(*d, m);
  }
}

TEST_CASE("entry: decode_meta rejects truncated input") {
  const auto bytes = encode_meta(full_meta());
  REQUIRE(decode_meta(bytes));
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    CAPTURE(n);
    CHECK_FALSE(decode_meta(std::string_view(bytes).substr(0, n)));
  }
}

TEST_CASE("entry: decode_meta rejects trailing bytes") {
  const auto bytes = encode_meta(full_meta());
  CHECK_FALSE(decode_meta(bytes + '\0'));
  CHECK_FALSE(decode_meta(bytes + "x"));
  CHECK_FALSE(decode_meta(bytes + bytes));
}

TEST_CASE("entry: decode_meta rejects a wrong version") {
  auto bytes = encode_meta(full_meta());
  for (std::uint32_t version : {0u, 2u, 0x01000000u, 0xffffffffu}) {
    CAPTURE(version);
    auto b = bytes;
    put_u32(b, 0, version);
    CHECK_FALSE(decode_meta(b));
  }
}

TEST_CASE("entry: decode_meta rejects a bad status or an empty key") {
  for (int status : {0, 99, 600, 1000, -200}) {
    CAPTURE(status);
    auto m = full_meta();
    m.status = status;
    CHECK_FALSE(decode_meta(encode_meta(m)));
  }
  auto m = full_meta();
  m.key.clear();
  CHECK_FALSE(decode_meta(encode_meta(m)));
}

TEST_CASE("entry: decode_meta survives arbitrary damage") {
  // No crash, no huge allocation: every length is checked against what is
  // left (run under ASan to be meaningful). Whatever decodes is a valid
  // meta: it round trips.
  const auto bytes = encode_meta(full_meta());
  std::mt19937 rng(12345);
  for (int i = 0; i < 5000; ++i) {
    auto b = bytes;
    int flips = 1 + static_cast<int>(rng() % 4);
    for (int f = 0; f < flips; ++f) b[rng() % b.size()] = static_cast<char>(rng());
    if (auto d = decode_meta(b)) {
      auto again = decode_meta(encode_meta(*d));
      REQUIRE(again);
      testing::check_same_meta(*again, *d);
    }
  }
  // Length fields claiming ~4 GiB.
  auto b = bytes;
  put_u32(b, 4, 0xfffffff0u);  // key length
  CHECK_FALSE(decode_meta(b));
}

TEST_CASE("entry: FileHeader round trip") {
  FileHeader h;
  h.meta_len = 0x01020304;
  h.meta_crc = 0xdeadbeef;
  h.body_len = 0x0102030405060708ull;
  h.body_crc = 0xcafef00d;
  auto bytes = h.encode();
  REQUIRE(bytes.size() == FileHeader::kSize);
  CHECK(bytes.substr(0, 8) == std::string(FileHeader::kMagic, 8));
  auto d = FileHeader::decode(bytes);
  REQUIRE(d);
  CHECK(d->meta_len == h.meta_len);
  CHECK(d->meta_crc == h.meta_crc);
  CHECK(d->body_len == h.body_len);
  CHECK(d->body_crc == h.body_crc);
  CHECK(d->body_offset() == FileHeader::kSize + h.meta_len);
  CHECK(d->file_size() == FileHeader::kSize + h.meta_len + h.body_len);
  // Decoding looks at the first kSize bytes only (it is given the file's start).
  CHECK(FileHeader::decode(bytes + "body"));

  FileHeader zero;
  auto dz = FileHeader::decode(zero.encode());
  REQUIRE(dz);
  CHECK(dz->file_size() == FileHeader::kSize);
}

TEST_CASE("entry: FileHeader rejects a wrong magic, a flipped byte, short input") {
  FileHeader h;
  h.meta_len = 100;
  h.meta_crc = 1;
  h.body_len = 5000;
  h.body_crc = 2;
  const auto bytes = h.encode();

  SUBCASE("wrong magic, even with a consistent checksum") {
    auto b = bytes;
    b[7] = '2';
    CHECK_FALSE(FileHeader::decode(b));
    // Recompute the header checksum so that only the magic is wrong.
    put_u32(b, 60, crc32(0, std::string_view(b).substr(0, 60)));
    CHECK_FALSE(FileHeader::decode(b));
  }
  SUBCASE("any flipped byte, including padding and the checksum") {
    for (std::size_t i = 0; i < FileHeader::kSize; ++i) {
      for (unsigned mask : {0x01u, 0x80u, 0xffu}) {
        CAPTURE(i);
        CAPTURE(mask);
        auto b = bytes;
        b[i] = static_cast<char>(static_cast<unsigned char>(b[i]) ^ mask);
        CHECK_FALSE(FileHeader::decode(b));
      }
    }
  }
  SUBCASE("short input") {
    for (std::size_t n = 0; n < FileHeader::kSize; ++n) CHECK_FALSE(FileHeader::decode(bytes.substr(0, n)));
  }
  SUBCASE("all zeros (a file whose header was never written)") {
    CHECK_FALSE(FileHeader::decode(std::string(FileHeader::kSize, '\0')));
  }
}

TEST_CASE("entry: crc32 known vectors and chaining") {
  CHECK(crc32(0, "123456789") == 0xCBF43926u);
  CHECK(crc32(0, "") == 0u);
  CHECK(crc32(0, "The quick brown fox jumps over the lazy dog") == 0x414FA339u);
  // Fed in pieces as EntryWriter::write does.
  std::uint32_t c = 0;
  for (char ch : std::string("123456789")) c = crc32(c, std::string_view(&ch, 1));
  CHECK(c == 0xCBF43926u);
  CHECK(crc32(crc32(0, "1234"), "56789") == 0xCBF43926u);
}

TEST_CASE("entry: entry_id depends on key and vary_key and is stable") {
  const auto id = entry_id("GET\x1f" "example.com\x1f/a", "en");
  CHECK(entry_id("GET\x1f" "example.com\x1f/a", "en") == id);
  CHECK(entry_id("GET\x1f" "example.com\x1f/b", "en") != id);
  CHECK(entry_id("GET\x1f" "example.com\x1f/a", "fr") != id);
  CHECK(entry_id("GET\x1f" "example.com\x1f/a", "") != id);
  // The boundary between the two parts matters.
  CHECK(entry_id("ab", "c") != entry_id("a", "bc"));
  CHECK(entry_id("a", "") != entry_id("", "a"));
  // No collisions on a small set of similar keys.
  std::set<std::uint64_t> ids;
  for (int k = 0; k < 100; ++k)
    for (int v = 0; v < 10; ++v) ids.insert(entry_id("key" + std::to_string(k), "v" + std::to_string(v)));
  CHECK(ids.size() == 1000);
}

// ---------------------------------------------------------------- metadata of an exchange

namespace {

http::Request client_request(std::initializer_list<std::pair<const char*, const char*>> fields) {
  http::Request r;
  r.method = "GET";
  r.target = "/a";
  for (const auto& [n, v] : fields) r.headers.add(n, v);
  return r;
}

}  // namespace

TEST_CASE("entry: response_meta takes key, Vary variant, times, age, freshness, validators, tags and head") {
  const std::string date = http::format_http_date(kNow - 5);
  http::Response resp;
  resp.status = 200;
  resp.reason = "OK";
  for (auto [n, v] : {std::pair<std::string, std::string>{"Date", date},
                      {"Age", "10"},
                      {"Cache-Control", "max-age=60, stale-while-revalidate=30"},
                      {"ETag", "\"v1\""},
                      {"Vary", "Accept-Language"},
                      {"Cache-Tag", "a b,a"},
                      {"Set-Cookie", "s=1"}})
    resp.headers.add(n, v);
  RuleConfig rule;
  auto req = client_request({{"Accept-Language", "en"}, {"If-None-Match", "\"old\""}});
  auto m = response_meta("the key", req, resp, rule, "Cache-Tag", kNow - 2, kNow);
  CHECK(m.key == "the key");
  CHECK(m.vary_fields == std::vector<std::string>{"accept-language"});
  CHECK(m.vary_key == vary_key(VarySpec{{"accept-language"}, false}, req));
  CHECK(m.status == 200);
  CHECK(m.request_time == kNow - 2);
  CHECK(m.response_time == kNow);
  CHECK(m.initial_age == 12);  // Age 10 + 2 s on the way, more than the 5 s Date says
  CHECK(m.freshness.lifetime == 60);
  CHECK(m.freshness.stale_while_revalidate == 30);
  CHECK(m.validators.etag == "\"v1\"");
  CHECK(m.tags == std::vector<std::string>{"a", "b"});
  CHECK(m.head == stored_head(resp, kNow));
  CHECK(m.head.find("Set-Cookie") == std::string::npos);
  CHECK(m.body_size == 0);
}

TEST_CASE("entry: revalidated_meta merges the 304 into the stored head and times the new exchange (RFC 9111 4.3.4)") {
  const std::string old_date = http::format_http_date(kNow - 3600);
  EntryMeta stored;
  stored.key = "k";
  stored.status = 200;
  stored.request_time = stored.response_time = kNow - 3600;
  stored.freshness.lifetime = 60;
  stored.validators.etag = "\"v1\"";
  stored.head = "HTTP/1.1 200 OK\r\nDate: " + old_date +
                "\r\nCache-Control: max-age=60\r\nETag: \"v1\"\r\nContent-Type: text/plain\r\n";
  RuleConfig rule;
  SUBCASE("new freshness and validator, the old Date goes, the exchange's comes") {
    http::HeaderMap not_modified;
    not_modified.add("Cache-Control", "max-age=120");
    not_modified.add("ETag", "\"v2\"");
    auto m = revalidated_meta(stored, not_modified, rule, kNow - 1, kNow);
    REQUIRE(m);
    CHECK(m->key == "k");
    CHECK(m->request_time == kNow - 1);
    CHECK(m->response_time == kNow);
    CHECK(m->initial_age == 1);  // no Date left: only the time on the way
    CHECK(m->freshness.lifetime == 120);
    CHECK(m->validators.etag == "\"v2\"");
    CHECK(m->head == "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nCache-Control: max-age=120\r\nETag: \"v2\"\r\nDate: " +
                         http::format_http_date(kNow) + "\r\n");
  }
  SUBCASE("a head without validators keeps the stored ones") {
    stored.head = "HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\n";
    auto m = revalidated_meta(stored, http::HeaderMap{}, rule, kNow, kNow);
    REQUIRE(m);
    CHECK(m->validators.etag == "\"v1\"");
  }
  SUBCASE("an unreadable stored head") {
    stored.head = "nonsense";
    CHECK(!revalidated_meta(stored, http::HeaderMap{}, rule, kNow, kNow));
  }
}
