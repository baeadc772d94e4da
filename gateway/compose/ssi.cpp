// SSI set, echo and if/elif/else/endif on template variables (see ssi.hpp).
// Runs inside the template parser, wherever templates are parsed.
#include "gateway/compose/ssi.hpp"

#include <algorithm>

namespace gateway::page {

namespace {

bool var_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return s;
}

// nginx's ngx_escape_html: the characters that end an attribute or start markup.
std::string entity_encode(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out.push_back(c);
    }
  }
  return out;
}

// Everything but RFC 3986's unreserved characters, percent-encoded.
std::string url_encode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (var_char(static_cast<char>(c)) || c == '-' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xf]);
    }
  }
  return out;
}

// "$name" or "${name}" at text[i] (a '$'): the name and the length of the
// reference; an empty name if there is none (a '$' kept as written).
std::pair<std::string_view, std::size_t> reference(std::string_view text, std::size_t i) {
  if (i + 1 < text.size() && text[i + 1] == '{') {
    auto close = text.find('}', i + 2);
    if (close == std::string_view::npos) return {{}, 1};
    auto name = text.substr(i + 2, close - i - 2);
    if (name.empty() || !std::all_of(name.begin(), name.end(), var_char)) return {{}, 1};
    return {name, close + 1 - i};
  }
  auto j = i + 1;
  while (j < text.size() && var_char(text[j])) ++j;
  return {text.substr(i + 1, j - i - 1), std::max<std::size_t>(1, j - i)};
}

}  // namespace

std::optional<std::map<std::string_view, const Attr*>> SsiState::take(const std::vector<Attr>& attrs,
                                                                     std::initializer_list<std::string_view> allowed,
                                                                     std::string_view command) {
  std::map<std::string_view, const Attr*> out;
  bool ok = true;
  for (const auto& a : attrs) {
    if (std::find(allowed.begin(), allowed.end(), a.name) == allowed.end()) {
      error_(a.pos, "unknown attribute " + std::string(a.name) + " on SSI " + std::string(command));
      ok = false;
    } else if (!a.has_value) {
      error_(a.pos, "attribute " + std::string(a.name) + " needs a value");
      ok = false;
    } else if (!out.emplace(a.name, &a).second) {
      error_(a.pos, "duplicate attribute " + std::string(a.name));
      ok = false;
    }
  }
  if (!ok) return std::nullopt;
  return out;
}

std::optional<std::string> SsiState::substitute(std::string_view text, std::size_t pos) {
  std::string out;
  for (std::size_t i = 0; i < text.size();) {
    char c = text[i];
    if (c == '\\' && i + 1 < text.size()) {
      out.push_back(text[i + 1]);
      i += 2;
      continue;
    }
    if (c != '$') {
      out.push_back(c);
      ++i;
      continue;
    }
    auto [name, len] = reference(text, i);
    if (name.empty()) {
      out.push_back('$');
    } else if (!known_.count(name)) {
      error_(pos, "variable $" + std::string(name) +
                      " is not set in the template before this point (only variables of <!--# set --> exist: "
                      "nothing is evaluated per request)");
      return std::nullopt;
    } else if (auto v = values_.find(name); v != values_.end()) {
      out += v->second;
    }
    i += len;
  }
  return out;
}

void SsiState::set(std::size_t lt, const std::vector<Attr>& attrs) {
  auto a = take(attrs, {"var", "value"}, "set");
  if (!a) return;
  if (!a->count("var") || !a->count("value")) {
    error_(lt, "SSI set needs var and value");
    return;
  }
  const Attr& var = *a->at("var");
  if (var.value.empty() || !std::all_of(var.value.begin(), var.value.end(), var_char)) {
    error_(var.pos, "bad variable name \"" + var.value + "\" (letters, digits and _)");
    return;
  }
  auto value = substitute(a->at("value")->value, a->at("value")->pos);
  if (!value) return;
  known_.insert(var.value);
  if (emitting()) values_[var.value] = std::move(*value);
}

