// HTML character references in template attribute values: what the
// template parser (template.cpp) decodes in include URLs and fallbacks.
// Pure code, run wherever templates are parsed (config load, or a worker
// parsing a fragment's body).
#pragma once

#include <string>
#include <string_view>

namespace gateway::compose {

// Decodes &amp; &quot; &lt; &gt; &apos; and numeric references (&#39;
// &#x27;) to UTF-8; anything else that starts with '&' is kept as written,
// as HTML does: other named references (&nbsp;), and numeric ones that are
// malformed, zero, a surrogate or above U+10FFFF.
std::string decode_entities(std::string_view value);

}  // namespace gateway::compose
