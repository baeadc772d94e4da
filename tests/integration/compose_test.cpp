// Composition end to end: page routes stitched from fragments of several
// sample-service instances (SSI and ESI). This file holds the assembly in
// template order and its streaming, the primary fragment, nested includes,
// loops and the depth limit, and template errors reported by --check;
// compose_failure_test.cpp holds timeouts and fallbacks and required
// fragments, compose_cache_test.cpp fragments cached by their own routes and
// the fragment metrics, compose_trailer_test.cpp Server-Timing in the chunked
// trailer, compose_aggregate_test.cpp JSON aggregates. Shared helpers are in
// compose_fixture.hpp.
//
// Each TEST_CASE starts its own sample-service instances and gateway on
// ephemeral loopback ports; the harness stops them on destruction. Timing is
// shown by arrival order, never by sleeping.
#include <doctest/doctest.h>

#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "compose_fixture.hpp"
#include "harness.hpp"

using namespace itest;
using namespace itest::compose_test;

namespace {

// data-instance="NAME" of the first section with class `widget` in `html`.
std::string instance_of(std::string_view html, std::string_view widget) {
  std::string marker = "class=\"widget " + std::string(widget) + "\" data-instance=\"";
  auto at = html.find(marker);
  if (at == std::string_view::npos) return "";
  at += marker.size();
  return std::string(html.substr(at, html.find('"', at) - at));
}

// Index of the read by which `needle` had fully arrived; -1 if never.
int arrived_in(const std::vector<std::string>& reads, std::string_view needle) {
  std::string so_far;
  for (std::size_t i = 0; i < reads.size(); ++i) {
    so_far += reads[i];
    if (so_far.find(needle) != std::string::npos) return static_cast<int>(i);
  }
  return -1;
}

}  // namespace

// ------------------------------------------------------------------ assembly

TEST_CASE("compose: a page is stitched in template order from three SSI includes and one ESI include") {
  TempDir dir;
  SampleService ch1(dir, "ch1"), ch2(dir, "ch2"), chat(dir, "chat"), rec(dir, "rec");
  dir.write("page.html",
            "<!DOCTYPE html>\n<main>\n"
            "<!--# include virtual=\"/fragments/channel/{id}\" -->\n"
            "<div class=\"mid\"><!--# include virtual=\"/fragments/player/{id}\" --></div>\n"
            "<!--# include virtual=\"/fragments/chat/{id}\" -->\n"
            "<esi:include src=\"/fragments/recommended/{id}\"/>\n"
            "<esi:remove><p>shown without ESI</p></esi:remove>\n"
            "</main>\n");
  Gateway gw(dir, "workers: 1\naccess_log: off\nupstreams:\n" + upstream_yaml("channels", {&ch1, &ch2}) +
                      upstream_yaml("chat", {&chat}) + upstream_yaml("recommended", {&rec}) +
                      "routes:\n"
                      "  - {path: \"/channels/{id}\", page: {template: page.html}}\n"
                      "  - {prefix: /fragments/channel/, upstream: channels}\n"
                      "  - {prefix: /fragments/player/, upstream: channels}\n"
                      "  - {prefix: /fragments/chat/, upstream: chat}\n"
                      "  - {prefix: /fragments/recommended/, upstream: recommended}\n");
  for (auto* s : {&ch1, &ch2, &chat, &rec}) s->reset_stats();

  constexpr int kPages = 4;
  std::set<std::string> channel_instances;
  for (int i = 0; i < kPages; ++i) {
    auto r = http_get(url(gw.port(), "/channels/42"));
    REQUIRE(r.status == 200);
    CHECK(r.header("Content-Type") == "text/html; charset=utf-8");
    // Which "channels" instance served each of its two fragments.
    auto channel_from = instance_of(r.body, "widget-channel");
    auto player_from = instance_of(r.body, "widget-player");
    INFO("channel from " << channel_from << ", player from " << player_from);
    REQUIRE((channel_from == "ch1" || channel_from == "ch2"));
    REQUIRE((player_from == "ch1" || player_from == "ch2"));
    channel_instances.insert(channel_from);
    channel_instances.insert(player_from);
    const SampleService& cs = channel_from == "ch1" ? ch1 : ch2;
    const SampleService& ps = player_from == "ch1" ? ch1 : ch2;
    std::string expected = "<!DOCTYPE html>\n<main>\n" + direct(cs, "/fragments/channel/42") + "\n" +
                           "<div class=\"mid\">" + direct(ps, "/fragments/player/42") + "</div>\n" +
                           direct(chat, "/fragments/chat/42") + "\n" + direct(rec, "/fragments/recommended/42") +
                           "\n" + "\n" + "</main>\n";
    CHECK(r.body == expected);
    CHECK(instance_of(r.body, "widget-chat") == "chat");
    CHECK(instance_of(r.body, "widget-recommended") == "rec");
    CHECK(r.body.find("Channel 42") != std::string::npos);
    CHECK(r.body.find("shown without ESI") == std::string::npos);
    CHECK(r.body.find("include") == std::string::npos);
  }
  // Balanced over both "channels" instances; every fragment fetched once per
  // page (no caching configured). The direct fetches above are counted too.
  CHECK(channel_instances == std::set<std::string>{"ch1", "ch2"});
  CHECK(ch1.stat("requests") + ch2.stat("requests") == 2 * kPages + 2 * kPages);
  CHECK(chat.stat("requests") == kPages + kPages);
  CHECK(rec.stat("requests") == kPages + kPages);
}

