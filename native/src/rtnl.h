// rtnetlink spoken directly: a message builder, an attribute table for
// replies, and a socket that sends one request and waits for its ack (or
// collects a whole dump). A socket belongs to the namespace it was opened
// in, so each call opens its own after NetnsScope moved the thread.
#pragma once

#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <napi.h>

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

#include "unique-fd.h"

class NlMsg {
 public:
  NlMsg(uint16_t type, uint16_t flags);
  uint16_t type() const;
  // Raw bytes padded to netlink alignment: the family header, the veth
  // peer's ifinfomsg inside VETH_INFO_PEER.
  void Append(const void *data, size_t len);
  void Put(uint16_t attr, const void *data, size_t len);
  void PutU8(uint16_t attr, uint8_t value) { Put(attr, &value, sizeof value); }
  void PutU16(uint16_t attr, uint16_t value) { Put(attr, &value, sizeof value); }
  void PutU32(uint16_t attr, uint32_t value) { Put(attr, &value, sizeof value); }
  void PutStr(uint16_t attr, const std::string &value) {
    Put(attr, value.c_str(), value.size() + 1);
  }
  // Starts a nested attribute; EndNest(start) closes it once its members are in.
  size_t BeginNest(uint16_t attr);
  void EndNest(size_t start);
  nlmsghdr *Finish(uint32_t seq, uint16_t flags);

 private:
  std::vector<char> buf_;
};

// The attributes of one message or nest by type; types above `max` are ignored.
class Attrs {
 public:
  Attrs(const void *data, size_t len, size_t max);
  // The attributes that follow the family header `T` of `msg`.
  template <class T>
  static Attrs Of(const nlmsghdr *msg, size_t max) {
    return Attrs(reinterpret_cast<const char *>(NLMSG_DATA(msg)) + NLMSG_ALIGN(sizeof(T)),
                 msg->nlmsg_len - NLMSG_LENGTH(sizeof(T)), max);
  }
  bool Has(size_t type) const { return Get(type) != nullptr; }
  const rtattr *Get(size_t type) const { return type < table_.size() ? table_[type] : nullptr; }
  const void *Data(size_t type) const { return RTA_DATA(Get(type)); }
  size_t Len(size_t type) const { return RTA_PAYLOAD(Get(type)); }
  std::string Str(size_t type) const;
  uint32_t U32(size_t type) const;
  Attrs Nested(size_t type, size_t max) const;

 private:
  std::vector<const rtattr *> table_;
};

class Rtnl {
 public:
  explicit Rtnl(Napi::Env env);
  // Sends `msg` (NLM_F_ACK added) and waits for its ack. A failure throws SysError named for
  // the message type (RTM_NEWLINK…) and `path`, with the kernel's extended
  // ack text, unless its errno is one of `ok`.
  void Call(NlMsg &msg, const std::string &path, std::initializer_list<int> ok = {},
            const std::string &detail = "");
  // Runs `msg` as a dump (NLM_F_DUMP added) and hands `each` every message of a consistent
  // dump (one that changes interrupted is run again).
  void Dump(NlMsg &msg, const std::string &path, const std::function<void(const nlmsghdr *)> &each);
  // ifindex of `name` in this socket's namespace; throws ENODEV.
  int IfIndex(const std::string &name);
  // name of ifindex `index`, none when no such device (any more).
  std::optional<std::string> IfName(int index);

 private:
  uint32_t Send(NlMsg &msg, uint16_t flags, const std::string &path);
  // One datagram into rx_, its size returned; a datagram larger than the
  // buffer fails loudly rather than arriving cut.
  size_t Receive(const std::string &op, const std::string &path);

  Napi::Env env_;
  UniqueFd fd_;
  uint32_t seq_ = 0;
  std::vector<char> rx_;
};
