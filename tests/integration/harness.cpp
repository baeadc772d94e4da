#include "harness.hpp"

#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace itest {

namespace fs = std::filesystem;

namespace {
bool iequal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  return true;
}

// curl_global_init is not thread-safe; do it once, before any test runs.
struct CurlInit {
  CurlInit() { curl_global_init(CURL_GLOBAL_DEFAULT); }
} curl_init;

constexpr std::string_view kGatewayPreamble = "listen: [\"127.0.0.1:0\"]\nadmin: {listen: \"127.0.0.1:0\"}\n";

// The port in "<prefix>HOST:PORT" (HOST without spaces; the last colon
// before the digits separates them, so "[::1]:80" works). 0 if absent.
// (No std::regex: g++ 12 warns inside <regex> under -fsanitize, and -Werror.)
std::uint16_t port_from_line(const std::string& text, const std::string& prefix) {
  auto pos = text.find(prefix);
  if (pos == std::string::npos) return 0;
  auto start = pos + prefix.size();
  auto end = text.find_first_of(" \t\r\n", start);
  std::string word = text.substr(start, end == std::string::npos ? std::string::npos : end - start);
  auto colon = word.rfind(':');
  if (colon == std::string::npos || colon + 1 >= word.size()) return 0;
  unsigned long port = 0;
  for (std::size_t i = colon + 1; i < word.size(); ++i) {
    if (word[i] < '0' || word[i] > '9') return 0;
    port = port * 10 + static_cast<unsigned long>(word[i] - '0');
    if (port > 65535) return 0;
  }
  return static_cast<std::uint16_t>(port);
}
}  // namespace

// ---------------------------------------------------------------- TempDir

