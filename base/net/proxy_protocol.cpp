#include "base/net/proxy_protocol.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <array>
#include <charconv>
#include <vector>

namespace gateway::net::proxy_protocol {

namespace asio = boost::asio;

namespace {

constexpr std::string_view kV1Prefix = "PROXY ";
constexpr std::string_view kV2Signature{"\r\n\r\n\0\r\nQUIT\n", 12};

Result fail(int version, std::string reason) {
  Result r;
  r.status = Status::error;
  r.version = version;
  r.reason = std::move(reason);
  return r;
}

// A port as v1 writes it: decimal, 0..65535, no leading zero.
std::optional<std::uint16_t> parse_port(std::string_view text) {
  if (text.empty() || text.size() > 5 || (text.size() > 1 && text.front() == '0')) return std::nullopt;
  unsigned value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size() || value > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(value);
}

// "PROXY TCP4 192.0.2.1 198.51.100.1 56324 443\r\n"; "PROXY UNKNOWN ...\r\n".
Result parse_v1(std::string_view data) {
  auto lf = data.find('\n');
  if (lf == std::string_view::npos) {
    if (data.size() >= kMaxV1) return fail(1, "v1 header longer than 107 bytes");
    if (data.find('\r') != std::string_view::npos && data.back() != '\r') return fail(1, "v1 header: CR without LF");
    Result r;
    r.version = 1;
    return r;
  }
  if (lf + 1 > kMaxV1) return fail(1, "v1 header longer than 107 bytes");
  if (lf == 0 || data[lf - 1] != '\r') return fail(1, "v1 header: LF without CR");
  // A CR before the final CRLF, as need_more would have said on the way.
  if (data.find('\r') < lf - 1) return fail(1, "v1 header: CR without LF");
  std::string_view line = data.substr(kV1Prefix.size(), lf - 1 - kV1Prefix.size());
  std::vector<std::string_view> words;
  while (true) {
    auto space = line.find(' ');
    words.push_back(line.substr(0, space));
    if (space == std::string_view::npos) break;
    line.remove_prefix(space + 1);
  }
  Result r;
  r.version = 1;
  r.size = lf + 1;
  if (words[0] == "UNKNOWN") {
    r.status = Status::done;  // the rest of the line, if any, is ignored
    return r;
  }
  if (words[0] != "TCP4" && words[0] != "TCP6") return fail(1, "v1 header: unknown protocol \"" + std::string(words[0]) + "\"");
  if (words.size() != 5) return fail(1, "v1 header: expected 4 fields after " + std::string(words[0]));
  boost::system::error_code ec;
  const bool v4 = words[0] == "TCP4";
  std::string src(words[1]), dst(words[2]);
  asio::ip::address source, dest;
  if (v4) {
    source = asio::ip::make_address_v4(src, ec);
    if (!ec) dest = asio::ip::make_address_v4(dst, ec);
  } else {
    source = asio::ip::make_address_v6(src, ec);
    if (!ec) dest = asio::ip::make_address_v6(dst, ec);
  }
  if (ec) return fail(1, std::string("v1 header: invalid ") + (v4 ? "IPv4" : "IPv6") + " address");
  auto sport = parse_port(words[3]);
  auto dport = parse_port(words[4]);
  if (!sport || !dport) return fail(1, "v1 header: invalid port");
  r.status = Status::done;
  r.source = source;
  r.source_port = *sport;
  return r;
}

std::uint16_t be16(std::string_view data, std::size_t at) {
  return static_cast<std::uint16_t>(static_cast<unsigned char>(data[at]) << 8 | static_cast<unsigned char>(data[at + 1]));
}

// 12-byte signature, version/command, family/transport, length, then the
// addresses (and TLVs, skipped).
Result parse_v2(std::string_view data) {
  if (data.size() < kV2Fixed) {
    Result r;
    r.version = 2;
    return r;
  }
  const auto ver_cmd = static_cast<unsigned char>(data[12]);
  const auto fam = static_cast<unsigned char>(data[13]);
  const std::size_t length = be16(data, 14);
  if ((ver_cmd >> 4) != 2) return fail(2, "v2 header: unsupported version " + std::to_string(ver_cmd >> 4));
  const unsigned command = ver_cmd & 0x0f;
  if (command > 1) return fail(2, "v2 header: unknown command " + std::to_string(command));
  const unsigned family = fam >> 4, transport = fam & 0x0f;
  if (family > 3 || transport > 2) return fail(2, "v2 header: unknown address family or transport");
  if (length > kMaxV2Length) return fail(2, "v2 header: " + std::to_string(length) + " bytes of addresses and TLVs, more than " + std::to_string(kMaxV2Length));
  Result r;
  r.version = 2;
  if (data.size() < kV2Fixed + length) return r;
  r.status = Status::done;
  r.size = kV2Fixed + length;
  // LOCAL: the balancer's own connection (a health check); UNSPEC
  // transport or family, UNIX: no address to take.
  if (command == 0 || transport == 0 || family == 0 || family == 3) return r;
  const std::size_t need = family == 1 ? 12 : 36;
  if (length < need) return fail(2, "v2 header: address block of " + std::to_string(length) + " bytes, " + std::to_string(need) + " needed");
  auto body = data.substr(kV2Fixed);
  if (family == 1) {
    asio::ip::address_v4::bytes_type bytes;
    for (std::size_t i = 0; i < 4; ++i) bytes[i] = static_cast<unsigned char>(body[i]);
    r.source = asio::ip::address_v4(bytes);
    r.source_port = be16(body, 8);
  } else {
    asio::ip::address_v6::bytes_type bytes;
    for (std::size_t i = 0; i < 16; ++i) bytes[i] = static_cast<unsigned char>(body[i]);
    r.source = asio::ip::address_v6(bytes);
    r.source_port = be16(body, 32);
  }
  return r;
}

}  // namespace

Result parse(std::string_view data) {
  if (data.empty()) return Result{};
  // Which version: compare what is there with each one's opening bytes.
  auto begins = [&](std::string_view prefix) {
    auto n = std::min(data.size(), prefix.size());
    return data.substr(0, n) == prefix.substr(0, n);
  };
  if (begins(kV2Signature)) {
    if (data.size() < kV2Signature.size()) {
      Result r;
      r.version = 2;
      return r;
    }
    return parse_v2(data);
  }
  if (begins(kV1Prefix)) {
    if (data.size() < kV1Prefix.size()) {
      Result r;
      r.version = 1;
      return r;
    }
    return parse_v1(data);
  }
  return fail(0, "no PROXY protocol header");
}

asio::awaitable<Result> read_header(asio::ip::tcp::socket& socket) {
  constexpr auto kAwait = asio::as_tuple(asio::use_awaitable);
  // What was taken off the socket so far: bytes known to be part of the
  // header (parse said need_more with all of them).
  std::string got;
  std::array<char, kV2Fixed + kMaxV2Length> peeked;
  for (;;) {
    // Peek at what is there (waiting for at least a byte), at most what a
    // header could still need.
    std::size_t room = peeked.size() - got.size();
    auto [ec, n] = co_await socket.async_receive(asio::buffer(peeked.data(), room), asio::socket_base::message_peek, kAwait);
    if (ec || n == 0) co_return fail(0, ec ? "connection error before the PROXY header: " + ec.message() : "connection closed before the PROXY header");
    std::string data = got;
    data.append(peeked.data(), n);
    Result r = parse(data);
    if (r.status == Status::error) co_return r;
    // Take off the socket what belongs to the header: all that was peeked
    // if it is still incomplete, else up to its end.
    std::size_t take = r.status == Status::done ? r.size - got.size() : n;
    std::size_t taken = 0;
    while (taken < take) {
      auto [rec, m] = co_await socket.async_receive(asio::buffer(peeked.data() + taken, take - taken), kAwait);
      if (rec || m == 0) co_return fail(r.version, "connection lost in the PROXY header");
      taken += m;
    }
    if (r.status == Status::done) co_return r;
    got.append(peeked.data(), n);
  }
}

}  // namespace gateway::net::proxy_protocol
