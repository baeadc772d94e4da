// The text of policy and admission specs (cache/eviction.hpp,
// cache/admission.hpp): what a zone's `policy:` / `admission:` and
// gateway-lab's --policy / --admission accept, and their canonical form.
#include <charconv>
#include <cmath>

#include "cache/admission.hpp"
#include "cache/eviction.hpp"

namespace gateway::cache {
namespace {

// A failed parse: the message and the offset it points at.
struct Fault {
  std::string& error;
  std::size_t* at;
  std::nullopt_t operator()(std::size_t offset, std::string message) const {
    error = std::move(message);
    if (at) *at = offset;
    return std::nullopt;
  }
};

// A whole decimal integer in [lo, hi].
std::optional<unsigned> parse_count(std::string_view text, unsigned lo, unsigned hi) {
  unsigned v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc{} || end != text.data() + text.size() || v < lo || v > hi) return std::nullopt;
  return v;
}

// "5%", "12.5%" or "0.05": a share strictly between 0 and 1.
std::optional<double> parse_share(std::string_view text) {
  const bool percent = !text.empty() && text.back() == '%';
  if (percent) text.remove_suffix(1);
  double v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v, std::chars_format::fixed);
  if (text.empty() || ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  if (percent) v /= 100;
  if (!(v > 0 && v < 1)) return std::nullopt;
  return v;
}

// The shortest fixed-point text that reads back as `v`.
std::string shortest(double v) {
  char buf[512];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed);
  return ec == std::errc{} ? std::string(buf, end) : std::string{};
}

// The share as a percentage if that reads back as the same double, else as
// a fraction.
std::string share_text(double v) {
  std::string pct = shortest(v * 100) + "%";
  if (parse_share(pct) == v) return pct;
  return shortest(v);
}

// Splits "name:a:b" at ':' from `pos`; returns the next part and advances.
std::string_view next_part(std::string_view text, std::size_t& pos) {
  const std::size_t end = std::min(text.find(':', pos), text.size());
  std::string_view part = text.substr(pos, end - pos);
  pos = end + 1;
  return part;
}

bool set_s3fifo_param(PolicySpec& spec, std::string_view name, std::string_view value) {
  if (name == "small") {
    auto v = parse_share(value);
    if (v) spec.small = *v;
    return v.has_value();
  }
  auto v = parse_count(value, 1, 3);
  if (v) spec.promote = *v;
  return v.has_value();
}

}  // namespace

std::string_view to_string(PolicyKind kind) {
  switch (kind) {
    case PolicyKind::lru:
      return "lru";
    case PolicyKind::s3fifo:
      return "s3fifo";
    case PolicyKind::sieve:
      return "sieve";
  }
  return "unknown";
}

std::optional<PolicySpec> parse_policy_spec(std::string_view text, std::string& error, std::size_t* error_at) {
  const Fault fail{error, error_at};
  std::size_t pos = 0;
  const std::string_view name = next_part(text, pos);
  PolicySpec spec;
  if (name == "lru") spec.kind = PolicyKind::lru;
  else if (name == "sieve") spec.kind = PolicyKind::sieve;
  else if (name == "s3fifo") spec.kind = PolicyKind::s3fifo;
  else return fail(0, "unknown policy \"" + std::string(name) + "\" (lru, s3fifo, sieve)");
  bool seen_small = false, seen_promote = false;
  while (pos <= text.size()) {
    const std::size_t at = pos;
    const std::string_view param = next_part(text, pos);
    if (spec.kind != PolicyKind::s3fifo)
      return fail(at, std::string(name) + " takes no parameters");
    const std::size_t eq = param.find('=');
    const std::string_view key = param.substr(0, eq);
    bool& seen = key == "small" ? seen_small : seen_promote;
    if (eq == std::string_view::npos || (key != "small" && key != "promote"))
      return fail(at, "expected small=<share> or promote=<1..3>, got \"" + std::string(param) +
                                                 "\"");
    if (seen) return fail(at, std::string(key) + " given twice");
    seen = true;
    if (!set_s3fifo_param(spec, key, param.substr(eq + 1)))
      return fail(at + eq + 1, key == "small"
                                                          ? "small must be a share in (0, 1): \"5%\" or \"0.05\""
                                                          : "promote must be 1, 2 or 3");
  }
  return spec;
}

std::string to_string(const PolicySpec& spec) {
  std::string text(to_string(spec.kind));
  if (spec.kind != PolicyKind::s3fifo) return text;
  const PolicySpec defaults;
  if (spec.small != defaults.small) text += ":small=" + share_text(spec.small);
  if (spec.promote != defaults.promote) text += ":promote=" + std::to_string(spec.promote);
  return text;
}

std::optional<AdmissionSpec> parse_admission_spec(std::string_view text, std::string& error, std::size_t* error_at) {
  const Fault fail{error, error_at};
  if (text == "none") return AdmissionSpec{AdmissionKind::none};
  if (text == "tinylfu") return AdmissionSpec{AdmissionKind::tinylfu};
  constexpr std::string_view kMinUses = "min_uses:";
  if (text.substr(0, kMinUses.size()) == kMinUses) {
    auto n = parse_count(text.substr(kMinUses.size()), 1, 64);
    if (!n) return fail(kMinUses.size(), "min_uses must be a whole number from 1 to 64");
    return AdmissionSpec{AdmissionKind::min_uses, *n};
  }
  return fail(
      0, "unknown admission \"" + std::string(text) + "\" (none, min_uses:N, tinylfu)");
}

std::string to_string(const AdmissionSpec& spec) {
  switch (spec.kind) {
    case AdmissionKind::none:
      return "none";
    case AdmissionKind::min_uses:
      return "min_uses:" + std::to_string(spec.min_uses);
    case AdmissionKind::tinylfu:
      return "tinylfu";
  }
  return "unknown";
}

}  // namespace gateway::cache
