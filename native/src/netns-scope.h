// Runs a block of code in another network namespace: the constructor moves
// the calling thread (the JS main thread: every network call is synchronous)
// into the namespace pinned at `path`, the destructor moves it back, also
// when the block throws. With no path, nothing moves.
#pragma once

#include <napi.h>

#include <optional>
#include <string>

#include "unique-fd.h"

// Opens a netns file for setns() or IFLA_NET_NS_FD; throws SysError('open').
UniqueFd OpenNetns(Napi::Env env, const std::string &path);

class NetnsScope {
 public:
  NetnsScope(Napi::Env env, const std::optional<std::string> &path);
  ~NetnsScope();
  NetnsScope(const NetnsScope &) = delete;
  NetnsScope &operator=(const NetnsScope &) = delete;

  // The thread's own namespace while it is away, -1 when it never left.
  int HomeFd() const { return home_.get(); }

 private:
  UniqueFd home_;
};
