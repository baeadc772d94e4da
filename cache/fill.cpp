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

void Fill::complete(std::shared_ptr<const Entry> entry) {
  std::unique_lock lock(mu_);
  view_.state = State::complete;
  view_.entry = std::move(entry);
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

FillTable::Joined FillTable::join(const std::string& key, std::size_t max_followers, Seconds now) {
  std::lock_guard lock(mu_);
  if (auto p = pass_until_.find(key); p != pass_until_.end()) {
    if (now < p->second) return {};
    pass_until_.erase(p);
  }
  auto& slot = fills_[key];
  if (!slot) {
    slot = std::make_shared<Fill>();
    return {slot, true};
  }
  if (slot->followers >= max_followers) return {};
  ++slot->followers;
  return {slot, false};
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
