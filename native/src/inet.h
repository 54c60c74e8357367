// Addresses as the kernel takes them: IPv4/IPv6 in network byte order and
// 6-byte MACs, parsed from and formatted to their text forms. Text that does
// not parse is a TypeError naming what it was meant to be.
#pragma once

#include <napi.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

struct IpAddr {
  int family = 0;  // AF_INET or AF_INET6
  std::array<uint8_t, 16> bytes{};
  size_t size() const;
};

struct Cidr {
  IpAddr addr;
  uint8_t prefix = 0;
};

using Mac = std::array<uint8_t, 6>;

IpAddr ParseIp(Napi::Env env, const std::string &text, const char *what);
// address/prefix; a bare address is a host prefix (/32, /128)
Cidr ParseCidr(Napi::Env env, const std::string &text, const char *what);
Mac ParseMac(Napi::Env env, const std::string &text, const char *what);

std::string FormatIp(int family, const void *bytes);
std::string FormatMac(const uint8_t *bytes, size_t len);
