// The pure decisions of a `static:` route (gateway/static_files.hpp does
// the file system and the writing): which file a request path names, what
// a try_files entry expands to, the Content-Type of a name, nginx's ETag,
// and whether a client takes a precompressed sibling. No I/O.
#pragma once

#include <cstdint>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>

namespace gateway::static_files {

// The request path (percent-encoded, as sent) made a clean path inside
// the root: decoded, "." and empty segments dropped, a trailing '/' kept,
// always starting with '/'. nullopt (the gateway answers 400) for what
// could name something outside the root or a name the file system cannot
// hold: a ".." segment (also written "%2e%2e" or "%2E."), an encoded '/'
// ("%2f") or '\0' ("%00"), a malformed escape, a path not starting with
// '/'. nginx answers 400 for a ".." that climbs above the root; here every
// ".." is refused (browsers resolve them before sending).
std::optional<std::string> clean_path(std::string_view raw);

// A try_files entry with $uri replaced by the clean path (`uri`); an entry
// ending in '/' asks for a directory (its index).
std::string expand_try(std::string_view entry, std::string_view uri);

// Content-Type for a file name by its extension (a small table after
// nginx's mime.types; text types with "; charset=utf-8");
// application/octet-stream for anything else.
std::string_view content_type_for(std::string_view name);

// nginx's ETag: "<mtime hex>-<size hex>", quoted, strong.
std::string file_etag(std::time_t mtime, std::uint64_t size);

}  // namespace gateway::static_files