TEST_CASE("compose: the head and the fragments before a slow one leave before the slow fragment's content") {
  TempDir dir;
  SampleService svc(dir, "svc");
  dir.write("page.html",
            "<html><!-- head-marker -->\n"
            "<!--# include virtual=\"/fragments/channel/{id}\" -->\n"
            "<p>before-slow</p>\n"
            "<!--# include virtual=\"/fragments/chat/{id}?delay_ms=1500\" -->\n"
            "<p>after-slow</p>\n"
            "<!--# include virtual=\"/fragments/recommended/{id}\" -->\n"
            "</html>\n");
  Gateway gw(dir, "workers: 1\naccess_log: off\nupstreams:\n" + upstream_yaml("app", {&svc}) +
                      "routes:\n"
                      "  - {path: \"/p/{id}\", page: {template: page.html, timeout: 10s}}\n"
                      "  - {prefix: /fragments/, upstream: app}\n");

  auto reads = get_reads(gw.port(), "/p/7");
  auto all = joined(reads);
  INFO("reads: " << reads.size() << "\n" << all);
  auto page = parse_chunked(all);
  REQUIRE(page.complete);
  CHECK(page.status == 200);
  CHECK(page.body.find("widget-chat") != std::string::npos);

  int head = arrived_in(reads, "\r\n\r\n");
  int channel = arrived_in(reads, "<section class=\"widget widget-channel\"");
  int before = arrived_in(reads, "<p>before-slow</p>");
  int slow = arrived_in(reads, "<section class=\"widget widget-chat\"");
  int after = arrived_in(reads, "<p>after-slow</p>");
  int last = arrived_in(reads, "widget-recommended");
  REQUIRE(head >= 0);
  REQUIRE(before >= 0);
  REQUIRE(slow >= 0);
  // The head, the first fragment and the literal before the slow fragment
  // were already there, in an earlier read, when the slow one arrived.
  CHECK(head <= before);
  CHECK(channel <= before);
  CHECK(before < slow);
  // What comes after the slow fragment waits for it (template order).
  CHECK(slow <= after);
  CHECK(after <= last);
  // The read that completed the literal before the slow fragment held
  // nothing of the slow fragment.
  CHECK(reads[static_cast<std::size_t>(before)].find("widget-chat") == std::string::npos);
}

// ------------------------------------------------------------- primary

TEST_CASE("compose: the primary fragment decides the page status and a redirecting primary makes the page a redirect") {
  TempDir dir;
  SampleService svc(dir, "svc");
  dir.write("missing.html",
            "<h1><!--# include virtual=\"/fragments/channel/{id}?status=404\" primary fallback=\"[gone]\" --></h1>"
            "<!--# include virtual=\"/fragments/chat/{id}\" -->");
  dir.write("moved.html",
            "<h1><!--# include virtual=\"/fragments/channel/{id}?status=302&header=Location:/channels/{id}/new\" "
            "primary --></h1><!--# include virtual=\"/fragments/chat/{id}\" -->");
  dir.write("fine.html",
            "<h1><esi:include src=\"/fragments/channel/{id}?set_cookie=sess%3D1&cache_control=max-age%3D30\" "
            "primary/></h1>");
  Gateway gw(dir, "workers: 1\naccess_log: off\nupstreams:\n" + upstream_yaml("app", {&svc}) +
                      "routes:\n"
                      "  - {path: \"/missing/{id}\", page: missing.html}\n"
                      "  - {path: \"/moved/{id}\", page: moved.html}\n"
                      "  - {path: \"/fine/{id}\", page: fine.html}\n"
                      "  - {prefix: /fragments/, upstream: app}\n");

  auto missing = http_get(url(gw.port(), "/missing/4"));
  CHECK(missing.status == 404);
  CHECK(missing.body == "<h1>[gone]</h1>" + direct(svc, "/fragments/chat/4"));

  auto moved = http_get(url(gw.port(), "/moved/4"));  // libcurl does not follow redirects here
  CHECK(moved.status == 302);
  CHECK(moved.header("Location") == "/channels/4/new");
  CHECK(moved.body.empty());

  // A 200 primary passes its Set-Cookie and Cache-Control on to the page.
  auto fine = http_get(url(gw.port(), "/fine/4"));
  CHECK(fine.status == 200);
  CHECK(fine.header("Set-Cookie") == "sess=1");
  CHECK(fine.header("Cache-Control") == "max-age=30");
  CHECK(fine.header_count("Cache-Control") == 1);
  CHECK(fine.body == "<h1>" + direct(svc, "/fragments/channel/4") + "</h1>");
}

