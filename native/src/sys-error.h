// The one error shape of the addon: an Error carrying {code, errno,
// syscall, path}, so that callers judge failures by errno, never by text.
#pragma once

#include <napi.h>

#include <string>

// `detail` (the kernel's extended ack, nft's own message) is appended to the
// message after strerror's text.
Napi::Error SysError(Napi::Env env, int err, const std::string &syscall, const std::string &path,
                     const std::string &detail = "");
