#include "netns-scope.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <sched.h>

#include "sys-error.h"

UniqueFd OpenNetns(Napi::Env env, const std::string &path) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) throw SysError(env, errno, "open", path);
  return fd;
}

NetnsScope::NetnsScope(Napi::Env env, const std::optional<std::string> &path) {
  if (!path) return;
  UniqueFd target = OpenNetns(env, *path);
  UniqueFd home(open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
  if (home.get() < 0) throw SysError(env, errno, "open", "/proc/thread-self/ns/net");
  if (setns(target.get(), CLONE_NEWNET) < 0) throw SysError(env, errno, "setns", *path);
  home_ = std::move(home);
}

NetnsScope::~NetnsScope() {
  if (home_.get() < 0) return;
  // Going home cannot fail for a namespace this thread was in a moment ago;
  // if it did, every later socket of the process would open in the wrong
  // namespace, which is worse than stopping here.
  if (setns(home_.get(), CLONE_NEWNET) < 0) {
    fprintf(stderr, "berth: setns back to the thread's own netns: %s\n", strerror(errno));
    abort();
  }
}