TempDir::TempDir() {
  std::string tmpl = (fs::temp_directory_path() / "gwtest-XXXXXX").string();
  if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

std::string TempDir::write(std::string_view name, std::string_view content) const {
  auto p = file(name);
  fs::create_directories(fs::path(p).parent_path());
  std::ofstream(p, std::ios::binary) << content;
  return p;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// ---------------------------------------------------------------- Process

pid_t spawn(const std::vector<std::string>& argv, const std::string& in, const std::string& out,
            const std::string& err) {
  posix_spawn_file_actions_t files;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&files);
  posix_spawnattr_init(&attr);
  if (!in.empty()) posix_spawn_file_actions_addopen(&files, 0, in.c_str(), O_RDONLY, 0);
  if (!out.empty()) posix_spawn_file_actions_addopen(&files, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (!err.empty() && err == out)
    posix_spawn_file_actions_adddup2(&files, 1, 2);
  else if (!err.empty())
    posix_spawn_file_actions_addopen(&files, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  // Own process group: a test's Ctrl-C handling stays with the test.
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  int rc = posix_spawnp(&pid, args[0], &files, &attr, args.data(), environ);
  posix_spawn_file_actions_destroy(&files);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) throw std::runtime_error("cannot start " + argv[0] + ": " + std::strerror(rc));
  return pid;
}

std::string describe_stuck_process(pid_t pid) {
  const std::string proc = "/proc/" + std::to_string(pid);
  std::string cmdline = read_file(proc + "/cmdline");
  std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
  std::string text = "pid " + std::to_string(pid) + ": " + cmdline + "\n";
  std::istringstream status(read_file(proc + "/status"));
  for (std::string line; std::getline(status, line);)
    if (line.rfind("State:", 0) == 0 || line.rfind("Threads:", 0) == 0) text += "  " + line + "\n";
  std::error_code ec;
  for (const auto& task : fs::directory_iterator(proc + "/task", ec)) {
    std::string comm = read_file(task.path() / "comm");
    if (!comm.empty() && comm.back() == '\n') comm.pop_back();
    text += "  thread " + task.path().filename().string() + " " + comm + " wchan " + read_file(task.path() / "wchan") +
            "\n";
  }
  // gdb's stacks, bounded: it may be missing or not allowed to attach.
  TempDir dir;
  try {
    pid_t gdb = spawn({"timeout", "20", "gdb", "-p", std::to_string(pid), "-batch", "-nx", "-ex",
                       "thread apply all bt 25"},
                      "/dev/null", dir.file("gdb.txt"), dir.file("gdb.txt"));
    int st = 0;
    waitpid(gdb, &st, 0);
    text += read_file(dir.file("gdb.txt"));
  } catch (const std::exception& e) {
    text += std::string("  (no stacks: ") + e.what() + ")\n";
  }
  return text;
}

Process::Process(std::vector<std::string> argv, std::string stdout_path, std::string stderr_path)
    : stdout_path_(std::move(stdout_path)), stderr_path_(std::move(stderr_path)) {
  pid_ = spawn(argv, "", stdout_path_, stderr_path_);
}

std::string Process::not_ready_report() {
  std::string text = err();
  if (running())
    text += "\nstill running after " + std::to_string(kStartTimeout.count()) + " ms:\n" + describe_stuck_process(pid_);
  return text;
}

Process::Process(Process&& o) noexcept
    : pid_(o.pid_), status_(o.status_), stdout_path_(std::move(o.stdout_path_)), stderr_path_(std::move(o.stderr_path_)) {
  o.pid_ = -1;
}

Process::~Process() { stop(2s); }

bool Process::running() {
  if (pid_ <= 0) return false;
  int st = 0;
  pid_t r = waitpid(pid_, &st, WNOHANG);
  if (r == pid_) {
    status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    pid_ = -1;
    return false;
  }
  return true;
}

void Process::signal(int sig) {
  if (pid_ > 0) ::kill(pid_, sig);
}

std::optional<int> Process::wait_exit(Ms timeout) {
  if (eventually([&] { return !running(); }, timeout)) return status_;
  return std::nullopt;
}

int Process::stop(Ms grace) {
  if (pid_ <= 0) return status_;
  ::kill(pid_, SIGTERM);
  if (auto st = wait_exit(grace)) return *st;
  ::kill(pid_, SIGKILL);
  int st = 0;
  waitpid(pid_, &st, 0);
  status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  pid_ = -1;
  return status_;
}

bool Process::wait_for_output(std::string_view needle, Ms timeout) {
  return eventually(
      [&] {
        if (err().find(needle) != std::string::npos || out().find(needle) != std::string::npos) return true;
        return false;
      },
      timeout);
}

// ---------------------------------------------------------------- SampleService

SampleService::SampleService(const TempDir& dir, std::string name, std::vector<std::string> extra_args)
    : name_(std::move(name)),
      proc_(
          [&] {
            std::vector<std::string> argv = {SAMPLE_SERVICE_BIN, "--port", "0", "--name", name_, "--port-file",
                                             dir.file("svc-" + name_ + ".port")};
            argv.insert(argv.end(), extra_args.begin(), extra_args.end());
            return argv;
          }(),
          dir.file("svc-" + name_ + ".out"), dir.file("svc-" + name_ + ".err")) {
  std::string port_file = dir.file("svc-" + name_ + ".port");
  bool ok = eventually([&] {
    auto text = read_file(port_file);
    if (!text.empty() && text.back() == '\n') text.pop_back();
    if (text.empty()) return false;
    port_ = static_cast<std::uint16_t>(std::stoi(text));
    return port_ != 0;
  });
  if (!ok) throw std::runtime_error("sample-service " + name_ + " did not start: " + proc_.err());
}

SampleService::~SampleService() {
  proc_.stop(5s);
  check_sanitizer_report("sample-service " + name_, proc_.err());
}

std::string SampleService::stats_json() { return http_get(url(port_, "/stats")).body; }

std::int64_t SampleService::stat(std::string_view field) {
  auto v = json_int(stats_json(), field);
  if (!v) throw std::runtime_error("no field " + std::string(field) + " in /stats");
  return *v;
}

void SampleService::reset_stats() {
  Client c;
  Request r;
  r.method = "POST";
  r.url = url(port_, "/stats/reset");
  c.send(r);
}

// ---------------------------------------------------------------- Gateway

Gateway::Gateway(const TempDir& dir, const std::string& yaml, std::vector<std::string> extra_args)
    : config_path_(dir.write("gateway.yaml", std::string(kGatewayPreamble) + yaml)),
      proc_(
          [&] {
            std::vector<std::string> argv = {GATEWAY_BIN, "-c", config_path_};
            argv.insert(argv.end(), extra_args.begin(), extra_args.end());
            return argv;
          }(),
          dir.file("gateway.out"), dir.file("gateway.err")) {
  bool ok = eventually(
      [&] {
        auto err = proc_.err();
        port_ = port_from_line(err, "] listening on ");
        admin_port_ = port_from_line(err, "admin listening on ");
        return (port_ != 0 && admin_port_ != 0) || !proc_.running();
      },
      kStartTimeout);
  if (!ok || port_ == 0 || admin_port_ == 0)
    throw std::runtime_error("gateway did not start:\n" + proc_.not_ready_report() + "\nconfig:\n" +
                             read_file(config_path_));
}

// Declared in harness_h2.hpp too.
std::int64_t proc_status_kib(pid_t pid, const char* key) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(key, 0) == 0) return std::stoll(line.substr(std::strlen(key)));
  return -1;
}