std::string SsiState::echo(std::size_t lt, const std::vector<Attr>& attrs) {
  auto a = take(attrs, {"var", "default", "encoding"}, "echo");
  if (!a) return {};
  if (!a->count("var")) {
    error_(lt, "SSI echo needs var");
    return {};
  }
  const Attr& var = *a->at("var");
  std::string encoding = a->count("encoding") ? a->at("encoding")->value : "entity";
  if (encoding != "entity" && encoding != "url" && encoding != "none") {
    error_(a->at("encoding")->pos, "encoding must be entity, url or none");
    return {};
  }
  if (!known_.count(var.value)) {
    error_(var.pos, "variable " + var.value +
                        " is not set in the template before this point (only variables of <!--# set --> exist: "
                        "nothing is evaluated per request)");
    return {};
  }
  if (!emitting()) return {};
  std::string value;
  if (auto v = values_.find(var.value); v != values_.end()) value = v->second;
  else value = a->count("default") ? a->at("default")->value : "(none)";
  if (encoding == "entity") return entity_encode(value);
  if (encoding == "url") return url_encode(value);
  return value;
}

// $name, $name = text, $name != text.
std::optional<bool> SsiState::condition(std::size_t lt, const std::vector<Attr>& attrs, std::string_view command) {
  auto a = take(attrs, {"expr"}, command);
  if (!a) return std::nullopt;
  if (!a->count("expr")) {
    error_(lt, "SSI " + std::string(command) + " needs expr");
    return std::nullopt;
  }
  const Attr& expr = *a->at("expr");
  std::string_view e = trim(expr.value);
  auto bad = [&](std::string why) -> std::optional<bool> {
    error_(expr.pos, std::move(why));
    return std::nullopt;
  };
  if (e.empty() || e[0] != '$') return bad("unsupported expression \"" + expr.value + "\" (supported: $name, $name = text, $name != text)");
  auto [name, len] = reference(e, 0);
  if (name.empty()) return bad("unsupported expression \"" + expr.value + "\": no variable after $");
  auto left = substitute(e.substr(0, len), expr.pos);
  if (!left) return std::nullopt;
  auto rest = trim(e.substr(len));
  if (rest.empty()) return !left->empty();
  bool negate = false;
  if (rest.substr(0, 2) == "!=") negate = true;
  else if (rest[0] != '=') return bad("unsupported expression \"" + expr.value + "\" (supported: $name, $name = text, $name != text)");
  auto text = trim(rest.substr(negate ? 2 : 1));
  if (text.size() >= 2 && text.front() == '/' && text.back() == '/')
    return bad("regular expressions in SSI conditions are not supported (only = and != on text)");
  if (text.size() >= 2 && text.front() == '\'' && text.back() == '\'') text = text.substr(1, text.size() - 2);
  auto right = substitute(text, expr.pos);
  if (!right) return std::nullopt;
  return (*left == *right) != negate;
}

void SsiState::if_(std::size_t lt, const std::vector<Attr>& attrs) {
  auto c = condition(lt, attrs, "if");
  const bool parent = emitting();
  const bool active = parent && c.value_or(false);
  conds_.push_back({parent, active, active, false, lt});
}

SsiState::Cond* SsiState::open_if(std::size_t lt, std::string_view command) {
  if (conds_.empty()) {
    error_(lt, std::string(command) + " without if");
    return nullptr;
  }
  if (conds_.back().seen_else && command != "endif") {
    error_(lt, std::string(command) + " after else");
    return nullptr;
  }
  return &conds_.back();
}

void SsiState::elif(std::size_t lt, const std::vector<Attr>& attrs) {
  auto c = condition(lt, attrs, "elif");
  auto* cond = open_if(lt, "elif");
  if (!cond) return;
  cond->active = cond->parent_active && !cond->taken && c.value_or(false);
  cond->taken = cond->taken || cond->active;
}

void SsiState::else_(std::size_t lt, const std::vector<Attr>& attrs) {
  for (const auto& a : attrs) error_(a.pos, "unknown attribute " + std::string(a.name) + " on SSI else");
  auto* cond = open_if(lt, "else");
  if (!cond) return;
  cond->active = cond->parent_active && !cond->taken;
  cond->taken = true;
  cond->seen_else = true;
}

void SsiState::endif(std::size_t lt, const std::vector<Attr>& attrs) {
  for (const auto& a : attrs) error_(a.pos, "unknown attribute " + std::string(a.name) + " on SSI endif");
  if (open_if(lt, "endif")) conds_.pop_back();
}

void SsiState::close_to(std::size_t depth) {
  while (conds_.size() > depth) {
    error_(conds_.back().pos, "if without endif");
    conds_.pop_back();
  }
}

}  // namespace gateway::page
