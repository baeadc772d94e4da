#include "harness_compress.hpp"

#include <brotli/decode.h>
#include <zlib.h>

#include <memory>

namespace itest {

std::optional<std::string> gunzip(std::string_view in) {
  z_stream z{};
  if (inflateInit2(&z, 15 + 16) != Z_OK) return std::nullopt;
  std::string out;
  char buf[16384];
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  int rc = Z_OK;
  while (rc == Z_OK) {
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof buf;
    rc = inflate(&z, Z_NO_FLUSH);
    out.append(buf, sizeof buf - z.avail_out);
    if (rc == Z_BUF_ERROR && z.avail_in == 0) break;
  }
  inflateEnd(&z);
  if (rc != Z_STREAM_END || z.avail_in != 0) return std::nullopt;
  return out;
}

std::optional<std::string> unbrotli(std::string_view in) {
  std::unique_ptr<BrotliDecoderState, decltype(&BrotliDecoderDestroyInstance)> s(
      BrotliDecoderCreateInstance(nullptr, nullptr, nullptr), &BrotliDecoderDestroyInstance);
  std::string out;
  std::size_t avail_in = in.size();
  const auto* next_in = reinterpret_cast<const std::uint8_t*>(in.data());
  for (;;) {
    std::uint8_t buf[16384];
    std::size_t avail_out = sizeof buf;
    std::uint8_t* next_out = buf;
    auto rc = BrotliDecoderDecompressStream(s.get(), &avail_in, &next_in, &avail_out, &next_out, nullptr);
    out.append(reinterpret_cast<char*>(buf), sizeof buf - avail_out);
    if (rc == BROTLI_DECODER_RESULT_SUCCESS) return avail_in == 0 ? std::optional(out) : std::nullopt;
    if (rc == BROTLI_DECODER_RESULT_NEEDS_MORE_OUTPUT) continue;
    return std::nullopt;  // an error, or the stream ended early
  }
}

std::optional<std::string> decode_body(std::string_view coding, std::string_view in) {
  if (coding == "gzip") return gunzip(in);
  if (coding == "br") return unbrotli(in);
  if (coding.empty() || coding == "identity") return std::string(in);
  return std::nullopt;
}

}  // namespace itest
