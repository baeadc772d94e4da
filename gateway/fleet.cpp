#include "gateway/fleet.hpp"

#include <boost/asio/post.hpp>

#include <algorithm>

#include "base/log.hpp"

namespace gateway {

namespace {
namespace asio = boost::asio;
using upstreams::MemberChange;
constexpr Duration kFirstLookup{2'000};
constexpr std::chrono::milliseconds kDrainPoll{50};

bool same_instances(const std::vector<upstreams::InstanceConfig>& a, const std::vector<upstreams::InstanceConfig>& b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](const auto& x, const auto& y) {
    return x.address.text == y.address.text && x.weight == y.weight && x.source == y.source;
  });
}

std::string reply_body(std::string_view key, std::string_view address) {
  return "{\"" + std::string(key) + "\":\"" + std::string(address) + "\"}\n";
}
}  // namespace

Fleet::Fleet(asio::io_context& io, Apply apply) : io_(io), apply_(std::move(apply)), drain_timer_(io) {}

Fleet::~Fleet() { stop(); }

void Fleet::stop() {
  resolver_.stop();
  drain_timer_.cancel();
}

std::optional<std::size_t> Fleet::group_index(const std::string& name) const {
  const auto& ups = runtime_->config->upstreams;
  for (std::size_t g = 0; g < ups.size(); ++g)
    if (ups[g].name == name) return g;
  return std::nullopt;
}

std::shared_ptr<const Runtime> Fleet::adopt(std::shared_ptr<const Runtime> rt, bool reload) {
  if (reload && runtime_) drop_api_changes(*rt);
  std::vector<Resolver::Watch> watches;
  std::vector<std::string> fresh;
  for (const auto& gc : rt->config->upstreams)
    for (const auto& name : upstreams::names_to_resolve(gc)) {
      watches.push_back({name, gc.resolve});
      if (!resolved_.count(name)) fresh.push_back(name);
    }
  std::erase_if(resolved_, [&](const auto& r) {
    return std::none_of(watches.begin(), watches.end(), [&](const auto& w) { return w.name == r.first; });
  });
  for (const auto& [name, result] : Resolver::lookup(rt->config->resolver, fresh, kFirstLookup)) {
    if (result) {
      resolved_[name] = *result;
    } else {
      failing_.insert(name);
      log::warn("upstream resolve: " + name + " does not resolve; no instance of it until it does");
    }
  }
  auto out = std::make_shared<Runtime>(*rt);
  out->groups = merged_groups(*rt, runtime_.get());
  runtime_ = out;
  resolver_.watch(rt->config->resolver, std::move(watches), [this](const std::string& name, const Resolver::Result& r) {
    asio::post(io_, [this, name, r] { on_resolved(name, r); });
  });
  return out;
}

std::vector<std::shared_ptr<upstreams::Group>> Fleet::merged_groups(const Runtime& rt, const Runtime* previous) {
  auto groups = rt.groups;
  for (std::size_t g = 0; g < groups.size(); ++g) {
    auto gc = rt.config->upstreams[g];
    if (upstreams::names_to_resolve(gc).empty()) continue;
    gc.instances = upstreams::merge(gc, resolved_, {});
    // The states of the addresses that stay are the running group's.
    const upstreams::Group* old = groups[g].get();
    if (previous)
      for (const auto& p : previous->groups)
        if (p->name() == gc.name) old = p.get();
    groups[g] = std::make_shared<upstreams::Group>(gc, old);
  }
  return groups;
}

void Fleet::drop_api_changes(const Runtime& rt) {
  for (const auto& [name, api] : api_) {
    const upstreams::GroupConfig* file = nullptr;
    for (const auto& gc : rt.config->upstreams)
      if (gc.name == name) file = &gc;
    auto in_file = [&](const std::string& address) {
      return file && std::any_of(file->instances.begin(), file->instances.end(),
                                 [&](const auto& i) { return i.address.text == address; });
    };
    for (const auto& i : api.added)
      if (!in_file(i.address.text))
        log::info("upstream api: instance " + i.address.text + " added by the admin API is not in the file; removed by reload");
    for (const auto& a : api.removed)
      log::info("upstream api: instance " + a + " removed by the admin API is back by reload (the file wins)");
    for (const auto& [a, w] : api.weights)
      log::info("upstream api: weight " + std::to_string(w) + " of instance " + a + " set by the admin API is dropped by reload");
  }
  api_.clear();
  for (const auto& d : drains_) {
    d.state->draining.store(false);
    log::info("upstream api: drain of instance " + d.state->address.text + " cancelled by reload");
  }
  drains_.clear();
}

void Fleet::rebuild(std::size_t g, bool force) {
  auto gc = runtime_->config->upstreams[g];
  gc.instances = upstreams::merge(gc, resolved_, api_[gc.name]);
  const auto& current = *runtime_->groups[g];
  if (!force && same_instances(gc.instances, current.config().instances)) return;
  auto out = std::make_shared<Runtime>(*runtime_);
  out->groups[g] = std::make_shared<upstreams::Group>(gc, &current);
  runtime_ = out;
  apply_(out);
}

