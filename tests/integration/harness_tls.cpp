#include "harness_tls.hpp"

#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace itest {

namespace {

std::atomic<int> command_counter{0};

// Every "<prefix>HOST:PORT" in `text`, in order.
std::vector<std::uint16_t> ports_after(const std::string& text, const std::string& prefix) {
  std::vector<std::uint16_t> ports;
  for (auto pos = text.find(prefix); pos != std::string::npos; pos = text.find(prefix, pos + 1)) {
    auto start = pos + prefix.size();
    auto end = text.find_first_of(" \t\r\n", start);
    std::string word = text.substr(start, end == std::string::npos ? std::string::npos : end - start);
    auto colon = word.rfind(':');
    if (colon == std::string::npos) continue;
    ports.push_back(static_cast<std::uint16_t>(std::stoul(word.substr(colon + 1))));
  }
  return ports;
}

std::string line_value(const std::string& text, const std::string& prefix) {
  auto pos = text.find(prefix);
  if (pos == std::string::npos) return "";
  auto start = pos + prefix.size();
  return text.substr(start, text.find('\n', start) - start);
}

}  // namespace

CommandResult run_command(const TempDir& dir, const std::vector<std::string>& argv, std::string_view input,
                          Ms timeout) {
  int n = command_counter.fetch_add(1);
  std::string in_path = dir.write("cmd-" + std::to_string(n) + ".in", input);
  std::string out_path = dir.file("cmd-" + std::to_string(n) + ".out");
  pid_t pid = spawn(argv, in_path, out_path, out_path);
  int status = 0;
  bool exited = eventually([&] { return waitpid(pid, &status, WNOHANG) == pid; }, timeout);
  CommandResult r;
  if (!exited) {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
  } else {
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  r.output = read_file(out_path);
  return r;
}

// ---------------------------------------------------------------- TestPki

TestPki::TestPki(const TempDir& dir, std::string prefix) : dir_(dir), prefix_(std::move(prefix)) {
  ca_cert_ = dir.file(prefix_ + "ca.pem");
  ca_key_ = dir.file(prefix_ + "ca.key");
  auto r = run_command(dir, {"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                             "-nodes", "-keyout", ca_key_, "-out", ca_cert_, "-days", "2", "-subj",
                             "/CN=Test CA " + prefix_});
  if (r.exit_code != 0) throw std::runtime_error("openssl req (CA) failed:\n" + r.output);
}

TestPki::Files TestPki::issue(const std::string& file, const std::vector<std::string>& names) {
  Files f{dir_.file(prefix_ + file + ".pem"), dir_.file(prefix_ + file + ".key")};
  std::string san = "subjectAltName=";
  for (std::size_t i = 0; i < names.size(); ++i) san += (i ? ",DNS:" : "DNS:") + names[i];
  auto r = run_command(dir_, {"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                              "-nodes", "-keyout", f.key, "-out", f.cert, "-days", "2", "-subj", "/CN=" + names.at(0),
                              "-addext", san, "-addext", "basicConstraints=critical,CA:FALSE", "-CA", ca_cert_,
                              "-CAkey", ca_key_});
  if (r.exit_code != 0) throw std::runtime_error("openssl req failed:\n" + r.output);
  return f;
}

// ---------------------------------------------------------------- s_client, curl

CommandResult s_client(const TempDir& dir, std::uint16_t port, const std::string& server_name,
                       const std::vector<std::string>& extra, std::string_view input) {
  std::vector<std::string> argv = {"openssl", "s_client", "-connect", "127.0.0.1:" + std::to_string(port), "-ign_eof"};
  if (!server_name.empty()) argv.insert(argv.end(), {"-servername", server_name});
  else argv.push_back("-noservername");
  argv.insert(argv.end(), extra.begin(), extra.end());
  return run_command(dir, argv, input);
}

std::string s_client_subject_cn(const std::string& output) {
  auto subject = line_value(output, "\nsubject=");
  auto cn = subject.find("CN = ");
  return cn == std::string::npos ? "" : subject.substr(cn + 5);
}

bool s_client_reused(const std::string& output) { return output.find("\nReused, TLSv") != std::string::npos; }

std::string s_client_protocol(const std::string& output) {
  for (const char* prefix : {"\nNew, ", "\nReused, "}) {
    auto v = line_value(output, prefix);
    if (!v.empty()) {
      v = v.substr(0, v.find(','));
      return v == "(NONE)" ? "" : v;  // no handshake
    }
  }
  return "";
}

Response curl_https(const TempDir& dir, std::uint16_t port, const std::string& name, std::string_view path,
                    const std::string& ca, const std::vector<std::string>& extra) {
  std::string p = std::to_string(port);
  std::vector<std::string> args = {"--http1.1", "--cacert", ca, "--resolve", name + ":" + p + ":127.0.0.1"};
  args.insert(args.end(), extra.begin(), extra.end());
  return curl(dir, args, "https://" + name + ":" + p + std::string(path));
}

Response curl(const TempDir& dir, const std::vector<std::string>& args, const std::string& url) {
  std::string body_file = dir.file("curl-" + std::to_string(command_counter.fetch_add(1)) + ".body");
  std::vector<std::string> argv = {"curl", "-sS", "--max-time", "20", "-D", "-", "-o", body_file};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.push_back(url);
  auto r = run_command(dir, argv);
  Response out;
  if (r.exit_code != 0) {
    out.body = r.output;
    return out;
  }
  // The head curl wrote (-D -): status line and fields.
  std::istringstream head(r.output);
  std::string line;
  while (std::getline(head, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.rfind("HTTP/", 0) == 0) {
      out.status = std::stol(line.substr(line.find(' ') + 1, 3));
      out.headers.clear();
    } else if (auto colon = line.find(':'); colon != std::string::npos) {
      auto value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') value.erase(0, 1);
      out.headers.emplace_back(line.substr(0, colon), value);
    }
  }
  out.body = read_file(body_file);
  return out;
}

// ---------------------------------------------------------------- EdgeGateway

EdgeGateway::EdgeGateway(const TempDir& dir, std::string listen_yaml, const std::string& yaml, std::string name)
    : config_path_(dir.write(name + ".yaml", listen_yaml + "admin: {listen: \"127.0.0.1:0\"}\n" + yaml)),
      listen_yaml_(std::move(listen_yaml)),
      proc_({GATEWAY_BIN, "-c", config_path_}, dir.file(name + ".out"), dir.file(name + ".err")) {
  bool ok = eventually(
      [&] {
        auto err = proc_.err();
        admin_port_ = static_cast<std::uint16_t>(ports_after(err, "admin listening on ").empty()
                                                     ? 0
                                                     : ports_after(err, "admin listening on ").front());
        ports_ = ports_after(err, "] listening on ");
        return admin_port_ != 0 || !proc_.running();
      },
      kStartTimeout);
  if (!ok || admin_port_ == 0 || ports_.empty())
    throw std::runtime_error("gateway did not start:\n" + proc_.not_ready_report() + "\nconfig:\n" +
                             read_file(config_path_));
}

EdgeGateway::~EdgeGateway() {
  proc_.stop(10s);
  check_sanitizer_report("gateway", proc_.err());
}

std::string EdgeGateway::metrics() const { return http_get(url(admin_port_, "/metrics")).body; }

void EdgeGateway::rewrite_config(const std::string& listen_yaml, const std::string& yaml) {
  listen_yaml_ = listen_yaml;
  std::string tmp = config_path_ + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << listen_yaml_ << "admin: {listen: \"127.0.0.1:0\"}\n" << yaml;
  }
  std::rename(tmp.c_str(), config_path_.c_str());
}

