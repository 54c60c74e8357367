// Addresses and routes (the main table).
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <map>
#include <optional>

#include "args.h"
#include "inet.h"
#include "net.h"
#include "netns-scope.h"
#include "rtnl.h"

namespace {

NlMsg AddrMsg(Rtnl &rtnl, uint16_t type, uint16_t flags, const std::string &dev, const Cidr &cidr) {
  NlMsg msg(type, flags);
  ifaddrmsg ifa{};
  ifa.ifa_family = static_cast<uint8_t>(cidr.addr.family);
  ifa.ifa_prefixlen = cidr.prefix;
  ifa.ifa_index = static_cast<uint32_t>(rtnl.IfIndex(dev));
  msg.Append(&ifa, sizeof ifa);
  msg.Put(IFA_LOCAL, cidr.addr.bytes.data(), cidr.addr.size());
  msg.Put(IFA_ADDRESS, cidr.addr.bytes.data(), cidr.addr.size());
  return msg;
}

Napi::Value AddrChange(const Napi::CallbackInfo &info, uint16_t type, uint16_t flags,
                       std::initializer_list<int> ok) {
  Napi::Env env = info.Env();
  auto netns = NetnsArg(info, 0);
  std::string dev = StringArg(info, 1);
  std::string text = StringArg(info, 2);
  Cidr cidr = ParseCidr(env, text, "argument 2");

  NetnsScope scope(env, netns);
  Rtnl rtnl(env);
  NlMsg msg = AddrMsg(rtnl, type, flags, dev, cidr);
  rtnl.Call(msg, dev + " " + text, ok);
  return env.Undefined();
}

struct Route {
  Cidr dst;
  std::optional<IpAddr> gateway, src;
  std::optional<std::string> dev;
  std::optional<uint8_t> type, scope;
  std::optional<uint32_t> metric;
  std::string text;  // names the route in errors, as `ip route` prints it
};

const std::pair<const char *, uint8_t> kTypes[] = {
    {"unicast", RTN_UNICAST},   {"unreachable", RTN_UNREACHABLE}, {"blackhole", RTN_BLACKHOLE},
    {"prohibit", RTN_PROHIBIT}, {"throw", RTN_THROW},             {"local", RTN_LOCAL},
    {"broadcast", RTN_BROADCAST},
};
const std::pair<const char *, uint8_t> kScopes[] = {
    {"universe", RT_SCOPE_UNIVERSE}, {"link", RT_SCOPE_LINK}, {"host", RT_SCOPE_HOST}};

template <size_t N>
std::optional<uint8_t> OptEnum(const Napi::Object &opts, const char *key,
                               const std::pair<const char *, uint8_t> (&names)[N], size_t allowed) {
  auto text = OptString(opts, key);
  if (!text) return std::nullopt;
  std::string choices;
  for (size_t i = 0; i < allowed; i++) {
    if (*text == names[i].first) return names[i].second;
    choices += (i ? ", " : "") + std::string(names[i].first);
  }
  throw Napi::TypeError::New(opts.Env(),
                             std::string("route ") + key + " must be one of " + choices);
}

template <size_t N>
std::string EnumName(const std::pair<const char *, uint8_t> (&names)[N], uint8_t value) {
  for (const auto &name : names) {
    if (name.second == value) return name.first;
  }
  return std::to_string(value);
}

Route ParseRoute(Napi::Env env, const Napi::Object &spec) {
  Route r;
  auto gateway = OptString(spec, "gateway");
  if (gateway) r.gateway = ParseIp(env, *gateway, "route gateway");
  std::string dst = Required(spec, OptString(spec, "dst"), "dst");
  if (dst == "default") {
    r.dst.addr.family = r.gateway ? r.gateway->family : AF_INET;
  } else {
    r.dst = ParseCidr(env, dst, "route dst");
  }
  auto src = OptString(spec, "src");
  if (src) r.src = ParseIp(env, *src, "route src");
  r.dev = OptString(spec, "dev");
  // local and broadcast routes are the kernel's (local table): listed, never made.
  r.type = OptEnum(spec, "type", kTypes, 5);
  r.scope = OptEnum(spec, "scope", kScopes, 3);
  r.metric = OptUint(spec, "metric");
  r.text = (r.type && *r.type != RTN_UNICAST ? EnumName(kTypes, *r.type) + " " : "") + dst +
           (gateway ? " via " + *gateway : "") + (r.dev ? " dev " + *r.dev : "");
  return r;
}

// RTM_NEWROUTE makes exactly what is asked (static, its scope derived as
// `ip route` does); RTM_DELROUTE leaves unsaid fields as wildcards.
NlMsg RouteMsg(Rtnl &rtnl, uint16_t type, uint16_t flags, const Route &r) {
  bool del = type == RTM_DELROUTE;
  NlMsg msg(type, flags);
  rtmsg rtm{};
  rtm.rtm_family = static_cast<uint8_t>(r.dst.addr.family);
  rtm.rtm_dst_len = r.dst.prefix;
  rtm.rtm_table = RT_TABLE_MAIN;
  rtm.rtm_protocol = del ? RTPROT_UNSPEC : RTPROT_STATIC;
  rtm.rtm_type = r.type.value_or(del ? RTN_UNSPEC : RTN_UNICAST);
  bool onLink = rtm.rtm_type == RTN_UNICAST && !r.gateway && r.dev;
  rtm.rtm_scope = r.scope.value_or(del      ? RT_SCOPE_NOWHERE
                                   : onLink ? RT_SCOPE_LINK
                                            : RT_SCOPE_UNIVERSE);
  msg.Append(&rtm, sizeof rtm);
  if (r.dst.prefix) msg.Put(RTA_DST, r.dst.addr.bytes.data(), r.dst.addr.size());
  if (r.gateway) msg.Put(RTA_GATEWAY, r.gateway->bytes.data(), r.gateway->size());
  if (r.dev) msg.PutU32(RTA_OIF, static_cast<uint32_t>(rtnl.IfIndex(*r.dev)));
  if (r.src) msg.Put(RTA_PREFSRC, r.src->bytes.data(), r.src->size());
  if (r.metric) msg.PutU32(RTA_PRIORITY, *r.metric);
  return msg;
}

Napi::Value RouteChange(const Napi::CallbackInfo &info, uint16_t type, uint16_t flags,
                        std::initializer_list<int> ok) {
  Napi::Env env = info.Env();
  auto netns = NetnsArg(info, 0);
  Route route = ParseRoute(env, ObjectArg(info, 1, true));

  NetnsScope scope(env, netns);
  Rtnl rtnl(env);
  NlMsg msg = RouteMsg(rtnl, type, flags, route);
  rtnl.Call(msg, route.text, ok);
  return env.Undefined();
}

// ifindex → name, asked of the kernel once per device a dump names. A
// device deleted since the dump has none, and its entries are gone with it.
class DevNames {
 public:
  explicit DevNames(Rtnl &rtnl) : rtnl_(rtnl) {}
  const std::optional<std::string> &operator()(int index) {
    auto it = names_.find(index);
    if (it == names_.end()) it = names_.emplace(index, rtnl_.IfName(index)).first;
    return it->second;
  }

