// HTTP caching decisions of a shared cache (RFC 9111): keys, storability,
// freshness, age, Vary, validation and invalidation, and the messages the
// cache builds itself: the head it stores, the requests its fills send, the
// 304s it answers, the X-Cache and Cache-Status fields.
//
// Pure functions of their arguments: no clock, no I/O, no state, callable
// from any thread. Times are seconds since the Unix epoch (HTTP dates have
// one-second resolution) and every function that needs the current time
// takes `now` (cache/clock.hpp reads it).
//
// Implemented by theme: policy.cpp (Cache-Control, storing, freshness,
// stale use), policy_keys.cpp (keys, bypass, Vary, invalidation, tags),
// policy_messages.cpp (validation, reuse with credentials, the requests and
// responses the cache builds, X-Cache and Cache-Status), policy_ranges.cpp
// (Range requests answered from a stored response).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cache/config.hpp"
#include "base/http/message.hpp"

namespace gateway::cache {

using Seconds = std::int64_t;

// --- Cache-Control -----------------------------------------------------------

// Parsing, for requests and responses alike: every Cache-Control field line is
// combined into one list (RFC 9110 5.3); directive names are case-insensitive;
// an argument may be a token or a quoted-string (RFC 9111 5.2: recipients
// accept both), and a comma inside quotes does not split the list.
// Duplicates: the first occurrence of a directive with an argument decides
// (RFC 9111 4.2.1 allows "the first occurrence"), even when it is malformed.
// Delta-seconds larger than 2^31 count as 2^31 (RFC 9111 1.2.2).

// Response directives (RFC 9111 5.2.2 and RFC 5861). Unknown directives are
// ignored; a malformed delta-seconds makes its directive absent, except
// max-age / s-maxage which then count as 0 (RFC 9111 4.2.1: treat as stale).
// `Pragma` is ignored in responses (RFC 9111 5.4 defines it for requests).
struct ResponseDirectives {
  std::optional<Seconds> max_age;
  std::optional<Seconds> s_maxage;
  bool no_store = false;
  bool no_cache = false;          // unqualified: revalidate before every use
  bool private_ = false;          // unqualified: not for a shared cache
  bool public_ = false;
  bool must_revalidate = false;
  bool proxy_revalidate = false;
  bool must_understand = false;
  bool immutable = false;
  std::optional<Seconds> stale_while_revalidate;
  std::optional<Seconds> stale_if_error;
  // Qualified forms, `no-cache="Set-Cookie"` and `private="X-User"`: the
  // listed field names, lowercased. They do not set the flags above; the
  // fields are removed before storage (remove_unstorable_fields). An empty
  // list (`no-cache=""`) counts as the unqualified directive.
  std::vector<std::string> no_cache_fields;
  std::vector<std::string> private_fields;
  // Read from a targeted field (RFC 9213), not Cache-Control: Expires is
  // then ignored (RFC 9213 2.2).
  bool targeted = false;
};
// The response's Cache-Control, as every cache reads it.
ResponseDirectives parse_response_directives(const http::HeaderMap& headers);
// One Cache-Control list (or a targeted field's value).
ResponseDirectives parse_response_directives(std::string_view list);
// What this cache follows under `rule` (RFC 9213 2.2): the first of
// rule.targeted_fields present with a valid, non-empty value, whatever
// Cache-Control says, else Cache-Control. Storability, freshness and reuse
// with credentials read these; the fields are stored and forwarded as sent
// (RFC 9213 3 lets a CDN remove CDN-Cache-Control; this one keeps it, so a
// CDN in front of the gateway gets the origin's instructions).
ResponseDirectives parse_response_directives(const http::HeaderMap& headers, const RuleConfig& rule);
// A targeted field's value is a Structured Fields Dictionary (RFC 9213 2.1)
// whose members are cache directives. Valid here: what the Cache-Control
// parser reads without ignoring anything (names and token arguments are
// tokens, quoted-strings closed, nothing between an argument and the next
// comma), and at least one directive. An invalid field is ignored, as if
// absent (RFC 9213 2.1).
bool valid_targeted_value(std::string_view value);

// Request directives (RFC 9111 5.2.1). A malformed delta-seconds makes its
// directive absent. `Pragma: no-cache` counts as no-cache only when the
// request has no Cache-Control directive at all (RFC 9111 5.4).
struct RequestDirectives {
  std::optional<Seconds> max_age;
  std::optional<Seconds> max_stale;  // present without value: any staleness (INT64_MAX)
  std::optional<Seconds> min_fresh;
  bool no_cache = false;
  bool no_store = false;
  bool only_if_cached = false;
};
RequestDirectives parse_request_directives(const http::HeaderMap& headers);
// RFC 9111 5.2.1.7: the client wants a stored response or a 504, never the
// upstream. Honoured whatever the rule's honor_client_no_cache says: unlike
// no-cache it keeps load off the upstream and cannot empty the cache for
// others.
bool only_if_cached(const http::Request& req);

// --- Keys ------------------------------------------------------------------

// The primary cache key: method class ("GET" also for HEAD, which is served
// from GET entries), lowercased host without a default port, path, query
// (kept, sorted by parameter, or dropped per the rule), then the rule's
// extra headers and cookies as name=value. Unambiguous: parts are separated
// by bytes that cannot occur in them.
//
// Layout, with | standing for kKeySeparator:
//   GET|example.com|/path?query[|h:accept-language=en][|c:session=abc]
// An extra header or cookie that is absent appears as its bare name
// ("|h:accept-language"), so absent and empty differ. Header values and
// cookie values have '%', control bytes and DEL percent-encoded, so a value
// can never forge a separator; URL parts are used as received (the parser
// admits no control bytes there; any would be percent-encoded).
inline constexpr char kKeySeparator = '\x1f';
std::string cache_key(const http::Request& req, const RuleConfig& rule);
// The same key appended to `out` (the hit path reuses one buffer).
void append_cache_key(std::string& out, const http::Request& req, const RuleConfig& rule);
// The part of a GET key that names the URL: "GET|host|/path?query". Every
// key built for that URL under `rule` equals it or starts with it followed
// by kKeySeparator, whatever the extra headers and cookies: this is how
// purge by URL and invalidation find all the entries of a URL.
std::string url_key(std::string_view host, std::string_view target, const RuleConfig& rule);

// The value of cookie `name` in the request's Cookie fields ("a=1; b=2",
// RFC 6265 5.4), the first one; names are case-sensitive.
std::optional<std::string_view> find_cookie(const http::HeaderMap& headers, std::string_view name);

// The request was asked to skip the cache by the route's bypass conditions:
// a listed header or cookie present with a value neither empty nor "0"
// (nginx's proxy_cache_bypass rule).
bool bypassed(const http::Request& req, const RuleConfig& rule);

// Methods whose requests may be answered from the cache: GET and HEAD. Only
// responses to GET are stored (see can_store).
bool cacheable_method(std::string_view method) noexcept;

// How a request on a cached route uses the cache: looked up (and, on a
// miss, filled), or passed through to the upstream as it is, body and all
// (X-Cache: BYPASS), for one of these reasons, checked in this order:
//   pass_method  not GET or HEAD (cacheable_method); a successful unsafe
//                request then invalidates (RFC 9111 4.4)
//   pass_body    a GET or HEAD with a body (Content-Length > 0, or chunked,
//                even if its chunks turn out empty: that is known only
//                after the head). Content in a GET has no generally defined
//                semantics (RFC 9110 9.3.1, 9.3.2): the key cannot hold it,
//                so no stored response may answer it and its response must
//                answer no one else; and a fill sends no body. Passed
//                through rather than refused: the upstream decides what it
//                means, as it does on a route without a cache.
//   pass_rule    the rule's bypass conditions (bypassed)
enum class RequestUse { cache, pass_method, pass_body, pass_rule };
RequestUse request_use(const http::Request& req, const RuleConfig& rule);

// The fast path for fresh hits held in RAM (fragments of composed pages,
// answered without a coroutine of their own) takes only a plain GET that
// uses the cache (request_use) and that carries no Authorization (whose reuse
// depends on the stored response: reusable_with_authorization) and no
// Range (answered with a part: range_plan). The stored
// response must then be fresh by its own freshness alone (usability without
// request directives; fragment requests carry none). Anything else takes
// the full path.
bool fast_hit_request(const http::Request& req, const RuleConfig& rule);
// A client's request that the fast path may answer as the full path would:
// a fast_hit_request with no directives of its own (Cache-Control, Pragma:
// usability reads them) and no preconditions (If-*: a 304 or 412 is the
// full path's).
bool fast_client_hit_request(const http::Request& req, const RuleConfig& rule);

// --- Storing ---------------------------------------------------------------

struct StoreDecision {
  bool store = false;
  std::string_view reason;  // why not, for X-Cache debugging and logs ("no-store", "private", ...)
};
// May this response to this request be stored by a shared cache under this
// rule (RFC 9111 3, 3.5)? Checks the method, status (final, and either
// heuristically cacheable or explicitly fresh), no-store (request or
// response), private, Authorization in the request (allowed only with
// public, s-maxage or must-revalidate), Set-Cookie (only if the rule
// allows), Vary: *, and that some freshness exists (headers, or the rule's
// TTL for the status).
//
// `req` is the request as sent upstream. Only GET responses are stored: a
// response to HEAD has no body and HEAD shares GET's key, so storing it would
// serve empty bodies (a proxy that fetches GET for a client's HEAD passes
// the GET). 206 is never stored: this cache does not combine ranges. A
// status listed in the rule's `valid` counts as explicitly cacheable, as
// nginx's proxy_cache_valid does. A response that could never be reused
// without a full refetch (lifetime 0 or no-cache, no validator, no stale
// window) is not stored either.
// Reasons: "method", "status", "partial content", "no-store", "private",
// "authorization", "set-cookie", "vary *", "must-understand",
// "no freshness", "no validator".
StoreDecision can_store(const http::Request& req, const http::Response& resp, const RuleConfig& rule);

// RFC 9111 3.5: the response directives that let a shared cache reuse a
// response for a request with Authorization: public, s-maxage or
// must-revalidate (proxy-revalidate does not).
bool shared_with_credentials(const ResponseDirectives& d) noexcept;

// Statuses cacheable by default (RFC 9110 15.1): 200 203 204 206 300 301 308
// 404 405 410 414 501.
bool heuristically_cacheable(int status) noexcept;

// --- Freshness -------------------------------------------------------------

// What is decided once, when a response is stored.
struct Freshness {
  Seconds lifetime = 0;   // freshness lifetime (RFC 9111 4.2.1), after the rule's overrides
  bool heuristic = false; // lifetime from the zone's heuristic (RFC 9111 4.2.2)
  Seconds stale_while_revalidate = 0;
  Seconds stale_if_error = 0;
  bool must_revalidate = false;  // must-revalidate, proxy-revalidate or s-maxage: never served stale unchecked
  bool no_cache = false;         // revalidate before every use
};
// Freshness lifetime per RFC 9111 4.2.1: s-maxage > max-age > Expires - Date
// > the rule's TTL for the status (`valid`, then `ttl`) > the zone's
// heuristic (heuristic_lifetime); with rule.override the rule's TTL wins
// whenever it has one for the status. Directives are read under the rule
// (targeted fields first). An Expires that is not one valid HTTP-date
// (RFC 9110 5.6.7: a one-digit hour, a zone other than GMT, extra spaces,
// two Expires lines) is in the past (RFC 9111 5.3). `response_time` stands
// in for a missing or invalid Date.
Freshness freshness(const http::Response& resp, const RuleConfig& rule, Seconds response_time);
// RFC 9111 4.2.2: the heuristic lifetime `h` gives a response: h.fraction
// of Date - Last-Modified (Date: `response_time` if missing), at most h.max.
// nullopt when it does not apply: off, a status neither heuristically
// cacheable nor made cacheable by public, no valid Last-Modified, or one not
// before the Date. Whether there is explicit freshness is freshness()'s
// business: it asks only when there is none.
std::optional<Seconds> heuristic_lifetime(const http::Response& resp, const ResponseDirectives& d,
                                          const HeuristicConfig& h, Seconds response_time);

// RFC 9111 4.2.3: the corrected initial age of a response received at
// response_time for a request sent at request_time (uses Age and Date).
// A missing or invalid Date gives an apparent age of 0; a missing or invalid
// Age counts as 0.
Seconds corrected_initial_age(const http::HeaderMap& headers, Seconds request_time, Seconds response_time);
// Current age: corrected initial age plus time resident since response_time.
inline Seconds current_age(Seconds corrected_initial_age, Seconds response_time, Seconds now) {
  return corrected_initial_age + (now > response_time ? now - response_time : 0);
}

// What may be done with a stored response for a request now.
enum class Usability {
  fresh,                  // serve it
  stale_revalidate,       // stale: revalidate (conditional request) before use
  stale_while_revalidate, // stale but inside stale-while-revalidate: serve, refresh in the background
};
// `age` is the current age. Fresh iff lifetime > age (RFC 9111 4.2), so
// age == lifetime is stale. The stale-while-revalidate window extends the
// lifetime the same way: usable while lifetime + window > age. Request
// directives (max-age, max-stale, min-fresh, no-cache) are honoured only if
// `honor_request` (the rule's honor_client_no_cache); must_revalidate
// forbids max-stale and stale-while-revalidate, no_cache forbids everything
// but revalidation (RFC 9111 4.2.4). `fresh` is also the answer for a stale
// response the client accepts with max-stale.
Usability usability(const Freshness& f, Seconds age, const RequestDirectives& req, bool honor_request);
// The same for a request under a rule: the request's directives are read
// only if the rule honours them (honor_client_no_cache).
Usability usability(const Freshness& f, Seconds age, const http::Request& req, const RuleConfig& rule);
// Whether a stale response may be served because of `why`: the upstream
// failed (error, timeout, or a 5xx named by stale_condition), inside the
// stale-if-error window or listed in the rule's use_stale; or another
// request is updating the entry (`updating`, only if use_stale lists it).
// stale-if-error covers error, timeout and http_500/502/503/504 (RFC 5861
// 4); use_stale has no time limit. Never with must_revalidate or no_cache
// (RFC 9111 4.2.4), whatever stale-if-error or use_stale say.
bool may_serve_stale(const Freshness& f, Seconds age, const RuleConfig& rule, StaleIf why);
// The condition an upstream answer with `status` is for use_stale and
// stale-if-error: 500, 502, 503, 504; nullopt for any other status.
std::optional<StaleIf> stale_condition(int status) noexcept;
// The condition of a fetch that got no response, by the status the proxy
// answers it with: `timeout` for 504 (the upstream did not answer in time),
// `error` for anything else (502: refused or reset; 503: no healthy
// instance).
StaleIf failure_condition(int failure_status) noexcept;

// --- Vary ------------------------------------------------------------------

// The field names listed by Vary, lowercased, deduplicated and sorted;
// `star` set for "Vary: *" (such a response is never reused).
struct VarySpec {
  std::vector<std::string> fields;
  bool star = false;
};
VarySpec parse_vary(const http::HeaderMap& headers);
// The secondary key: each varied field of the request, normalised
// (combined field values, whitespace around commas trimmed), joined so that
// distinct value lists never collide. Empty when fields is empty. A field
// absent from the request differs from one present but empty (RFC 9111 4.1:
// an absent field only matches an absent field).
std::string vary_key(const VarySpec& vary, const http::Request& req);
// RFC 9111 4.1: does a stored response whose Vary is `vary`, stored with
// the secondary key `stored_vary_key`, match `req`? Its varied fields must
// give the same key for `req`. A response without Vary has an empty key and
// matches every request.
bool vary_matches(const VarySpec& vary, std::string_view stored_vary_key, const http::Request& req);

// --- Validation ------------------------------------------------------------

struct Validators {
  std::optional<std::string> etag;           // as sent, with quotes and W/
  std::optional<Seconds> last_modified;
};
Validators validators_of(const http::HeaderMap& headers);

// Adds If-None-Match / If-Modified-Since for revalidating a stored response,
// both when both validators exist (RFC 9110 8.8.1); any If-None-Match /
// If-Modified-Since the client sent is removed first, since the answer must
// be about the stored response.
void add_conditional_headers(http::HeaderMap& upstream_request, const Validators& stored);

// Does the client's conditional request match the stored response, so that
// the cache answers 304 (RFC 9110 13.1.2, 13.1.3)? If-None-Match wins over
// If-Modified-Since; weak comparison. Only for GET and HEAD, and only
// meaningful when the stored response is a 2xx (RFC 9110 13.2.1): the caller
// checks that. Without a stored Last-Modified, If-Modified-Since never
// matches (a full response is always correct).
bool client_not_modified(const http::Request& req, const Validators& stored);

// RFC 9111 3.2 / 4.3.4: headers of a stored response updated by a 304: every
// field in the 304 replaces the stored one(s) of the same name, except the
// framing fields (Content-Length, Transfer-Encoding) and hop-by-hop fields.
// Age and Date describe the new validation: a stored one the 304 lacks is
// removed (otherwise an old Date or Age would make the refreshed response
// stale at once). The result has remove_unstorable_fields applied: a
// Set-Cookie in the 304 is for the requesting client only.
void merge_not_modified(http::HeaderMap& stored, const http::HeaderMap& not_modified);

// Removes what a shared cache must not store (RFC 9111 3.1): Connection and
// the fields it names, hop-by-hop fields, Proxy-Authenticate,
// Proxy-Authentication-Info, Proxy-Authorization, the fields named by a
// qualified private or no-cache, and Set-Cookie (a rule's store_set_cookie
// lets the response be stored, never the cookie).
void remove_unstorable_fields(http::HeaderMap& headers);

// --- Reuse with credentials --------------------------------------------------

// May a stored response answer this request (RFC 9111 3.5)? A request
// without Authorization, yes; one with it only if the stored response says
// it may be shared so: public, s-maxage or must-revalidate (not
// proxy-revalidate), the test can_store applies before storing.
// `stored_head` is the stored status line and fields (EntryMeta::head); a
// head that cannot be read is never reused for credentials.
bool reusable_with_authorization(const http::Request& req, std::string_view stored_head);
// The same with the stored response's directives read under `rule`
// (targeted fields first), as can_store read them.
bool reusable_with_authorization(const http::Request& req, std::string_view stored_head, const RuleConfig& rule);

// --- The requests a cache sends --------------------------------------------

// The request a fill sends upstream for a client's request: a GET (a HEAD
// fills the GET entry, RFC 9110 9.3.2, as nginx's proxy_cache_convert_head)
// for the same target with the client's fields, but without the client's
// own conditionals and range (If-None-Match, If-Modified-Since, If-Match,
// If-Unmodified-Since, If-Range, Range; RFC 9110 13.1, 14.2): their answer
// would be for that client only, and the cache answers them itself from
// what it stores. A new request, without a body.
http::Request fill_request(const http::Request& client);
// True if the client's request already is its fill request (a GET without
// those fields): it is sent upstream as it is, without a copy.
bool is_fill_request(const http::Request& client);
// The request that revalidates a stored response for a client's request
// (RFC 9111 4.3.1): the fill request (the client's own, if it is one) with
// the stored validators as its conditionals (add_conditional_headers).
http::Request revalidation_request(const http::Request& client, const Validators& stored);

// --- The responses a cache builds --------------------------------------------

// The head stored for a response (EntryMeta::head): status line and fields,
// each line ending in CRLF, without the blank line. Without what a shared
// cache must not store (remove_unstorable_fields), without framing
// (Content-Length, Transfer-Encoding) and without the fields every response
// gets anew (Age, X-Cache, Cache-Status, and Accept-Ranges: this cache
// answers ranges of what it stores whatever the origin said); with `now` as
// Date if the response has none (RFC 9110 6.6.1: a recipient adds one).
std::string stored_head(const http::Response& resp, Seconds now);

// Does the cache answer a client's conditional request with a 304 of its
// own (RFC 9110 13.2.1)? When the stored response is a 2xx and the
// request's conditions match its validators (client_not_modified).
bool answers_not_modified(const http::Request& req, int stored_status, const Validators& stored);
// That 304's head, made from the stored head: the status line, then of the
// stored fields those a 304 carries (RFC 9110 15.4.5: the ones a 200 would
// have sent that guide caches): Cache-Control, Content-Location, Date, ETag,
// Expires, Last-Modified and Vary, in that order, the first value of each.
// Lines end in CRLF, without the blank line. nullopt if the stored head
// cannot be read.
std::optional<std::string> not_modified_head(std::string_view stored_head);

// --- Ranges (RFC 9110 14) ----------------------------------------------------
//
// This cache stores only complete responses (RFC 9111 3.4 allows it) and
// answers ranges from them, as nginx does: a single range is a 206 from the
// stored body (RAM tier or file), several ranges one multipart/byteranges
// 206, an unsatisfiable set a 416. A miss fills the whole object (the fill
// request drops Range) and the client gets its range as the body streams
// by, and so does a request that follows the fill (both only for a single
// range: parts of several ranges come out of order, so those get the full
// 200, like Varnish; the next request is a hit and gets its multipart).

// A byte range resolved against a representation of known length: first
// and last positions, inclusive (RFC 9110 14.1.2).
struct ByteRange {
  std::uint64_t first = 0;
  std::uint64_t last = 0;
  std::uint64_t size() const noexcept { return last - first + 1; }
  bool operator==(const ByteRange&) const = default;
};

// How a request's Range is answered.
struct RangePlan {
  enum class Kind {
    full,           // the whole 200: no Range, or one that is ignored
    partial,        // 206 of `ranges`: one part, or multipart/byteranges
    unsatisfiable,  // 416 with Content-Range: bytes */length (RFC 9110 15.5.17)
  };
  Kind kind = Kind::full;
  std::vector<ByteRange> ranges;  // partial: in the order requested
};

// A request asking for more ranges than this gets the whole 200.
inline constexpr std::size_t kMaxRanges = 16;

// A Range field value for a representation of `length` bytes (RFC 9110
// 14.1.2, 14.2). Ignored (full): a unit other than bytes (case-insensitive),
// a syntax error, a range whose last-pos is below its first-pos (all
// "invalid", which a server MAY ignore), more than kMaxRanges ranges, or
// several whose sizes add up to more than the representation (overlaps:
// RFC 9110 14.2's denial-of-service warning; nginx's rule), and any Range
// on an empty representation. Unsatisfiable ranges (first-pos at or past
// the end, a suffix of 0) are dropped; none left: unsatisfiable. Positions
// past the end are cut to it; a suffix longer than the representation is
// all of it.
RangePlan parse_ranges(std::string_view range, std::uint64_t length);

// RFC 9110 13.1.5: does If-Range's validator match the response (its
// head's fields)? An entity-tag, by strong comparison only: both strong and
// the same (a weak one never matches). An HTTP-date, only when equal to a
// Last-Modified that is strong: the response's Date at least one second
// later (RFC 9110 8.8.2.2). Anything else does not match.
bool if_range_matches(std::string_view if_range, const http::HeaderMap& response);

// Whether a request asks for a range at all: a GET with a Range field
// (RFC 9110 14.2: GET is the only method ranges are defined for). Cheap:
// callers test it before reading a stored head.
bool range_requested(const http::Request& req);

// How this cache answers `req` from a response with `status` and the fields
// `response`, whose body is `length` bytes (nullopt: not known yet, a
// chunked response). Ranges apply only where the answer would otherwise be
// a 200 (RFC 9110 14.2), of known length, to one Range field, and only if
// If-Range (when sent) matches; otherwise the full response.
RangePlan range_plan(const http::Request& req, int status, const http::HeaderMap& response,
                     std::optional<std::uint64_t> length);

// A Range miss whose upstream announces a 200 of more than the rule's
// range_fill_max bytes is not filled for this request: it goes upstream
// with its Range instead (nginx leaves such objects to its slice module).
// Only when the range would apply (range_plan is not full).
bool passes_range(const http::Request& req, const http::Response& resp, const RuleConfig& rule);

// The response made a 206 of one range (RFC 9110 15.3.7.1): status and
// reason, Content-Range "bytes first-last/length", content_length the
// range's size.
void make_partial(http::Response& resp, ByteRange range, std::uint64_t length);
// A 416 for a representation of `length` bytes: Content-Range "bytes
// */length" (RFC 9110 15.5.17), no body.
http::Response unsatisfiable_response(std::uint64_t length);

// A multipart/byteranges body (RFC 9110 14.6, 15.3.7.2): before each part
// its head (delimiter, the representation's Content-Type if it has one,
// Content-Range), then the part's bytes; after the last, the close
// delimiter. Each delimiter starts on a line of its own.
struct Multipart {
  std::vector<std::string> part_heads;
  std::string end;
  std::uint64_t content_length = 0;  // of the whole body
};
// The response made a multipart 206 of `ranges` with `boundary` (1 to 70
// characters of bchars, RFC 2046 5.1.1): status, Content-Type
// "multipart/byteranges; boundary=...", no Content-Range, content_length
// the whole body's. Returns the pieces around the parts.
Multipart make_multipart(http::Response& resp, const std::vector<ByteRange>& ranges, std::uint64_t length,
                         std::string_view boundary);

// --- X-Cache and Cache-Status ----------------------------------------------

// What the cache did for a response: its X-Cache value, which every response
// of a cached route carries, and the label of the cache metrics.
//   hit          served from a fresh stored response
//   miss         fetched from the upstream, or streamed from another request's fetch
//   stale        served stale: inside stale-while-revalidate (this request
//                starts the refresh), or instead of an upstream error
//   revalidated  a stale stored response the upstream confirmed with a 304
//   bypass       passed through: a method the cache does not serve, or the
//                rule's bypass conditions
//   expired      a stale stored response replaced by the upstream's new one
//   updating     served stale while another request refreshes it
enum class CacheStatus { hit, miss, stale, revalidated, bypass, expired, updating };
inline constexpr std::size_t kCacheStatuses = 7;
inline constexpr std::array<const char*, kCacheStatuses> kCacheStatusNames = {
    "HIT", "MISS", "STALE", "REVALIDATED", "BYPASS", "EXPIRED", "UPDATING"};

// What a response's Cache-Status says beyond its X-Cache status. Each fact
// is read for the statuses it names.
struct CacheStatusFacts {
  std::optional<Seconds> age;   // any: served from a stored response, whose current age is sent as Age (RFC 9111 5.1)
  Seconds ttl = 0;              // hit, stale, updating: the stored response's remaining freshness (negative once stale)
  bool shared_tier = false;     // hit: found in the fleet's shared tier
  bool method = false;          // bypass: because of the method, not the rule's bypass conditions
  bool request_body = false;    // bypass: because the request has a body (RequestUse::pass_body)
  int upstream_status = 0;      // expired: what the upstream answered the revalidation with
  bool collapsed = false;       // miss: streamed from another request's fill
  bool heuristic = false;       // hit: fresh by the zone's heuristic (RFC 9111 4.2.2)
  bool only_if_cached = false;  // miss: the client asked for only-if-cached, nothing could be used (a 504)
  bool accept_ranges = false;   // any: a 200 or 206 this cache can answer ranges of
  std::string_view not_stored;  // miss, expired: why the response was not stored (can_store's reason, "admission",
                                // "write-failed" or "disk-backlog"); empty if it was stored
};
// The fields a response of a cached route gets on top of its own, each
// "Name: value\r\n": Age (if facts.age), Accept-Ranges: bytes (if
// facts.accept_ranges), X-Cache, and Cache-Status (RFC 9211) with this
// cache's entry ("gateway"):
//   hit, stale, updating  "gateway; hit; ttl=<ttl>", then "; detail=stale",
//                         "; detail=updating", or for a hit from the shared
//                         tier "; detail=shared-tier", or for a hit fresh by
//                         the heuristic "; detail=heuristic" (RFC 9211 2.8:
//                         detail is the cache's own; no Warning: RFC 9111
//                         obsoleted it)
//   revalidated           "gateway; fwd=stale; fwd-status=304"
//   expired               "gateway; fwd=stale; fwd-status=<upstream status>",
//                         then "; stored" or "; detail=<why not stored>"
//   miss                  "gateway; fwd=uri-miss", then "; collapsed",
//                         "; stored" or "; detail=<why not stored>"; for
//                         only-if-cached "gateway; detail=only-if-cached"
//                         (nothing was forwarded)
//   bypass                "gateway; fwd=method", "gateway; fwd=bypass; detail=request-body"
//                         or "gateway; fwd=bypass"
std::string cache_fields(CacheStatus status, const CacheStatusFacts& facts);
// The same fields appended to `out` (the hit path reuses one buffer).
void append_cache_fields(std::string& f, CacheStatus status, const CacheStatusFacts& facts);

// --- Invalidation ----------------------------------------------------------

// An unsafe method (anything but GET, HEAD, OPTIONS, TRACE) whose response is
// 2xx or 3xx invalidates the target URI (RFC 9111 4.4).
bool invalidates(std::string_view method, int status) noexcept;
// The targets to invalidate: the request target, and Location and
// Content-Location if they are on the same host (absolute URLs of another
// host are ignored; relative ones resolve against the request).
// Same host means the same authority as the request's Host once lowercased
// and without the scheme's default port (stricter than RFC 9111 4.4's "host
// part": invalidating Location is a MAY, and a key names host and port).
// Results are origin-form ("/path?query"), fragment dropped, dot-segments
// removed, duplicates dropped, the request target first.
std::vector<std::string> invalidated_targets(const http::Request& req, const http::Response& resp);

// --- Tags ------------------------------------------------------------------

// Purge tags from a header value such as "Surrogate-Key: a b" or "Cache-Tag:
// a,b": split on spaces, tabs and commas, empties and duplicates dropped,
// first-seen order kept.
std::vector<std::string> parse_tags(std::string_view value);

}  // namespace gateway::cache