void Fleet::on_resolved(const std::string& name, const Resolver::Result& result) {
  if (!runtime_) return;
  if (!result) {
    if (failing_.insert(name).second)
      log::warn("upstream resolve: lookup of " + name + " failed; keeping its last addresses");
    return;
  }
  if (failing_.erase(name)) log::info("upstream resolve: " + name + " resolves again");
  auto known = resolved_.find(name);
  if (known != resolved_.end() && known->second == *result) return;
  std::string list;
  for (const auto& a : *result) list += (list.empty() ? "" : ", ") + a;
  log::info("upstream resolve: " + name + " is now " + list);
  resolved_[name] = *result;
  const auto& ups = runtime_->config->upstreams;
  for (std::size_t g = 0; g < ups.size(); ++g) {
    auto names = upstreams::names_to_resolve(ups[g]);
    if (std::find(names.begin(), names.end(), name) != names.end()) rebuild(g);
  }
}

AdminReply Fleet::change(const UpstreamsRequest& req) {
  auto g = group_index(req.group);
  if (!g) return admin_error(404, "unknown upstream group \"" + req.group + "\"");
  const auto& current = runtime_->groups[*g]->config().instances;
  auto& api = api_[req.group];
  const auto& address = req.address.text;
  MemberChange mc{MemberChange::Kind::add, req.address, req.weight.value_or(1)};
  switch (req.kind) {
    case UpstreamsRequest::Kind::list: break;
    case UpstreamsRequest::Kind::add:
      if (auto e = upstreams::apply_change(api, current, mc)) return admin_error(e->status, e->reason);
      rebuild(*g);
      log::info("upstream api: " + req.group + ": instance " + address + " added");
      return {201, reply_body("added", address)};
    case UpstreamsRequest::Kind::remove:
      mc.kind = MemberChange::Kind::remove;
      if (auto e = upstreams::apply_change(api, current, mc)) return admin_error(e->status, e->reason);
      std::erase_if(drains_, [&](const Drain& d) { return d.group == req.group && d.state->address.text == address; });
      rebuild(*g);
      log::info("upstream api: " + req.group + ": instance " + address + " removed");
      return {200, reply_body("removed", address)};
    case UpstreamsRequest::Kind::patch:
      if (req.weight) {
        mc.kind = MemberChange::Kind::weight;
        if (auto e = upstreams::apply_change(api, current, mc)) return admin_error(e->status, e->reason);
        rebuild(*g);
        log::info("upstream api: " + req.group + ": instance " + address + " weight " + std::to_string(*req.weight));
      }
      if (req.drain) return drain(*g, req.address);
      return {200, reply_body("changed", address)};
  }
  return admin_error(400, "nothing to change");
}

AdminReply Fleet::drain(std::size_t g, const Endpoint& address) {
  const auto& group = *runtime_->groups[g];
  int i = group.find(address.text);
  if (i < 0) return admin_error(404, "no instance " + address.text + " in the group");
  auto state = group.shared_instance(static_cast<std::size_t>(i));
  if (state->draining.load()) return {202, reply_body("draining", address.text)};
  std::size_t others = 0;
  for (std::size_t k = 0; k < group.size(); ++k)
    others += k != static_cast<std::size_t>(i) && !group.instance(k).draining.load();
  if (others == 0) return admin_error(409, "instance " + address.text + " is the last one of the group not draining");
  state->draining.store(true);
  drains_.push_back({group.name(), state, std::chrono::steady_clock::now() + runtime_->config->timeouts.shutdown});
  log::info("upstream api: " + group.name() + ": instance " + address.text + " draining (" +
            std::to_string(state->in_flight.load()) + " requests in flight)");
  if (drains_.size() == 1) watch_drains();
  return {202, reply_body("draining", address.text)};
}

void Fleet::watch_drains() {
  drain_timer_.expires_after(kDrainPoll);
  drain_timer_.async_wait([this](boost::system::error_code ec) {
    if (ec) return;
    auto now = std::chrono::steady_clock::now();
    auto done = std::stable_partition(drains_.begin(), drains_.end(), [&](const Drain& d) {
      return d.state->in_flight.load() > 0 && now < d.deadline;
    });
    std::vector<Drain> finished(std::make_move_iterator(done), std::make_move_iterator(drains_.end()));
    drains_.erase(done, drains_.end());
    for (const auto& d : finished) {
      auto g = group_index(d.group);
      if (!g) continue;
      const auto& address = d.state->address.text;
      int left = d.state->in_flight.load();
      UpstreamsRequest req{UpstreamsRequest::Kind::remove, d.group, d.state->address, {}, false};
      auto reply = change(req);
      log::info("upstream api: " + d.group + ": drain of " + address + " done" +
                (left ? " at its deadline, " + std::to_string(left) + " requests still in flight" : "") +
                (reply.status == 200 ? "; removed" : "; " + reply.body));
    }
    if (!drains_.empty()) watch_drains();
  });
}

}  // namespace gateway
