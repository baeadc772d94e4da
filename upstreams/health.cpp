#include "upstreams/health.hpp"

#include <curl/curl.h>

#include "base/log.hpp"

namespace gateway::upstreams {

namespace {
struct Probe {
  std::shared_ptr<Group> group;
  std::size_t instance = 0;
  std::string url;
  CURL* easy = nullptr;
  curl_slist* connect_to = nullptr;
  Clock::time_point due{};

  void release(CURLM* multi) {
    if (easy) {
      curl_multi_remove_handle(multi, easy);
      curl_easy_cleanup(easy);
      easy = nullptr;
    }
    curl_slist_free_all(connect_to);
    connect_to = nullptr;
  }
};

std::size_t discard(char*, std::size_t size, std::size_t n, void*) { return size * n; }

std::string bracketed(const std::string& host) {
  return host.find(':') != std::string::npos ? "[" + host + "]" : host;
}

// https for a group with `tls`, to the name it sends (its `sni`, the
// connection still going to the instance's address: see tls_options).
std::string probe_url(const Group& g, std::size_t i) {
  const auto& a = g.instance(i).address;
  const auto& tls = g.config().tls;
  std::string host = tls && !tls->sni.empty() ? tls->sni : bracketed(a.host);
  return (tls ? "https://" : "http://") + host + ":" + std::to_string(a.port) + g.config().health->path;
}

// The probe checks the instance as the proxy's connections do: the same
// CAs and name check, the same client certificate.
void tls_options(CURL* easy, const Group& g, std::size_t i, curl_slist*& connect_to) {
  const auto& tls = g.config().tls;
  if (!tls) return;
  const auto& a = g.instance(i).address;
  curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, tls->verify ? 1L : 0L);
  curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, tls->verify ? 2L : 0L);
  if (!tls->ca.empty()) curl_easy_setopt(easy, CURLOPT_CAINFO, tls->ca.c_str());
  if (!tls->cert.empty()) {
    curl_easy_setopt(easy, CURLOPT_SSLCERT, tls->cert.c_str());
    curl_easy_setopt(easy, CURLOPT_SSLKEY, tls->key.c_str());
  }
  if (!tls->sni.empty()) {
    std::string port = std::to_string(a.port);
    connect_to = curl_slist_append(connect_to, (tls->sni + ":" + port + ":" + bracketed(a.host) + ":" + port).c_str());
    curl_easy_setopt(easy, CURLOPT_CONNECT_TO, connect_to);
  }
}
}  // namespace

HealthChecker::~HealthChecker() { stop(); }

void HealthChecker::set_groups(std::vector<std::shared_ptr<Group>> groups) {
  {
    std::lock_guard lock(mu_);
    groups_ = std::move(groups);
    changed_ = true;
  }
  cv_.notify_all();
}

void HealthChecker::start() {
  if (!thread_.joinable()) thread_ = std::thread([this] { run(); });
}

void HealthChecker::stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void HealthChecker::run() {
  CURLM* multi = curl_multi_init();
  std::vector<Probe> probes;
  auto drop_probes = [&] {
    for (auto& p : probes) p.release(multi);
    probes.clear();
  };

  for (;;) {
    {
      std::unique_lock lock(mu_);
      // Nothing to probe: sleep until the groups change or we stop.
      cv_.wait(lock, [&] { return stop_ || changed_ || !probes.empty(); });
      if (stop_) break;
      if (changed_) {
        changed_ = false;
        drop_probes();
        for (const auto& g : groups_) {
          if (!g->config().health) continue;
          for (std::size_t i = 0; i < g->size(); ++i) probes.push_back(Probe{g, i, probe_url(*g, i)});
        }
      }
    }
    auto now = Clock::now();
    for (auto& p : probes) {
      if (p.easy || p.due > now) continue;
      const auto& hc = *p.group->config().health;
      p.easy = curl_easy_init();
      curl_easy_setopt(p.easy, CURLOPT_URL, p.url.c_str());
      curl_easy_setopt(p.easy, CURLOPT_NOSIGNAL, 1L);
      // HTTP/1.1, as the proxied requests (libcurl would take h2 from ALPN).
      curl_easy_setopt(p.easy, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_1_1));
      curl_easy_setopt(p.easy, CURLOPT_TIMEOUT_MS, static_cast<long>(hc.timeout.count()));
      curl_easy_setopt(p.easy, CURLOPT_WRITEFUNCTION, &discard);
      curl_easy_setopt(p.easy, CURLOPT_USERAGENT, "gateway-health-check");
      curl_easy_setopt(p.easy, CURLOPT_PRIVATE, &p);
      tls_options(p.easy, *p.group, p.instance, p.connect_to);
      curl_multi_add_handle(multi, p.easy);
    }
    int running = 0;
    curl_multi_perform(multi, &running);
    int left = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi, &left)) {
      if (msg->msg != CURLMSG_DONE) continue;
      Probe* p = nullptr;
      curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, reinterpret_cast<char**>(&p));
      long code = 0;
      curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &code);
      bool ok = msg->data.result == CURLE_OK && code >= 200 && code < 400;
      if (p->group->report_probe(p->instance, ok)) {
        std::string what = "upstream " + p->group->name() + " instance " + p->group->instance(p->instance).address.text +
                           (ok ? " is up (health check passed)" : " is down (health check: ");
        if (!ok)
          what += (msg->data.result != CURLE_OK ? curl_easy_strerror(msg->data.result) : "status " + std::to_string(code)) +
                  std::string(")");
        ok ? log::info(what) : log::warn(what);
        p->group->check(Clock::now());  // a panic this verdict starts or ends is logged now
      }
      p->release(multi);
      p->due = Clock::now() + p->group->config().health->interval;
    }
    curl_multi_poll(multi, nullptr, 0, 100, nullptr);
  }
  drop_probes();
  curl_multi_cleanup(multi);
}

}  // namespace gateway::upstreams
