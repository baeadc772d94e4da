// A Downstream that hands everything to another one: the base of the
// wrappers that change one thing of an exchange on its way (the route's
// header rules, gateway/edge.hpp; a rewritten request,
// gateway/access_serve.hpp; compression, gateway/compress.hpp), which
// override only that. A tunnel passes through unless a wrapper says no (the
// header rules do). Lives as long as the exchange's handler, on the worker
// that owns it.
#pragma once

#include "gateway/exchange.hpp"

namespace gateway {

class ForwardingDownstream : public Downstream {
 public:
  explicit ForwardingDownstream(Downstream& inner) : inner_(inner) {}

  const http::Request& request() const override { return inner_.request(); }
  std::string_view peer() const override { return inner_.peer(); }
  RequestInfo& info() override { return inner_.info(); }
  boost::asio::awaitable<boost::system::error_code> read_body(std::span<const char>& piece, bool& done) override {
    return inner_.read_body(piece, done);
  }
  bool body_complete() const override { return inner_.body_complete(); }
  int body_error_status() const override { return inner_.body_error_status(); }
  boost::asio::awaitable<boost::system::error_code> write_interim(const http::Response& interim) override {
    return inner_.write_interim(interim);
  }
  void write_head(http::Response& resp) override { inner_.write_head(resp); }
  void write_head_raw(int status, std::string_view head, std::string_view extra_fields,
                      std::uint64_t content_length) override {
    inner_.write_head_raw(status, head, extra_fields, content_length);
  }
  boost::asio::awaitable<boost::system::error_code> write_file(int fd, std::uint64_t offset, std::uint64_t len,
                                                               bool last) override {
    return inner_.write_file(fd, offset, len, last);
  }
  boost::asio::awaitable<boost::system::error_code> write_body(std::span<const char> data, bool last) override {
    return inner_.write_body(data, last);
  }
  bool head_written() const override { return inner_.head_written(); }
  int status() const override { return inner_.status(); }
  void set_trailer(std::string_view fields) override { inner_.set_trailer(fields); }
  bool can_tunnel() const override { return inner_.can_tunnel(); }
  boost::asio::awaitable<void> tunnel(http::Response& resp, net::Stream& upstream,
                                      std::span<const char> from_upstream) override {
    return inner_.tunnel(resp, upstream, from_upstream);
  }
  void abort() override { inner_.abort(); }

 protected:
  Downstream& inner_;
};

}  // namespace gateway
