#include "gateway/access_log_format.hpp"

#include <cstdio>

#include "base/json.hpp"

namespace gateway {

namespace {

// Escapes what would end or forge a field: quotes, backslashes, control
// bytes (as nginx's default escape of the log).
void append_escaped(std::string& out, std::string_view v) {
  for (char c : v) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) {
      char esc[5];
      std::snprintf(esc, sizeof esc, "\\x%02X", u);
      out.append(esc);
      continue;
    }
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
}

void append_quoted(std::string& out, std::string_view v) {
  out.push_back('"');
  if (v.empty()) out.push_back('-');
  append_escaped(out, v);
  out.push_back('"');
}

void append_seconds(std::string& out, std::chrono::microseconds us) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", static_cast<double>(us.count()) / 1e6);
  out.append(buf);
}

std::string_view or_dash(std::string_view v) { return v.empty() ? "-" : v; }

void format_combined(std::string& b, const AccessRecord& r, std::string_view time) {
  const RequestInfo& info = *r.info;
  b.append(r.client).append(" - - ").append(time).append(" \"");
  append_escaped(b, r.method);
  b.push_back(' ');
  append_escaped(b, r.target);
  b.push_back(' ');
  append_escaped(b, r.protocol);
  b.append("\" ").append(std::to_string(r.status)).push_back(' ');
  b.append(std::to_string(r.body_bytes)).push_back(' ');
  append_quoted(b, r.referer);
  b.push_back(' ');
  append_quoted(b, r.user_agent);
  b.append(" rt=");
  append_seconds(b, r.elapsed);
  b.append(" route=").append(or_dash(info.route));
  b.append(" upstream=").append(or_dash(info.upstream));
  b.append(" instance=").append(or_dash(info.instance));
  b.append(" urt=");
  if (info.upstream_time.count() >= 0) append_seconds(b, info.upstream_time);
  else b.push_back('-');
  b.append(" tries=").append(std::to_string(info.tries));
  b.append(" cache=").append(info.cache);
  b.append(" tls=").append(or_dash(info.tls));
  // Why a request waited for or was refused a slot (max_conns).
  if (!info.queue.empty()) b.append(" queue=").append(info.queue);
  // A tunnel (status 101): the bytes field is what the client was sent;
  // these say what it sent and why the tunnel ended.
  if (info.tunnel_from_client >= 0)
    b.append(" tunnel_in=").append(std::to_string(info.tunnel_from_client)).append(" tunnel_end=").append(info.tunnel_end);
  b.push_back('\n');
}

// `"key":` then the value; `first` says whether a comma goes before.
struct JsonObject {
  std::string& out;
  bool first = true;
  void key(std::string_view k) {
    out.append(first ? "{\"" : ",\"").append(k).append("\":");
    first = false;
  }
  void string(std::string_view k, std::string_view v) {
    key(k);
    json::append_string_lossy(out, v);
  }
  // An empty value is written as null.
  void string_or_null(std::string_view k, std::string_view v) {
    if (v.empty() || v == "-") {
      key(k);
      out.append("null");
    } else {
      string(k, v);
    }
  }
  void number(std::string_view k, std::int64_t v) {
    key(k);
    out.append(std::to_string(v));
  }
  void seconds(std::string_view k, std::chrono::microseconds us) {
    key(k);
    if (us.count() < 0) out.append("null");
    else append_seconds(out, us);
  }
};

void format_json(std::string& b, const AccessRecord& r, std::string_view time) {
  const RequestInfo& info = *r.info;
  JsonObject o{b};
  o.string("time", time);
  o.string("remote_addr", r.client);
  std::string request;
  request.reserve(r.method.size() + r.target.size() + r.protocol.size() + 2);
  request.append(r.method).append(" ").append(r.target).append(" ").append(r.protocol);
  o.string("request", request);
  o.string("method", r.method);
  o.string("uri", r.target);
  o.string("protocol", r.protocol);
  o.number("status", r.status);
  o.number("body_bytes_sent", static_cast<std::int64_t>(r.body_bytes));
  o.string_or_null("http_referer", r.referer);
  o.string_or_null("http_user_agent", r.user_agent);
  o.seconds("request_time", r.elapsed);
  o.string_or_null("route", info.route);
  o.string_or_null("upstream", info.upstream);
  o.string_or_null("instance", info.instance);
  o.seconds("upstream_response_time", info.upstream_time);
  o.number("tries", info.tries);
  o.string_or_null("cache", info.cache);
  o.string_or_null("tls", info.tls);
  if (!info.queue.empty()) o.string_or_null("queue", info.queue);
  if (info.tunnel_from_client >= 0) {
    o.number("tunnel_in", info.tunnel_from_client);
    o.string_or_null("tunnel_end", info.tunnel_end);
  }
  b.append("}\n");
}

}  // namespace

std::string access_log_time(AccessLogFormat format, std::time_t time) {
  std::tm tm{};
  gmtime_r(&time, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, format == AccessLogFormat::json ? "%Y-%m-%dT%H:%M:%SZ" : "[%d/%b/%Y:%H:%M:%S +0000]",
                &tm);
  return buf;
}

void format_access_line(std::string& out, AccessLogFormat format, const AccessRecord& r, std::string_view time) {
  if (format == AccessLogFormat::json) format_json(out, r, time);
  else format_combined(out, r, time);
}

}  // namespace gateway
