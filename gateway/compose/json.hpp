// JSON for aggregate routes: checking that a part is one JSON value, and
// merging parts into one object under their keys. Pure functions.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace gateway::compose {

// Whether `text` is exactly one JSON value (RFC 8259), surrounding
// whitespace allowed, nesting at most `max_depth` deep.
// Strict: RFC 8259's grammar, well-formed UTF-8 in strings, no BOM, no
// NaN/Infinity, no trailing commas or garbage. "[]" is depth 1. A \u escape
// naming a lone surrogate ("\ud800") is accepted, as the grammar allows it
// (section 8.2 only warns); values are copied, never decoded.
bool valid_json(std::string_view text, int max_depth = 64);

// {"k1":v1,"k2":v2} in the given order; keys are escaped, values (already
// valid JSON texts) are copied as they are, without surrounding whitespace.
// Keys: '"', '\\' and control characters are escaped (\n, \t, ... or
// \u00XX), other bytes copied. An empty value is written as null.
std::string merge_json(const std::vector<std::pair<std::string, std::string_view>>& parts);

}  // namespace gateway::compose
