// HTTP caching decisions of a shared cache (RFC 9111): keys, storability,
// freshness, age, Vary, validation and invalidation.
//
// Pure functions of their arguments: no clock, no I/O, no state. Times are
// seconds since the Unix epoch (HTTP dates have one-second resolution) and
// every function that needs the current time takes `now`.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/config.hpp"
#include "gateway/http/message.hpp"

namespace gateway::cache {

using Seconds = std::int64_t;

// --- Cache-Control -----------------------------------------------------------

// Response directives (RFC 9111 5.2.2 and RFC 5861). Unknown directives are
// ignored; a malformed delta-seconds makes its directive absent, except
// max-age / s-maxage which then count as 0 (RFC 9111 4.2.1: treat as stale).
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
};
ResponseDirectives parse_response_directives(const http::HeaderMap& headers);

// Request directives (RFC 9111 5.2.1). `Pragma: no-cache` without a
// Cache-Control header counts as no-cache.
struct RequestDirectives {
  std::optional<Seconds> max_age;
  std::optional<Seconds> max_stale;  // present without value: any staleness (INT64_MAX)
  std::optional<Seconds> min_fresh;
  bool no_cache = false;
  bool no_store = false;
  bool only_if_cached = false;
};
RequestDirectives parse_request_directives(const http::HeaderMap& headers);

// --- Keys ------------------------------------------------------------------

// The primary cache key: method class ("GET" also for HEAD, which is served
// from GET entries), lowercased host without a default port, path, query
// (kept, sorted by parameter, or dropped per the rule), then the rule's
// extra headers and cookies as name=value. Unambiguous: parts are separated
// by bytes that cannot occur in them.
std::string cache_key(const http::Request& req, const CacheRuleConfig& rule);

// The request was asked to skip the cache by the route's bypass conditions
// (a listed header present and neither empty nor "0", or a listed cookie).
bool bypassed(const http::Request& req, const CacheRuleConfig& rule);

// Methods whose responses may be looked up and stored: GET and HEAD.
bool cacheable_method(std::string_view method) noexcept;

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
StoreDecision can_store(const http::Request& req, const http::Response& resp, const CacheRuleConfig& rule);

// Statuses cacheable by default (RFC 9110 15.1): 200 203 204 206 300 301 308
// 404 405 410 414 501.
bool heuristically_cacheable(int status) noexcept;

// --- Freshness -------------------------------------------------------------

// What is decided once, when a response is stored.
struct Freshness {
  Seconds lifetime = 0;   // freshness lifetime (RFC 9111 4.2.1), after the rule's overrides
  Seconds stale_while_revalidate = 0;
  Seconds stale_if_error = 0;
  bool must_revalidate = false;  // must-revalidate, proxy-revalidate or s-maxage: never served stale unchecked
  bool no_cache = false;         // revalidate before every use
};
// Freshness lifetime per RFC 9111 4.2.1: s-maxage > max-age > Expires - Date
// > the rule's TTL for the status (`valid`, then `ttl`); with rule.override
// the rule's TTL wins whenever it has one for the status. `response_time`
// stands in for a missing or invalid Date.
Freshness freshness(const http::Response& resp, const CacheRuleConfig& rule, Seconds response_time);

// RFC 9111 4.2.3: the corrected initial age of a response received at
// response_time for a request sent at request_time (uses Age and Date).
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
// `age` is the current age. Request directives (max-age, max-stale,
// min-fresh, no-cache) are honoured only if `honor_request` (the rule's
// honor_client_no_cache); must_revalidate forbids max-stale.
Usability usability(const Freshness& f, Seconds age, const RequestDirectives& req, bool honor_request);
// Whether a stale response may be served because the upstream failed
// (stale-if-error window, or the rule's use_stale for this failure, where
// `failure` is "error", "timeout" or "http_5xx" with the status).
bool may_serve_stale_on_error(const Freshness& f, Seconds age, const CacheRuleConfig& rule,
                              std::string_view failure);

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
// distinct value lists never collide. Empty when fields is empty.
std::string vary_key(const VarySpec& vary, const http::Request& req);

// --- Validation ------------------------------------------------------------

struct Validators {
  std::optional<std::string> etag;           // as sent, with quotes and W/
  std::optional<Seconds> last_modified;
};
Validators validators_of(const http::HeaderMap& headers);

// Adds If-None-Match / If-Modified-Since for revalidating a stored response.
void add_conditional_headers(http::HeaderMap& upstream_request, const Validators& stored);

// Does the client's conditional request match the stored response, so that
// the cache answers 304 (RFC 9110 13.1.2, 13.1.3)? If-None-Match wins over
// If-Modified-Since; weak comparison.
bool client_not_modified(const http::Request& req, const Validators& stored);

// RFC 9111 3.2 / 4.3.4: headers of a stored response updated by a 304: every
// field in the 304 replaces the stored one(s) of the same name, except the
// framing fields (Content-Length, Transfer-Encoding) and hop-by-hop fields.
void merge_not_modified(http::HeaderMap& stored, const http::HeaderMap& not_modified);

// --- Invalidation ----------------------------------------------------------

// An unsafe method (anything but GET, HEAD, OPTIONS, TRACE) whose response is
// 2xx or 3xx invalidates the target URI (RFC 9111 4.4).
bool invalidates(std::string_view method, int status) noexcept;
// The targets to invalidate: the request target, and Location and
// Content-Location if they are on the same host (absolute URLs of another
// host are ignored; relative ones resolve against the request).
std::vector<std::string> invalidated_targets(const http::Request& req, const http::Response& resp);

// --- Tags ------------------------------------------------------------------

// Purge tags from a header value such as "Surrogate-Key: a b" or "Cache-Tag:
// a,b": split on spaces and commas, empties dropped.
std::vector<std::string> parse_tags(std::string_view value);

}  // namespace gateway::cache
