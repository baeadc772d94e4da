// SIGHUP: the whole configuration applied to the running process, on the
// main thread, as nginx's reload does, without failing a request in flight.
//
// 1. prepare(): everything that can fail, before anything changes: the
//    sockets of new listen entries (on every worker, SO_REUSEPORT as at
//    start), a new admin listener, and the new workers with their sockets on
//    every listener. A bind failure (port taken) rejects the reload: what was
//    made is closed again and the running configuration stays.
// 2. commit(): cannot fail. Every worker takes the new Runtime (zones were
//    opened or resized when it was built: Runtime::build); new sockets are
//    handed to the running workers; removed listeners stop accepting and
//    close (their connections finish their requests); new workers start;
//    surplus workers hand their listening sockets to the remaining ones
//    (closing a SO_REUSEPORT socket would reset the connections in its
//    backlog) and drain.
// A changed entry (same address, other tls/http2/h2c/proxy_protocol) keeps
// its sockets: new connections read their settings from the running
// configuration (ClientConnection), existing ones keep theirs.
#include <unistd.h>

#include <algorithm>

#include "base/log.hpp"
#include "gateway/fleet.hpp"
#include "gateway/listen_socket.hpp"
#include "gateway/server.hpp"
#include "gateway/worker.hpp"

namespace gateway {

namespace {
// A listening socket made on the main thread, for a running worker; closed
// unless handed over.
struct OwnedFd {
  int fd = -1;
  boost::asio::ip::tcp protocol = boost::asio::ip::tcp::v4();
  OwnedFd() = default;
  OwnedFd(int f, boost::asio::ip::tcp p) : fd(f), protocol(p) {}
  OwnedFd(OwnedFd&& o) noexcept : fd(std::exchange(o.fd, -1)), protocol(o.protocol) {}
  OwnedFd& operator=(OwnedFd&&) = delete;
  ~OwnedFd() {
    if (fd >= 0) ::close(fd);
  }
  int release() { return std::exchange(fd, -1); }
};

OwnedFd socket_for_running_worker(asio::io_context& io, const tcp::endpoint& ep, bool reuse_port, tcp::endpoint& bound) {
  auto a = make_acceptor(io, ep, reuse_port);
  bound = a.local_endpoint();
  auto protocol = bound.protocol();
  return OwnedFd(a.release(), protocol);
}
}  // namespace

struct Server::ReloadPlan {
  struct NewSocket {
    std::size_t worker;  // index in workers_ (a running worker)
    OwnedFd fd;
    ListenConfig config;
    std::size_t index;
  };
  std::vector<NewSocket> sockets;
  std::vector<std::unique_ptr<Worker>> new_workers;  // acceptors added, not started
  std::vector<HandedSocket> new_worker_sockets;      // theirs, for listening_
  std::vector<std::string> removed;                   // listen addresses no longer served
  std::vector<Bound> bound;                           // bound_ after the reload
  bool admin_changed = false;
  std::optional<OwnedFd> admin_fd;  // the new admin listener, for worker 0
  std::optional<Bound> admin_bound;
  std::size_t workers = 0;  // how many run after the reload
};

void Server::reload() {
  // A copy: the running Runtime (and its Config) may be freed by a worker
  // once this reload replaces it.
  const std::string path = runtime_->config->file;
  auto loaded = load_config(path);
  if (!loaded.errors.empty()) {
    for (const auto& e : loaded.errors) log::error(e.to_string());
    log::error("reload of " + path + " failed; keeping the running configuration");
    return;
  }
  for (const auto& w : loaded.warnings) log::warn(w.to_string());
  ReloadPlan plan;
  std::string error;
  if (!prepare(*loaded.config, plan, error)) {
    log::error("reload of " + path + ": " + error + "; keeping the running configuration");
    return;
  }
  auto rt = Runtime::build(loaded.config, runtime_.get(), error);
  if (!rt) {
    log::error(error + "; keeping the running configuration");
    return;  // the plan's sockets and unstarted workers close with it
  }
  commit(plan, fleet_->adopt(std::move(rt), true));  // the file wins over admin API changes
  log::info("configuration reloaded from " + path);
}

bool Server::prepare(const Config& next, ReloadPlan& plan, std::string& error) {
  plan.workers = static_cast<std::size_t>(worker_count(next));
  const std::size_t kept = std::min(plan.workers, workers_.size());
  for (std::size_t i = workers_.size(); i < plan.workers; ++i)
    plan.new_workers.push_back(std::make_unique<Worker>(free_worker_id() + static_cast<int>(i - workers_.size()), admin_));
  asio::io_context io;  // sockets for running workers are made here, then handed over
  const ListenConfig* current = nullptr;
  try {
    for (std::size_t i = 0; i < next.listen.size(); ++i) {
      current = &next.listen[i];
      const auto& l = next.listen[i];
      auto old = std::find_if(bound_.begin(), bound_.end(),
                              [&](const Bound& b) { return b.config.address.text == l.address.text; });
      tcp::endpoint ep = old != bound_.end() ? old->endpoint : to_endpoint(l.address);
      if (old == bound_.end())
        for (std::size_t w = 0; w < kept; ++w)
          plan.sockets.push_back({w, socket_for_running_worker(io, ep, true, ep), l, i});
      for (auto& w : plan.new_workers) {
        auto a = make_acceptor(w->io(), ep, true);
        ep = a.local_endpoint();
        plan.new_worker_sockets.push_back({false, l.address.text, a.native_handle()});
        w->add_acceptor(std::move(a), &l, i);
      }
      plan.bound.push_back({l, ep});
    }
    current = nullptr;
    for (const auto& b : bound_)
      if (!next.find_listen(b.config.address.text)) plan.removed.push_back(b.config.address.text);
    const std::string old_admin = admin_bound_ ? admin_bound_->config.address.text : "";
    const std::string new_admin = next.admin.listen ? next.admin.listen->text : "";
    plan.admin_changed = old_admin != new_admin;
    plan.admin_bound = admin_bound_;
    if (plan.admin_changed && next.admin.listen) {
      tcp::endpoint ep;
      plan.admin_fd.emplace(socket_for_running_worker(io, to_endpoint(*next.admin.listen), false, ep));
      plan.admin_bound = Bound{ListenConfig{}, ep};
      plan.admin_bound->config.address = *next.admin.listen;
    } else if (plan.admin_changed) {
      plan.admin_bound.reset();
    }
  } catch (const std::exception& e) {
    error = std::string("cannot listen on ") + (current ? current->address.text : next.admin.listen->text) + ": " + e.what();
    return false;
  }
  return true;
}

void Server::commit(ReloadPlan& plan, const std::shared_ptr<const Runtime>& rt) {
  apply(rt);  // every running worker (retiring ones too: their requests finish on the state they hold)
  // listening_ (what a binary upgrade hands over) follows every change.
  for (auto& s : plan.sockets) {
    listening_.push_back({false, s.config.address.text, s.fd.fd});
    auto protocol = s.fd.protocol;
    workers_[s.worker]->post_listen(s.fd.release(), protocol, s.config, s.index);
  }
  for (const auto& b : plan.bound)
    if (!std::any_of(bound_.begin(), bound_.end(), [&](const Bound& o) { return o.config.address.text == b.config.address.text; }))
      log::info("listening on " + endpoint_text(b.endpoint) + " (" + (b.config.tls ? "tls, " : "") + "added by a reload)");
  // Removed listeners close on every worker before a retiring worker hands
  // its sockets over (each worker runs its posts in order).
  for (const auto& address : plan.removed) {
    std::erase_if(listening_, [&](const HandedSocket& h) { return !h.admin && h.text == address; });
    for (auto& w : workers_) w->post_unlisten(address, false);
    log::info("no longer listening on " + address + " (removed by a reload; its connections finish)");
  }
  if (plan.admin_changed) {
    std::erase_if(listening_, [](const HandedSocket& h) { return h.admin; });
    workers_[0]->post_unlisten("", true);
    if (plan.admin_fd) {
      listening_.push_back({true, plan.admin_bound->config.address.text, plan.admin_fd->fd});
      auto protocol = plan.admin_fd->protocol;
      workers_[0]->post_listen(plan.admin_fd->release(), protocol, std::nullopt);
      log::info("admin listening on " + endpoint_text(plan.admin_bound->endpoint) + " (reload)");
    }
  }
  for (auto& h : plan.new_worker_sockets) listening_.push_back(std::move(h));
  for (auto& w : plan.new_workers) {
    w->start(rt);
    workers_.push_back(std::move(w));
  }
  while (workers_.size() > plan.workers) {
    auto surplus = std::move(workers_.back());
    workers_.pop_back();
    surplus->post_retire(*workers_[static_cast<std::size_t>(surplus->id()) % workers_.size()]);
    retired_.push_back(std::move(surplus));
  }
  if (!plan.new_workers.empty() || !retired_.empty()) publish_workers();
  bound_ = std::move(plan.bound);
  admin_bound_ = plan.admin_bound;
  log::info("workers: " + std::to_string(workers_.size()));
}

int Server::free_worker_id() const {
  // The lowest id above every running worker's and every unfinished retired
  // one's: its per-worker slots (Redis clients) are free.
  int id = 0;
  for (const auto& w : workers_) id = std::max(id, w->id() + 1);
  for (const auto& w : retired_)
    if (!w->finished()) id = std::max(id, w->id() + 1);
  return id;
}

void Server::publish_workers() {
  std::vector<const Worker*> all;
  for (const auto& w : workers_) all.push_back(w.get());
  for (const auto& w : retired_) all.push_back(w.get());
  admin_.set_workers(std::move(all), workers_.size());
}

void Server::apply(std::shared_ptr<const Runtime> rt) {
  runtime_ = rt;
  for (auto& w : workers_) w->post_runtime(rt);
  health_.set_groups(rt->groups);
}

}  // namespace gateway