// ------------------------------------------------------------- nesting

TEST_CASE("compose: nested includes in a fragment that is itself a page and in an upstream body") {
  TempDir dir;
  SampleService svc(dir, "svc");
  std::string esi_body = "<div class=\"box\"><esi:include src=\"/fragments/chat/8\"/></div>";
  CaptureServer box("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: " +
                    std::to_string(esi_body.size()) + "\r\n\r\n" + esi_body);
  dir.write("outer.html",
            "<outer><!--# include virtual=\"/widgets/{id}\" --></outer>"
            "<box><!--# include virtual=\"/box\" --></box>");
  dir.write("widget.html",
            "<widget><!--# include virtual=\"/fragments/channel/{id}\" -->"
            "<!--# include virtual=\"/fragments/player/{id}\" --></widget>");
  Gateway gw(dir, "workers: 1\naccess_log: off\nupstreams:\n" + upstream_yaml("app", {&svc}) +
                      "  box:\n    instances: [\"" + box.address() + "\"]\n" +
                      "routes:\n"
                      "  - {path: \"/outer/{id}\", page: outer.html}\n"
                      "  - {path: \"/widgets/{id}\", page: widget.html}\n"
                      "  - {path: /box, upstream: box}\n"
                      "  - {prefix: /fragments/, upstream: app}\n");

  auto r = http_get(url(gw.port(), "/outer/8"));
  REQUIRE(r.status == 200);
  CHECK(r.body == "<outer><widget>" + direct(svc, "/fragments/channel/8") + direct(svc, "/fragments/player/8") +
                      "</widget></outer>" + "<box><div class=\"box\">" + direct(svc, "/fragments/chat/8") +
                      "</div></box>");
}

