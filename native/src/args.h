// Readers of JS arguments: a wrong type is a TypeError naming the argument,
// thrown before any kernel operation.
#pragma once

#include <napi.h>

#include <cstdint>
#include <optional>
#include <string>

std::string StringArg(const Napi::CallbackInfo &info, size_t i);
int IntArg(const Napi::CallbackInfo &info, size_t i);
// A netns argument: a path, or null/undefined for the calling thread's own.
std::optional<std::string> NetnsArg(const Napi::CallbackInfo &info, size_t i);
// An options object; absent (undefined) reads as an empty one unless required.
Napi::Object ObjectArg(const Napi::CallbackInfo &info, size_t i, bool required);

// Optional members of an options object; undefined reads as absent.
std::optional<std::string> OptString(const Napi::Object &opts, const char *key);
std::optional<uint32_t> OptUint(const Napi::Object &opts, const char *key);
std::optional<bool> OptBool(const Napi::Object &opts, const char *key);

// The value of an option that must be given; absent is a TypeError.
template <class T>
T Required(const Napi::Object &opts, const std::optional<T> &value, const char *key) {
  if (!value) throw Napi::TypeError::New(opts.Env(), std::string("option ") + key + " is required");
  return *value;
}
