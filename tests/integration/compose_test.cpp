// Composition end to end: page routes stitched from fragments of several
// sample-service instances (SSI and ESI), streaming in template order,
// timeouts and fallbacks, required and primary fragments, fragments cached
// by their own routes, nested includes, loops and the depth limit,
// Server-Timing in the chunked trailer, JSON aggregates, and template errors
// reported by --check.
//
// Each TEST_CASE starts its own sample-service instances and gateway on
// ephemeral loopback ports; the harness stops them on destruction. Timing is
// shown by arrival order, never by sleeping.
#include <doctest/doctest.h>

#include <chrono>
#include <cstdlib>
#include <set>

#include "harness.hpp"

using namespace itest;

namespace {

using Clock = std::chrono::steady_clock;

// The body of `path` fetched straight from one instance (no gateway): what a
// fragment from that instance looks like in the page.
std::string direct(const SampleService& svc, std::string_view path) {
  auto r = http_get(url(svc.port(), path));
  REQUIRE_MESSAGE(r.status == 200, "direct GET " << path << " from " << svc.name() << ": " << r.body);
  return r.body;
}

// data-instance="NAME" of the first section with class `widget` in `html`.
std::string instance_of(std::string_view html, std::string_view widget) {
  std::string marker = "class=\"widget " + std::string(widget) + "\" data-instance=\"";
  auto at = html.find(marker);
  if (at == std::string_view::npos) return "";
  at += marker.size();
  return std::string(html.substr(at, html.find('"', at) - at));
}

// A chunked response taken apart: head, de-chunked body, trailer fields.
struct Chunked {
  int status = 0;
  std::string head;
  std::string body;
  std::string trailer;  // the field lines after the last chunk, each ending in CRLF
  bool complete = false;
};

Chunked parse_chunked(std::string_view bytes) {
  Chunked c;
  auto head_end = bytes.find("\r\n\r\n");
  if (head_end == std::string_view::npos) return c;
  c.head = std::string(bytes.substr(0, head_end + 4));
  if (c.head.size() >= 12) c.status = std::atoi(c.head.c_str() + 9);
  std::string_view rest = bytes.substr(head_end + 4);
  while (true) {
    auto eol = rest.find("\r\n");
    if (eol == std::string_view::npos) return c;
    std::size_t size = std::strtoul(std::string(rest.substr(0, eol)).c_str(), nullptr, 16);
    rest.remove_prefix(eol + 2);
    if (size == 0) break;
    if (rest.size() < size + 2) return c;
    c.body.append(rest.substr(0, size));
    rest.remove_prefix(size + 2);
  }
  auto end = rest.find("\r\n");
  while (end != 0 && end != std::string_view::npos) {  // trailer fields up to the empty line
    c.trailer.append(rest.substr(0, end + 2));
    rest.remove_prefix(end + 2);
    end = rest.find("\r\n");
  }
  c.complete = end == 0;
  return c;
}

// GET `path` on a fresh connection with Connection: close; every read kept
// apart, in arrival order.
std::vector<std::string> get_reads(std::uint16_t port, std::string_view path, Ms timeout = 15s) {
  RawConnection conn(port);
  REQUIRE(conn.send("GET " + std::string(path) + " HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"));
  std::vector<std::string> reads;
  auto end = Clock::now() + timeout;
  while (Clock::now() < end) {
    auto got = conn.read_some(std::chrono::duration_cast<Ms>(end - Clock::now()));
    if (got.empty()) break;  // closed (or timed out)
    reads.push_back(std::move(got));
  }
  return reads;
}

std::string joined(const std::vector<std::string>& reads) {
  std::string all;
  for (const auto& r : reads) all += r;
  return all;
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

// Server-Timing entries: name;dur=D;desc="URL STATUS", comma separated
// (commas inside quotes belong to the entry).
struct Timing {
  std::string name;
  double dur = -1;
  std::string desc;
};

std::vector<Timing> parse_server_timing(std::string_view value) {
  std::vector<std::string> parts(1);
  bool quoted = false;
  for (char ch : value) {
    if (ch == '"') quoted = !quoted;
    if (ch == ',' && !quoted) {
      parts.emplace_back();
      continue;
    }
    parts.back() += ch;
  }
  std::vector<Timing> out;
  for (auto& p : parts) {
    while (!p.empty() && p.front() == ' ') p.erase(0, 1);
    Timing t;
    t.name = p.substr(0, p.find(';'));
    auto d = p.find(";dur=");
    if (d != std::string::npos) t.dur = std::strtod(p.c_str() + d + 5, nullptr);
    auto q = p.find(";desc=\"");
    if (q != std::string::npos) t.desc = p.substr(q + 7, p.rfind('"') - (q + 7));
    out.push_back(std::move(t));
  }
  return out;
}

// The Server-Timing value of a trailer block (or a head).
std::string server_timing_of(std::string_view fields) {
  auto v = head_header("X: y\r\n" + std::string(fields) + "\r\n", "Server-Timing");
  return v.value_or("");
}

double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
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

// ------------------------------------------------------------- failures

TEST_CASE("compose: a fragment past its timeout gets its fallback and the page is still 200") {
  TempDir dir;
  SampleService svc(dir, "svc");
  dir.write("page.html",
            "<a><!--# include virtual=\"/fragments/chat/{id}?delay_ms=2000\" stub=\"late\" timeout=\"200ms\" --></a>\n"
            "<b><!--# include virtual=\"/fragments/player/{id}?delay_ms=2000\" timeout=\"200ms\" "
            "fallback=\"&lt;i&gt;player later&lt;/i&gt;\" --></b>\n"
            "<c><esi:include src=\"/fragments/recommended/{id}?delay_ms=2000\" timeout=\"200ms\" "
            "onerror=\"continue\"/></c>\n"
            "<d><!--# include virtual=\"/fragments/channel/{id}\" --></d>\n"
            "<!--# block name=\"late\" --><p class=\"fallback\">chat is late</p><!--# endblock -->");
  Gateway gw(dir, "workers: 1\naccess_log: off\nupstreams:\n" + upstream_yaml("app", {&svc}) +
                      "routes:\n"
                      "  - {path: \"/p/{id}\", page: {template: page.html, timeout: 10s}}\n"
                      "  - {prefix: /fragments/, upstream: app}\n");

  auto t0 = Clock::now();
  auto r = http_get(url(gw.port(), "/p/5"));
  double took = ms_since(t0);
  REQUIRE(r.status == 200);
  CHECK(r.body == "<a><p class=\"fallback\">chat is late</p></a>\n"
                  "<b><i>player later</i></b>\n"
                  "<c></c>\n"
                  "<d>" + direct(svc, "/fragments/channel/5") + "</d>\n");
  // The page did not wait for the 2 s fragments (three of them, in parallel).
  CHECK(took < 1500);
}

TEST_CASE("compose: a failed required fragment fails the page with 502 or with 504 when it timed out") {
  TempDir dir;
  SampleService svc(dir, "svc"), doomed(dir, "doomed");
  dir.write("status500.html", "<p><!--# include virtual=\"/fragments/channel/{id}?status=500\" required --></p>\n");
  dir.write("stopped.html", "<p><!--# include virtual=\"/doomed/fragments/channel/{id}\" required=\"true\" --></p>\n");
  dir.write("slow.html",
            "<p><!--# include virtual=\"/fragments/channel/{id}?delay_ms=2000\" required timeout=\"200ms\" --></p>\n");
  dir.write("esi.html", "<p><esi:include src=\"/fragments/channel/{id}?status=500\"/></p>\n");
  dir.write("esi_continue.html",
            "<p><esi:include src=\"/fragments/channel/{id}?status=500\" onerror=\"continue\"/>|"
            "<!--# include virtual=\"/fragments/chat/{id}\" --></p>\n");
  dir.write("optional.html",
            "<p><!--# include virtual=\"/fragments/channel/{id}?status=500\" fallback=\"[no channel]\" --></p>\n");
  Gateway gw(dir, "workers: 1\naccess_log: off\nupstreams:\n" + upstream_yaml("app", {&svc}) +
                      upstream_yaml("doomed", {&doomed}) +
                      "routes:\n"
                      "  - {path: \"/status500/{id}\", page: status500.html}\n"
                      "  - {path: \"/stopped/{id}\", page: stopped.html}\n"
                      "  - {path: \"/slow/{id}\", page: slow.html}\n"
                      "  - {path: \"/esi/{id}\", page: esi.html}\n"
                      "  - {path: \"/esi_continue/{id}\", page: esi_continue.html}\n"
                      "  - {path: \"/optional/{id}\", page: optional.html}\n"
                      "  - {prefix: /doomed/, upstream: doomed, strip_prefix: true}\n"
                      "  - {prefix: /fragments/, upstream: app}\n");

  SUBCASE("status 500 -> 502") {
    auto r = http_get(url(gw.port(), "/status500/1"));
    CHECK(r.status == 502);
    CHECK(r.body.find("/fragments/channel/1?status=500") != std::string::npos);
    CHECK(r.body.find("widget") == std::string::npos);
  }
  SUBCASE("its only instance stopped -> 502") {
    REQUIRE(http_get(url(gw.port(), "/stopped/1")).status == 200);
    doomed.process().stop();
    auto r = http_get(url(gw.port(), "/stopped/1"));
    CHECK(r.status == 502);
    CHECK(r.body.find("required fragment") != std::string::npos);
  }
  SUBCASE("timed out -> 504") {
    auto t0 = Clock::now();
    auto r = http_get(url(gw.port(), "/slow/1"));
    CHECK(r.status == 504);
    CHECK(r.body.find("timed out") != std::string::npos);
    CHECK(ms_since(t0) < 1500);  // at its 200 ms timeout, not the fragment's 2 s
  }
  SUBCASE("an ESI include without onerror=continue is required -> 502") {
    CHECK(http_get(url(gw.port(), "/esi/1")).status == 502);
  }
  SUBCASE("an ESI include with onerror=continue is left out") {
    auto r = http_get(url(gw.port(), "/esi_continue/1"));
    CHECK(r.status == 200);
    CHECK(r.body == "<p>|" + direct(svc, "/fragments/chat/1") + "</p>\n");
  }
  SUBCASE("an optional SSI include shows its fallback") {
    auto r = http_get(url(gw.port(), "/optional/1"));
    CHECK(r.status == 200);
    CHECK(r.body == "<p>[no channel]</p>\n");
  }
}

TEST_CASE("compose: a fragment over max_fragment_bytes falls back and its route still caches it whole") {
  TempDir dir;
  SampleService svc(dir, "svc");
  dir.write("page.html",
            "<a><!--# include virtual=\"/fragments/channel/{id}?size=5000\" fallback=\"[too big]\" --></a>"
            "<b><!--# include virtual=\"/fragments/chat/{id}?size=900\" --></b>");
  Gateway gw(dir, "workers: 1\naccess_log: off\n"
                  "caches:\n  main: {path: cache, max_size: 64MiB}\n"
                  "upstreams:\n" +
                      upstream_yaml("app", {&svc}) +
                      "routes:\n"
                      "  - {path: \"/p/{id}\", page: {template: page.html, max_fragment_bytes: 1KiB}}\n"
                      "  - {prefix: /fragments/, upstream: app, cache: {zone: main, ttl: 1h}}\n");
  std::string small = direct(svc, "/fragments/chat/2?size=900");
  REQUIRE(small.size() == 900);
  for (int i = 0; i < 2; ++i) {  // a miss, then from the cache
    auto r = http_get(url(gw.port(), "/p/2"), {"Host: test"});
    CHECK(r.status == 200);
    CHECK(r.body == "<a>[too big]</a><b>" + small + "</b>");
  }
  // Cut short for the page, the fill still completed: the entry is whole.
  auto whole = http_get(url(gw.port(), "/fragments/channel/2?size=5000"), {"Host: test"});
  CHECK(whole.header("X-Cache") == "HIT");
  CHECK(whole.body == direct(svc, "/fragments/channel/2?size=5000"));
}

TEST_CASE("compose: a client leaving while a slow fragment is pending does not disturb the gateway") {
  TempDir dir;
  SampleService svc(dir, "svc");
  dir.write("page.html",
            "<a><!--# include virtual=\"/fragments/channel/{id}\" --></a>"
            "<b><!--# include virtual=\"/fragments/chat/{id}?delay_ms=800\" --></b>");
  Gateway gw(dir, "workers: 1\naccess_log: off\nupstreams:\n" + upstream_yaml("app", {&svc}) +
                      "routes:\n"
                      "  - {path: \"/p/{id}\", page: page.html}\n"
                      "  - {prefix: /fragments/, upstream: app}\n");
  for (int i = 0; i < 5; ++i) {
    RawConnection conn(gw.port());
    REQUIRE(conn.send("GET /p/1 HTTP/1.1\r\nHost: test\r\n\r\n"));
    std::string got;
    while (got.find("</a>") == std::string::npos) {
      auto more = conn.read_some(5s);
      REQUIRE(!more.empty());
      got += more;
    }
    CHECK(got.find("widget-chat") == std::string::npos);
  }  // each connection closes here, its slow fragment still pending
  // The abandoned fragments finish in the background; pages keep working.
  REQUIRE(eventually([&] { return svc.stat("requests") == 10; }));
  auto r = http_get(url(gw.port(), "/p/1"));
  CHECK(r.status == 200);
  CHECK(r.body == "<a>" + direct(svc, "/fragments/channel/1") + "</a><b>" + direct(svc, "/fragments/chat/1?delay_ms=800") + "</b>");
  CHECK(gw.process().running());
}

// ------------------------------------------------------------- caching

TEST_CASE("compose: fragments are cached by their own routes with their own TTLs") {
  TempDir dir;
  SampleService channel(dir, "channel"), chat(dir, "chat"), rec(dir, "rec");
  dir.write("page.html",
            "<!--# include virtual=\"/fragments/channel/{id}\" -->"
            "<!--# include virtual=\"/fragments/chat/{id}\" -->"
            "<!--# include virtual=\"/fragments/recommended/{id}\" -->");
  Gateway gw(dir, "workers: 2\naccess_log: off\n"
                  "caches:\n  main: {path: cache, max_size: 64MiB}\n"
                  "upstreams:\n" +
                      upstream_yaml("channel", {&channel}) + upstream_yaml("chat", {&chat}) +
                      upstream_yaml("rec", {&rec}) +
                      "routes:\n"
                      "  - {path: \"/p/{id}\", page: page.html}\n"
                      "  - {prefix: /fragments/channel/, upstream: channel, cache: {zone: main, ttl: 1h}}\n"
                      "  - {prefix: /fragments/chat/, upstream: chat}\n"
                      "  - {prefix: /fragments/recommended/, upstream: rec, cache: {zone: main, ttl: 10m}}\n");
  for (auto* s : {&channel, &chat, &rec}) s->reset_stats();

  constexpr int kPages = 5;
  std::string first;
  for (int i = 0; i < kPages; ++i) {
    auto reads = get_reads(gw.port(), "/p/3");
    auto page = parse_chunked(joined(reads));
    REQUIRE(page.complete);
    REQUIRE(page.status == 200);
    if (i == 0) first = page.body;
    CHECK(page.body == first);  // the same page, from cache or not
    auto timing = parse_server_timing(server_timing_of(page.trailer));
    REQUIRE(timing.size() == 3);
    const char* cached = i == 0 ? " MISS" : " HIT";
    CHECK(timing[0].desc == std::string("/fragments/channel/3") + cached);
    CHECK(timing[1].desc == "/fragments/chat/3 -");  // a route without a cache
    CHECK(timing[2].desc == std::string("/fragments/recommended/3") + cached);
  }
  // One upstream request per cached fragment; one per page for the other.
  CHECK(channel.stat("requests") == 1);
  CHECK(rec.stat("requests") == 1);
  CHECK(chat.stat("requests") == kPages);

  // The cached fragments are the routes' own entries: a direct request hits.
  // (Same Host as the page's: fragments carry the page's Host, part of the key.)
  auto direct_hit = http_get(url(gw.port(), "/fragments/channel/3"), {"Host: test"});
  CHECK(direct_hit.header("X-Cache") == "HIT");
  CHECK(channel.stat("requests") == 1);
}

TEST_CASE("compose: a short-TTL fragment is fetched again while a long-TTL one stays cached") {
  TempDir dir;
  SampleService channel(dir, "channel"), chat(dir, "chat");
  dir.write("page.html",
            "<!--# include virtual=\"/fragments/channel/{id}\" -->"
            "<!--# include virtual=\"/fragments/chat/{id}\" -->");
  Gateway gw(dir, "workers: 1\naccess_log: off\n"
                  "caches:\n  main: {path: cache, max_size: 64MiB}\n"
                  "upstreams:\n" +
                      upstream_yaml("channel", {&channel}) + upstream_yaml("chat", {&chat}) +
                      "routes:\n"
                      "  - {path: \"/p/{id}\", page: page.html}\n"
                      "  - {prefix: /fragments/channel/, upstream: channel, cache: {zone: main, ttl: 1h}}\n"
                      "  - {prefix: /fragments/chat/, upstream: chat, cache: {zone: main, ttl: 1s}}\n");
  for (auto* s : {&channel, &chat}) s->reset_stats();

  auto timing_of_page = [&] {
    auto page = parse_chunked(joined(get_reads(gw.port(), "/p/2")));
    REQUIRE(page.complete);
    REQUIRE(page.status == 200);
    auto timing = parse_server_timing(server_timing_of(page.trailer));
    REQUIRE(timing.size() == 2);
    return timing;
  };
  auto first = timing_of_page();
  CHECK(first[0].desc == "/fragments/channel/2 MISS");
  CHECK(first[1].desc == "/fragments/chat/2 MISS");

  // Pages until the chat fragment's 1 s has run out (polled, not slept).
  int pages = 1;
  std::vector<Timing> last;
  bool refetched = eventually(
      [&] {
        last = timing_of_page();
        ++pages;
        CHECK(last[0].desc == "/fragments/channel/2 HIT");
        return last[1].desc != "/fragments/chat/2 HIT";
      },
      15s);
  REQUIRE(refetched);
  INFO("pages: " << pages);
  CHECK(pages > 2);
  CHECK(last[1].desc == "/fragments/chat/2 EXPIRED");
  CHECK(channel.stat("requests") == 1);
  CHECK(chat.stat("requests") == 2);
}

// ------------------------------------------------------------- trailer

TEST_CASE("compose: a chunked page ends with a Server-Timing trailer naming each include and its cache status") {
  TempDir dir;
  SampleService svc(dir, "svc");
  dir.write("page.html",
            "<!--# include virtual=\"/fragments/channel/{id}\" -->"
            "<!--# include virtual=\"/nocache/fragments/chat/{id}\" -->"
            "<!--# include virtual=\"/nocache/fragments/player/{id}?status=503\" fallback=\"\" -->"
            "<!--# include virtual=\"/nocache/fragments/recommended/{id}?delay_ms=3000\" timeout=\"200ms\" -->");
  Gateway gw(dir, "workers: 1\naccess_log: off\n"
                  "caches:\n  main: {path: cache, max_size: 64MiB}\n"
                  "upstreams:\n" +
                      upstream_yaml("app", {&svc}) +
                      "routes:\n"
                      "  - {path: \"/p/{id}\", page: page.html}\n"
                      "  - {prefix: /nocache/, upstream: app, strip_prefix: true}\n"
                      "  - {prefix: /fragments/, upstream: app, cache: {zone: main, ttl: 1h}}\n");

  for (const char* channel_status : {"MISS", "HIT"}) {
    CAPTURE(channel_status);
    auto all = joined(get_reads(gw.port(), "/p/9"));
    auto page = parse_chunked(all);
    INFO(all);
    REQUIRE(page.complete);
    CHECK(page.status == 200);
    CHECK(head_header(page.head, "Transfer-Encoding") == "chunked");
    CHECK(head_header(page.head, "Trailer") == "Server-Timing");
    CHECK(!head_header(page.head, "Server-Timing"));  // only in the trailer
    auto timing = parse_server_timing(server_timing_of(page.trailer));
    REQUIRE(timing.size() == 4);
    for (int i = 0; i < 4; ++i) {
      CHECK(timing[static_cast<std::size_t>(i)].name == "fragment-" + std::to_string(i + 1));
      CHECK(timing[static_cast<std::size_t>(i)].dur >= 0);
    }
    CHECK(timing[0].desc == std::string("/fragments/channel/9 ") + channel_status);
    CHECK(timing[1].desc == "/nocache/fragments/chat/9 -");
    CHECK(timing[2].desc == "/nocache/fragments/player/9?status=503 ERROR");
    CHECK(timing[3].desc == "/nocache/fragments/recommended/9?delay_ms=3000 TIMEOUT");
  }
}

TEST_CASE("compose: Server-Timing gives a timed-out fragment the time it was waited for") {
  TempDir dir;
  SampleService svc(dir, "svc");
  dir.write("page.html",
            "<!--# include virtual=\"/fragments/chat/{id}?delay_ms=4000\" timeout=\"200ms\" -->"
            "<!--# include virtual=\"/fragments/channel/{id}?delay_ms=1200\" -->");
  Gateway gw(dir, "workers: 1\naccess_log: off\nupstreams:\n" + upstream_yaml("app", {&svc}) +
                      "routes:\n"
                      "  - {path: \"/p/{id}\", page: {template: page.html, timeout: 10s}}\n"
                      "  - {prefix: /fragments/, upstream: app}\n");
  auto page = parse_chunked(joined(get_reads(gw.port(), "/p/1")));
  REQUIRE(page.complete);
  auto timing = parse_server_timing(server_timing_of(page.trailer));
  REQUIRE(timing.size() == 2);
  CHECK(timing[0].desc.ends_with(" TIMEOUT"));
  CHECK(timing[1].desc.ends_with(" -"));
  // The 200 ms fragment gave up long before the 1.2 s one finished.
  CHECK(timing[0].dur < timing[1].dur);
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

// ------------------------------------------------------------- aggregates

TEST_CASE("compose: aggregate parts are merged into one JSON object in config order with Server-Timing") {
  TempDir dir;
  SampleService channels(dir, "channels"), chat(dir, "chat"), rec(dir, "rec");
  Gateway gw(dir, "workers: 1\naccess_log: off\nupstreams:\n" + upstream_yaml("channels", {&channels}) +
                      upstream_yaml("chat", {&chat}) + upstream_yaml("rec", {&rec}) +
                      "routes:\n"
                      "  - path: \"/api/summary/{id}\"\n"
                      "    aggregate:\n"
                      "      recommended: \"/api/recommended/{id}\"\n"
                      "      channel: \"/api/channels/{id}\"\n"
                      "      chat: \"/api/chat/{id}\"\n"
                      "  - {prefix: /api/channels/, upstream: channels}\n"
                      "  - {prefix: /api/chat/, upstream: chat}\n"
                      "  - {prefix: /api/recommended/, upstream: rec}\n");
  auto r = http_get(url(gw.port(), "/api/summary/42"));
  REQUIRE(r.status == 200);
  CHECK(r.header("Content-Type") == "application/json");
  CHECK(!r.header("X-Aggregate-Missing"));
  CHECK(r.body == "{\"recommended\":" + direct(rec, "/api/recommended/42") +
                      ",\"channel\":" + direct(channels, "/api/channels/42") +
                      ",\"chat\":" + direct(chat, "/api/chat/42") + "}");
  auto timing = parse_server_timing(r.header("Server-Timing").value_or(""));
  REQUIRE(timing.size() == 3);
  CHECK(timing[0].name == "recommended");
  CHECK(timing[0].desc == "/api/recommended/42 -");
  CHECK(timing[1].name == "channel");
  CHECK(timing[1].desc == "/api/channels/42 -");
  CHECK(timing[2].name == "chat");
  CHECK(timing[2].desc == "/api/chat/42 -");
  for (const auto& t : timing) CHECK(t.dur >= 0);
}

TEST_CASE("compose: aggregate leaves out failed or late optional parts and names them in X-Aggregate-Missing") {
  TempDir dir;
  SampleService svc(dir, "svc");
  Gateway gw(dir, "workers: 1\naccess_log: off\nupstreams:\n" + upstream_yaml("app", {&svc}) +
                      "routes:\n"
                      "  - path: \"/partial/{id}\"\n"
                      "    aggregate:\n"
                      "      parts:\n"
                      "        channel: \"/api/channels/{id}\"\n"
                      "        chat: \"/api/chat/{id}?status=500\"\n"
                      "        html: \"/fragments/chat/{id}\"\n"
                      "        slow: \"/api/recommended/{id}?delay_ms=2000\"\n"
                      "        recommended: \"/api/recommended/{id}\"\n"
                      "      timeout: 300ms\n"
                      "  - {prefix: /, upstream: app}\n");

  auto t0 = Clock::now();
  auto partial = http_get(url(gw.port(), "/partial/42"));
  double took = ms_since(t0);
  REQUIRE(partial.status == 200);
  CHECK(partial.header("Content-Type") == "application/json");
  CHECK(partial.header("X-Aggregate-Missing") == "chat, html, slow");
  CHECK(partial.body == "{\"channel\":" + direct(svc, "/api/channels/42") +
                            ",\"recommended\":" + direct(svc, "/api/recommended/42") + "}");
  auto timing = parse_server_timing(partial.header("Server-Timing").value_or(""));
  REQUIRE(timing.size() == 5);
  CHECK(timing[0].desc == "/api/channels/42 -");
  CHECK(timing[1].desc == "/api/chat/42?status=500 ERROR");
  CHECK(timing[2].desc == "/fragments/chat/42 ERROR");  // not JSON
  CHECK(timing[3].desc == "/api/recommended/42?delay_ms=2000 TIMEOUT");
  CHECK(timing[4].name == "recommended");
  CHECK(took < 1500);  // the late part was not waited for
}

TEST_CASE("compose: aggregate fails with 502 on a failed required part and 504 on a late one") {
  TempDir dir;
  SampleService svc(dir, "svc");
  Gateway gw(dir, "workers: 1\naccess_log: off\nupstreams:\n" + upstream_yaml("app", {&svc}) +
                      "routes:\n"
                      "  - path: \"/broken/{id}\"\n"
                      "    aggregate:\n"
                      "      parts:\n"
                      "        channel: {path: \"/api/channels/{id}?status=500\", required: true}\n"
                      "        chat: \"/api/chat/{id}\"\n"
                      "      timeout: 5s\n"
                      "  - path: \"/late/{id}\"\n"
                      "    aggregate:\n"
                      "      chat: \"/api/chat/{id}\"\n"
                      "      channel: {path: \"/api/channels/{id}?delay_ms=2000\", required: true, timeout: 200ms}\n"
                      "  - path: \"/fine/{id}\"\n"
                      "    aggregate:\n"
                      "      channel: {path: \"/api/channels/{id}\", required: true}\n"
                      "      chat: {path: \"/api/chat/{id}?delay_ms=2000\", timeout: 200ms}\n"
                      "  - {prefix: /, upstream: app}\n");

  auto broken = http_get(url(gw.port(), "/broken/42"));
  CHECK(broken.status == 502);
  CHECK(broken.header("Content-Type") == "application/json");
  CHECK(broken.body.starts_with("{\"error\":\""));
  CHECK(broken.body.find("channel") != std::string::npos);
  CHECK(broken.body.ends_with("\"}\n"));
  CHECK(count_of(broken.body, "\"") == 4);  // one string member, nothing unescaped

  auto late = http_get(url(gw.port(), "/late/42"));
  CHECK(late.status == 504);
  CHECK(late.header("Content-Type") == "application/json");
  CHECK(late.body.starts_with("{\"error\":\""));

  // A required part that answers, and an optional one past its own timeout.
  auto fine = http_get(url(gw.port(), "/fine/42"));
  CHECK(fine.status == 200);
  CHECK(fine.header("X-Aggregate-Missing") == "chat");
  CHECK(fine.body == "{\"channel\":" + direct(svc, "/api/channels/42") + "}");
}

// ------------------------------------------------------------- metrics

TEST_CASE("compose: /metrics counts fragment hits and misses and timeouts and errors and fallbacks per route") {
  TempDir dir;
  SampleService svc(dir, "svc");
  dir.write("page.html",
            "<!--# include virtual=\"/fragments/channel/{id}\" -->"
            "<!--# include virtual=\"/nocache/fragments/chat/{id}?delay_ms=2000\" timeout=\"100ms\" -->"
            "<!--# include virtual=\"/nocache/fragments/player/{id}?status=500\" -->"
            "<!--# include virtual=\"/nocache/fragments/recommended/{id}\" -->");
  Gateway gw(dir, "workers: 2\naccess_log: off\n"
                  "caches:\n  main: {path: cache, max_size: 64MiB}\n"
                  "upstreams:\n" +
                      upstream_yaml("app", {&svc}) +
                      "routes:\n"
                      "  - {path: \"/p/{id}\", page: page.html}\n"
                      "  - path: \"/agg/{id}\"\n"
                      "    aggregate:\n"
                      "      channel: \"/api/channels/{id}\"\n"
                      "      chat: \"/nocache/api/chat/{id}?status=503\"\n"
                      "  - {prefix: /nocache/, upstream: app, strip_prefix: true}\n"
                      "  - {prefix: /fragments/, upstream: app, cache: {zone: main, ttl: 1h}}\n"
                      "  - {prefix: /api/, upstream: app, cache: {zone: main, ttl: 1h}}\n");
  constexpr int kPages = 3;
  for (int i = 0; i < kPages; ++i) REQUIRE(http_get(url(gw.port(), "/p/1")).status == 200);
  for (int i = 0; i < 2; ++i) REQUIRE(http_get(url(gw.port(), "/agg/1")).status == 200);
  auto text = gw.metrics();
  INFO(text);
  auto count = [&](std::string_view route, std::string_view outcome) {
    return metric(text, "gateway_page_fragments_total{route=\"" + std::string(route) + "\",outcome=\"" +
                            std::string(outcome) + "\"}");
  };
  // Per page: channel (cached: a miss, then hits), recommended (uncached: a
  // miss), chat (a timeout), player (an error); each failure a fallback.
  CHECK(count("/p/{id}", "hit") == kPages - 1);
  CHECK(count("/p/{id}", "miss") == 1 + kPages);
  CHECK(count("/p/{id}", "timeout") == kPages);
  CHECK(count("/p/{id}", "error") == kPages);
  CHECK(count("/p/{id}", "fallback") == 2 * kPages);
  // Per aggregate: channel (cached: a miss, then a hit), chat (an error, left out).
  CHECK(count("/agg/{id}", "hit") == 1);
  CHECK(count("/agg/{id}", "miss") == 1);
  CHECK(count("/agg/{id}", "error") == 2);
  CHECK(count("/agg/{id}", "fallback") == 2);  // left out
  CHECK(count("/agg/{id}", "timeout") == 0);
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
