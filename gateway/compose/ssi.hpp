// The SSI commands of page templates beyond include and block: set, echo and
// if/elif/else/endif, as nginx's ssi module has them, on variables that the
// template itself sets. A template is parsed once, at config load, so all
// of them are decided then: set and echo become literal text, a condition
// keeps its branch or drops it. Used by the template parser (template.cpp).
//
//   <!--# set var="name" value="text" -->    text may hold $name or ${name}
//                                           of variables set before; \$ is a '$'
//   <!--# echo var="name" default="text" encoding="entity" -->
//                                           the value, or default, or "(none)";
//                                           encoding entity (the default: & < > "
//                                           escaped), url (percent-encoded) or none
//   <!--# if expr="..." --> ... <!--# elif expr="..." --> ... <!--# else -->
//   ... <!--# endif -->                      nest freely; an expression is
//                                           $name (set and not empty),
//                                           $name = text or $name != text
//                                           (text as in set; in single quotes
//                                           if it has leading or trailing space)
//
// Load errors, at the attribute or the tag: a variable the template did not
// set earlier (request variables such as $uri or $http_host do not exist
// here: nothing is evaluated per request), a regular expression
// ($name = /re/), any other expression, a missing or unknown attribute, an
// unknown encoding, elif/else/endif without if, elif after else, an if
// without endif.
//
// Pure code; no I/O.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace gateway::page {

// An attribute of a tag as the template lexer reads it.
struct Attr {
  std::string_view name;
  std::string value;  // entities decoded
  bool has_value = false;
  std::size_t pos = 0;  // of the name, in the template text
};

class SsiState {
 public:
  // Reports an error at a position of the template text.
  using Error = std::function<void(std::size_t pos, std::string message)>;
  explicit SsiState(Error error) : error_(std::move(error)) {}

  // Whether text here is output: false inside a branch not taken.
  bool emitting() const { return conds_.empty() || conds_.back().active; }
  std::size_t depth() const { return conds_.size(); }

  // The commands, each at `lt` (the tag's '<'). echo returns the text to
  // output (nothing when not emitting or on error).
  void set(std::size_t lt, const std::vector<Attr>& attrs);
  std::string echo(std::size_t lt, const std::vector<Attr>& attrs);
  void if_(std::size_t lt, const std::vector<Attr>& attrs);
  void elif(std::size_t lt, const std::vector<Attr>& attrs);
  void else_(std::size_t lt, const std::vector<Attr>& attrs);
  void endif(std::size_t lt, const std::vector<Attr>& attrs);
  // At the end of the text (depth 0): an if still open is an error.
  void close_to(std::size_t depth);

 private:
  struct Cond {
    bool parent_active;
    bool taken;    // a branch of this if was taken
    bool active;   // the current branch is output
    bool seen_else;
    std::size_t pos;
  };
  // The attributes named in `allowed`, each once; errors for the others.
  // nullopt if any was refused.
  std::optional<std::map<std::string_view, const Attr*>> take(const std::vector<Attr>& attrs,
                                                             std::initializer_list<std::string_view> allowed,
                                                             std::string_view command);
  // `text` with $name and ${name} replaced; nullopt (error at `pos`) for
  // a variable never set before.
  std::optional<std::string> substitute(std::string_view text, std::size_t pos);
  std::optional<bool> condition(std::size_t lt, const std::vector<Attr>& attrs, std::string_view command);
  Cond* open_if(std::size_t lt, std::string_view command);

  Error error_;
  std::map<std::string, std::string, std::less<>> values_;  // set in the branches taken
  std::set<std::string, std::less<>> known_;                // set anywhere before
  std::vector<Cond> conds_;
};

}  // namespace gateway::page
