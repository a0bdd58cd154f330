#pragma once

// FileWatcher: calls back (debounced) when any watched file changes, including the Kubernetes
// way of updating mounted ConfigMaps and Secrets: the kubelet writes a new timestamped
// directory and atomically swaps the `..data` symlink the visible files point through.
// We watch each file's directory (inotify via uv_fs_event) for the file's name or `..data`.
// Control-thread only.

#include <uv.h>

#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace cosmoseal::proxy {

class FileWatcher {
 public:
  FileWatcher(uv_loop_t* loop, std::function<void()> on_change, uint64_t debounce_ms = 300);
  ~FileWatcher();
  FileWatcher(const FileWatcher&) = delete;
  FileWatcher& operator=(const FileWatcher&) = delete;

  // Replaces the watched set. Returns how many directories are watched.
  size_t watch(const std::vector<std::string>& files);
  // Stops watching; `done` runs once every handle is closed.
  void close(std::function<void()> done);

 private:
  struct Dir;
  static void onEvent(uv_fs_event_t* h, const char* filename, int events, int status) noexcept;
  static void onTimer(uv_timer_t* t) noexcept;
  void unwatchAll();
  void closeDir(Dir* d);
  void closed();

  uv_loop_t* loop_;
  std::function<void()> on_change_;
  uint64_t debounce_ms_;
  uv_timer_t timer_;
  std::map<std::string, Dir*> dirs_;  // directory -> watcher
  int closing_ = 0;                   // handles still closing
  bool shut_ = false;
  std::function<void()> done_;
};

}  // namespace cosmoseal::proxy
