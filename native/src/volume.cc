// The kernel side of a volume: its file system on a loop device mounted on
// the host, grown online, frozen for a snapshot and copied by reflink or
// sparsely. No losetup or mount process: each function is the syscalls
// themselves, with errors as {code, errno, syscall, path}.
#include "volume.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/loop.h>
#include <string>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "args.h"
#include "sys-error.h"
#include "unique-fd.h"

#ifndef EXT4_IOC_RESIZE_FS
#define EXT4_IOC_RESIZE_FS _IOW('f', 16, __u64)
#endif

namespace {

constexpr int kLoopAttempts = 16;

UniqueFd OpenOrThrow(Napi::Env env, const std::string &path, int flags, mode_t mode = 0) {
  int fd = open(path.c_str(), flags | O_CLOEXEC, mode);
  if (fd < 0) throw SysError(env, errno, "open", path);
  return UniqueFd(fd);
}

void IoctlOrThrow(Napi::Env env, int fd, unsigned long request, void *arg, const char *name,
                  const std::string &path) {
  if (ioctl(fd, request, arg) < 0) throw SysError(env, errno, name, path);
}

// A free loop device bound to `backing`, autocleared: it exists only while
// something holds it open, so the mount made on it is its only owner.
UniqueFd BindLoop(Napi::Env env, int backing, const std::string &file, bool readOnly) {
  UniqueFd control = OpenOrThrow(env, "/dev/loop-control", O_RDWR);
  struct loop_config config;
  memset(&config, 0, sizeof config);
  config.fd = static_cast<__u32>(backing);
  config.info.lo_flags = LO_FLAGS_AUTOCLEAR | (readOnly ? LO_FLAGS_READ_ONLY : 0);
  strncpy(reinterpret_cast<char *>(config.info.lo_file_name), file.c_str(), LO_NAME_SIZE - 1);
  for (int attempt = 1;; attempt++) {
    int n = ioctl(control.get(), LOOP_CTL_GET_FREE);
    if (n < 0) throw SysError(env, errno, "LOOP_CTL_GET_FREE", "/dev/loop-control");
    std::string device = "/dev/loop" + std::to_string(n);
    UniqueFd loop = OpenOrThrow(env, device, readOnly ? O_RDONLY : O_RDWR);
    if (ioctl(loop.get(), LOOP_CONFIGURE, &config) == 0) return loop;
    // EBUSY: another process (or thread) took the device between GET_FREE
    // and here; the next free one is asked for.
    if (errno != EBUSY || attempt == kLoopAttempts)
      throw SysError(env, errno, "LOOP_CONFIGURE", device);
  }
}

}  // namespace

// loopMount({file, target, fstype, data?, readOnly?}) -> device: attaches
// `file` to a free loop device and mounts it on `target` (nodev, nosuid,
// private propagation). The loop device goes with the unmount.
Napi::Value LoopMount(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  Napi::Object opts = ObjectArg(info, 0, true);
  std::string file = Required(opts, OptString(opts, "file"), "file");
  std::string target = Required(opts, OptString(opts, "target"), "target");
  std::string fstype = Required(opts, OptString(opts, "fstype"), "fstype");
  std::string data = OptString(opts, "data").value_or("");
  bool readOnly = OptBool(opts, "readOnly").value_or(false);
  UniqueFd backing = OpenOrThrow(env, file, readOnly ? O_RDONLY : O_RDWR);
  UniqueFd loop = BindLoop(env, backing.get(), file, readOnly);
  struct stat st;
  if (fstat(loop.get(), &st) < 0) throw SysError(env, errno, "fstat", file);
  std::string device = "/dev/loop" + std::to_string(minor(st.st_rdev));
  unsigned long flags = MS_NODEV | MS_NOSUID | (readOnly ? MS_RDONLY : 0);
  if (mount(device.c_str(), target.c_str(), fstype.c_str(), flags, data.c_str()) < 0)
    throw SysError(env, errno, "mount", target, device);
  // The host's root is usually shared: without this, the volume's mount
  // would propagate into every mount namespace made from the host later.
  if (mount(nullptr, target.c_str(), nullptr, MS_PRIVATE, nullptr) < 0) {
    int err = errno;
    umount2(target.c_str(), MNT_DETACH);
    throw SysError(env, err, "mount", target, "make private");
  }
  return Napi::String::New(env, device);
}

