// Template parsing for nginx SSI and ESI include tags. See template.hpp for
// the syntax and the choices made.
//
// One left-to-right pass over the text: the next '<' is found with find(),
// and only "<!--", "<esi:" and "</esi:" are looked at further, so plain HTML
// costs one memchr-like scan. Searches for closing markers ("-->",
// "</esi:include", "</esi:remove", "<!--#") go through Finder, which
// remembers its last answer, so even a text full of unclosed tags stays
// linear. Line and column come from a table of line starts built once.
#include "gateway/compose/template.hpp"

#include <algorithm>
#include <map>
#include <optional>
#include <string>
#include <tuple>

#include "base/units.hpp"
#include "gateway/compose/entities.hpp"
#include "gateway/compose/ssi.hpp"
#include "gateway/router.hpp"

namespace gateway::page {

std::size_t Template::includes() const {
  std::size_t n = 0;
  for (const auto& s : segments)
    if (s.include) ++n;
  return n;
}

namespace {

constexpr auto npos = std::string_view::npos;

bool space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f'; }

bool name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-' || c == ':' || c == '.';
}

// Finds one needle; remembers the last answer so that repeated searches from
// positions before it cost nothing.
class Finder {
 public:
  explicit Finder(std::string_view needle) : needle_(needle) {}
  std::size_t find(std::string_view text, std::size_t from) {
    if (!(valid_ && from >= from_ && (found_ == npos || from <= found_))) {
      from_ = from;
      found_ = text.find(needle_, from);
      valid_ = true;
    }
    return found_;
  }
  std::size_t size() const { return needle_.size(); }

 private:
  std::string_view needle_;
  std::size_t from_ = 0, found_ = npos;
  bool valid_ = false;
};

enum class Syntax { ssi, esi };

class Parser {
 public:
  explicit Parser(std::string_view text) : t_(text) {
    line_starts_.push_back(0);
    for (auto p = t_.find('\n'); p != npos; p = t_.find('\n', p + 1)) line_starts_.push_back(p + 1);
  }

  ParseResult run() {
    parse_range(0, t_.size(), false);
    ssi_.close_to(0);
    resolve_stubs();
    std::stable_sort(r_.errors.begin(), r_.errors.end(), [](const auto& a, const auto& b) {
      return a.line != b.line ? a.line < b.line : a.column < b.column;
    });
    if (!r_.errors.empty()) r_.tpl.segments.clear();
    return std::move(r_);
  }

 private:
  std::pair<int, int> where(std::size_t offset) const {
    auto it = std::upper_bound(line_starts_.begin(), line_starts_.end(), offset);
    auto line = static_cast<std::size_t>(it - line_starts_.begin());  // 1-based
    return {static_cast<int>(line), static_cast<int>(offset - line_starts_[line - 1] + 1)};
  }

  void error(std::size_t offset, std::string message) {
    auto [line, column] = where(offset);
    r_.errors.push_back({line, column, std::move(message)});
  }

  // Position of needle at or after `from` if it lies wholly before `end`.
  std::size_t find(Finder& f, std::size_t from, std::size_t end) {
    auto p = f.find(t_, from);
    return p != npos && p + f.size() <= end ? p : npos;
  }

  bool at(std::size_t pos, std::size_t end, std::string_view s) const {
    return end - pos >= s.size() && t_.compare(pos, s.size(), s) == 0;
  }

  void literal(std::size_t begin, std::size_t end) {
    if (begin < end) output(t_.substr(begin, end - begin));
  }

  // Text to output, unless inside an SSI branch not taken.
  void output(std::string_view text) {
    if (text.empty() || !ssi_.emitting()) return;
    auto& segs = r_.tpl.segments;
    if (!segs.empty() && !segs.back().include) segs.back().literal.append(text);
    else segs.push_back({std::string(text), std::nullopt});
  }

