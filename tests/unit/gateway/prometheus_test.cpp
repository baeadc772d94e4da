// Tests for gateway/prometheus: label values escaped the way the Prometheus
// text format reads them, and the workers' families summed and labelled.
#include "gateway/prometheus.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "gateway/metrics.hpp"

using gateway::WorkerMetrics;
using gateway::prometheus::append_worker_families;
using gateway::prometheus::escape_label_value;

namespace {

bool has_line(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos || text.rfind(line + "\n", 0) == 0;
}

}  // namespace

TEST_CASE("prometheus: label values escape backslash, double quote and line feed, nothing else") {
  struct Case {
    const char* rule;
    std::string value;
    std::string escaped;
  };
  const std::vector<Case> cases = {
      {"empty", "", ""},
      {"plain", "api-channels_2", "api-channels_2"},
      {"double quote", "say \"hi\"", "say \\\"hi\\\""},
      {"backslash", "a\\b", "a\\\\b"},
      {"line feed", "a\nb", "a\\nb"},
      {"an escaped quote is escaped again", "\\\"", "\\\\\\\""},
      {"carriage return and tab stay as they are", "a\rb\tc", "a\rb\tc"},
      {"other control bytes stay (no \\u00XX)", std::string("a\x01" "b\x1f", 4), std::string("a\x01" "b\x1f", 4)},
      {"UTF-8 stays", "caf\xc3\xa9 \xe2\x82\xac", "caf\xc3\xa9 \xe2\x82\xac"},
      {"slash and braces stay", "/api/{id}", "/api/{id}"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.rule);
    CHECK(escape_label_value(c.value) == c.escaped);
  }
}

TEST_CASE("prometheus: worker families are summed over workers, names escaped in labels") {
  WorkerMetrics a, b;
  a.connections_total.inc(3);
  b.connections_total.inc(4);
  a.route("say \"hi\"\\").by_class[1].inc(2);
  b.route("say \"hi\"\\").by_class[1].inc(5);
  b.route("pages\n").fragment_fallbacks.inc();
  a.upstream("svc").retries.inc(6);
  std::string text;
  append_worker_families(text, {&a, &b});

  CHECK(text.rfind("# HELP gateway_connections_active Client connections open now.\n"
                   "# TYPE gateway_connections_active gauge\n"
                   "gateway_connections_active 0\n",
                   0) == 0);
  CHECK(has_line(text, "gateway_connections_total 7"));
  CHECK(has_line(text, "gateway_requests_total{route=\"say \\\"hi\\\"\\\\\",code=\"2xx\"} 7"));
  CHECK(has_line(text, "gateway_requests_total{route=\"pages\\n\",code=\"5xx\"} 0"));
  // Fragments are listed only for routes that had any.
  CHECK(has_line(text, "gateway_page_fragments_total{route=\"pages\\n\",outcome=\"fallback\"} 1"));
  CHECK(text.find("gateway_page_fragments_total{route=\"say") == std::string::npos);
  CHECK(has_line(text, "gateway_upstream_response_seconds_bucket{upstream=\"svc\",le=\"0.001\"} 0"));
  CHECK(has_line(text, "gateway_upstream_response_seconds_bucket{upstream=\"svc\",le=\"+Inf\"} 0"));
  CHECK(has_line(text, "gateway_upstream_response_seconds_sum{upstream=\"svc\"} 0"));
  CHECK(has_line(text, "gateway_upstream_retries_total{upstream=\"svc\"} 6"));
}
