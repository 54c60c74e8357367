#include "args.h"

#include <cmath>

namespace {

Napi::TypeError ArgError(Napi::Env env, const std::string &what, const char *type) {
  return Napi::TypeError::New(env, what + " must be " + type);
}

std::string ArgName(size_t i) { return "argument " + std::to_string(i); }

}  // namespace

std::string StringArg(const Napi::CallbackInfo &info, size_t i) {
  if (info.Length() <= i || !info[i].IsString()) throw ArgError(info.Env(), ArgName(i), "a string");
  return info[i].As<Napi::String>().Utf8Value();
}

int IntArg(const Napi::CallbackInfo &info, size_t i) {
  if (info.Length() <= i || !info[i].IsNumber()) throw ArgError(info.Env(), ArgName(i), "a number");
  return info[i].As<Napi::Number>().Int32Value();
}

std::optional<std::string> NetnsArg(const Napi::CallbackInfo &info, size_t i) {
  if (info.Length() <= i || info[i].IsNull() || info[i].IsUndefined()) return std::nullopt;
  if (!info[i].IsString()) throw ArgError(info.Env(), ArgName(i), "a netns path or null");
  return info[i].As<Napi::String>().Utf8Value();
}

Napi::Object ObjectArg(const Napi::CallbackInfo &info, size_t i, bool required) {
  if (!required && (info.Length() <= i || info[i].IsUndefined())) {
    return Napi::Object::New(info.Env());
  }
  if (info.Length() <= i || !info[i].IsObject()) {
    throw ArgError(info.Env(), ArgName(i), "an object");
  }
  return info[i].As<Napi::Object>();
}

std::optional<std::string> OptString(const Napi::Object &opts, const char *key) {
  Napi::Value v = opts.Get(key);
  if (v.IsUndefined()) return std::nullopt;
  if (!v.IsString()) throw ArgError(opts.Env(), std::string("option ") + key, "a string");
  return v.As<Napi::String>().Utf8Value();
}

std::optional<uint32_t> OptUint(const Napi::Object &opts, const char *key) {
  Napi::Value v = opts.Get(key);
  if (v.IsUndefined()) return std::nullopt;
  double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1;
  if (!(d >= 0 && d <= UINT32_MAX && std::floor(d) == d)) {
    throw ArgError(opts.Env(), std::string("option ") + key, "an unsigned 32-bit integer");
  }
  return static_cast<uint32_t>(d);
}

std::optional<bool> OptBool(const Napi::Object &opts, const char *key) {
  Napi::Value v = opts.Get(key);
  if (v.IsUndefined()) return std::nullopt;
  if (!v.IsBoolean()) throw ArgError(opts.Env(), std::string("option ") + key, "a boolean");
  return v.As<Napi::Boolean>().Value();
}
