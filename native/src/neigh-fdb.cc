// Neighbour (ARP/NDP) entries and the FDB of VXLAN devices: both are
// RTM_*NEIGH messages, the FDB's in the AF_BRIDGE family.
#include <linux/if_link.h>
#include <linux/neighbour.h>
#include <sys/socket.h>

#include <optional>

#include "args.h"
#include "inet.h"
#include "net.h"
#include "netns-scope.h"
#include "rtnl.h"

namespace {

struct NeighMsgArgs {
  uint16_t type, flags;
  int family;
  uint8_t ntf;
};

NlMsg NeighMsg(const NeighMsgArgs &m, int ifindex) {
  NlMsg msg(m.type, m.flags);
  ndmsg ndm{};
  ndm.ndm_family = static_cast<uint8_t>(m.family);
  ndm.ndm_ifindex = ifindex;
  ndm.ndm_state = m.type == RTM_NEWNEIGH ? NUD_PERMANENT : 0;
  ndm.ndm_flags = m.ntf;
  msg.Append(&ndm, sizeof ndm);
  return msg;
}

// One RTM_*NEIGH for `dev` in `netns`: NDA_DST `dst` (a neighbour's IP, or
// an FDB entry's remote VTEP) and, unless null, NDA_LLADDR `mac`; `what`
// names it in errors.
void CallNeigh(Napi::Env env, const std::optional<std::string> &netns, const std::string &dev,
               const NeighMsgArgs &m, const IpAddr &dst, const Mac *mac, const std::string &what,
               std::initializer_list<int> ok = {}) {
  NetnsScope scope(env, netns);
  Rtnl rtnl(env);
  NlMsg msg = NeighMsg(m, rtnl.IfIndex(dev));
  msg.Put(NDA_DST, dst.bytes.data(), dst.size());
  if (mac) msg.Put(NDA_LLADDR, mac->data(), mac->size());
  rtnl.Call(msg, what, ok);
}

// fdbAppend and fdbDel: `mac` forwarded to the remote VTEP `dst` (NTF_SELF:
// the VXLAN device's own table, not its bridge's).
Napi::Value FdbChange(const Napi::CallbackInfo &info, uint16_t type, uint16_t flags,
                      std::initializer_list<int> ok) {
  Napi::Env env = info.Env();
  auto netns = NetnsArg(info, 0);
  std::string dev = StringArg(info, 1);
  std::string macText = StringArg(info, 2), dstText = StringArg(info, 3);
  Mac mac = ParseMac(env, macText, "argument 2");
  IpAddr dst = ParseIp(env, dstText, "argument 3");

  CallNeigh(env, netns, dev, NeighMsgArgs{type, flags, AF_BRIDGE, NTF_SELF}, dst, &mac,
            dev + " " + macText + " dst " + dstText, ok);
  return env.Undefined();
}

}  // namespace

Napi::Value NeighReplace(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  auto netns = NetnsArg(info, 0);
  std::string dev = StringArg(info, 1);
  std::string ipText = StringArg(info, 2), macText = StringArg(info, 3);
  IpAddr ip = ParseIp(env, ipText, "argument 2");
  Mac mac = ParseMac(env, macText, "argument 3");

  CallNeigh(env, netns, dev, NeighMsgArgs{RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE, ip.family, 0},
            ip, &mac, dev + " " + ipText);
  return env.Undefined();
}

Napi::Value NeighDel(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  auto netns = NetnsArg(info, 0);
  std::string dev = StringArg(info, 1);
  std::string ipText = StringArg(info, 2);
  IpAddr ip = ParseIp(env, ipText, "argument 2");

  CallNeigh(env, netns, dev, NeighMsgArgs{RTM_DELNEIGH, 0, ip.family, 0}, ip, nullptr,
            dev + " " + ipText);
  return env.Undefined();
}

Napi::Value FdbAppend(const Napi::CallbackInfo &info) {
  return FdbChange(info, RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_APPEND, {EEXIST});
}

// The kernel answers ENOENT for a MAC it has no entry for, but 0 for a
// missing remote of a MAC it has: neither is an error here.
Napi::Value FdbDel(const Napi::CallbackInfo &info) {
  return FdbChange(info, RTM_DELNEIGH, 0, {ENOENT});
}

Napi::Value FdbList(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  auto netns = NetnsArg(info, 0);
  std::string dev = StringArg(info, 1);
  Napi::Array out = Napi::Array::New(env);

  NetnsScope scope(env, netns);
  Rtnl rtnl(env);
  int index = rtnl.IfIndex(dev);
  // An ifinfomsg naming the device makes the kernel dump that port only.
  NlMsg msg(RTM_GETNEIGH, 0);
  ifinfomsg ifi{};
  ifi.ifi_family = AF_BRIDGE;
  ifi.ifi_index = index;
  msg.Append(&ifi, sizeof ifi);
  rtnl.Dump(msg, dev, [&](const nlmsghdr *h) {
    auto ndm = static_cast<const ndmsg *>(NLMSG_DATA(h));
    if (h->nlmsg_type != RTM_NEWNEIGH || ndm->ndm_ifindex != index) return;
    Attrs a = Attrs::Of<ndmsg>(h, NDA_MAX);
    // Entries without a remote are the device's own addresses or its bridge's.
    if (!a.Has(NDA_DST) || !a.Has(NDA_LLADDR)) return;
    Napi::Object entry = Napi::Object::New(env);
    auto mac = static_cast<const uint8_t *>(a.Data(NDA_LLADDR));
    entry.Set("mac", FormatMac(mac, a.Len(NDA_LLADDR)));
    entry.Set("dst", FormatIp(a.Len(NDA_DST) == 16 ? AF_INET6 : AF_INET, a.Data(NDA_DST)));
    out.Set(out.Length(), entry);
  });
  return out;
}
