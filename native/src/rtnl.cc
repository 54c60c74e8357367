#include "rtnl.h"

#include <cerrno>
#include <cstring>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "sys-error.h"

namespace {

// Dump replies are at most 32 KiB datagrams (the kernel caps them there).
constexpr size_t kReceiveSize = 64 << 10;
constexpr int kDumpAttempts = 10;

std::string OpName(uint16_t type) {
  switch (type) {
    case RTM_NEWLINK: return "RTM_NEWLINK";
    case RTM_DELLINK: return "RTM_DELLINK";
    case RTM_GETLINK: return "RTM_GETLINK";
    case RTM_NEWADDR: return "RTM_NEWADDR";
    case RTM_DELADDR: return "RTM_DELADDR";
    case RTM_GETADDR: return "RTM_GETADDR";
    case RTM_NEWROUTE: return "RTM_NEWROUTE";
    case RTM_DELROUTE: return "RTM_DELROUTE";
    case RTM_GETROUTE: return "RTM_GETROUTE";
    case RTM_NEWNEIGH: return "RTM_NEWNEIGH";
    case RTM_DELNEIGH: return "RTM_DELNEIGH";
    case RTM_GETNEIGH: return "RTM_GETNEIGH";
    default: return "RTM_" + std::to_string(type);
  }
}

// The kernel's own words on a failed request (NLMSGERR_ATTR_MSG), if any.
std::string ExtAck(const nlmsghdr *msg) {
  if (!(msg->nlmsg_flags & NLM_F_ACK_TLVS)) return "";
  auto err = static_cast<const nlmsgerr *>(NLMSG_DATA(msg));
  size_t header = sizeof *err;
  if (!(msg->nlmsg_flags & NLM_F_CAPPED)) header += err->msg.nlmsg_len - NLMSG_HDRLEN;
  size_t offset = NLMSG_HDRLEN + NLMSG_ALIGN(header);
  if (offset >= msg->nlmsg_len) return "";
  Attrs tlvs(reinterpret_cast<const char *>(msg) + offset, msg->nlmsg_len - offset,
             NLMSGERR_ATTR_MSG);
  return tlvs.Has(NLMSGERR_ATTR_MSG) ? tlvs.Str(NLMSGERR_ATTR_MSG) : "";
}

}  // namespace

NlMsg::NlMsg(uint16_t type, uint16_t flags) : buf_(NLMSG_HDRLEN) {
  buf_.reserve(512);
  auto hdr = reinterpret_cast<nlmsghdr *>(buf_.data());
  hdr->nlmsg_type = type;
  hdr->nlmsg_flags = NLM_F_REQUEST | flags;
}

uint16_t NlMsg::type() const { return reinterpret_cast<const nlmsghdr *>(buf_.data())->nlmsg_type; }

void NlMsg::Append(const void *data, size_t len) {
  size_t at = buf_.size();
  buf_.resize(at + NLMSG_ALIGN(len));
  memcpy(buf_.data() + at, data, len);
}

void NlMsg::Put(uint16_t attr, const void *data, size_t len) {
  size_t at = buf_.size();
  buf_.resize(at + RTA_SPACE(len));
  auto rta = reinterpret_cast<rtattr *>(buf_.data() + at);
  rta->rta_type = attr;
  rta->rta_len = static_cast<unsigned short>(RTA_LENGTH(len));
  if (len) memcpy(RTA_DATA(rta), data, len);
}

size_t NlMsg::BeginNest(uint16_t attr) {
  size_t start = buf_.size();
  Put(attr | NLA_F_NESTED, nullptr, 0);
  return start;
}

void NlMsg::EndNest(size_t start) {
  reinterpret_cast<rtattr *>(buf_.data() + start)->rta_len =
      static_cast<unsigned short>(buf_.size() - start);
}

nlmsghdr *NlMsg::Finish(uint32_t seq, uint16_t flags) {
  auto hdr = reinterpret_cast<nlmsghdr *>(buf_.data());
  hdr->nlmsg_flags |= flags;
  hdr->nlmsg_len = static_cast<uint32_t>(buf_.size());
  hdr->nlmsg_seq = seq;
  return hdr;
}

Attrs::Attrs(const void *data, size_t len, size_t max) : table_(max + 1) {
  int left = static_cast<int>(len);
  for (auto rta = static_cast<const rtattr *>(data); RTA_OK(rta, left); rta = RTA_NEXT(rta, left)) {
    size_t type = rta->rta_type & NLA_TYPE_MASK;
    if (type <= max) table_[type] = rta;
  }
}

std::string Attrs::Str(size_t type) const {
  auto text = static_cast<const char *>(Data(type));
  return std::string(text, strnlen(text, Len(type)));
}

uint32_t Attrs::U32(size_t type) const {
  uint32_t value = 0;
  memcpy(&value, Data(type), std::min(Len(type), sizeof value));
  return value;
}

Attrs Attrs::Nested(size_t type, size_t max) const {
  return Has(type) ? Attrs(Data(type), Len(type), max) : Attrs(nullptr, 0, max);
}

Rtnl::Rtnl(Napi::Env env)
    : env_(env), fd_(socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE)) {
  if (fd_.get() < 0) throw SysError(env, errno, "socket", "NETLINK_ROUTE");
  int on = 1;
  // Errors then carry the kernel's explanation and not a copy of the request.
  setsockopt(fd_.get(), SOL_NETLINK, NETLINK_EXT_ACK, &on, sizeof on);
  setsockopt(fd_.get(), SOL_NETLINK, NETLINK_CAP_ACK, &on, sizeof on);
}

