// TLS protocol versions, as the configuration names them. Apart from
// base/net/tls.hpp so that configuration types need no OpenSSL header.
#pragma once

#include <string_view>

namespace gateway::net {

enum class TlsVersion { tls1_2, tls1_3 };

constexpr std::string_view to_string(TlsVersion v) noexcept { return v == TlsVersion::tls1_2 ? "TLSv1.2" : "TLSv1.3"; }

}  // namespace gateway::net