std::int64_t Gateway::rss_kib() const { return proc_status_kib(proc_.pid(), "VmRSS:"); }
std::int64_t Gateway::peak_rss_kib() const { return proc_status_kib(proc_.pid(), "VmHWM:"); }

Gateway::~Gateway() {
  proc_.stop(10s);
  check_sanitizer_report("gateway", proc_.err());
}

void check_sanitizer_report(std::string_view who, const std::string& log) {
  for (const char* marker : {"ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                             "WARNING: ThreadSanitizer", "AddressSanitizer:DEADLYSIGNAL"}) {
    auto pos = log.find(marker);
    if (pos == std::string::npos) continue;
    auto start = log.rfind('\n', pos);
    start = start == std::string::npos ? 0 : start + 1;
    FAIL_CHECK("sanitizer report from " << std::string(who) << ":\n" << log.substr(start, 6000));
    return;
  }
}

std::string Gateway::metrics() const { return http_get(url(admin_port_, "/metrics")).body; }
std::string Gateway::status() const { return http_get(url(admin_port_, "/status")).body; }

void Gateway::rewrite_config(const std::string& yaml) const {
  // Write aside and rename, so the gateway never reads a half-written file.
  std::string tmp = config_path_ + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << kGatewayPreamble << yaml;
  }
  fs::rename(tmp, config_path_);
}

int Gateway::config_line_of(std::string_view needle) const {
  std::ifstream in(config_path_);
  std::string line;
  for (int n = 1; std::getline(in, line); ++n)
    if (line.find(needle) != std::string::npos) return n;
  return 0;
}

CheckResult gateway_check(const std::string& config_path) {
  TempDir d;
  Process p({GATEWAY_BIN, "--check", "-c", config_path}, d.file("out"), d.file("err"));
  auto st = p.wait_exit(30s);
  return {st.value_or(-1), p.out() + p.err()};
}

// ---------------------------------------------------------------- HTTP client

std::optional<std::string> Response::header(std::string_view name) const {
  for (const auto& [n, v] : headers)
    if (iequal(n, name)) return v;
  return std::nullopt;
}

std::size_t Response::header_count(std::string_view name) const {
  std::size_t k = 0;
  for (const auto& [n, v] : headers)
    if (iequal(n, name)) ++k;
  return k;
}

namespace {
std::size_t on_body(char* p, std::size_t size, std::size_t n, void* ud) {
  static_cast<Response*>(ud)->body.append(p, size * n);
  return size * n;
}

std::size_t on_header(char* p, std::size_t size, std::size_t n, void* ud) {
  auto* r = static_cast<Response*>(ud);
  std::string_view line(p, size * n);
  if (line.rfind("HTTP/", 0) == 0) {
    r->headers.clear();  // interim responses (100 Continue) come first
    return size * n;
  }
  auto colon = line.find(':');
  if (colon == std::string_view::npos) return size * n;
  auto value = line.substr(colon + 1);
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == '\r' || value.back() == '\n' || value.back() == ' ')) value.remove_suffix(1);
  r->headers.emplace_back(std::string(line.substr(0, colon)), std::string(value));
  return size * n;
}
}  // namespace

Client::Client() : curl_(curl_easy_init()) {}
Client::~Client() { curl_easy_cleanup(static_cast<CURL*>(curl_)); }