TEST_CASE("compose: include loops are cut and the depth limit holds") {
  TempDir dir;
  SampleService svc(dir, "svc");
  dir.write("self.html", "<self><!--# include virtual=\"/self/{id}\" fallback=\"[loop]\" --></self>");
  dir.write("a.html", "<a><!--# include virtual=\"/b/{id}\" fallback=\"[no b]\" --></a>");
  dir.write("b.html", "<b><!--# include virtual=\"/a/{id}\" fallback=\"[no a]\" --></b>");
  // The query differs at each level, so only the depth limit stops it.
  dir.write("grow.html", "<g><!--# include virtual=\"/grow/{id}?x\" fallback=\"[deep]\" --></g>");
  dir.write("d1.html", "<d1><!--# include virtual=\"/d2/{id}\" fallback=\"[no d2]\" --></d1>");
  dir.write("d2.html", "<d2><!--# include virtual=\"/d3/{id}\" fallback=\"[no d3]\" --></d2>");
  dir.write("d3.html", "<d3><!--# include virtual=\"/d4/{id}\" fallback=\"[no d4]\" --></d3>");
  dir.write("d4.html", "<d4><!--# include virtual=\"/fragments/channel/{id}\" --></d4>");
  dir.write("req_loop.html", "<r><!--# include virtual=\"/req_loop/{id}\" required --></r>");
  Gateway gw(dir, "workers: 1\naccess_log: off\nupstreams:\n" + upstream_yaml("app", {&svc}) +
                      "routes:\n"
                      "  - {path: \"/self/{id}\", page: self.html}\n"
                      "  - {path: \"/a/{id}\", page: a.html}\n"
                      "  - {path: \"/b/{id}\", page: b.html}\n"
                      "  - {path: \"/grow/{id}\", page: {template: grow.html, max_depth: 3}}\n"
                      "  - {path: \"/d1/{id}\", page: {template: d1.html, max_depth: 2}}\n"
                      "  - {path: \"/d2/{id}\", page: {template: d2.html, max_depth: 2}}\n"
                      "  - {path: \"/d3/{id}\", page: {template: d3.html, max_depth: 2}}\n"
                      "  - {path: \"/d4/{id}\", page: {template: d4.html, max_depth: 2}}\n"
                      "  - {path: \"/req_loop/{id}\", page: req_loop.html}\n"
                      "  - {prefix: /fragments/, upstream: app}\n");
  auto get = [&](std::string_view path) {
    Request req;
    req.url = url(gw.port(), path);
    req.timeout = 5s;  // a loop that did not terminate fails here, not at ctest's timeout
    Client client;
    return client.send(req);
  };
  std::string channel = direct(svc, "/fragments/channel/6");

  // A page including itself: the include is cut at once and falls back.
  auto self = get("/self/6");
  CHECK(self.status == 200);
  CHECK(self.body == "<self>[loop]</self>");

  // a -> b -> a: the second /a is the loop; b shows its fallback.
  auto a = get("/a/6");
  CHECK(a.status == 200);
  CHECK(a.body == "<a><b>[no a]</b></a>");

  // /grow/6 -> /grow/6?x -> /grow/6?x (the loop, cut at the second level).
  auto grow = get("/grow/6");
  CHECK(grow.status == 200);
  CHECK(grow.body == "<g><g>[deep]</g></g>");

  // d1 -> d2 -> d3 -> d4: d4 would be nested 3 deep, over max_depth 2.
  auto d1 = get("/d1/6");
  CHECK(d1.status == 200);
  CHECK(d1.body == "<d1><d2><d3>[no d4]</d3></d2></d1>");
  // Two deep is fine, and every page works on its own.
  CHECK(get("/d2/6").body == "<d2><d3><d4>" + channel + "</d4></d3></d2>");
  CHECK(get("/d4/6").body == "<d4>" + channel + "</d4>");

  // A required include that loops fails the page instead.
  CHECK(get("/req_loop/6").status == 502);
  CHECK(gw.process().running());
}

TEST_CASE("compose: a page nested deeper than max_depth answers 508 to the including page") {
  TempDir dir;
  SampleService svc(dir, "svc");
  dir.write("top.html", "<t><!--# include virtual=\"/leaf/{id}\" required --></t>");
  dir.write("soft.html", "<s><!--# include virtual=\"/leaf/{id}\" fallback=\"[too deep]\" --></s>");
  dir.write("leaf.html", "<l>leaf</l>");
  Gateway gw(dir, "workers: 1\naccess_log: off\nupstreams:\n" + upstream_yaml("app", {&svc}) +
                      "routes:\n"
                      "  - {path: \"/top/{id}\", page: top.html}\n"
                      "  - {path: \"/soft/{id}\", page: soft.html}\n"
                      "  - {path: \"/leaf/{id}\", page: {template: leaf.html, max_depth: 0}}\n");
  // /leaf allows no nesting: as a fragment (depth 1) it refuses with 508,
  // which fails a required include (502) and shows an optional one's fallback.
  CHECK(http_get(url(gw.port(), "/leaf/1")).body == "<l>leaf</l>");
  auto top = http_get(url(gw.port(), "/top/1"));
  CHECK(top.status == 502);
  CHECK(top.body.find("status 508") != std::string::npos);
  auto soft = http_get(url(gw.port(), "/soft/1"));
  CHECK(soft.status == 200);
  CHECK(soft.body == "<s>[too deep]</s>");
}

// ------------------------------------------------------------- --check

TEST_CASE("compose: --check reports a template error as TEMPLATE:LINE:COL and exits 1") {
  TempDir dir;
  auto tpl = dir.write("pages/broken.html",
                       "<html>\n"
                       "<body>\n"
                       "  <p>ok</p><!--# include stub=\"x\" -->\n"
                       "</body>\n");
  auto config = dir.write("gateway.yaml",
                          "listen: [\"127.0.0.1:0\"]\n"
                          "upstreams:\n"
                          "  app: {instances: [\"127.0.0.1:9\"]}\n"
                          "routes:\n"
                          "  - {path: \"/p/{id}\", page: {template: pages/broken.html}}\n"
                          "  - {prefix: /, upstream: app}\n");
  auto result = gateway_check(config);
  INFO("output:\n" << result.output);
  CHECK(result.exit_code == 1);
  CHECK(result.output.find(tpl + ":3:12: ") != std::string::npos);
  CHECK(result.output.find("without virtual") != std::string::npos);
}
