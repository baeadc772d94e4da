// Who is in an upstream group while the gateway runs: the instances of the
// file, the addresses their host names resolve to (`resolve:`), and the
// changes made through the admin API, merged into the instance list a new
// Group is built from. Pure functions of their arguments: the server's main
// thread keeps the inputs (gateway/fleet.hpp) and applies the result.
//
// The rules:
// - a file instance whose host is an IP literal is an instance as written;
//   with `resolve:` on, one whose host is a name becomes one instance per
//   address the name resolves to (same port, same weight); without it the
//   name stays one instance, resolved once at load (as before);
// - the API adds instances (IP literals), removes any instance, and sets
//   weights; these changes last until the next reload, where the file wins;
// - no address is an instance twice: the first one listed is kept.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "upstreams/config.hpp"

namespace gateway::upstreams {

// The admin API's changes to a group since the last reload.
struct ApiChanges {
  std::vector<InstanceConfig> added;                 // source api
  std::vector<std::string> removed;                  // addresses of file or resolved instances
  std::vector<std::pair<std::string, int>> weights;  // weights set on file or resolved instances
  bool empty() const noexcept { return added.empty() && removed.empty() && weights.empty(); }
};

// host name -> the IP addresses (text, no brackets) its last good lookup gave.
using ResolvedNames = std::map<std::string, std::vector<std::string>>;

bool is_ip_literal(std::string_view host) noexcept;
// "10.0.0.1", 80 -> "10.0.0.1:80"; "::1", 80 -> "[::1]:80".
Endpoint endpoint_of(std::string_view ip, std::uint16_t port);

// The host names of `group`'s file instances to re-resolve: none unless
// `resolve:` is on; names only, each once.
std::vector<std::string> names_to_resolve(const GroupConfig& group);

// The instances of `group` (its config as read from the file) given the
// resolved names (a name missing from `resolved` has no instance yet) and
// the API's changes.
std::vector<InstanceConfig> merge(const GroupConfig& group, const ResolvedNames& resolved, const ApiChanges& api);

// An admin API change to one group's instances.
struct MemberChange {
  enum class Kind { add, remove, weight } kind = Kind::add;
  Endpoint address;  // text as the instance lists it ("10.0.0.1:80", "[::1]:80")
  int weight = 1;       // add, weight
};
struct ChangeError {
  int status;  // HTTP status: 400, 404, 409
  std::string reason;
};

// Records `change` in `api`, checked against the group's `current`
// instances: an address added twice is a 409, one removed or weighted that
// is not there a 404, the removal of the last instance a 409.
std::optional<ChangeError> apply_change(ApiChanges& api, const std::vector<InstanceConfig>& current,
                                        const MemberChange& change);

}  // namespace gateway::upstreams