  // Parses [begin, end); `esi_comment` when that is the inside of <!--esi -->.
  void parse_range(std::size_t begin, std::size_t end, bool esi_comment) {
    std::size_t pos = begin, lit = begin;
    for (;;) {
      auto lt = t_.find('<', pos);
      if (lt == npos || lt >= end) break;
      if (at(lt, end, "<!--#")) {
        literal(lit, lt);
        pos = lit = ssi_directive(lt, end);
      } else if (at(lt, end, "<!--esi") &&
                 (end - lt == 7 || space(t_[lt + 7]) || at(lt + 7, end, "-->"))) {
        literal(lit, lt);
        auto close = find(comment_end_, lt + 7, end);
        if (close == npos) {
          error(lt, "unterminated <!--esi comment");
          pos = lit = end;
        } else {
          parse_range(lt + 7, close, true);
          pos = lit = close + 3;
        }
      } else if (at(lt, end, "<!--")) {
        auto close = find(comment_end_, lt + 4, end);
        if (close == npos) {
          error(lt, esi_comment ? "comment inside <!--esi ... --> (comments do not nest)" : "unterminated comment");
          literal(lit, lt);
          pos = lit = end;
        } else {
          pos = close + 3;  // passes through as part of the literal
        }
      } else if (at(lt, end, "<esi:")) {
        literal(lit, lt);
        pos = lit = esi_element(lt, end);
      } else if (at(lt, end, "</esi:")) {
        literal(lit, lt);
        auto name_end = lt + 6;
        while (name_end < end && name_char(t_[name_end])) ++name_end;
        error(lt, "unexpected </esi:" + std::string(t_.substr(lt + 6, name_end - lt - 6)) + ">");
        auto gt = t_.find('>', name_end);
        pos = lit = gt == npos || gt >= end ? end : gt + 1;
      } else {
        pos = lt + 1;
      }
    }
    literal(lit, end);
  }

  // Splits the attributes in [i, end) into `out`; false (with an error) on
  // malformed syntax.
  bool lex_attrs(std::size_t i, std::size_t end, std::vector<Attr>& out) {
    for (;;) {
      while (i < end && space(t_[i])) ++i;
      if (i >= end) return true;
      auto name_begin = i;
      while (i < end && name_char(t_[i])) ++i;
      if (i == name_begin) {
        error(i, std::string("malformed attribute: unexpected '") + t_[i] + "'");
        return false;
      }
      Attr a;
      a.name = t_.substr(name_begin, i - name_begin);
      a.pos = name_begin;
      auto j = i;
      while (j < end && space(t_[j])) ++j;
      if (j < end && t_[j] == '=') {
        ++j;
        while (j < end && space(t_[j])) ++j;
        if (j >= end || (t_[j] != '"' && t_[j] != '\'')) {
          error(j, "the value of " + std::string(a.name) + " must be quoted");
          return false;
        }
        auto close = t_.find(t_[j], j + 1);
        if (close == npos || close >= end) {
          error(j, "unterminated value of " + std::string(a.name));
          return false;
        }
        a.value = compose::decode_entities(t_.substr(j + 1, close - j - 1));
        a.has_value = true;
        i = close + 1;
        if (i < end && !space(t_[i])) {
          error(i, "missing space after the value of " + std::string(a.name));
          return false;
        }
      }
      out.push_back(std::move(a));
    }
  }

  // "<!--#" at lt: the command and its attributes, and where it ends.
  struct Directive {
    std::string_view command;
    std::vector<Attr> attrs;
    bool attrs_ok = true;
    std::size_t after = 0;
  };

  // nullopt when unterminated (the error is reported).
  std::optional<Directive> directive(std::size_t lt, std::size_t end) {
    auto close = find(comment_end_, lt + 5, end);
    if (close == npos) {
      error(lt, "unterminated SSI directive");
      return std::nullopt;
    }
    Directive d;
    d.after = close + 3;
    auto i = lt + 5;
    while (i < close && space(t_[i])) ++i;
    auto cmd = i;
    while (i < close && name_char(t_[i])) ++i;
    d.command = t_.substr(cmd, i - cmd);
    if (!d.command.empty()) d.attrs_ok = lex_attrs(i, close, d.attrs);
    return d;
  }

