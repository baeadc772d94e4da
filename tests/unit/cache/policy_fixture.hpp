// Helpers of the cache/policy tables (policy_test.cpp, policy_freshness_test.cpp):
// messages and stored facts built from field lists, at a fixed `now`.
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "base/http/serializer.hpp"
#include "cache/policy.hpp"

namespace gateway::cache::policy_testing {

namespace http = gateway::http;
using namespace gateway::cache;


using Fields = std::vector<std::pair<std::string, std::string>>;

constexpr Seconds kNow = 1'700'000'000;  // 2023-11-14T22:13:20Z

inline http::HeaderMap header_map(const Fields& fields) {
  http::HeaderMap h;
  for (const auto& [name, value] : fields) h.add(name, value);
  return h;
}

inline http::Request request(std::string method, std::string target, const Fields& fields) {
  http::Request r;
  r.method = std::move(method);
  r.target = std::move(target);
  r.headers = header_map(fields);
  return r;
}

inline http::Request get(std::string target, Fields fields = {}) {
  fields.insert(fields.begin(), {"Host", "example.com"});
  return request("GET", std::move(target), fields);
}

inline http::Response response(int status, const Fields& fields) {
  http::Response r;
  r.status = status;
  r.headers = header_map(fields);
  return r;
}

inline std::string date(Seconds t) { return http::format_http_date(t); }

// Expected keys are written with '|' for kKeySeparator.
inline std::string sep(std::string s) {
  std::replace(s.begin(), s.end(), '|', kKeySeparator);
  return s;
}

inline std::string dump(const http::HeaderMap& h) {
  std::string out;
  h.for_each([&](const http::HeaderMap::Field& f) {
    out += f.name;
    out += ": ";
    out += f.value;
    out += "\n";
  });
  return out;
}

inline std::string join(const std::vector<std::string>& v, const char* with = ",") {
  std::string out;
  for (const auto& s : v) {
    if (!out.empty()) out += with;
    out += s;
  }
  return out;
}

// A canonical one-line description, so a table row states every field.
inline std::string describe(const ResponseDirectives& d) {
  std::vector<std::string> parts;
  if (d.max_age) parts.push_back("max-age=" + std::to_string(*d.max_age));
  if (d.s_maxage) parts.push_back("s-maxage=" + std::to_string(*d.s_maxage));
  if (d.no_store) parts.push_back("no-store");
  if (d.no_cache) parts.push_back("no-cache");
  if (!d.no_cache_fields.empty()) parts.push_back("no-cache=" + join(d.no_cache_fields));
  if (d.private_) parts.push_back("private");
  if (!d.private_fields.empty()) parts.push_back("private=" + join(d.private_fields));
  if (d.public_) parts.push_back("public");
  if (d.must_revalidate) parts.push_back("must-revalidate");
  if (d.proxy_revalidate) parts.push_back("proxy-revalidate");
  if (d.must_understand) parts.push_back("must-understand");
  if (d.immutable) parts.push_back("immutable");
  if (d.stale_while_revalidate) parts.push_back("swr=" + std::to_string(*d.stale_while_revalidate));
  if (d.stale_if_error) parts.push_back("sie=" + std::to_string(*d.stale_if_error));
  return join(parts, " ");
}

inline std::string describe(const RequestDirectives& d) {
  std::vector<std::string> parts;
  if (d.max_age) parts.push_back("max-age=" + std::to_string(*d.max_age));
  if (d.max_stale)
    parts.push_back(*d.max_stale == std::numeric_limits<Seconds>::max() ? std::string("max-stale=any")
                                                                        : "max-stale=" + std::to_string(*d.max_stale));
  if (d.min_fresh) parts.push_back("min-fresh=" + std::to_string(*d.min_fresh));
  if (d.no_cache) parts.push_back("no-cache");
  if (d.no_store) parts.push_back("no-store");
  if (d.only_if_cached) parts.push_back("only-if-cached");
  return join(parts, " ");
}

inline std::string describe(const Freshness& f) {
  std::string out = "lifetime=" + std::to_string(f.lifetime);
  if (f.stale_while_revalidate) out += " swr=" + std::to_string(f.stale_while_revalidate);
  if (f.stale_if_error) out += " sie=" + std::to_string(f.stale_if_error);
  if (f.must_revalidate) out += " must-revalidate";
  if (f.no_cache) out += " no-cache";
  return out;
}

inline const char* name_of(Usability u) {
  switch (u) {
    case Usability::fresh: return "fresh";
    case Usability::stale_revalidate: return "stale_revalidate";
    case Usability::stale_while_revalidate: return "stale_while_revalidate";
  }
  return "?";
}

// Rules, built by small steps.
inline RuleConfig rule(long long ttl_ms = 60'000) {
  RuleConfig r;
  r.ttl = Duration(ttl_ms);
  return r;
}
inline RuleConfig with_valid(RuleConfig r, int status, long long ms) {
  r.valid.emplace_back(status, Duration(ms));
  return r;
}
inline RuleConfig overriding(RuleConfig r) {
  r.override = true;
  return r;
}
inline RuleConfig storing_set_cookie(RuleConfig r) {
  r.store_set_cookie = true;
  return r;
}
inline RuleConfig with_query(RuleConfig::Query q, std::vector<std::string> key_headers = {},
                           std::vector<std::string> key_cookies = {}) {
  RuleConfig r;
  r.query = q;
  r.key_headers = std::move(key_headers);
  r.key_cookies = std::move(key_cookies);
  return r;
}

inline Freshness fr(Seconds lifetime, Seconds swr = 0, Seconds sie = 0, bool must_revalidate = false, bool no_cache = false) {
  Freshness f;
  f.lifetime = lifetime;
  f.stale_while_revalidate = swr;
  f.stale_if_error = sie;
  f.must_revalidate = must_revalidate;
  f.no_cache = no_cache;
  return f;
}

inline RequestDirectives req_cc(const std::string& cache_control) {
  return parse_request_directives(header_map(cache_control.empty() ? Fields{} : Fields{{"Cache-Control", cache_control}}));
}


}  // namespace gateway::cache::policy_testing
