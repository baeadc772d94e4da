// Compressed bodies decoded back for the compression tests
// (compress_*_test.cpp): gzip with zlib, br with libbrotlidec.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace itest {

// The decoded body, or nullopt if `in` is not one complete stream.
std::optional<std::string> gunzip(std::string_view in);
std::optional<std::string> unbrotli(std::string_view in);
// By Content-Encoding name: "gzip", "br", or "" / "identity" (as is).
std::optional<std::string> decode_body(std::string_view coding, std::string_view in);

}  // namespace itest
