// The addon's network primitives (declared for JS in native/index.ts
// NativeAddon): netlink links, addresses, routes, neighbours and FDB
// entries, sysctls and nftables, each acting in the netns its first
// argument names.
#pragma once

#include <napi.h>

// link.cc
Napi::Value LinkAddVeth(const Napi::CallbackInfo &info);
Napi::Value LinkAddBridge(const Napi::CallbackInfo &info);
Napi::Value LinkAddVxlan(const Napi::CallbackInfo &info);
Napi::Value LinkSet(const Napi::CallbackInfo &info);
Napi::Value LinkDel(const Napi::CallbackInfo &info);
Napi::Value LinkList(const Napi::CallbackInfo &info);
// addr-route.cc
Napi::Value AddrAdd(const Napi::CallbackInfo &info);
Napi::Value AddrDel(const Napi::CallbackInfo &info);
Napi::Value AddrList(const Napi::CallbackInfo &info);
Napi::Value RouteReplace(const Napi::CallbackInfo &info);
Napi::Value RouteDel(const Napi::CallbackInfo &info);
Napi::Value RouteList(const Napi::CallbackInfo &info);
// neigh-fdb.cc
Napi::Value NeighReplace(const Napi::CallbackInfo &info);
Napi::Value NeighDel(const Napi::CallbackInfo &info);
Napi::Value FdbAppend(const Napi::CallbackInfo &info);
Napi::Value FdbDel(const Napi::CallbackInfo &info);
Napi::Value FdbList(const Napi::CallbackInfo &info);
// sysctl.cc
Napi::Value SysctlSet(const Napi::CallbackInfo &info);
Napi::Value SysctlGet(const Napi::CallbackInfo &info);
// nft.cc
Napi::Value NftRun(const Napi::CallbackInfo &info);
Napi::Value NftJson(const Napi::CallbackInfo &info);
