// What sample-service says: the widgets of a Twitch-like page as JSON and
// HTML fragments, the filler behind size=N, and the escaping both need.
//
// Pure functions appending to a caller's string (reused per connection, so
// rendering allocates nothing once warmed up); safe from any thread. Content
// is deterministic per id, so every instance renders the same bytes but for
// its name, and cache tests can compare bodies.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace bench {

void append_uint(std::string& out, std::uint64_t v);
void append_json_escaped(std::string& out, std::string_view s);
void append_html_escaped(std::string& out, std::string_view s);

// `instance` arguments come escaped for the output syntax (done once at start).
void render_channel_json(std::string& out, std::string_view id, std::string_view instance);
void render_chat_json(std::string& out, std::string_view id, std::string_view instance);
void render_recommended_json(std::string& out, std::string_view id, std::string_view instance);

enum class Widget { channel, chat, recommended, player };
std::optional<Widget> widget_named(std::string_view name);
// <section class="widget widget-NAME" data-instance="...">...</section>
void render_fragment(std::string& out, Widget w, std::string_view id, std::string_view instance);

// Bytes [offset, offset + n) of the size=N padding, n capped at kFillSlice;
// views into one immutable block shared by all threads.
inline constexpr std::size_t kFillSlice = 64 * 1024;
std::string_view filler(std::uint64_t offset, std::size_t n);

}  // namespace bench