  std::size_t ssi_directive(std::size_t lt, std::size_t end) {
    auto d = directive(lt, end);
    if (!d) return end;
    if (d->command.empty()) {
      error(lt, "malformed SSI directive: no command");
    } else if (d->command == "include") {
      if (d->attrs_ok) include(lt, Syntax::ssi, d->attrs);
    } else if (d->command == "block") {
      return block(lt, end, *d);
    } else if (d->command == "endblock") {
      error(lt, "endblock without block");
    } else if (!d->attrs_ok) {
      // Reported by lex_attrs.
    } else if (d->command == "set") {
      ssi_.set(lt, d->attrs);
    } else if (d->command == "echo") {
      output(ssi_.echo(lt, d->attrs));
    } else if (d->command == "if") {
      ssi_.if_(lt, d->attrs);
    } else if (d->command == "elif") {
      ssi_.elif(lt, d->attrs);
    } else if (d->command == "else") {
      ssi_.else_(lt, d->attrs);
    } else if (d->command == "endif") {
      ssi_.endif(lt, d->attrs);
    } else {
      error(lt, "unsupported SSI command " + std::string(d->command) +
                    " (supported: include, block, set, echo, if, elif, else, endif)");
    }
    return d->after;
  }

  // <!--# block name="x" --> ... <!--# endblock -->: the text between is the
  // stub "x"; SSI directives inside it are not supported.
  std::size_t block(std::size_t lt, std::size_t end, const Directive& d) {
    std::string name;
    bool ok = d.attrs_ok;
    if (ok) {
      for (const auto& a : d.attrs) {
        if (a.name != "name") {
          error(a.pos, "unknown attribute " + std::string(a.name) + " on SSI block");
          ok = false;
        } else if (!a.has_value || a.value.empty()) {
          error(a.pos, "block name must not be empty");
          ok = false;
        } else {
          name = a.value;
        }
      }
      if (ok && name.empty()) {
        error(lt, "block without name");
        ok = false;
      }
    }
    auto from = d.after;
    for (;;) {
      auto p = find(ssi_start_, from, end);
      if (p == npos) {
        error(lt, "block without endblock");
        return end;
      }
      auto inner = directive(p, end);
      if (!inner) return end;
      if (inner->command == "endblock") {
        if (inner->attrs_ok)
          for (const auto& a : inner->attrs) error(a.pos, "unknown attribute " + std::string(a.name) + " on SSI endblock");
        if (ok && !blocks_.emplace(name, std::string(t_.substr(d.after, p - d.after))).second)
          error(lt, "duplicate block " + name);
        return inner->after;
      }
      error(p, "SSI " + std::string(inner->command) + " inside a block is not supported");
      from = inner->after;
    }
  }

  std::size_t esi_element(std::size_t lt, std::size_t end) {
    auto name_end = lt + 5;
    while (name_end < end && name_char(t_[name_end])) ++name_end;
    std::string name(t_.substr(lt + 5, name_end - lt - 5));
    // The tag's '>', outside quoted values.
    std::size_t gt = npos;
    for (auto i = name_end; i < end;) {
      char c = t_[i];
      if (c == '"' || c == '\'') {
        auto q = t_.find(c, i + 1);
        if (q == npos || q >= end) break;
        i = q + 1;
      } else if (c == '>') {
        gt = i;
        break;
      } else {
        ++i;
      }
    }
    if (gt == npos) {
      error(lt, "unterminated <esi:" + name + "> tag");
      return end;
    }
    bool self_closing = gt > name_end && t_[gt - 1] == '/';
    auto attrs_end = self_closing ? gt - 1 : gt;
    auto after = gt + 1;
    if (name == "include") {
      std::vector<Attr> attrs;
      bool ok = lex_attrs(name_end, attrs_end, attrs);
      if (!self_closing) {
        auto i = after;
        while (i < end && space(t_[i])) ++i;
        if (at(i, end, "</esi:include")) {
          after = closing_tag_end(i, i + 13, end, "include");
          if (after == npos) return end;
        } else {
          auto close = find(include_close_, after, end);
          if (close == npos) {
            error(lt, "<esi:include> without </esi:include>");
          } else {
            error(lt, "<esi:include> must be empty or self-closing");
            after = closing_tag_end(close, close + 13, end, "include");
            if (after == npos) return end;
          }
        }
      }
      if (ok) include(lt, Syntax::esi, attrs);
      return after;
    }
    if (name == "remove") {
      std::vector<Attr> attrs;
      if (lex_attrs(name_end, attrs_end, attrs))
        for (const auto& a : attrs) error(a.pos, "unknown attribute " + std::string(a.name) + " on <esi:remove>");
      if (self_closing) return after;
      auto close = find(remove_close_, after, end);
      if (close == npos) {
        error(lt, "<esi:remove> left open");
        return end;
      }
      auto e = closing_tag_end(close, close + 12, end, "remove");
      return e == npos ? end : e;
    }
    if (name == "comment") {
      esi_comment(lt, name_end, attrs_end, self_closing);
      return after;
    }
    error(lt, "unsupported ESI element <esi:" + name + "> (supported: include, remove, comment)");
    return after;
  }

