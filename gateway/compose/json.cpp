// JSON checking and merging for aggregate routes. See json.hpp.
//
// The validator follows the ABNF of RFC 8259 exactly:
// - whitespace is only space, tab, LF and CR; a UTF-8 byte order mark is not
//   accepted (section 8.1: senders MUST NOT add one);
// - numbers: -? (0 | [1-9][0-9]*) (.[0-9]+)? ([eE][+-]?[0-9]+)?; no NaN,
//   Infinity, leading '+', leading zeros or hexadecimal;
// - strings: no unescaped control characters (< 0x20); escapes are \" \\ \/
//   \b \f \n \r \t and \uXXXX; the raw bytes must be well-formed UTF-8
//   (no overlong forms, no encoded surrogates, nothing above U+10FFFF), as
//   section 8.1 requires UTF-8 for JSON text exchanged between systems;
// - a \u escape naming a lone surrogate (e.g. "\ud800") IS accepted: the
//   grammar of section 7 allows any four hex digits and section 8.2 only
//   warns that receivers may behave unpredictably. We copy values verbatim,
//   never decode them, so such a string passes through unchanged;
// - literals are lowercase true, false and null; no trailing commas, no
//   comments, nothing but whitespace after the value.
// Nesting is tracked with an explicit stack (no recursion), so a large
// max_depth cannot overflow the C++ stack; "[]" is depth 1, a scalar 0.
#include "gateway/compose/json.hpp"

#include "base/json.hpp"

#include <cstdint>

namespace gateway::compose {

namespace {

class Validator {
 public:
  Validator(std::string_view text, int max_depth) : s_(text), max_depth_(max_depth) {}

  bool run() {
    for (;;) {
      // A value is expected here.
      skip_ws();
      if (pos_ >= s_.size()) return false;
      char c = s_[pos_];
      if (c == '{' || c == '[') {
        if (static_cast<int>(stack_.size()) >= max_depth_) return false;
        stack_.push_back(c);
        ++pos_;
        skip_ws();
        if (c == '{') {
          if (peek() == '}') {
            ++pos_;
            stack_.pop_back();
          } else {
            if (!member_key()) return false;
            continue;  // the member's value
          }
        } else {
          if (peek() == ']') {
            ++pos_;
            stack_.pop_back();
          } else {
            continue;  // the first element
          }
        }
      } else if (!scalar()) {
        return false;
      }
      // A value is complete: close containers or move on to the next one.
      for (;;) {
        skip_ws();
        if (stack_.empty()) return pos_ == s_.size();
        char p = peek();
        if (stack_.back() == '{') {
          if (p == '}') {
            ++pos_;
            stack_.pop_back();
            continue;
          }
          if (p != ',') return false;
          ++pos_;
          skip_ws();
          if (!member_key()) return false;
          break;
        }
        if (p == ']') {
          ++pos_;
          stack_.pop_back();
          continue;
        }
        if (p != ',') return false;
        ++pos_;
        break;
      }
    }
  }

 private:
  char peek() const { return pos_ < s_.size() ? s_[pos_] : '\0'; }

  void skip_ws() {
    while (pos_ < s_.size()) {
      char c = s_[pos_];
      if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
      ++pos_;
    }
  }

  // "key" ws ':' (leading whitespace already skipped)
  bool member_key() {
    if (peek() != '"' || !string()) return false;
    skip_ws();
    if (peek() != ':') return false;
    ++pos_;
    return true;
  }

  bool scalar() {
    char c = peek();
    if (c == '"') return string();
    if (c == '-' || (c >= '0' && c <= '9')) return number();
    return literal("true") || literal("false") || literal("null");
  }

  bool literal(std::string_view word) {
    if (s_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }

  static bool digit(char c) { return c >= '0' && c <= '9'; }

  bool number() {
    if (peek() == '-') ++pos_;
    if (peek() == '0') {
      ++pos_;
    } else if (digit(peek())) {
      while (digit(peek())) ++pos_;
    } else {
      return false;
    }
    if (peek() == '.') {
      ++pos_;
      if (!digit(peek())) return false;
      while (digit(peek())) ++pos_;
    }
    if (peek() == 'e' || peek() == 'E') {
      ++pos_;
      if (peek() == '+' || peek() == '-') ++pos_;
      if (!digit(peek())) return false;
      while (digit(peek())) ++pos_;
    }
    return true;
  }

  static bool hex(char c) { return digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

  bool string() {
    ++pos_;  // the opening quote
    while (pos_ < s_.size()) {
      auto c = static_cast<unsigned char>(s_[pos_]);
      if (c == '"') {
        ++pos_;
        return true;
      }
      if (c < 0x20) return false;
      if (c == '\\') {
        ++pos_;
        char e = peek();
        switch (e) {
          case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
            ++pos_;
            break;
          case 'u':
            ++pos_;
            for (int i = 0; i < 4; ++i, ++pos_)
              if (!hex(peek())) return false;
            break;
          default:
            return false;
        }
        continue;
      }
      if (c < 0x80) {
        ++pos_;
        continue;
      }
      if (!utf8_sequence()) return false;
    }
    return false;  // unterminated
  }

  // One multi-byte UTF-8 sequence at pos_ (RFC 3629, table 3-7 of Unicode).
  bool utf8_sequence() {
    auto byte = [&](std::size_t i) -> unsigned {
      return pos_ + i < s_.size() ? static_cast<unsigned char>(s_[pos_ + i]) : 0u;
    };
    unsigned b0 = byte(0);
    std::size_t n;
    unsigned lo = 0x80, hi = 0xBF;  // range of the second byte
    if (b0 >= 0xC2 && b0 <= 0xDF) {
      n = 2;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
      n = 3;
      if (b0 == 0xE0) lo = 0xA0;       // no overlongs
      else if (b0 == 0xED) hi = 0x9F;  // no surrogates
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
      n = 4;
      if (b0 == 0xF0) lo = 0x90;       // no overlongs
      else if (b0 == 0xF4) hi = 0x8F;  // nothing above U+10FFFF
    } else {
      return false;
    }
    unsigned b1 = byte(1);
    if (b1 < lo || b1 > hi) return false;
    for (std::size_t i = 2; i < n; ++i) {
      unsigned b = byte(i);
      if (b < 0x80 || b > 0xBF) return false;
    }
    pos_ += n;
    return true;
  }

  std::string_view s_;
  int max_depth_;
  std::size_t pos_ = 0;
  std::string stack_;  // '{' or '[' per open container
};

bool json_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }


}  // namespace

bool valid_json(std::string_view text, int max_depth) {
  return Validator(text, max_depth).run();
}

// An empty (all-whitespace) value, which the caller promised not to pass,
// is written as null so that the output stays valid JSON.
std::string merge_json(const std::vector<std::pair<std::string, std::string_view>>& parts) {
  std::size_t size = 2;
  for (const auto& [key, value] : parts) size += key.size() + value.size() + 4;
  std::string out;
  out.reserve(size);
  out += '{';
  bool first = true;
  for (const auto& [key, raw] : parts) {
    std::string_view value = raw;
    while (!value.empty() && json_space(value.front())) value.remove_prefix(1);
    while (!value.empty() && json_space(value.back())) value.remove_suffix(1);
    if (!first) out += ',';
    first = false;
    json::append_string(out, key);
    out += ':';
    if (value.empty()) out += "null";
    else out += value;
  }
  out += '}';
  return out;
}

}  // namespace gateway::compose
