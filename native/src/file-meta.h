// Extended attributes and device nodes (file-meta.cc).
#pragma once

#include <napi.h>

Napi::Value GetXattrs(const Napi::CallbackInfo &info);
Napi::Value SetXattr(const Napi::CallbackInfo &info);
Napi::Value RemoveXattr(const Napi::CallbackInfo &info);
Napi::Value Mknod(const Napi::CallbackInfo &info);