 private:
  Rtnl &rtnl_;
  std::map<int, std::optional<std::string>> names_;
};

// A dump of `type`, led by `hdr`, in argument 0's netns: `each` turns a
// reply of `reply` into an object (or nothing, to leave it out).
template <class Hdr, class Each>
Napi::Value DumpInNetns(const Napi::CallbackInfo &info, uint16_t type, uint16_t reply,
                        const Hdr &hdr, Each each) {
  Napi::Env env = info.Env();
  auto netns = NetnsArg(info, 0);
  Napi::Array out = Napi::Array::New(env);

  NetnsScope scope(env, netns);
  Rtnl rtnl(env);
  DevNames devs(rtnl);
  NlMsg msg(type, 0);
  msg.Append(&hdr, sizeof hdr);
  rtnl.Dump(msg, netns.value_or(""), [&](const nlmsghdr *h) {
    if (h->nlmsg_type != reply) return;
    std::optional<Napi::Object> o = each(h, devs);
    if (o) out.Set(out.Length(), *o);
  });
  return out;
}

}  // namespace

Napi::Value AddrAdd(const Napi::CallbackInfo &info) {
  return AddrChange(info, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, {EEXIST});
}

Napi::Value AddrDel(const Napi::CallbackInfo &info) { return AddrChange(info, RTM_DELADDR, 0, {}); }

