// sysctls of a network namespace: /proc/sys/net resolves against the
// namespace of the thread that opens it, so the file is opened inside.
#include <cerrno>
#include <fcntl.h>
#include <unistd.h>

#include "args.h"
#include "net.h"
#include "netns-scope.h"
#include "sys-error.h"
#include "unique-fd.h"

namespace {

// /proc/sys/<key>, for a key that stays below /proc/sys.
std::string SysctlPath(Napi::Env env, const std::string &key) {
  bool escapes =
      key.empty() || key[0] == '/' || ("/" + key + "/").find("/../") != std::string::npos;
  if (escapes) {
    throw Napi::TypeError::New(env, "sysctl key must be relative to /proc/sys, got '" + key + "'");
  }
  return "/proc/sys/" + key;
}

}  // namespace

Napi::Value SysctlSet(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  auto netns = NetnsArg(info, 0);
  std::string path = SysctlPath(env, StringArg(info, 1));
  std::string value = StringArg(info, 2);

  NetnsScope scope(env, netns);
  UniqueFd fd(open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (fd.get() < 0) throw SysError(env, errno, "open", path);
  // A sysctl takes its value in one write; a short one would be a partial value.
  ssize_t n = write(fd.get(), value.data(), value.size());
  if (n < 0) throw SysError(env, errno, "write", path);
  if (static_cast<size_t>(n) != value.size()) {
    throw SysError(env, EIO, "write", path, "short write");
  }
  return env.Undefined();
}

Napi::Value SysctlGet(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  auto netns = NetnsArg(info, 0);
  std::string path = SysctlPath(env, StringArg(info, 1));

  NetnsScope scope(env, netns);
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) throw SysError(env, errno, "open", path);
  std::string value;
  char buf[4096];
  for (;;) {
    ssize_t n = read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw SysError(env, errno, "read", path);
    if (n == 0) break;
    value.append(buf, static_cast<size_t>(n));
  }
  while (!value.empty() && value.back() == '\n') value.pop_back();
  return Napi::String::New(env, value);
}
