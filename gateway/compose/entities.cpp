#include "gateway/compose/entities.hpp"

#include <cstdint>

namespace gateway::compose {

namespace {

constexpr auto npos = std::string_view::npos;

void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// &#NNN; or &#xHH; (without '&#' and ';'): the code point, or 0 if it is
// malformed, zero, a surrogate or above U+10FFFF.
std::uint32_t numeric_entity(std::string_view digits) {
  int base = 10;
  if (!digits.empty() && (digits[0] == 'x' || digits[0] == 'X')) {
    base = 16;
    digits.remove_prefix(1);
  }
  if (digits.empty() || digits.size() > 8) return 0;
  std::uint32_t cp = 0;
  for (char c : digits) {
    int d;
    if (c >= '0' && c <= '9') d = c - '0';
    else if (base == 16 && c >= 'a' && c <= 'f') d = c - 'a' + 10;
    else if (base == 16 && c >= 'A' && c <= 'F') d = c - 'A' + 10;
    else return 0;
    cp = cp * static_cast<std::uint32_t>(base) + static_cast<std::uint32_t>(d);
    if (cp > 0x10FFFF) return 0;
  }
  if (cp >= 0xD800 && cp <= 0xDFFF) return 0;
  return cp;
}

}  // namespace

std::string decode_entities(std::string_view v) {
  if (v.find('&') == npos) return std::string(v);
  std::string out;
  out.reserve(v.size());
  std::size_t i = 0;
  while (i < v.size()) {
    if (v[i] != '&') {
      out += v[i++];
      continue;
    }
    auto semi = v.find(';', i + 1);
    if (semi != npos && semi - i <= 11) {
      auto name = v.substr(i + 1, semi - i - 1);
      const char* named = nullptr;
      if (name == "amp") named = "&";
      else if (name == "quot") named = "\"";
      else if (name == "lt") named = "<";
      else if (name == "gt") named = ">";
      else if (name == "apos") named = "'";
      if (named) {
        out += named;
        i = semi + 1;
        continue;
      }
      if (name.size() > 1 && name[0] == '#') {
        if (auto cp = numeric_entity(name.substr(1))) {
          append_utf8(out, cp);
          i = semi + 1;
          continue;
        }
      }
    }
    out += v[i++];
  }
  return out;
}

}  // namespace gateway::compose
