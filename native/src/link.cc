// Links: veth pairs, bridges and VXLAN devices made with one RTM_NEWLINK
// each, changed, deleted and listed.
#include <linux/if_link.h>
#include <linux/veth.h>
#include <net/if.h>
#include <netinet/in.h>

#include <map>
#include <optional>

#include "args.h"
#include "inet.h"
#include "net.h"
#include "netns-scope.h"
#include "rtnl.h"
#include "unique-fd.h"

namespace {

struct LinkOpts {
  std::optional<uint32_t> mtu;
  std::optional<Mac> mac;
};

std::optional<Mac> OptMac(const Napi::Object &opts, const char *key) {
  auto text = OptString(opts, key);
  if (!text) return std::nullopt;
  return ParseMac(opts.Env(), *text, (std::string("option ") + key).c_str());
}

// The ifinfomsg and name that start a link, or a veth peer inside VETH_INFO_PEER.
void PutLinkHead(NlMsg &msg, const std::string &name, const LinkOpts &opts) {
  ifinfomsg ifi{};
  msg.Append(&ifi, sizeof ifi);
  msg.PutStr(IFLA_IFNAME, name);
  if (opts.mtu) msg.PutU32(IFLA_MTU, *opts.mtu);
  if (opts.mac) msg.Put(IFLA_ADDRESS, opts.mac->data(), opts.mac->size());
}

// One queue each way, as veth has by default, but asked for up front: a
// veth made with a queue per CPU is cut down to one after it is registered,
// which waits for an RCU grace period per end (most of a veth's creation).
void PutOneQueue(NlMsg &msg) {
  msg.PutU32(IFLA_NUM_TX_QUEUES, 1);
  msg.PutU32(IFLA_NUM_RX_QUEUES, 1);
}

// A new link of `kind`; `data` fills its IFLA_INFO_DATA.
template <class Fill>
NlMsg NewLink(const std::string &name, const LinkOpts &opts, const char *kind, Fill data) {
  NlMsg msg(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
  PutLinkHead(msg, name, opts);
  size_t info = msg.BeginNest(IFLA_LINKINFO);
  msg.PutStr(IFLA_INFO_KIND, kind);
  size_t nest = msg.BeginNest(IFLA_INFO_DATA);
  data(msg);
  msg.EndNest(nest);
  msg.EndNest(info);
  return msg;
}

// A new link of `kind` in `netns`, made with one RTM_NEWLINK.
template <class Fill>
void AddLink(Napi::Env env, const std::optional<std::string> &netns, const std::string &name,
             const LinkOpts &opts, const char *kind, Fill data) {
  NetnsScope scope(env, netns);
  NlMsg msg = NewLink(name, opts, kind, data);
  Rtnl(env).Call(msg, name);
}

}  // namespace

Napi::Value LinkAddVeth(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  auto netns = NetnsArg(info, 0);
  std::string name = StringArg(info, 1);
  auto peerNetns = NetnsArg(info, 2);
  std::string peer = StringArg(info, 3);
  Napi::Object opts = ObjectArg(info, 4, false);
  LinkOpts own{OptUint(opts, "mtu"), OptMac(opts, "mac")};
  LinkOpts theirs{own.mtu, OptMac(opts, "peerMac")};

  UniqueFd peerFd = peerNetns ? OpenNetns(env, *peerNetns) : UniqueFd();
  NetnsScope scope(env, netns);
  // A null peerNetns is the process's own: the namespace the thread left.
  int peerNsFd = peerNetns ? peerFd.get() : scope.HomeFd();
  NlMsg msg = NewLink(name, own, "veth", [&](NlMsg &m) {
    size_t nest = m.BeginNest(VETH_INFO_PEER);
    PutLinkHead(m, peer, theirs);
    PutOneQueue(m);
    if (peerNsFd >= 0) m.PutU32(IFLA_NET_NS_FD, static_cast<uint32_t>(peerNsFd));
    m.EndNest(nest);
  });
  PutOneQueue(msg);
  Rtnl(env).Call(msg, name, {}, "peer '" + peer + "'" + (peerNetns ? " in " + *peerNetns : ""));
  return env.Undefined();
}

Napi::Value LinkAddBridge(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  auto netns = NetnsArg(info, 0);
  std::string name = StringArg(info, 1);
  Napi::Object opts = ObjectArg(info, 2, false);
  LinkOpts link{OptUint(opts, "mtu"), OptMac(opts, "mac")};

  // No STP and no forward delay: a port forwards the moment it is enslaved.
  AddLink(env, netns, name, link, "bridge", [](NlMsg &m) {
    m.PutU32(IFLA_BR_STP_STATE, 0);
    m.PutU32(IFLA_BR_FORWARD_DELAY, 0);
  });
  return env.Undefined();
}

Napi::Value LinkAddVxlan(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  auto netns = NetnsArg(info, 0);
  std::string name = StringArg(info, 1);
  Napi::Object opts = ObjectArg(info, 2, true);
  uint32_t vni = Required(opts, OptUint(opts, "vni"), "vni");
  IpAddr local = ParseIp(env, Required(opts, OptString(opts, "local"), "local"), "option local");
  uint32_t port = Required(opts, OptUint(opts, "port"), "port");
  if (port == 0 || port > 65535) throw Napi::TypeError::New(env, "option port must be 1-65535");
  LinkOpts link{OptUint(opts, "mtu"), std::nullopt};

  // Learning off: the control plane fills the FDB (l2population).
  AddLink(env, netns, name, link, "vxlan", [&](NlMsg &m) {
    m.PutU32(IFLA_VXLAN_ID, vni);
    m.Put(local.family == AF_INET ? IFLA_VXLAN_LOCAL : IFLA_VXLAN_LOCAL6, local.bytes.data(),
          local.size());
    m.PutU16(IFLA_VXLAN_PORT, htons(static_cast<uint16_t>(port)));
    m.PutU8(IFLA_VXLAN_LEARNING, 0);
  });
  return env.Undefined();
}

Napi::Value LinkSet(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  auto netns = NetnsArg(info, 0);
  std::string name = StringArg(info, 1);
  Napi::Object opts = ObjectArg(info, 2, true);
  auto up = OptBool(opts, "up");
  LinkOpts link{OptUint(opts, "mtu"), OptMac(opts, "mac")};
  Napi::Value masterArg = opts.Get("master");
  if (!masterArg.IsUndefined() && !masterArg.IsNull() && !masterArg.IsString()) {
    throw Napi::TypeError::New(env, "option master must be a device name or null");
  }

  NetnsScope scope(env, netns);
  Rtnl rtnl(env);
  // Without NLM_F_CREATE an RTM_NEWLINK naming an existing link changes it.
  NlMsg msg(RTM_NEWLINK, 0);
  ifinfomsg ifi{};
  if (up) ifi.ifi_change = IFF_UP, ifi.ifi_flags = *up ? IFF_UP : 0;
  msg.Append(&ifi, sizeof ifi);
  msg.PutStr(IFLA_IFNAME, name);
  if (link.mtu) msg.PutU32(IFLA_MTU, *link.mtu);
  if (link.mac) msg.Put(IFLA_ADDRESS, link.mac->data(), link.mac->size());
  if (masterArg.IsString()) {
    msg.PutU32(IFLA_MASTER, rtnl.IfIndex(masterArg.As<Napi::String>().Utf8Value()));
  } else if (masterArg.IsNull()) {
    msg.PutU32(IFLA_MASTER, 0);
  }
  rtnl.Call(msg, name);
  return env.Undefined();
}

Napi::Value LinkDel(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  auto netns = NetnsArg(info, 0);
  std::string name = StringArg(info, 1);

  NetnsScope scope(env, netns);
  NlMsg msg(RTM_DELLINK, 0);
  ifinfomsg ifi{};
  msg.Append(&ifi, sizeof ifi);
  msg.PutStr(IFLA_IFNAME, name);
  Rtnl(env).Call(msg, name);
  return env.Undefined();
}

Napi::Value LinkList(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  auto netns = NetnsArg(info, 0);

  struct Link {
    Napi::Object obj;
    uint32_t master;
  };
  std::vector<Link> links;
  std::map<int, std::string> names;
  {
    NetnsScope scope(env, netns);
    NlMsg msg(RTM_GETLINK, 0);
    ifinfomsg ifi{};
    msg.Append(&ifi, sizeof ifi);
    msg.PutU32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
    Rtnl(env).Dump(msg, netns.value_or(""), [&](const nlmsghdr *h) {
      if (h->nlmsg_type != RTM_NEWLINK) return;
      auto ifm = static_cast<const ifinfomsg *>(NLMSG_DATA(h));
      Attrs a = Attrs::Of<ifinfomsg>(h, IFLA_MAX);
      Napi::Object link = Napi::Object::New(env);
      std::string name = a.Has(IFLA_IFNAME) ? a.Str(IFLA_IFNAME) : "";
      names[ifm->ifi_index] = name;
      link.Set("name", name);
      link.Set("index", ifm->ifi_index);
      Attrs linkinfo = a.Nested(IFLA_LINKINFO, IFLA_INFO_MAX);
      if (linkinfo.Has(IFLA_INFO_KIND)) link.Set("kind", linkinfo.Str(IFLA_INFO_KIND));
      auto mac = a.Has(IFLA_ADDRESS) ? static_cast<const uint8_t *>(a.Data(IFLA_ADDRESS)) : nullptr;
      link.Set("mac", mac ? FormatMac(mac, a.Len(IFLA_ADDRESS)) : "");
      link.Set("mtu", a.Has(IFLA_MTU) ? a.U32(IFLA_MTU) : 0);
      link.Set("up", (ifm->ifi_flags & IFF_UP) != 0);
      links.push_back({link, a.Has(IFLA_MASTER) ? a.U32(IFLA_MASTER) : 0});
    });
  }
  Napi::Array out = Napi::Array::New(env, links.size());
  for (size_t i = 0; i < links.size(); i++) {
    auto master = names.find(static_cast<int>(links[i].master));
    if (links[i].master && master != names.end()) links[i].obj.Set("master", master->second);
    out.Set(static_cast<uint32_t>(i), links[i].obj);
  }
  return out;
}
