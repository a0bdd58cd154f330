#include "proxy/config/file_watch.h"

#include <filesystem>

#include "common/log.h"

namespace cosmoseal::proxy {

struct FileWatcher::Dir {
  uv_fs_event_t handle;
  FileWatcher* owner;
  std::set<std::string> names;  // basenames that matter in this directory, plus "..data"
};

FileWatcher::FileWatcher(uv_loop_t* loop, std::function<void()> on_change, uint64_t debounce_ms)
    : loop_(loop), on_change_(std::move(on_change)), debounce_ms_(debounce_ms) {
  uv_timer_init(loop_, &timer_);
  timer_.data = this;
}

FileWatcher::~FileWatcher() = default;

size_t FileWatcher::watch(const std::vector<std::string>& files) {
  if (shut_) return 0;
  unwatchAll();
  std::map<std::string, std::set<std::string>> wanted;
  for (const std::string& f : files) {
    if (f.empty() || f == "stdout" || f == "stderr") continue;
    std::filesystem::path p(f);
    const std::filesystem::path parent = p.has_parent_path() ? p.parent_path() : ".";
    const std::string dir = parent.string();
    auto& names = wanted[dir];
    names.insert(p.filename().string());
    names.insert("..data");
  }
  for (auto& [dir, names] : wanted) {
    auto* d = new Dir;
    d->owner = this;
    d->names = std::move(names);
    uv_fs_event_init(loop_, &d->handle);
    d->handle.data = d;
    const int r = uv_fs_event_start(&d->handle, &FileWatcher::onEvent, dir.c_str(), 0);
    if (r != 0) {
      COSMOSEAL_LOG(kWarn) << "watch: cannot watch " << dir << ": " << uv_strerror(r)
                           << " (changes there need SIGHUP or POST /reload)";
      closeDir(d);
      continue;
    }
    dirs_[dir] = d;
  }
  return dirs_.size();
}

void FileWatcher::onEvent(uv_fs_event_t* h, const char* filename, int, int status) noexcept {
  auto* d = static_cast<Dir*>(h->data);
  FileWatcher* self = d->owner;
  if (status < 0 || self->shut_) return;
  if (filename != nullptr && d->names.count(filename) == 0) return;  // an unrelated file
  uv_timer_start(&self->timer_, &FileWatcher::onTimer, self->debounce_ms_, 0);
}

void FileWatcher::onTimer(uv_timer_t* t) noexcept {
  auto* self = static_cast<FileWatcher*>(t->data);
  if (!self->shut_) self->on_change_();
}

void FileWatcher::unwatchAll() {
  for (auto& [dir, d] : dirs_) {
    uv_fs_event_stop(&d->handle);
    closeDir(d);
  }
  dirs_.clear();
}

void FileWatcher::closeDir(Dir* d) {
  ++closing_;
  uv_close(reinterpret_cast<uv_handle_t*>(&d->handle), [](uv_handle_t* h) noexcept {
    auto* dd = static_cast<Dir*>(h->data);
    FileWatcher* w = dd->owner;
    delete dd;
    w->closed();
  });
}

void FileWatcher::close(std::function<void()> done) {
  shut_ = true;
  done_ = std::move(done);
  unwatchAll();
  uv_timer_stop(&timer_);
  ++closing_;
  uv_close(reinterpret_cast<uv_handle_t*>(&timer_),
           [](uv_handle_t* h) noexcept { static_cast<FileWatcher*>(h->data)->closed(); });
}

void FileWatcher::closed() {
  if (--closing_ == 0 && shut_ && done_) {
    auto cb = std::move(done_);
    done_ = nullptr;
    cb();
  }
}

}  // namespace cosmoseal::proxy