uint32_t Rtnl::Send(NlMsg &msg, uint16_t flags, const std::string &path) {
  nlmsghdr *hdr = msg.Finish(++seq_, flags);
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  ssize_t n;
  do {
    n = sendto(fd_.get(), hdr, hdr->nlmsg_len, 0, reinterpret_cast<sockaddr *>(&kernel),
               sizeof kernel);
  } while (n < 0 && errno == EINTR);
  if (n < 0) throw SysError(env_, errno, OpName(msg.type()), path);
  return seq_;
}

size_t Rtnl::Receive(const std::string &op, const std::string &path) {
  if (rx_.empty()) rx_.resize(kReceiveSize);
  iovec iov{rx_.data(), rx_.size()};
  msghdr mh{};
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  ssize_t n;
  do {
    n = recvmsg(fd_.get(), &mh, 0);
  } while (n < 0 && errno == EINTR);
  if (n < 0) throw SysError(env_, errno, op, path);
  if (mh.msg_flags & MSG_TRUNC) throw SysError(env_, EMSGSIZE, op, path, "reply truncated");
  return static_cast<size_t>(n);
}

void Rtnl::Call(NlMsg &msg, const std::string &path, std::initializer_list<int> ok,
                const std::string &detail) {
  std::string op = OpName(msg.type());
  uint32_t seq = Send(msg, NLM_F_ACK, path);
  for (;;) {
    int left = static_cast<int>(Receive(op, path));
    for (auto h = reinterpret_cast<const nlmsghdr *>(rx_.data()); NLMSG_OK(h, left);
         h = NLMSG_NEXT(h, left)) {
      if (h->nlmsg_seq != seq || h->nlmsg_type != NLMSG_ERROR) continue;
      int err = -static_cast<const nlmsgerr *>(NLMSG_DATA(h))->error;
      if (err == 0) return;
      for (int allowed : ok) {
        if (err == allowed) return;
      }
      std::string why = ExtAck(h);
      if (!detail.empty()) why = why.empty() ? detail : why + " (" + detail + ")";
      throw SysError(env_, err, op, path, why);
    }
  }
}

void Rtnl::Dump(NlMsg &msg, const std::string &path,
                const std::function<void(const nlmsghdr *)> &each) {
  std::string op = OpName(msg.type());
  for (int attempt = 1;; attempt++) {
    uint32_t seq = Send(msg, NLM_F_DUMP, path);
    std::vector<std::vector<char>> datagrams;
    bool done = false, interrupted = false;
    while (!done) {
      size_t size = Receive(op, path);
      const std::vector<char> &datagram = datagrams.emplace_back(rx_.data(), rx_.data() + size);
      int left = static_cast<int>(size);
      for (auto h = reinterpret_cast<const nlmsghdr *>(datagram.data()); NLMSG_OK(h, left);
           h = NLMSG_NEXT(h, left)) {
        if (h->nlmsg_seq != seq) continue;
        if (h->nlmsg_flags & NLM_F_DUMP_INTR) interrupted = true;
        if (h->nlmsg_type == NLMSG_ERROR) {
          int err = -static_cast<const nlmsgerr *>(NLMSG_DATA(h))->error;
          throw SysError(env_, err, op, path, ExtAck(h));
        }
        if (h->nlmsg_type == NLMSG_DONE) {
          // A dump that failed part way says so in its DONE message.
          int err = 0;
          if (h->nlmsg_len >= NLMSG_LENGTH(sizeof err)) memcpy(&err, NLMSG_DATA(h), sizeof err);
          err = -err;
          if (err > 0) throw SysError(env_, err, op, path);
          done = true;
        }
      }
    }
    if (interrupted && attempt < kDumpAttempts) continue;
    if (interrupted) throw SysError(env_, EAGAIN, op, path, "the dump kept being interrupted");
    for (const auto &datagram : datagrams) {
      int left = static_cast<int>(datagram.size());
      for (auto h = reinterpret_cast<const nlmsghdr *>(datagram.data()); NLMSG_OK(h, left);
           h = NLMSG_NEXT(h, left)) {
        if (h->nlmsg_seq == seq && h->nlmsg_type != NLMSG_DONE) each(h);
      }
    }
    return;
  }
}

int Rtnl::IfIndex(const std::string &name) {
  ifreq ifr{};
  if (name.empty() || name.size() >= sizeof ifr.ifr_name) {
    throw SysError(env_, ENODEV, "SIOCGIFINDEX", name);
  }
  memcpy(ifr.ifr_name, name.c_str(), name.size());
  // Any socket answers SIOCGIFINDEX for its own namespace, this one too.
  if (ioctl(fd_.get(), SIOCGIFINDEX, &ifr) < 0) throw SysError(env_, errno, "SIOCGIFINDEX", name);
  return ifr.ifr_ifindex;
}

std::optional<std::string> Rtnl::IfName(int index) {
  ifreq ifr{};
  ifr.ifr_ifindex = index;
  if (ioctl(fd_.get(), SIOCGIFNAME, &ifr) < 0) {
    if (errno == ENODEV) return std::nullopt;
    throw SysError(env_, errno, "SIOCGIFNAME", std::to_string(index));
  }
  return std::string(ifr.ifr_name, strnlen(ifr.ifr_name, sizeof ifr.ifr_name));
}
