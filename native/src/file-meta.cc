// What Node's fs cannot do to a file's metadata: extended attributes (overlay's
// trusted.overlay.opaque, security.capability, ACLs as system.posix_acl_*) and
// device nodes (overlay whiteouts are 0:0 character devices). Used by the
// snapshot copy, which must read them without spawning a process. Never
// follows a symbolic link.
#include "file-meta.h"

#include <cerrno>
#include <string>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/xattr.h>
#include <vector>

#include "args.h"
#include "sys-error.h"

namespace {

// llistxattr/lgetxattr into a buffer that grows when the attribute grew between
// the size query and the read (ERANGE), never truncating. `gone` (when given)
// is set instead of throwing on ENODATA: an attribute removed since the list.
template <class F>
std::vector<char> ReadSized(Napi::Env env, const std::string &path, const char *syscall, F call,
                            bool *gone = nullptr) {
  for (;;) {
    ssize_t n = call(nullptr, 0);
    if (n < 0 && gone && errno == ENODATA) {
      *gone = true;
      return {};
    }
    if (n < 0) throw SysError(env, errno, syscall, path);
    std::vector<char> buf(static_cast<size_t>(n));
    if (n == 0) return buf;
    ssize_t got = call(buf.data(), buf.size());
    if (got >= 0) {
      buf.resize(static_cast<size_t>(got));
      return buf;
    }
    if (errno != ERANGE) throw SysError(env, errno, syscall, path);
  }
}

}  // namespace

// {name: Buffer} of every extended attribute of `path` (not followed).
Napi::Value GetXattrs(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  std::string path = StringArg(info, 0);
  std::vector<char> names = ReadSized(env, path, "llistxattr", [&](char *b, size_t n) {
    return llistxattr(path.c_str(), b, n);
  });
  Napi::Object out = Napi::Object::New(env);
  for (size_t i = 0; i < names.size();) {
    std::string name(&names[i]);
    i += name.size() + 1;
    if (name.empty()) continue;
    bool gone = false;
    std::vector<char> value = ReadSized(
        env, path, "lgetxattr",
        [&](char *b, size_t n) { return lgetxattr(path.c_str(), name.c_str(), b, n); }, &gone);
    if (gone) continue;
    out.Set(name, Napi::Buffer<char>::Copy(env, value.data(), value.size()));
  }
  return out;
}

Napi::Value SetXattr(const Napi::CallbackInfo &info) {
  std::string path = StringArg(info, 0), name = StringArg(info, 1);
  if (!info[2].IsBuffer()) throw Napi::TypeError::New(info.Env(), "argument 2 must be a Buffer");
  auto value = info[2].As<Napi::Buffer<char>>();
  if (lsetxattr(path.c_str(), name.c_str(), value.Data(), value.Length(), 0) < 0)
    throw SysError(info.Env(), errno, "lsetxattr", path, name);
  return info.Env().Undefined();
}

Napi::Value RemoveXattr(const Napi::CallbackInfo &info) {
  std::string path = StringArg(info, 0), name = StringArg(info, 1);
  if (lremovexattr(path.c_str(), name.c_str()) < 0)
    throw SysError(info.Env(), errno, "lremovexattr", path, name);
  return info.Env().Undefined();
}

// mknod(path, mode, makedev(major, minor)): mode carries the file type (S_IFCHR...).
Napi::Value Mknod(const Napi::CallbackInfo &info) {
  std::string path = StringArg(info, 0);
  int mode = IntArg(info, 1), major_ = IntArg(info, 2), minor_ = IntArg(info, 3);
  if (mknod(path.c_str(), static_cast<mode_t>(mode), makedev(major_, minor_)) < 0)
    throw SysError(info.Env(), errno, "mknod", path);
  return info.Env().Undefined();
}