  // <esi:comment text="..."/>: dropped from the output. An empty element,
  // as the ESI spec has it.
  void esi_comment(std::size_t lt, std::size_t name_end, std::size_t attrs_end, bool self_closing) {
    std::vector<Attr> attrs;
    if (lex_attrs(name_end, attrs_end, attrs))
      for (const auto& a : attrs)
        if (a.name != "text") error(a.pos, "unknown attribute " + std::string(a.name) + " on <esi:comment>");
    if (!self_closing) error(lt, "<esi:comment> must be self-closing (<esi:comment text=\"...\"/>)");
  }

  // "</esi:NAME" at tag, with i just past it: optional space, then '>'.
  std::size_t closing_tag_end(std::size_t tag, std::size_t i, std::size_t end, std::string_view name) {
    while (i < end && space(t_[i])) ++i;
    if (i < end && t_[i] == '>') return i + 1;
    error(tag, "malformed </esi:" + std::string(name) + "> tag");
    return npos;
  }

  static std::optional<bool> boolean(const Attr& a) {
    if (!a.has_value) return true;
    if (a.value == "true") return true;
    if (a.value == "false") return false;
    return std::nullopt;
  }

  // What an include's attributes say, gathered before the checks that need
  // all of them.
  struct IncludeAttrs {
    Include inc;
    std::optional<bool> required;
    std::optional<std::string> stub;
    std::size_t required_pos = 0, stub_pos = 0, src_pos = 0;
    bool has_src = false, onerror_continue = false, has_fallback = false;
  };

  // An include tag at lt: its attributes read, checked together, and the
  // include recorded; refused (with errors) if any of that fails.
  void include(std::size_t lt, Syntax syntax, const std::vector<Attr>& attrs) {
    const bool ssi = syntax == Syntax::ssi;
    IncludeAttrs ia;
    std::tie(ia.inc.line, ia.inc.column) = where(lt);
    if (!read_include_attrs(attrs, ssi, ia) || !check_include(lt, ssi, ia)) return;
    if (!ssi_.emitting()) return;  // in an SSI branch not taken
    if (ia.inc.primary) primary_ = {ia.inc.line, ia.inc.column};
    if (ia.stub) stubs_.push_back({r_.tpl.segments.size(), *ia.stub, ia.stub_pos});
    r_.tpl.segments.push_back({std::string(), std::move(ia.inc)});
  }

  // Every attribute, each reported on its own; false if any was refused.
  bool read_include_attrs(const std::vector<Attr>& attrs, bool ssi, IncludeAttrs& ia) {
    bool ok = true;
    std::vector<std::string_view> seen;
    for (const auto& a : attrs) {
      if (std::find(seen.begin(), seen.end(), a.name) != seen.end()) {
        error(a.pos, "duplicate attribute " + std::string(a.name));
        ok = false;
        continue;
      }
      seen.push_back(a.name);
      ok = include_attr(a, ssi, ia) && ok;
    }
    return ok;
  }

