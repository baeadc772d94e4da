// The pure half of response compression (gateway/compress.hpp has the
// Downstream that applies it): the `compress:` configuration, which coding a
// client accepts, whether a response may be compressed and how its head
// changes, and the encoders (zlib's deflate in gzip framing, libbrotli).
//
// The rules, as nginx's gzip filter has them: only 200, 403 and 404 (never
// 206: a range of a compressed body would not be a range of the
// representation; nor 204/304), only the configured media types, never a
// response that has a Content-Encoding already or says `Cache-Control:
// no-transform` (RFC 9110 7.7), nor one shorter than min_bytes when its
// length is known. `Vary: Accept-Encoding` goes on every response that could
// have been compressed (the identity one too, for caches behind us), and a
// strong ETag becomes weak on a compressed one (W/"..."), as nginx does.
//
// No thread affinity; an Encoder belongs to one response.
#pragma once

#include <cstdint>
#include <memory>
#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/http/message.hpp"

namespace gateway::compress {

// `compress: {types, min_bytes, gzip_level, brotli_quality}` on a route, or
// at the top level for every route without its own; `compress: off` (or
// on) alone. Off unless configured: nginx's gzip is off by default, and a
// gateway put in nginx's place must answer with the bytes nginx did (and
// compressing secrets next to attacker-chosen text over TLS invites BREACH).
// `compress: on` takes these defaults: the text types every browser asks
// for, nginx-level 5 / brotli 4 (fast enough to compress as a page streams).
struct CompressConfig {
  bool enabled = false;
  std::vector<std::string> types = {"text/html", "text/plain", "text/css", "text/javascript",
                                    "application/javascript", "application/json", "application/xml",
                                    "image/svg+xml"};
  std::uint64_t min_bytes = 256;
  int gzip_level = 5;      // 1..9 (zlib)
  int brotli_quality = 4;  // 0..11
};

enum class Coding { identity, gzip, br };
std::string_view coding_name(Coding c);

// RFC 9110 12.5.3: the coding to answer an Accept-Encoding of `accept`
// (every field's value joined) with. The highest q-value among gzip (or
// x-gzip) and br wins, `*` standing for any coding not listed; at equal q br
// (smaller at the same speed); q=0 refuses. Elements with an invalid q-value
// are ignored. No header (nullopt), or nothing acceptable: identity (which a
// client may refuse with identity;q=0, but a 406 helps nobody: nginx and
// every browser-facing server answer identity then).
Coding negotiate(std::optional<std::string_view> accept);
// The same choice with the runner-up: the codings of negotiate() accepted
// (q > 0), most preferred first, identity filling the rest. For a choice
// among what exists (a static file's .br and .gz siblings).
std::array<Coding, 2> preference(std::optional<std::string_view> accept);

// What the compression decision looks at in a response.
struct ResponseFacts {
  int status = 200;
  std::string_view content_type;      // as sent, parameters and all
  std::string_view content_encoding;  // empty: none
  std::string_view cache_control;
  std::optional<std::uint64_t> length;  // Content-Length, when known
};
ResponseFacts facts_of(const http::HeaderMap& headers, int status, std::optional<std::uint64_t> length);

// Whether a response with `facts` would be compressed for a client that
// accepts a coding (then it also gets Vary: Accept-Encoding). See the top.
bool compressible(const CompressConfig& config, const ResponseFacts& facts);
// `type` (a Content-Type value) is one of `types`, compared on the media
// type without parameters and without case; "text/*" in `types` matches
// every text type.
bool type_listed(const std::vector<std::string>& types, std::string_view type);

// "Accept-Encoding" merged into a Vary value (`current`, possibly empty):
// unchanged if it is there already or Vary is "*".
std::string merge_vary(std::string_view current);
// An ETag made weak as nginx does for a compressed body: "x" -> W/"x".
std::string weaken_etag(std::string_view etag);
// A compressed response's head: Content-Encoding, Vary merged, ETag weak,
// Content-Length gone (the new length is known only at the end).
void edit_head(http::HeaderMap& headers, Coding coding);

// A streaming encoder. Each write() flushes (sync flush), so what was
// written can be decoded at once; `last` ends the stream.
class Encoder {
 public:
  virtual ~Encoder() = default;
  // Appends the encoded bytes of `in` to `out`; false on an encoder error.
  virtual bool write(std::string_view in, bool last, std::string& out) = 0;
  static std::unique_ptr<Encoder> make(Coding coding, const CompressConfig& config);
};
// The whole of `body` encoded (a stored variant); nullopt on an error.
std::optional<std::string> encode_all(Coding coding, const CompressConfig& config, std::string_view body);

}  // namespace gateway::compress