Response Client::send(const Request& req) {
  CURL* c = static_cast<CURL*>(curl_);
  Response r;
  curl_easy_setopt(c, CURLOPT_URL, req.url.c_str());
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(req.timeout.count()));
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, &on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &r);
  curl_easy_setopt(c, CURLOPT_HTTP_VERSION, req.http10 ? CURL_HTTP_VERSION_1_0 : CURL_HTTP_VERSION_1_1);
  curl_easy_setopt(c, CURLOPT_NOBODY, req.method == "HEAD" ? 1L : 0L);
  if (req.method == "HEAD" || req.method == "GET") {
    curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    if (req.method == "HEAD") curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, nullptr);
  } else {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, req.body.data());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(req.body.size()));
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req.method.c_str());
  }
  curl_slist* list = nullptr;
  for (const auto& h : req.headers) list = curl_slist_append(list, h.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, list);
  CURLcode rc = curl_easy_perform(c);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, nullptr);
  curl_slist_free_all(list);
  if (rc != CURLE_OK) {
    r.status = 0;
    r.body = curl_easy_strerror(rc);
    return r;
  }
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
  return r;
}

Response Client::get(const std::string& u, std::vector<std::string> headers) {
  Request r;
  r.url = u;
  r.headers = std::move(headers);
  return send(r);
}

Response http_get(const std::string& u, std::vector<std::string> headers) {
  Client c;
  return c.get(u, std::move(headers));
}

std::string url(std::uint16_t port, std::string_view path) {
  return "http://127.0.0.1:" + std::to_string(port) + std::string(path);
}

std::string pct(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

// ---------------------------------------------------------------- RawConnection

RawConnection::RawConnection(std::uint16_t port) : fd_(connect_loopback(port)) {
  if (fd_ < 0) throw std::runtime_error(std::string("connect: ") + std::strerror(errno));
  int one = 1;
  setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

RawConnection::~RawConnection() {
  if (fd_ >= 0) ::close(fd_);
}

bool RawConnection::send(std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

// One read with a timeout: >0 bytes, 0 on EOF, -1 on timeout or error
// (also used by harness_servers.cpp).
ssize_t read_with_timeout(int fd, std::string& out, Ms timeout) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return -1;
  char buf[65536];
  ssize_t n = ::recv(fd, buf, sizeof buf, 0);
  if (n > 0) out.append(buf, static_cast<std::size_t>(n));
  return n < 0 ? -1 : n;
}

std::string RawConnection::read_until_close(Ms timeout) {
  std::string out = std::move(pending_);
  pending_.clear();
  auto end = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < end) {
    auto left = std::chrono::duration_cast<Ms>(end - std::chrono::steady_clock::now());
    if (read_with_timeout(fd_, out, std::max(left, Ms(1))) <= 0) break;
  }
  return out;
}

std::string RawConnection::read_some(Ms timeout) {
  std::string out = std::move(pending_);
  pending_.clear();
  read_with_timeout(fd_, out, timeout);
  return out;
}

std::string RawConnection::read_responses(int n, Ms timeout) {
  std::string out = std::move(pending_);
  pending_.clear();
  auto end = std::chrono::steady_clock::now() + timeout;
  while (static_cast<int>(parse_responses(out).size()) < n && std::chrono::steady_clock::now() < end) {
    auto left = std::chrono::duration_cast<Ms>(end - std::chrono::steady_clock::now());
    if (read_with_timeout(fd_, out, std::max(left, Ms(1))) <= 0) break;
  }
  return out;
}

void RawConnection::shutdown_write() { ::shutdown(fd_, SHUT_WR); }

bool RawConnection::closed_by_peer(Ms timeout) {
  auto end = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < end) {
    auto left = std::chrono::duration_cast<Ms>(end - std::chrono::steady_clock::now());
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(std::max(left, Ms(1)).count())) <= 0) return false;
    char buf[4096];
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n == 0) return true;
    if (n < 0) return errno == ECONNRESET;
    pending_.append(buf, static_cast<std::size_t>(n));
  }
  return false;
}

// ---------------------------------------------------------------- parsing helpers

