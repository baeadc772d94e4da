// The pure half of response compression (see compress_rules.hpp): the
// decisions, and the encoders over zlib and libbrotli.
#include "gateway/compress_rules.hpp"

#include <brotli/encode.h>
#include <zlib.h>

#include <algorithm>

#include "cache/policy_text.hpp"

namespace gateway::compress {

namespace {

using cache::policy_text::trim;  // optional whitespace around a list element

// RFC 9110 12.4.2: qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ),
// in thousandths; nullopt if it is not one.
std::optional<int> parse_qvalue(std::string_view q) {
  if (q.empty() || (q[0] != '0' && q[0] != '1')) return std::nullopt;
  int value = (q[0] - '0') * 1000;
  if (q.size() == 1) return value;
  if (q[1] != '.' || q.size() > 5) return std::nullopt;
  int scale = 100;
  for (char c : q.substr(2)) {
    if (c < '0' || c > '9') return std::nullopt;
    value += (c - '0') * scale;
    scale /= 10;
  }
  return value <= 1000 ? std::optional<int>(value) : std::nullopt;
}

// One element of Accept-Encoding: its coding (lowercase) and q in
// thousandths; nullopt if its parameters are malformed.
std::optional<std::pair<std::string, int>> parse_element(std::string_view item) {
  auto semi = item.find(';');
  std::string coding = http::lowercase(trim(item.substr(0, semi)));
  if (coding.empty()) return std::nullopt;
  int q = 1000;
  while (semi != std::string_view::npos) {
    item.remove_prefix(semi + 1);
    semi = item.find(';');
    auto param = trim(item.substr(0, semi));
    auto eq = param.find('=');
    if (eq == std::string_view::npos) return std::nullopt;
    if (!http::iequals(trim(param.substr(0, eq)), "q")) continue;  // other parameters: ignored
    auto value = parse_qvalue(trim(param.substr(eq + 1)));
    if (!value) return std::nullopt;
    q = *value;
  }
  return std::pair{std::move(coding), q};
}

}  // namespace

std::string_view coding_name(Coding c) {
  switch (c) {
    case Coding::gzip: return "gzip";
    case Coding::br: return "br";
    case Coding::identity: break;
  }
  return "identity";
}

std::array<Coding, 2> preference(std::optional<std::string_view> accept) {
  std::array<Coding, 2> out{Coding::identity, Coding::identity};
  if (!accept) return out;
  int gzip = -1, br = -1, star = -1;  // -1: not listed
  http::for_each_token(*accept, [&](std::string_view item) {
    auto element = parse_element(item);
    if (!element) return;
    const auto& [coding, q] = *element;
    if (coding == "gzip" || coding == "x-gzip") gzip = std::max(gzip, q);
    else if (coding == "br") br = std::max(br, q);
    else if (coding == "*") star = std::max(star, q);
  });
  if (gzip < 0) gzip = std::max(star, 0);
  if (br < 0) br = std::max(star, 0);
  std::size_t n = 0;
  if (br > 0 && br >= gzip) out[n++] = Coding::br;
  if (gzip > 0) out[n++] = Coding::gzip;
  if (br > 0 && br < gzip) out[n++] = Coding::br;
  return out;
}

Coding negotiate(std::optional<std::string_view> accept) { return preference(accept)[0]; }

ResponseFacts facts_of(const http::HeaderMap& headers, int status, std::optional<std::uint64_t> length) {
  ResponseFacts f;
  f.status = status;
  f.content_type = headers.get("Content-Type").value_or("");
  f.content_encoding = headers.get("Content-Encoding").value_or("");
  f.cache_control = headers.get("Cache-Control").value_or("");
  f.length = length;
  return f;
}

bool type_listed(const std::vector<std::string>& types, std::string_view type) {
  auto media = trim(type.substr(0, type.find(';')));
  if (media.empty()) return false;
  return std::any_of(types.begin(), types.end(), [&](const std::string& t) {
    if (t.size() > 2 && t.ends_with("/*"))
      return media.size() > t.size() - 1 && http::iequals(media.substr(0, t.size() - 1), t.substr(0, t.size() - 1));
    return http::iequals(media, t);
  });
}

bool compressible(const CompressConfig& config, const ResponseFacts& f) {
  if (f.status != 200 && f.status != 403 && f.status != 404) return false;
  if (!f.content_encoding.empty() && !http::iequals(trim(f.content_encoding), "identity")) return false;
  if (http::has_token(f.cache_control, "no-transform")) return false;
  if (f.length && *f.length < config.min_bytes) return false;
  return type_listed(config.types, f.content_type);
}

std::string merge_vary(std::string_view current) {
  bool present = false;
  http::for_each_token(current, [&](std::string_view name) {
    if (name == "*" || http::iequals(name, "Accept-Encoding")) present = true;
  });
  if (present) return std::string(current);
  if (trim(current).empty()) return "Accept-Encoding";
  return std::string(current) + ", Accept-Encoding";
}

std::string weaken_etag(std::string_view etag) {
  etag = trim(etag);
  if (etag.starts_with("W/") || !etag.starts_with('"')) return std::string(etag);
  return "W/" + std::string(etag);
}

void edit_head(http::HeaderMap& headers, Coding coding) {
  headers.set("Content-Encoding", coding_name(coding));
  headers.set("Vary", merge_vary(headers.get_all("Vary")));
  if (auto etag = headers.get("ETag")) headers.set("ETag", weaken_etag(*etag));
  headers.remove("Content-Length");
}

// --- Encoders ------------------------------------------------------------------

namespace {

class GzipEncoder final : public Encoder {
 public:
  explicit GzipEncoder(int level) {
    // windowBits 15 + 16: gzip framing; memLevel 8 as zlib's default.
    ok_ = deflateInit2(&z_, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK;
  }
  ~GzipEncoder() override {
    if (ok_) deflateEnd(&z_);
  }
  bool write(std::string_view in, bool last, std::string& out) override {
    if (!ok_) return false;
    z_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    z_.avail_in = static_cast<uInt>(in.size());
    const int flush = last ? Z_FINISH : Z_SYNC_FLUSH;
    for (;;) {
      const std::size_t before = out.size();
      const std::size_t room = std::max<std::size_t>(deflateBound(&z_, z_.avail_in) + 64, 4096);
      out.resize(before + room);
      z_.next_out = reinterpret_cast<Bytef*>(out.data() + before);
      z_.avail_out = static_cast<uInt>(room);
      const int rc = deflate(&z_, flush);
      out.resize(before + room - z_.avail_out);
      if (rc == Z_STREAM_ERROR) return ok_ = false;
      if (last ? rc == Z_STREAM_END : (z_.avail_in == 0 && z_.avail_out != 0)) return true;
    }
  }

 private:
  z_stream z_{};
  bool ok_ = false;
};

class BrotliEncoder final : public Encoder {
 public:
  explicit BrotliEncoder(int quality) : s_(BrotliEncoderCreateInstance(nullptr, nullptr, nullptr)) {
    if (!s_) return;
    BrotliEncoderSetParameter(s_, BROTLI_PARAM_QUALITY, static_cast<std::uint32_t>(quality));
    // A 1 MiB window: brotli's default 4 MiB buys little for responses and
    // costs memory per response in flight.
    BrotliEncoderSetParameter(s_, BROTLI_PARAM_LGWIN, 20);
  }
  ~BrotliEncoder() override {
    if (s_) BrotliEncoderDestroyInstance(s_);
  }
  bool write(std::string_view in, bool last, std::string& out) override {
    if (!s_) return false;
    std::size_t avail_in = in.size();
    const auto* next_in = reinterpret_cast<const std::uint8_t*>(in.data());
    const auto op = last ? BROTLI_OPERATION_FINISH : BROTLI_OPERATION_FLUSH;
    for (;;) {
      std::size_t avail_out = 0;
      if (!BrotliEncoderCompressStream(s_, op, &avail_in, &next_in, &avail_out, nullptr, nullptr)) return false;
      std::size_t n = 0;
      const std::uint8_t* bytes = BrotliEncoderTakeOutput(s_, &n);
      out.append(reinterpret_cast<const char*>(bytes), n);
      if (avail_in == 0 && !BrotliEncoderHasMoreOutput(s_) && (!last || BrotliEncoderIsFinished(s_))) return true;
    }
  }

 private:
  BrotliEncoderState* s_;
};

}  // namespace

std::unique_ptr<Encoder> Encoder::make(Coding coding, const CompressConfig& config) {
  switch (coding) {
    case Coding::gzip: return std::make_unique<GzipEncoder>(config.gzip_level);
    case Coding::br: return std::make_unique<BrotliEncoder>(config.brotli_quality);
    case Coding::identity: break;
  }
  return nullptr;
}

std::optional<std::string> encode_all(Coding coding, const CompressConfig& config, std::string_view body) {
  auto encoder = Encoder::make(coding, config);
  std::string out;
  if (!encoder || !encoder->write(body, true, out)) return std::nullopt;
  return out;
}

}  // namespace gateway::compress
