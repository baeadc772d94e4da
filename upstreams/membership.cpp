#include "upstreams/membership.hpp"

#include <boost/asio/ip/address.hpp>

#include <algorithm>

namespace gateway::upstreams {

const char* to_string(Source s) noexcept {
  switch (s) {
    case Source::file: return "file";
    case Source::resolve: return "resolve";
    case Source::api: return "api";
  }
  return "?";
}

bool is_ip_literal(std::string_view host) noexcept {
  boost::system::error_code ec;
  boost::asio::ip::make_address(std::string(host), ec);
  return !ec;
}

Endpoint endpoint_of(std::string_view ip, std::uint16_t port) {
  Endpoint e;
  e.host = std::string(ip);
  e.port = port;
  bool v6 = ip.find(':') != std::string_view::npos;
  e.text = (v6 ? "[" + e.host + "]" : e.host) + ":" + std::to_string(port);
  return e;
}

std::vector<std::string> names_to_resolve(const GroupConfig& group) {
  std::vector<std::string> names;
  if (group.resolve.count() <= 0) return names;
  for (const auto& i : group.instances)
    if (!is_ip_literal(i.address.host) && std::find(names.begin(), names.end(), i.address.host) == names.end())
      names.push_back(i.address.host);
  return names;
}

namespace {
bool listed(const std::vector<InstanceConfig>& v, std::string_view address) {
  return std::any_of(v.begin(), v.end(), [&](const InstanceConfig& i) { return i.address.text == address; });
}

void add_unique(std::vector<InstanceConfig>& out, InstanceConfig i) {
  if (!listed(out, i.address.text)) out.push_back(std::move(i));
}
}  // namespace

std::vector<InstanceConfig> merge(const GroupConfig& group, const ResolvedNames& resolved, const ApiChanges& api) {
  std::vector<InstanceConfig> out;
  const bool resolving = group.resolve.count() > 0;
  for (const auto& i : group.instances) {
    if (!resolving || is_ip_literal(i.address.host)) {
      add_unique(out, i);
      continue;
    }
    auto found = resolved.find(i.address.host);
    if (found == resolved.end()) continue;
    for (const auto& ip : found->second)
      add_unique(out, InstanceConfig{endpoint_of(ip, i.address.port), i.weight, Source::resolve});
  }
  std::erase_if(out, [&](const InstanceConfig& i) {
    return std::find(api.removed.begin(), api.removed.end(), i.address.text) != api.removed.end();
  });
  for (auto& i : out)
    for (const auto& [address, weight] : api.weights)
      if (i.address.text == address) i.weight = weight;
  for (const auto& i : api.added) add_unique(out, i);
  return out;
}

std::optional<ChangeError> apply_change(ApiChanges& api, const std::vector<InstanceConfig>& current,
                                        const MemberChange& change) {
  const auto& a = change.address.text;
  auto added = std::find_if(api.added.begin(), api.added.end(),
                            [&](const InstanceConfig& i) { return i.address.text == a; });
  switch (change.kind) {
    case MemberChange::Kind::add: {
      if (listed(current, a)) return ChangeError{409, "instance " + a + " is already in the group"};
      api.added.push_back(InstanceConfig{change.address, change.weight, Source::api});
      std::erase(api.removed, a);
      return std::nullopt;
    }
    case MemberChange::Kind::remove:
      if (!listed(current, a)) return ChangeError{404, "no instance " + a + " in the group"};
      if (current.size() == 1) return ChangeError{409, "instance " + a + " is the last one of the group"};
      if (added != api.added.end()) {
        api.added.erase(added);
      } else {
        api.removed.push_back(a);
        std::erase_if(api.weights, [&](const auto& w) { return w.first == a; });
      }
      return std::nullopt;
    case MemberChange::Kind::weight:
      if (!listed(current, a)) return ChangeError{404, "no instance " + a + " in the group"};
      if (added != api.added.end()) {
        added->weight = change.weight;
      } else {
        std::erase_if(api.weights, [&](const auto& w) { return w.first == a; });
        api.weights.emplace_back(a, change.weight);
      }
      return std::nullopt;
  }
  return std::nullopt;
}

}  // namespace gateway::upstreams