std::vector<RawResponse> parse_responses(std::string_view bytes) {
  std::vector<RawResponse> out;
  while (!bytes.empty()) {
    auto head_end = bytes.find("\r\n\r\n");
    if (head_end == std::string_view::npos) break;
    RawResponse r;
    r.head = std::string(bytes.substr(0, head_end + 4));
    if (r.head.size() >= 12) r.status = std::atoi(r.head.c_str() + 9);
    std::string lower = r.head;
    for (auto& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    std::string_view rest = bytes.substr(head_end + 4);
    bool no_body = r.status == 204 || r.status == 304 || (r.status >= 100 && r.status < 200);
    auto cl = lower.find("\r\ncontent-length:");
    if (no_body) {
      // nothing
    } else if (lower.find("\r\ntransfer-encoding: chunked") != std::string::npos) {
      std::size_t pos = 0;
      bool complete = false;
      while (true) {
        auto line_end = rest.find("\r\n", pos);
        if (line_end == std::string_view::npos) break;
        std::size_t size = std::strtoul(std::string(rest.substr(pos, line_end - pos)).c_str(), nullptr, 16);
        if (size == 0) {
          if (rest.size() < line_end + 4) break;
          pos = line_end + 4;
          complete = true;
          break;
        }
        if (rest.size() < line_end + 2 + size + 2) break;
        r.body.append(rest.substr(line_end + 2, size));
        pos = line_end + 2 + size + 2;
      }
      if (!complete) break;
      rest.remove_prefix(pos);
      out.push_back(std::move(r));
      bytes = rest;
      continue;
    } else if (cl != std::string::npos) {
      std::size_t len = std::strtoul(lower.c_str() + cl + 17, nullptr, 10);
      if (rest.size() < len) break;
      r.body = std::string(rest.substr(0, len));
      rest.remove_prefix(len);
    } else {
      r.body = std::string(rest);  // close-delimited: the rest
      rest = {};
    }
    out.push_back(std::move(r));
    bytes = rest;
  }
  return out;
}

std::optional<std::int64_t> json_int(std::string_view json, std::string_view field) {
  std::string key = "\"" + std::string(field) + "\"";
  auto pos = json.find(key);
  if (pos == std::string_view::npos) return std::nullopt;
  pos = json.find(':', pos + key.size());
  if (pos == std::string_view::npos) return std::nullopt;
  ++pos;
  while (pos < json.size() && json[pos] == ' ') ++pos;
  return std::strtoll(std::string(json.substr(pos, 24)).c_str(), nullptr, 10);
}

std::optional<double> metric(std::string_view text, std::string_view series) {
  std::size_t pos = 0;
  while ((pos = text.find(series, pos)) != std::string_view::npos) {
    bool line_start = pos == 0 || text[pos - 1] == '\n';
    auto after = pos + series.size();
    if (line_start && after < text.size() && text[after] == ' ')
      return std::strtod(std::string(text.substr(after + 1, 32)).c_str(), nullptr);
    pos = after;
  }
  return std::nullopt;
}

std::uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = 0;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    ::close(fd);
    throw std::runtime_error("bind for a free port failed");
  }
  socklen_t len = sizeof sa;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
  ::close(fd);  // never listened: connects are refused
  return ntohs(sa.sin_port);
}

bool can_connect(std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
  ::close(fd);
  return ok;
}

std::optional<std::string> head_header(std::string_view head, std::string_view name) {
  std::size_t pos = head.find("\r\n");
  while (pos != std::string_view::npos && pos + 2 < head.size()) {
    std::size_t start = pos + 2;
    std::size_t end = head.find("\r\n", start);
    if (end == std::string_view::npos) end = head.size();
    std::string_view line = head.substr(start, end - start);
    auto colon = line.find(':');
    if (colon != std::string_view::npos && iequal(line.substr(0, colon), name)) {
      auto value = line.substr(colon + 1);
      while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
      while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
      return std::string(value);
    }
    pos = end;
  }
  return std::nullopt;
}

// ---------------------------------------------------------------- streaming

char pattern_byte(std::uint64_t offset) {
  // Not periodic at any power of two a buffer size could hide behind.
  return static_cast<char>('a' + (offset + offset / 4093) % 26);
}