Napi::Value AddrList(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  ifaddrmsg ifa{};
  ifa.ifa_family = AF_INET;
  return DumpInNetns(
      info, RTM_GETADDR, RTM_NEWADDR, ifa,
      [&](const nlmsghdr *h, DevNames &devs) -> std::optional<Napi::Object> {
        auto m = static_cast<const ifaddrmsg *>(NLMSG_DATA(h));
        Attrs a = Attrs::Of<ifaddrmsg>(h, IFA_MAX);
        int which = a.Has(IFA_LOCAL) ? IFA_LOCAL : IFA_ADDRESS;
        const auto &dev = devs(static_cast<int>(m->ifa_index));
        if (!a.Has(which) || !dev) return std::nullopt;
        Napi::Object addr = Napi::Object::New(env);
        addr.Set("dev", *dev);
        addr.Set("cidr", FormatIp(m->ifa_family, a.Data(which)) + "/" +
                             std::to_string(m->ifa_prefixlen));
        return addr;
      });
}

Napi::Value RouteReplace(const Napi::CallbackInfo &info) {
  return RouteChange(info, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, {});
}

Napi::Value RouteDel(const Napi::CallbackInfo &info) {
  return RouteChange(info, RTM_DELROUTE, 0, {ESRCH, ENOENT});
}

Napi::Value RouteList(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  rtmsg rtm{};
  rtm.rtm_family = AF_INET;
  return DumpInNetns(
      info, RTM_GETROUTE, RTM_NEWROUTE, rtm,
      [&](const nlmsghdr *h, DevNames &devs) -> std::optional<Napi::Object> {
        auto m = static_cast<const rtmsg *>(NLMSG_DATA(h));
        Attrs a = Attrs::Of<rtmsg>(h, RTA_MAX);
        uint32_t table = a.Has(RTA_TABLE) ? a.U32(RTA_TABLE) : m->rtm_table;
        if (table != RT_TABLE_MAIN) return std::nullopt;
        Napi::Object route = Napi::Object::New(env);
        route.Set("dst", m->rtm_dst_len == 0 ? "default"
                                             : FormatIp(m->rtm_family, a.Data(RTA_DST)) + "/" +
                                                   std::to_string(m->rtm_dst_len));
        if (a.Has(RTA_GATEWAY))
          route.Set("gateway", FormatIp(m->rtm_family, a.Data(RTA_GATEWAY)));
        if (a.Has(RTA_OIF)) {
          const auto &dev = devs(static_cast<int>(a.U32(RTA_OIF)));
          if (!dev) return std::nullopt;
          route.Set("dev", *dev);
        }
        route.Set("type", EnumName(kTypes, m->rtm_type));
        if (a.Has(RTA_PREFSRC)) route.Set("src", FormatIp(m->rtm_family, a.Data(RTA_PREFSRC)));
        if (a.Has(RTA_PRIORITY)) route.Set("metric", a.U32(RTA_PRIORITY));
        route.Set("scope", EnumName(kScopes, m->rtm_scope));
        return route;
      });
}