// ---------------------------------------------------------------- TlsClient

TlsClient::TlsClient(std::uint16_t port, const Options& options, std::string_view preface) {
  ::signal(SIGPIPE, SIG_IGN);  // OpenSSL writes with write(2)
  ctx_ = SSL_CTX_new(TLS_client_method());
  if (!options.ca.empty()) {
    SSL_CTX_load_verify_file(ctx_, options.ca.c_str());
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
  }
  if (options.max_version) SSL_CTX_set_max_proto_version(ctx_, options.max_version);
  fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  timeval tv{10, 0};
  setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    error_ = "connect failed";
    return;
  }
  if (!preface.empty() && ::send(fd_, preface.data(), preface.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(preface.size())) {
    error_ = "preface not sent";
    return;
  }
  ssl_ = SSL_new(ctx_);
  SSL_set_fd(ssl_, fd_);
  if (!options.server_name.empty()) {
    SSL_set_tlsext_host_name(ssl_, options.server_name.c_str());
    if (!options.ca.empty()) SSL_set1_host(ssl_, options.server_name.c_str());
  }
  if (options.session) SSL_set_session(ssl_, options.session);
  ERR_clear_error();
  connected_ = SSL_connect(ssl_) == 1;
  if (!connected_) {
    char buf[256];
    ERR_error_string_n(ERR_get_error(), buf, sizeof buf);
    error_ = buf;
  }
}

TlsClient::~TlsClient() {
  if (ssl_) {
    // A clean close (close_notify): the session stays resumable.
    if (connected_) SSL_shutdown(ssl_);
    SSL_free(ssl_);
  }
  if (ctx_) SSL_CTX_free(ctx_);
  if (fd_ >= 0) ::close(fd_);
}

std::string TlsClient::peer_cn() const {
  if (!ssl_) return "";
  X509* cert = SSL_get1_peer_certificate(ssl_);
  if (!cert) return "";
  char buf[256] = {};
  X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, buf, sizeof buf);
  X509_free(cert);
  return buf;
}

bool TlsClient::resumed() const { return ssl_ && SSL_session_reused(ssl_) == 1; }

std::string TlsClient::version() const { return ssl_ ? SSL_get_version(ssl_) : ""; }

std::unique_ptr<SSL_SESSION, TlsClient::SessionFree> TlsClient::session() const {
  return std::unique_ptr<SSL_SESSION, SessionFree>(ssl_ ? SSL_get1_session(ssl_) : nullptr);
}

bool TlsClient::send(std::string_view bytes) {
  if (!connected_) return false;
  std::size_t written = 0;
  return SSL_write_ex(ssl_, bytes.data(), bytes.size(), &written) == 1 && written == bytes.size();
}

std::vector<RawResponse> TlsClient::read_responses(int n, Ms timeout) {
  auto end = std::chrono::steady_clock::now() + timeout;
  while (connected_ && static_cast<int>(parse_responses(pending_).size()) < n &&
         std::chrono::steady_clock::now() < end) {
    char buf[16384];
    std::size_t got = 0;
    if (SSL_read_ex(ssl_, buf, sizeof buf, &got) != 1) break;
    pending_.append(buf, got);
  }
  auto responses = parse_responses(pending_);
  pending_.clear();
  return responses;
}

RawResponse TlsClient::get(std::string_view path, std::string_view host) {
  if (!send("GET " + std::string(path) + " HTTP/1.1\r\nHost: " + std::string(host) + "\r\n\r\n")) return {};
  auto responses = read_responses(1);
  return responses.empty() ? RawResponse{} : responses.front();
}

}  // namespace itest
