// Fill coalescing (see fill.hpp). Fill and FillTable take their own
// mutexes: leaders and followers call them from any worker.
#include "cache/fill.hpp"

namespace gateway::cache {

void Fill::changed(std::unique_lock<std::mutex>& lock) {
  ++view_.version;
  auto watchers = std::move(watchers_);
  watchers_.clear();
  lock.unlock();
  for (auto& w : watchers) w();
}

void Fill::stream(std::shared_ptr<const EntryMeta> meta, std::shared_ptr<FileRef> file, std::uint64_t body_offset,
                  std::optional<std::uint64_t> content_length) {
  std::unique_lock lock(mu_);
  view_.content_length = content_length;
  view_.state = State::streaming;
  view_.meta = std::move(meta);
  view_.file = std::move(file);
  view_.body_offset = body_offset;
  changed(lock);
}

void Fill::progress(std::uint64_t body_bytes) {
  std::unique_lock lock(mu_);
  view_.body_bytes = body_bytes;
  changed(lock);
}

void Fill::complete() {
  std::unique_lock lock(mu_);
  view_.state = State::complete;
  changed(lock);
}

void Fill::release() {
  std::unique_lock lock(mu_);
  view_.state = State::released;
  changed(lock);
}

void Fill::fail() {
  std::unique_lock lock(mu_);
  view_.state = State::failed;
  changed(lock);
}

Fill::View Fill::view() const {
  std::lock_guard lock(mu_);
  return view_;
}

void Fill::on_change(std::uint64_t version, std::function<void()> wake) {
  std::unique_lock lock(mu_);
  if (view_.version != version) {
    lock.unlock();
    wake();
    return;
  }
  watchers_.push_back(std::move(wake));
}

bool Fill::View::serves(const http::Request& req) const {
  return (state == State::streaming || state == State::complete) && meta &&
         vary_matches(VarySpec{meta->vary_fields, false}, meta->vary_key, req);
}

// ---------------------------------------------------------------- FillLead

FillLead::FillLead(FillTable& table, std::string key, std::shared_ptr<Fill> fill, Seconds now)
    : table_(&table), key_(std::move(key)), fill_(std::move(fill)), now_(now) {}

FillLead::FillLead(FillLead&& other) noexcept
    : table_(other.table_),
      key_(std::move(other.key_)),
      fill_(std::move(other.fill_)),
      now_(other.now_),
      pass_(other.pass_) {}

FillLead& FillLead::operator=(FillLead&& other) noexcept {
  if (this != &other) {
    finish();
    table_ = other.table_;
    key_ = std::move(other.key_);
    fill_ = std::move(other.fill_);
    now_ = other.now_;
    pass_ = other.pass_;
  }
  return *this;
}

void FillLead::pass(Seconds now) noexcept {
  pass_ = true;
  now_ = now;
}

void FillLead::finish() {
  if (!fill_) return;
  auto fill = std::move(fill_);
  fill_.reset();
  end(*table_, key_, fill, pass_, now_);
}

std::function<void()> FillLead::ender() const {
  if (!fill_) return [] {};
  return [table = table_, key = key_, fill = fill_, now = now_] { end(*table, key, fill, false, now); };
}

void FillLead::end(FillTable& table, const std::string& key, const std::shared_ptr<Fill>& fill, bool pass,
                   Seconds now) {
  auto view = fill->view();
  // Never leave followers waiting: whatever happened, they are told.
  if (view.state == Fill::State::pending) fill->release();
  else if (view.state == Fill::State::streaming) fill->fail();
  table.finish(key, fill, pass, now);
}

// ---------------------------------------------------------------- FillFollow

FillFollow::FillFollow(FillTable& table, std::shared_ptr<Fill> fill) : table_(&table), fill_(std::move(fill)) {}

FillFollow::FillFollow(FillFollow&& other) noexcept : table_(other.table_), fill_(std::move(other.fill_)) {}

FillFollow& FillFollow::operator=(FillFollow&& other) noexcept {
  if (this != &other) {
    leave();
    table_ = other.table_;
    fill_ = std::move(other.fill_);
  }
  return *this;
}

void FillFollow::leave() {
  if (!fill_) return;
  table_->leave(*fill_);
  fill_.reset();
}

// ---------------------------------------------------------------- FillTable

FillTable::Joined FillTable::join(const std::string& key, std::size_t max_followers, Seconds now) {
  std::lock_guard lock(mu_);
  if (auto p = pass_until_.find(key); p != pass_until_.end()) {
    if (now < p->second) return {};
    pass_until_.erase(p);
  }
  auto& slot = fills_[key];
  if (!slot) {
    slot = std::make_shared<Fill>();
    return {FillLead(*this, key, slot, now), {}};
  }
  if (slot->followers >= max_followers) return {};
  ++slot->followers;
  return {{}, FillFollow(*this, slot)};
}

void FillTable::finish(const std::string& key, const std::shared_ptr<Fill>& fill, bool pass, Seconds now) {
  std::lock_guard lock(mu_);
  if (auto it = fills_.find(key); it != fills_.end() && it->second == fill) fills_.erase(it);
  if (pass) pass_until_[key] = now + kPassFor;
  else pass_until_.erase(key);
  // Expired pass markers of other keys are dropped lazily, a few at a time.
  for (auto it = pass_until_.begin(); it != pass_until_.end() && pass_until_.size() > 1024;) {
    if (it->second <= now) it = pass_until_.erase(it);
    else ++it;
  }
}

void FillTable::leave(Fill& fill) {
  std::lock_guard lock(mu_);
  if (fill.followers > 0) --fill.followers;
}

bool FillTable::in_flight(const std::string& key) const {
  std::lock_guard lock(mu_);
  return fills_.count(key) != 0;
}

}  // namespace gateway::cache
