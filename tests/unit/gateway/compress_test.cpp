// The decisions of response compression (gateway/compress_rules.hpp): which
// coding an Accept-Encoding asks for, which responses are compressed, how
// their heads change, and the encoders (decoded back with zlib and brotli).
#include <brotli/decode.h>
#include <doctest/doctest.h>
#include <zlib.h>

#include <array>
#include <optional>
#include <string>
#include <string_view>

#include "gateway/compress_rules.hpp"

using namespace gateway;
using namespace gateway::compress;

namespace {

struct NegotiateCase {
  const char* name;
  std::optional<std::string_view> accept;
  Coding expected;
};

constexpr NegotiateCase kNegotiate[] = {
    {"no Accept-Encoding", std::nullopt, Coding::identity},
    {"empty", "", Coding::identity},
    {"gzip", "gzip", Coding::gzip},
    {"x-gzip is gzip", "x-gzip", Coding::gzip},
    {"br", "br", Coding::br},
    {"br preferred at equal q", "gzip, br", Coding::br},
    {"br preferred at equal q, either order", "br, gzip", Coding::br},
    {"browsers' list", "gzip, deflate, br, zstd", Coding::br},
    {"higher q wins", "br;q=0.5, gzip;q=0.8", Coding::gzip},
    {"q=1.000", "gzip;q=1.000, br;q=0.999", Coding::gzip},
    {"gzip;q=0 refuses gzip", "gzip;q=0", Coding::identity},
    {"br;q=0 with gzip", "br;q=0, gzip", Coding::gzip},
    {"star stands for br and gzip", "*", Coding::br},
    {"star;q=0 with gzip listed", "gzip, *;q=0", Coding::gzip},
    {"star does not revive a refused coding", "br;q=0, *", Coding::gzip},
    {"identity only", "identity", Coding::identity},
    {"identity;q=0 and nothing we have", "identity;q=0", Coding::identity},
    {"identity;q=0 with gzip", "identity;q=0, gzip", Coding::gzip},
    {"case-insensitive", "GZip;Q=0.5", Coding::gzip},
    {"blanks around", "  gzip ; q=0.5 ,  br ; q=0.4 ", Coding::gzip},
    {"deflate and compress only", "deflate, compress", Coding::identity},
    {"malformed q ignored (q=2)", "br;q=2, gzip", Coding::gzip},
    {"malformed q ignored (q=abc)", "br;q=abc", Coding::identity},
    {"malformed q ignored (four decimals)", "br;q=0.5555, gzip;q=0.1", Coding::gzip},
    {"parameter without a value ignored", "br;level, gzip", Coding::gzip},
    {"other parameters ignored", "gzip;level=9", Coding::gzip},
    {"commas only", ",,, ,", Coding::identity},
    {"garbage", ";;=q", Coding::identity},
};

struct CompressibleCase {
  const char* name;
  ResponseFacts facts;
  bool expected;
};

const CompressibleCase kCompressible[] = {
    {"200 JSON", {200, "application/json", "", "", 1000}, true},
    {"JSON with parameters", {200, "application/json; charset=utf-8", "", "", 1000}, true},
    {"type in other case", {200, "Text/HTML", "", "", 1000}, true},
    {"length unknown (streamed)", {200, "text/html", "", "", std::nullopt}, true},
    {"404 page", {404, "text/html", "", "", 1000}, true},
    {"403 page", {403, "text/html", "", "", 1000}, true},
    {"206 never", {206, "text/html", "", "", 1000}, false},
    {"204 never", {204, "text/html", "", "", std::nullopt}, false},
    {"304 never", {304, "text/html", "", "", std::nullopt}, false},
    {"500 not (as nginx)", {500, "text/html", "", "", 1000}, false},
    {"a type not listed", {200, "image/png", "", "", 1000}, false},
    {"no Content-Type", {200, "", "", "", 1000}, false},
    {"already gzip", {200, "text/html", "gzip", "", 1000}, false},
    {"already br", {200, "text/html", "br", "", 1000}, false},
    {"Content-Encoding: identity is none", {200, "text/html", "identity", "", 1000}, true},
    {"no-transform", {200, "text/html", "", "public, no-transform", 1000}, false},
    {"below min_bytes", {200, "text/html", "", "", 255}, false},
    {"at min_bytes", {200, "text/html", "", "", 256}, true},
};

std::string gunzip(const std::string& in) {
  z_stream z{};
  REQUIRE(inflateInit2(&z, 15 + 16) == Z_OK);
  std::string out(in.size() * 20 + 1024, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  int rc = inflate(&z, Z_FINISH);
  out.resize(out.size() - z.avail_out);
  inflateEnd(&z);
  CHECK(rc == Z_STREAM_END);
  return out;
}

std::string unbrotli(const std::string& in) {
  std::string out(in.size() * 50 + 1024, '\0');
  std::size_t size = out.size();
  auto rc = BrotliDecoderDecompress(in.size(), reinterpret_cast<const std::uint8_t*>(in.data()), &size,
                                    reinterpret_cast<std::uint8_t*>(out.data()));
  CHECK(rc == BROTLI_DECODER_RESULT_SUCCESS);
  out.resize(size);
  return out;
}

std::string sample_body() {
  std::string body;
  for (int i = 0; i < 2000; ++i) body += "{\"id\":" + std::to_string(i) + ",\"name\":\"channel\"},";
  return body;
}

}  // namespace

TEST_CASE("compress: negotiate, table") {
  for (const auto& c : kNegotiate) {
    INFO(c.name);
    CHECK(negotiate(c.accept) == c.expected);
  }
}

// What a static route's .br/.gz siblings are chosen by: the runner-up too.
TEST_CASE("compress: preference, the accepted codings best first, table") {
  using P = std::array<Coding, 2>;
  constexpr auto id = Coding::identity, gz = Coding::gzip, br = Coding::br;
  const std::pair<std::optional<std::string_view>, P> rows[] = {
      {std::nullopt, P{id, id}},
      {"gzip, deflate, br", P{br, gz}},
      {"gzip", P{gz, id}},
      {"GZIP", P{gz, id}},
      {"br;q=0.5, gzip", P{gz, br}},
      {"br;q=0", P{id, id}},
      {"*", P{br, gz}},
      {"*, br;q=0", P{gz, id}},  // a named coding beats the star
      {"*;q=0", P{id, id}},
      {"identity", P{id, id}},
      {" gzip ; q=1 , br;q=0.001", P{gz, br}},
  };
  for (const auto& [accept, expected] : rows) {
    INFO(std::string(accept.value_or("(none)")));
    CHECK(preference(accept) == expected);
    CHECK(negotiate(accept) == expected[0]);
  }
}

TEST_CASE("compress: which responses are compressed, table") {
  CompressConfig config;
  config.enabled = true;
  for (const auto& c : kCompressible) {
    INFO(c.name);
    CHECK(compressible(config, c.facts) == c.expected);
  }
}

TEST_CASE("compress: the default is off, with the text types, 256 bytes, gzip 5 and brotli 4") {
  CompressConfig config;
  CHECK_FALSE(config.enabled);
  CHECK(type_listed(config.types, "text/html"));
  CHECK(type_listed(config.types, "application/json"));
  CHECK_FALSE(type_listed(config.types, "image/jpeg"));
  CHECK(config.min_bytes == 256);
  CHECK(config.gzip_level == 5);
  CHECK(config.brotli_quality == 4);
}

TEST_CASE("compress: a listed type/* matches its subtypes only") {
  const std::vector<std::string> types = {"text/*"};
  CHECK(type_listed(types, "text/csv; charset=utf-8"));
  CHECK_FALSE(type_listed(types, "text"));
  CHECK_FALSE(type_listed(types, "texts/plain"));
  CHECK_FALSE(type_listed(types, "application/json"));
}

TEST_CASE("compress: Vary merges Accept-Encoding once, and leaves *") {
  CHECK(merge_vary("") == "Accept-Encoding");
  CHECK(merge_vary("Accept-Language") == "Accept-Language, Accept-Encoding");
  CHECK(merge_vary("accept-encoding") == "accept-encoding");
  CHECK(merge_vary("Origin, Accept-Encoding") == "Origin, Accept-Encoding");
  CHECK(merge_vary("*") == "*");
}

TEST_CASE("compress: a strong ETag becomes weak, a weak one stays") {
  CHECK(weaken_etag("\"abc\"") == "W/\"abc\"");
  CHECK(weaken_etag("W/\"abc\"") == "W/\"abc\"");
  CHECK(weaken_etag(" \"a\" ") == "W/\"a\"");
  CHECK(weaken_etag("garbage") == "garbage");
}

TEST_CASE("compress: a compressed head has Content-Encoding, Vary, a weak ETag and no Content-Length") {
  http::HeaderMap h;
  h.add("Content-Type", "text/html");
  h.add("Content-Length", "1000");
  h.add("ETag", "\"v1\"");
  h.add("Vary", "Cookie");
  edit_head(h, Coding::br);
  CHECK(h.get("Content-Encoding") == "br");
  CHECK(h.get("Vary") == "Cookie, Accept-Encoding");
  CHECK(h.get("ETag") == "W/\"v1\"");
  CHECK_FALSE(h.contains("Content-Length"));
}

TEST_CASE("compress: gzip and br round trip, whole and streamed with a flush per write") {
  CompressConfig config;
  const std::string body = sample_body();
  for (Coding coding : {Coding::gzip, Coding::br}) {
    INFO(coding_name(coding));
    auto whole = encode_all(coding, config, body);
    REQUIRE(whole);
    CHECK(whole->size() < body.size() / 4);
    CHECK((coding == Coding::gzip ? gunzip(*whole) : unbrotli(*whole)) == body);

    // Streamed: what each write gave decodes at once (sync flush).
    auto encoder = Encoder::make(coding, config);
    std::string out;
    REQUIRE(encoder->write(std::string_view(body).substr(0, 100), false, out));
    CHECK(!out.empty());
    REQUIRE(encoder->write(std::string_view(body).substr(100), false, out));
    REQUIRE(encoder->write({}, true, out));
    CHECK((coding == Coding::gzip ? gunzip(out) : unbrotli(out)) == body);
  }
}

TEST_CASE("compress: an empty body encodes to a valid empty stream") {
  CompressConfig config;
  auto gz = encode_all(Coding::gzip, config, "");
  auto br = encode_all(Coding::br, config, "");
  REQUIRE(gz);
  REQUIRE(br);
  CHECK(gunzip(*gz).empty());
  CHECK(unbrotli(*br).empty());
}
