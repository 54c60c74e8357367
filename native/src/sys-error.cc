#include "sys-error.h"

#include <cstring>

Napi::Error SysError(Napi::Env env, int err, const std::string &syscall, const std::string &path,
                     const std::string &detail) {
  std::string msg = syscall + (path.empty() ? "" : " '" + path + "'") + ": " + strerror(err) +
                    (detail.empty() ? "" : ": " + detail);
  Napi::Error e = Napi::Error::New(env, msg);
  e.Set("errno", Napi::Number::New(env, -err));
  e.Set("code", Napi::String::New(env, strerrorname_np(err) ? strerrorname_np(err) : "EUNKNOWN"));
  e.Set("syscall", Napi::String::New(env, syscall));
  if (!path.empty()) e.Set("path", Napi::String::New(env, path));
  return e;
}