  // One attribute into `ia`; false (with an error) if it is refused.
  bool include_attr(const Attr& a, bool ssi, IncludeAttrs& ia) {
    auto fail = [&](std::string message) {
      error(a.pos, std::move(message));
      return false;
    };
    const std::string name(a.name);
    const char* where_name = ssi ? " on SSI include" : " on <esi:include>";
    const bool flag = name == "required" || name == "primary";
    const bool known = flag || name == "timeout" || name == "fallback" ||
                       (ssi ? name == "virtual" || name == "file" || name == "stub" || name == "wait"
                            : name == "src" || name == "alt" || name == "onerror");
    if (!known) return fail("unknown attribute " + name + where_name);
    if (!flag && !a.has_value) return fail("attribute " + name + " needs a value");
    auto& inc = ia.inc;
    if (name == "virtual" || name == "file" || name == "src") {
      if (ia.has_src) return fail("both virtual and file" + std::string(where_name));
      ia.has_src = true;
      ia.src_pos = a.pos;
      inc.src = a.value;
    } else if (name == "alt") {
      inc.alt = a.value;
    } else if (name == "onerror") {
      ia.onerror_continue = true;
      if (a.value != "continue") return fail("onerror must be \"continue\"");
    } else if (name == "stub") {
      ia.stub = a.value;
      ia.stub_pos = a.pos;
      if (a.value.empty()) return fail("stub must name a block");
    } else if (name == "wait") {
      if (a.value != "yes" && a.value != "no") return fail("wait must be \"yes\" or \"no\"");
    } else if (name == "timeout") {
      auto d = gateway::parse_duration(a.value);
      if (!d || d->count() <= 0) return fail("bad timeout \"" + a.value + "\"");
      inc.timeout = *d;
    } else if (name == "fallback") {
      ia.has_fallback = true;
      if (!a.value.empty() && a.value[0] == '/') inc.fallback_url = a.value;
      else inc.fallback_html = a.value;
    } else {  // required, primary
      auto b = boolean(a);
      if (!b) return fail(name + " must be true or false");
      if (name == "required") {
        ia.required = b;
        ia.required_pos = a.pos;
      } else {
        inc.primary = *b;
      }
    }
    return true;
  }

  // The checks that need every attribute: a URL, required against
  // onerror, stub against an inline fallback, one primary per template.
  // Sets inc.required. False (with an error) if the include is refused.
  bool check_include(std::size_t lt, bool ssi, IncludeAttrs& ia) {
    auto& inc = ia.inc;
    if (!ia.has_src) {
      error(lt, ssi ? "SSI include without virtual or file" : "<esi:include> without src");
      return false;
    }
    if (inc.src.empty()) {
      error(ia.src_pos, "empty include URL");
      return false;
    }
    if (ssi) {
      inc.required = ia.required.value_or(false);
    } else {
      if (ia.required && *ia.required && ia.onerror_continue) {
        error(ia.required_pos, "required contradicts onerror=\"continue\"");
        return false;
      }
      inc.required = ia.required.value_or(!ia.onerror_continue && !ia.has_fallback);
    }
    if (ia.stub && inc.fallback_html) {
      error(ia.stub_pos, "both stub and an inline fallback");
      return false;
    }
    if (inc.primary && primary_) {
      error(lt, "more than one primary include (the first is at line " + std::to_string(primary_->first) +
                    ", column " + std::to_string(primary_->second) + ")");
      return false;
    }
    return true;
  }

  void resolve_stubs() {
    for (const auto& s : stubs_) {
      auto it = blocks_.find(s.name);
      if (it == blocks_.end()) error(s.pos, "stub " + s.name + " names no block");
      else r_.tpl.segments[s.segment].include->fallback_html = it->second;
    }
  }

  struct StubRef {
    std::size_t segment;
    std::string name;
    std::size_t pos;
  };

  std::string_view t_;
  std::vector<std::size_t> line_starts_;
  ParseResult r_;
  std::map<std::string, std::string, std::less<>> blocks_;
  std::vector<StubRef> stubs_;
  std::optional<std::pair<int, int>> primary_;
  SsiState ssi_{[this](std::size_t pos, std::string message) { error(pos, std::move(message)); }};
  Finder comment_end_{"-->"};
  Finder ssi_start_{"<!--#"};
  Finder include_close_{"</esi:include"};
  Finder remove_close_{"</esi:remove"};
};

}  // namespace

ParseResult parse_template(std::string_view text) { return Parser(text).run(); }

std::string expand(std::string_view url, const std::vector<std::pair<std::string_view, std::string_view>>& params) {
  return gateway::expand_params(url, params);
}

}  // namespace gateway::page
