// Volumes: loop-mounted file systems, online growth, freeze, clone and sparse copy.
#pragma once

#include <napi.h>

Napi::Value LoopMount(const Napi::CallbackInfo &info);
Napi::Value LoopSetCapacity(const Napi::CallbackInfo &info);
Napi::Value Ext4Resize(const Napi::CallbackInfo &info);
Napi::Value FsFreeze(const Napi::CallbackInfo &info);
Napi::Value FileClone(const Napi::CallbackInfo &info);
Napi::Value SparseCopy(const Napi::CallbackInfo &info);
