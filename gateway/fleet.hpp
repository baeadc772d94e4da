// The live membership of the upstream groups, kept on the server's main
// thread: the file's instances, what their names resolve to (`resolve:`,
// looked up by the Resolver's thread) and the admin API's changes
// (gateway/admin_upstreams.hpp), merged by upstreams/membership.hpp.
//
// A change never touches a Group in place: a new Runtime shares everything
// with the current one but the changed groups, whose new Group takes over
// the InstanceStates of the addresses that stay, and is applied like a
// reload (every worker; its pools keep their idle connections to those
// instances). Requests in flight finish on the Group they started on.
//
// A drain marks the instance (no new request goes to it); the instance is
// removed once its in-flight count is zero, or at the drain deadline
// (timeouts.shutdown). A reload applies the file: the API's changes are
// dropped, each logged, and drains in progress are cancelled.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "gateway/admin_upstreams.hpp"
#include "gateway/resolver.hpp"
#include "gateway/runtime.hpp"
#include "upstreams/membership.hpp"

namespace gateway {

class Fleet {
 public:
  using Apply = std::function<void(std::shared_ptr<const Runtime>)>;
  // `apply`: applies a Runtime to the workers and the health checker.
  Fleet(boost::asio::io_context& io, Apply apply);
  ~Fleet();

  // A Runtime built from the file (at start or reload): returns it with the
  // `resolve:` groups' names looked up (at most 2 s) and, on reload, the
  // API's changes dropped. Starts the resolver on its names.
  std::shared_ptr<const Runtime> adopt(std::shared_ptr<const Runtime> rt, bool reload);
  // An admin API change (never a list): applied, then answered.
  AdminReply change(const UpstreamsRequest& req);
  void stop();

 private:
  struct Drain {
    std::string group;
    std::shared_ptr<upstreams::InstanceState> state;
    std::chrono::steady_clock::time_point deadline;
  };
  void on_resolved(const std::string& name, const Resolver::Result& result);
  // Rebuilds group g from the file, resolved names and API changes; applies
  // the new Runtime if its instances changed (or `force`).
  void rebuild(std::size_t g, bool force = false);
  std::vector<std::shared_ptr<upstreams::Group>> merged_groups(const Runtime& rt, const Runtime* previous);
  std::optional<std::size_t> group_index(const std::string& name) const;
  void drop_api_changes(const Runtime& rt);
  AdminReply drain(std::size_t g, const Endpoint& address);
  void watch_drains();

  boost::asio::io_context& io_;
  Apply apply_;
  std::shared_ptr<const Runtime> runtime_;
  std::map<std::string, upstreams::ApiChanges> api_;  // by group name
  upstreams::ResolvedNames resolved_;
  std::set<std::string> failing_;  // names whose lookups fail (logged once per streak)
  std::vector<Drain> drains_;
  boost::asio::steady_timer drain_timer_;
  Resolver resolver_;
};

}  // namespace gateway