// loopSetCapacity(device): the loop device takes its backing file's new size.
Napi::Value LoopSetCapacity(const Napi::CallbackInfo &info) {
  std::string device = StringArg(info, 0);
  UniqueFd loop = OpenOrThrow(info.Env(), device, O_RDONLY);
  IoctlOrThrow(info.Env(), loop.get(), LOOP_SET_CAPACITY, nullptr, "LOOP_SET_CAPACITY", device);
  return info.Env().Undefined();
}

// ext4Resize(mountPoint, blocks): grows the mounted ext4 file system online
// to `blocks` of its block size (what resize2fs does for a mounted one).
Napi::Value Ext4Resize(const Napi::CallbackInfo &info) {
  std::string path = StringArg(info, 0);
  if (!info[1].IsNumber()) throw Napi::TypeError::New(info.Env(), "argument 1 must be a number");
  __u64 blocks = static_cast<__u64>(info[1].As<Napi::Number>().Int64Value());
  UniqueFd dir = OpenOrThrow(info.Env(), path, O_RDONLY | O_DIRECTORY);
  IoctlOrThrow(info.Env(), dir.get(), EXT4_IOC_RESIZE_FS, &blocks, "EXT4_IOC_RESIZE_FS", path);
  return info.Env().Undefined();
}

// fsFreeze(mountPoint, frozen): FIFREEZE / FITHAW, so a copy of the device is consistent.
Napi::Value FsFreeze(const Napi::CallbackInfo &info) {
  std::string path = StringArg(info, 0);
  bool frozen = info[1].ToBoolean();
  UniqueFd dir = OpenOrThrow(info.Env(), path, O_RDONLY | O_DIRECTORY);
  int zero = 0;
  IoctlOrThrow(info.Env(), dir.get(), frozen ? FIFREEZE : FITHAW, &zero,
               frozen ? "FIFREEZE" : "FITHAW", path);
  return info.Env().Undefined();
}

// fileClone(src, dst): dst (made, must not exist) shares src's extents
// (FICLONE). EOPNOTSUPP/EXDEV/EINVAL: the file system cannot; dst is removed.
Napi::Value FileClone(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  std::string src = StringArg(info, 0), dst = StringArg(info, 1);
  UniqueFd in = OpenOrThrow(env, src, O_RDONLY);
  UniqueFd out = OpenOrThrow(env, dst, O_WRONLY | O_CREAT | O_EXCL, 0600);
  if (ioctl(out.get(), FICLONE, in.get()) < 0) {
    int err = errno;
    unlink(dst.c_str());
    throw SysError(env, err, "FICLONE", dst, src);
  }
  return env.Undefined();
}

// sparseCopy(src, dst, {sync = true}?): copies the data extents only
// (SEEK_DATA/SEEK_HOLE and copy_file_range), so dst (made, must not exist)
// is as sparse as src; fsynced unless sync is false.
Napi::Value SparseCopy(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  std::string src = StringArg(info, 0), dst = StringArg(info, 1);
  bool sync = true;
  if (info.Length() > 2 && info[2].IsObject())
    sync = OptBool(info[2].As<Napi::Object>(), "sync").value_or(true);
  UniqueFd in = OpenOrThrow(env, src, O_RDONLY);
  UniqueFd out = OpenOrThrow(env, dst, O_WRONLY | O_CREAT | O_EXCL, 0600);
  struct stat st;
  if (fstat(in.get(), &st) < 0) throw SysError(env, errno, "fstat", src);
  auto fail = [&](const char *syscall) {
    int err = errno;
    unlink(dst.c_str());
    return SysError(env, err, syscall, dst, src);
  };
  if (ftruncate(out.get(), st.st_size) < 0) throw fail("ftruncate");
  off_t at = 0;
  while (at < st.st_size) {
    off_t data = lseek(in.get(), at, SEEK_DATA);
    if (data < 0 && errno == ENXIO) break;  // only a hole is left
    if (data < 0) throw fail("lseek");
    off_t hole = lseek(in.get(), data, SEEK_HOLE);
    if (hole < 0) throw fail("lseek");
    loff_t from = data, to = data;
    while (from < hole) {
      ssize_t n = copy_file_range(in.get(), &from, out.get(), &to,
                                  static_cast<size_t>(hole - from), 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) throw fail("copy_file_range");
    }
    at = hole;
  }
  if (sync && fsync(out.get()) < 0) throw fail("fsync");
  return env.Undefined();
}
