#include "bench/sample_service/content.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdio>

namespace bench {

void append_uint(std::string& out, std::uint64_t v) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  (void)ec;
  out.append(buf, end);
}

void append_json_escaped(std::string& out, std::string_view s) {
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
      out += buf;
    } else {
      out += c;
    }
  }
}

void append_html_escaped(std::string& out, std::string_view s) {
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
}

// Whitespace keeps a padded JSON or HTML body valid. Byte i of any body is
// kFillLine[i % 64], so every window of the padding is a slice of one block
// and a 100 MB body streams without a buffer of its own.
namespace {
constexpr std::string_view kFillLine = "                                                               \n";
static_assert(kFillLine.size() == 64 && kFillSlice % 64 == 0);

std::string_view fill_block() {
  static const std::string block = [] {
    std::string b;
    while (b.size() < kFillSlice + kFillLine.size()) b += kFillLine;
    return b;
  }();
  return block;
}
}  // namespace

std::string_view filler(std::uint64_t offset, std::size_t n) {
  return fill_block().substr(offset % kFillLine.size(), std::min(n, kFillSlice));
}

namespace {
constexpr std::array<std::string_view, 8> kTitles = {
    "Speedrunning retro classics, any% attempts", "Chill lo-fi coding: building a cache in C++",
    "Ranked grind to Diamond, come hang out",     "Just Chatting with the community",
    "Late night strategy: 4X marathon",           "Indie game showcase and first impressions",
    "Pro scrims with the coach on comms",         "Cooking stream: fresh pasta from scratch"};
constexpr std::array<std::string_view, 10> kUsers = {"pixel_pirate", "kappa_kid",    "nightowl42", "modbot",
                                                     "speedy_g",     "latte_lover",  "glitchhunter", "retro_ron",
                                                     "aurora_bee",   "tiltproof"};
constexpr std::array<std::string_view, 10> kLines = {
    "PogChamp", "that jump was insane", "gg",      "first time here, love the stream", "what song is this?",
    "LUL",      "chat is wild today",   "hi from Lisbon!", "clip it!",                 "any% or 100%?"};
constexpr int kChatLines = 5;
constexpr int kRecommended = 4;

std::uint32_t hash_id(std::string_view id) {
  std::uint32_t h = 2166136261u;  // FNV-1a
  for (unsigned char c : id) h = (h ^ c) * 16777619u;
  return h;
}

// A channel as the widgets show it, derived from its id alone.
struct Channel {
  std::uint32_t hash;
  std::string_view title() const { return kTitles[(hash >> 8) % kTitles.size()]; }
  std::uint64_t viewers() const { return 50 + hash % 48000; }
  std::string_view chat_user(int i) const { return kUsers[(hash + i * 7) % kUsers.size()]; }
  std::string_view chat_line(int i) const { return kLines[(hash / 3 + i) % kLines.size()]; }
  std::uint32_t recommended_id(int k) const { return (hash >> (k * 3)) % 997 + static_cast<std::uint32_t>(k); }
};

Channel channel(std::string_view id) { return {hash_id(id)}; }
Channel channel(std::uint32_t id) {
  char buf[12];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, id);
  (void)ec;
  return channel(std::string_view(buf, static_cast<std::size_t>(end - buf)));
}
}  // namespace

void render_channel_json(std::string& out, std::string_view id, std::string_view instance) {
  auto c = channel(id);
  out += "{\"id\":\"";
  append_json_escaped(out, id);
  out += "\",\"name\":\"Channel ";
  append_json_escaped(out, id);
  out += "\",\"title\":\"";
  out += c.title();
  out += "\",\"viewers\":";
  append_uint(out, c.viewers());
  out += ",\"live\":true,\"instance\":\"";
  out += instance;
  out += "\"}";
}

void render_chat_json(std::string& out, std::string_view id, std::string_view instance) {
  auto c = channel(id);
  out += "{\"channel\":\"";
  append_json_escaped(out, id);
  out += "\",\"messages\":[";
  for (int i = 0; i < kChatLines; ++i) {
    out += i ? ",{\"user\":\"" : "{\"user\":\"";
    out += c.chat_user(i);
    out += "\",\"text\":\"";
    out += c.chat_line(i);
    out += "\"}";
  }
  out += "],\"instance\":\"";
  out += instance;
  out += "\"}";
}

void render_recommended_json(std::string& out, std::string_view id, std::string_view instance) {
  auto c = channel(id);
  out += "{\"channel\":\"";
  append_json_escaped(out, id);
  out += "\",\"recommended\":[";
  for (int k = 0; k < kRecommended; ++k) {
    auto rid = c.recommended_id(k);
    auto r = channel(rid);
    out += k ? ",{\"id\":\"" : "{\"id\":\"";
    append_uint(out, rid);
    out += "\",\"name\":\"Channel ";
    append_uint(out, rid);
    out += "\",\"title\":\"";
    out += r.title();
    out += "\",\"viewers\":";
    append_uint(out, r.viewers());
    out += '}';
  }
  out += "],\"instance\":\"";
  out += instance;
  out += "\"}";
}

namespace {
constexpr std::array<std::string_view, 4> kWidgetNames = {"channel", "chat", "recommended", "player"};
}  // namespace

std::optional<Widget> widget_named(std::string_view name) {
  for (std::size_t i = 0; i < kWidgetNames.size(); ++i)
    if (name == kWidgetNames[i]) return static_cast<Widget>(i);
  return std::nullopt;
}

void render_fragment(std::string& out, Widget w, std::string_view id, std::string_view instance) {
  auto c = channel(id);
  out += "<section class=\"widget widget-";
  out += kWidgetNames[static_cast<std::size_t>(w)];
  out += "\" data-instance=\"";
  out += instance;
  out += "\">\n";
  switch (w) {
    case Widget::channel:
      out += "<header><h1>Channel ";
      append_html_escaped(out, id);
      out += "</h1> <span class=\"live\">LIVE</span></header>\n<p class=\"title\">";
      out += c.title();
      out += "</p>\n<p class=\"viewers\">";
      append_uint(out, c.viewers());
      out += " viewers</p>\n";
      break;
    case Widget::chat:
      out += "<h2>Stream chat</h2>\n<ul class=\"chat\">\n";
      for (int i = 0; i < kChatLines; ++i) {
        out += "<li><b>";
        out += c.chat_user(i);
        out += "</b>: ";
        out += c.chat_line(i);
        out += "</li>\n";
      }
      out += "</ul>\n";
      break;
    case Widget::recommended:
      out += "<h2>Recommended channels</h2>\n<ul class=\"recommended\">\n";
      for (int k = 0; k < kRecommended; ++k) {
        auto rid = c.recommended_id(k);
        auto r = channel(rid);
        out += "<li><a href=\"/channels/";
        append_uint(out, rid);
        out += "\">Channel ";
        append_uint(out, rid);
        out += "</a> <span class=\"title\">";
        out += r.title();
        out += "</span> <span class=\"viewers\">";
        append_uint(out, r.viewers());
        out += " viewers</span></li>\n";
      }
      out += "</ul>\n";
      break;
    case Widget::player:
      // A stand-in for the video: the fleet serves no media.
      out += "<div class=\"player\" role=\"img\" aria-label=\"Live video of channel ";
      append_html_escaped(out, id);
      out += "\"><span class=\"play\">&#9654;</span><span class=\"badge\">LIVE</span></div>\n"
             "<p class=\"now-playing\">Now playing: ";
      out += c.title();
      out += "</p>\n";
      break;
  }
  out += "</section>\n";
}

}  // namespace bench
