#include "inet.h"

#include <arpa/inet.h>
#include <cstdio>
#include <cstdlib>
#include <sys/socket.h>

namespace {

Napi::TypeError Invalid(Napi::Env env, const char *what, const char *kind,
                        const std::string &text) {
  return Napi::TypeError::New(env, std::string(what) + " must be " + kind + ", got '" + text + "'");
}

}  // namespace

size_t IpAddr::size() const { return family == AF_INET6 ? 16 : 4; }

IpAddr ParseIp(Napi::Env env, const std::string &text, const char *what) {
  IpAddr ip;
  if (inet_pton(AF_INET, text.c_str(), ip.bytes.data()) == 1) {
    ip.family = AF_INET;
  } else if (inet_pton(AF_INET6, text.c_str(), ip.bytes.data()) == 1) {
    ip.family = AF_INET6;
  } else {
    throw Invalid(env, what, "an IP address", text);
  }
  return ip;
}

Cidr ParseCidr(Napi::Env env, const std::string &text, const char *what) {
  size_t slash = text.find('/');
  Cidr cidr;
  cidr.addr = ParseIp(env, text.substr(0, slash), what);
  unsigned max = cidr.addr.family == AF_INET ? 32 : 128;
  cidr.prefix = static_cast<uint8_t>(max);
  if (slash != std::string::npos) {
    const char *digits = text.c_str() + slash + 1;
    char *end = nullptr;
    unsigned long prefix = strtoul(digits, &end, 10);
    if (*digits < '0' || *digits > '9' || *end != '\0' || prefix > max) {
      throw Invalid(env, what, "an address/prefix", text);
    }
    cidr.prefix = static_cast<uint8_t>(prefix);
  }
  return cidr;
}

Mac ParseMac(Napi::Env env, const std::string &text, const char *what) {
  auto nibble = [](char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  Mac mac;
  bool ok = text.size() == 17;
  for (size_t i = 0; ok && i < mac.size(); i++) {
    int hi = nibble(text[3 * i]), lo = nibble(text[3 * i + 1]);
    ok = hi >= 0 && lo >= 0 && (i == 5 || text[3 * i + 2] == ':');
    mac[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  if (!ok) throw Invalid(env, what, "a MAC address (xx:xx:xx:xx:xx:xx)", text);
  return mac;
}

std::string FormatIp(int family, const void *bytes) {
  char text[INET6_ADDRSTRLEN];
  return inet_ntop(family, bytes, text, sizeof text) ? text : "";
}

std::string FormatMac(const uint8_t *bytes, size_t len) {
  std::string text;
  char part[4];
  for (size_t i = 0; i < len; i++) {
    snprintf(part, sizeof part, i ? ":%02x" : "%02x", bytes[i]);
    text += part;
  }
  return text;
}