std::optional<std::string> StreamResult::header(std::string_view name) const {
  for (const auto& [n, v] : headers)
    if (iequal(n, name)) return v;
  return std::nullopt;
}

namespace {
struct StreamState {
  StreamResult* result;
  std::uint64_t upload_total;
  std::uint64_t sent = 0;
  bool check_echo;
};

std::size_t stream_read(char* buf, std::size_t size, std::size_t n, void* ud) {
  auto* s = static_cast<StreamState*>(ud);
  std::size_t k = std::min<std::uint64_t>(size * n, s->upload_total - s->sent);
  for (std::size_t i = 0; i < k; ++i) buf[i] = pattern_byte(s->sent + i);
  s->sent += k;
  return k;
}

std::size_t stream_write(char* p, std::size_t size, std::size_t n, void* ud) {
  auto* s = static_cast<StreamState*>(ud);
  std::size_t k = size * n;
  if (s->check_echo && s->result->echo_matches) {
    for (std::size_t i = 0; i < k; ++i) {
      if (p[i] != pattern_byte(s->result->received + i)) {
        s->result->echo_matches = false;
        break;
      }
    }
  }
  s->result->received += k;
  return k;
}

std::size_t stream_header(char* p, std::size_t size, std::size_t n, void* ud) {
  auto* r = static_cast<StreamResult*>(ud);
  Response tmp;
  tmp.headers = std::move(r->headers);
  on_header(p, size, n, &tmp);
  r->headers = std::move(tmp.headers);
  return size * n;
}
}  // namespace

StreamResult stream_exchange(const std::string& u, std::uint64_t upload_bytes, bool chunked_upload, bool check_echo,
                             Ms timeout) {
  StreamResult r;
  StreamState st{&r, upload_bytes, 0, check_echo};
  CURL* c = curl_easy_init();
  curl_easy_setopt(c, CURLOPT_URL, u.c_str());
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &stream_write);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &st);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, &stream_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &r);
  curl_slist* list = nullptr;
  if (upload_bytes > 0 || chunked_upload) {
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, &stream_read);
    curl_easy_setopt(c, CURLOPT_READDATA, &st);
    if (chunked_upload) list = curl_slist_append(list, "Transfer-Encoding: chunked");
    else curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(upload_bytes));
    list = curl_slist_append(list, "Content-Type: application/octet-stream");
  }
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, list);
  CURLcode rc = curl_easy_perform(c);
  if (rc != CURLE_OK) r.error = curl_easy_strerror(rc);
  else curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
  curl_slist_free_all(list);
  curl_easy_cleanup(c);
  if (st.sent != upload_bytes && r.error.empty()) r.error = "upload stopped after " + std::to_string(st.sent) + " bytes";
  return r;
}

std::optional<std::string> instance_state(std::string_view json, std::string_view address) {
  auto pos = json.find("\"address\":\"" + std::string(address) + "\"");
  if (pos == std::string_view::npos) return std::nullopt;
  auto end = json.find('}', pos);
  auto key = json.find("\"state\":\"", pos);
  if (key == std::string_view::npos || key > end) return std::nullopt;
  key += 9;
  auto close = json.find('"', key);
  return std::string(json.substr(key, close - key));
}

std::size_t count_of(std::string_view text, std::string_view needle) {
  std::size_t n = 0;
  for (auto pos = text.find(needle); pos != std::string_view::npos; pos = text.find(needle, pos + needle.size())) ++n;
  return n;
}

std::string upstream_yaml(std::string_view name, const std::vector<const SampleService*>& services,
                          std::string_view extra) {
  std::string y = "  " + std::string(name) + ":\n    instances: [";
  for (std::size_t i = 0; i < services.size(); ++i) {
    if (i) y += ", ";
    y += "\"" + services[i]->address() + "\"";
  }
  y += "]\n";
  std::string_view e = extra;
  while (!e.empty()) {
    auto nl = e.find('\n');
    y += "    " + std::string(e.substr(0, nl)) + "\n";
    if (nl == std::string_view::npos) break;
    e.remove_prefix(nl + 1);
  }
  return y;
}

}  // namespace itest
