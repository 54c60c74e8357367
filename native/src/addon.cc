// The addon's whole surface: syscalls the Node side needs directly. Each
// function is one kernel operation; names, order and retries live in
// TypeScript. Failures throw an Error carrying {code, errno, syscall, path}.
#include <napi.h>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <string>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <thread>
#include <unistd.h>

#include "args.h"
#include "file-meta.h"
#include "net.h"
#include "sys-error.h"
#include "volume.h"

namespace {

// A network namespace pinned by a bind mount on `path`, like `ip netns add`
// but without a fork: unshare() of the network namespace applies to the
// calling thread only, so a short-lived thread makes it and mounts it.
Napi::Value NetnsCreate(const Napi::CallbackInfo &info) {
  std::string path = StringArg(info, 0);
  int fd = open(path.c_str(), O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
  if (fd < 0) throw SysError(info.Env(), errno, "open", path);
  close(fd);
  int err = 0;
  const char *failed = nullptr;
  std::thread worker([&] {
    if (unshare(CLONE_NEWNET) < 0) {
      err = errno, failed = "unshare";
      return;
    }
    std::string self = "/proc/self/task/" + std::to_string(syscall(SYS_gettid)) + "/ns/net";
    if (mount(self.c_str(), path.c_str(), nullptr, MS_BIND, nullptr) < 0) {
      err = errno, failed = "mount";
    }
  });
  worker.join();
  if (failed) {
    unlink(path.c_str());
    throw SysError(info.Env(), err, failed, path);
  }
  return info.Env().Undefined();
}

Napi::Value Umount(const Napi::CallbackInfo &info) {
  std::string path = StringArg(info, 0);
  int flags = info.Length() > 1 && info[1].ToBoolean() ? MNT_DETACH : 0;
  if (umount2(path.c_str(), flags) < 0) throw SysError(info.Env(), errno, "umount2", path);
  return info.Env().Undefined();
}

Napi::Value PidfdOpen(const Napi::CallbackInfo &info) {
  int pid = IntArg(info, 0);
  int fd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  if (fd < 0) throw SysError(info.Env(), errno, "pidfd_open", "");
  fcntl(fd, F_SETFD, FD_CLOEXEC);
  return Napi::Number::New(info.Env(), fd);
}

Napi::Value PidfdSendSignal(const Napi::CallbackInfo &info) {
  int fd = IntArg(info, 0), sig = IntArg(info, 1);
  if (syscall(SYS_pidfd_send_signal, fd, sig, nullptr, 0) < 0) {
    throw SysError(info.Env(), errno, "pidfd_send_signal", "");
  }
  return info.Env().Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("netnsCreate", Napi::Function::New(env, NetnsCreate));
  exports.Set("umount", Napi::Function::New(env, Umount));
  exports.Set("pidfdOpen", Napi::Function::New(env, PidfdOpen));
  exports.Set("pidfdSendSignal", Napi::Function::New(env, PidfdSendSignal));
  exports.Set("getXattrs", Napi::Function::New(env, GetXattrs));
  exports.Set("setXattr", Napi::Function::New(env, SetXattr));
  exports.Set("removeXattr", Napi::Function::New(env, RemoveXattr));
  exports.Set("mknod", Napi::Function::New(env, Mknod));
  const std::pair<const char *, Napi::Function::Callback> volume[] = {
      {"loopMount", LoopMount},   {"loopSetCapacity", LoopSetCapacity},
      {"ext4Resize", Ext4Resize}, {"fsFreeze", FsFreeze},
      {"fileClone", FileClone},   {"sparseCopy", SparseCopy},
  };
  for (const auto &[name, fn] : volume) exports.Set(name, Napi::Function::New(env, fn));
  const std::pair<const char *, Napi::Function::Callback> network[] = {
      {"linkAddVeth", LinkAddVeth},   {"linkAddBridge", LinkAddBridge},
      {"linkAddVxlan", LinkAddVxlan}, {"linkSet", LinkSet},
      {"linkDel", LinkDel},           {"linkList", LinkList},
      {"addrAdd", AddrAdd},           {"addrDel", AddrDel},
      {"addrList", AddrList},         {"routeReplace", RouteReplace},
      {"routeDel", RouteDel},         {"routeList", RouteList},
      {"neighReplace", NeighReplace}, {"neighDel", NeighDel},
      {"fdbAppend", FdbAppend},       {"fdbDel", FdbDel},
      {"fdbList", FdbList},           {"sysctlSet", SysctlSet},
      {"sysctlGet", SysctlGet},       {"nftRun", NftRun},
      {"nftJson", NftJson},
  };
  for (const auto &[name, fn] : network) exports.Set(name, Napi::Function::New(env, fn));
  return exports;
}

}  // namespace

NODE_API_MODULE(berth_native, Init)
