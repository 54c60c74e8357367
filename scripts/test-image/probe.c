/*
 * probe: a misbehaving-on-purpose test program for the berth test image.
 *
 * Each verb exercises one containment boundary (memory limit, pids limit,
 * writable rootfs, log capture, privilege drop, pid namespace, network
 * filtering), so tests can assert on what the runtime enforced rather than on
 * what busybox happens to do.
 * libc only, built with `gcc -static -O2` so the image needs no loader.
 */
#define _GNU_SOURCE

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netpacket/packet.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <netinet/ip_icmp.h>
#include <sys/time.h>

#define MIB (1024UL * 1024UL)

static int usage(void) {
  fputs("usage: probe memhog MB | forkbomb | counter FILE | tick FILE | spam BYTES | caps | pid\n"
        "       probe ping4 ADDR\n"
        "       probe serve PORT | spoof IFACE SRCMAC DSTMAC SRCIP DSTIP PORT MESSAGE\n",
        stderr);
  return 2;
}

static int parse_count(const char *s, unsigned long *out) {
  char *end;
  errno = 0;
  unsigned long v = strtoul(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0') return -1;
  *out = v;
  return 0;
}

_Noreturn static void sleep_forever(void) {
  for (;;) pause();
}

_Noreturn static void memhog(unsigned long mb) {
  /* Unbuffered so progress survives the OOM kill that is the expected outcome. */
  setvbuf(stdout, NULL, _IONBF, 0);
  for (unsigned long i = 1; i <= mb; i++) {
    char *chunk = malloc(MIB);
    if (chunk == NULL) {
      printf("memhog: malloc failed after %lu MiB\n", i - 1);
      sleep_forever();
    }
    /* Touch every page: untouched pages are never charged to the cgroup. */
    memset(chunk, 0xa5, MIB);
    printf("memhog: %lu MiB\n", i);
  }
  printf("memhog: done %lu MiB\n", mb);
  sleep_forever();
}

_Noreturn static void forkbomb(void) {
  /* Failures are the point (pids.max reached); keep pressing so the limit stays saturated. */
  for (;;) fork();
}

_Noreturn static void counter(const char *path) {
  const struct timespec tick = {0, 10 * 1000 * 1000};
  for (unsigned long n = 0;; n++) {
    /* Rewrite from scratch each tick so readers always see one whole integer. */
    FILE *f = fopen(path, "w");
    if (f != NULL) {
      fprintf(f, "%lu\n", n);
      fclose(f);
    }
    nanosleep(&tick, NULL);
  }
}

static uint64_t monotonic_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000000ULL + (uint64_t)t.tv_nsec;
}

/*
 * Wakes every millisecond and writes "COUNT MONOTONIC_NS" over FILE; every
 * wake-up later than 5 ms after the previous one is appended to FILE.gaps as
 * "END_NS GAP_NS". The container shares the host's monotonic clock, so a
 * test can tell which gaps fell inside an interval it measured (a freeze).
 */
_Noreturn static void tick(const char *path) {
  char gaps[4096];
  snprintf(gaps, sizeof(gaps), "%s.gaps", path);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  const struct timespec ms = {0, 1000 * 1000};
  uint64_t last = monotonic_ns();
  for (unsigned long n = 1;; n++) {
    nanosleep(&ms, NULL);
    uint64_t now = monotonic_ns();
    uint64_t gap = now - last;
    last = now;
    if (gap > 5 * 1000 * 1000ULL) {
      int g = open(gaps, O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (g >= 0) {
        dprintf(g, "%llu %llu\n", (unsigned long long)now, (unsigned long long)gap);
        close(g);
      }
    }
    char line[64];
    int len = snprintf(line, sizeof(line), "%020lu %020llu\n", n, (unsigned long long)now);
    if (fd >= 0 && pwrite(fd, line, (size_t)len, 0) < 0) fd = -1;
  }
}

static int spam(unsigned long bytes) {
  static const char line[] = "probe spam 0123456789 abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ\n";
  const size_t len = sizeof(line) - 1;
  while (bytes > 0) {
    /* The final line is truncated rather than padded so the byte count is exact. */
    size_t n = bytes < len ? bytes : len;
    if (fwrite(line, 1, n, stdout) != n) return 1;
    bytes -= n;
  }
  return fflush(stdout) == 0 ? 0 : 1;
}

static int caps(void) {
  static const char *const keys[] = {"CapEff:", "CapBnd:", "NoNewPrivs:", "Seccomp:"};
  FILE *f = fopen("/proc/self/status", "r");
  if (f == NULL) {
    perror("probe: /proc/self/status");
    return 1;
  }
  char buf[256];
  while (fgets(buf, sizeof(buf), f) != NULL) {
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
      if (strncmp(buf, keys[i], strlen(keys[i])) == 0) fputs(buf, stdout);
    }
  }
  fclose(f);
  return 0;
}

/* Answers every TCP connection with "<hostname> <peer address>" and logs every
 * UDP datagram as "udp <peer address> <payload>" (echoing it back), so a test
 * learns who answered and which source address the packet arrived with, after
 * whatever NAT lay between. */
static int serve(unsigned long port) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  struct sockaddr_in any = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  int tcp = socket(AF_INET, SOCK_STREAM, 0), udp = socket(AF_INET, SOCK_DGRAM, 0), one = 1;
  if (tcp < 0 || udp < 0 || setsockopt(tcp, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
      bind(tcp, (struct sockaddr *)&any, sizeof(any)) < 0 || listen(tcp, 64) < 0 ||
      bind(udp, (struct sockaddr *)&any, sizeof(any)) < 0) {
    perror("probe serve");
    return 1;
  }
  char host[256] = "?";
  gethostname(host, sizeof(host) - 1);
  printf("serve: listening on %lu\n", port);
  struct pollfd fds[2] = {{.fd = tcp, .events = POLLIN}, {.fd = udp, .events = POLLIN}};
  for (;;) {
    if (poll(fds, 2, -1) < 0 && errno != EINTR) return 1;
    struct sockaddr_in peer;
    socklen_t len = sizeof(peer);
    char line[600], peer_ip[INET_ADDRSTRLEN];
    if (fds[0].revents & POLLIN) {
      int c = accept(tcp, (struct sockaddr *)&peer, &len);
      if (c < 0) continue;
      inet_ntop(AF_INET, &peer.sin_addr, peer_ip, sizeof(peer_ip));
      int n = snprintf(line, sizeof(line), "%s %s\n", host, peer_ip);
      if (write(c, line, (size_t)n) < 0) perror("probe serve: write");
      close(c);
    }
    if (fds[1].revents & POLLIN) {
      char payload[256];
      ssize_t n = recvfrom(udp, payload, sizeof(payload) - 1, 0, (struct sockaddr *)&peer, &len);
      if (n < 0) continue;
      payload[n] = '\0';
      inet_ntop(AF_INET, &peer.sin_addr, peer_ip, sizeof(peer_ip));
      int m = snprintf(line, sizeof(line), "udp %s %s\n", peer_ip, payload);
      fputs(line, stdout);
      sendto(udp, line, (size_t)m, 0, (struct sockaddr *)&peer, len);
    }
  }
}

static int parse_mac(const char *s, uint8_t mac[6]) {
  return sscanf(s, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &mac[0], &mac[1], &mac[2], &mac[3], &mac[4],
                &mac[5]) == 6
             ? 0
             : -1;
}

static uint16_t ip_checksum(const uint8_t *p, size_t len) {
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < len; i += 2) sum += (uint32_t)(p[i] << 8 | p[i + 1]);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return (uint16_t)~sum;
}

/* Sends one hand-made Ethernet + IPv4 + UDP frame on IFACE with whatever
 * source MAC and IP it is told: what a workload with CAP_NET_RAW could put on
 * the wire, past its own routing table and addresses. Only the host side's
 * anti-spoofing can stop it. */
static int spoof(char **a) {
  uint8_t src_mac[6], dst_mac[6];
  struct in_addr src_ip, dst_ip;
  unsigned long port;
  const char *msg = a[6];
  size_t msg_len = strlen(msg);
  if (parse_mac(a[1], src_mac) < 0 || parse_mac(a[2], dst_mac) < 0 ||
      inet_pton(AF_INET, a[3], &src_ip) != 1 || inet_pton(AF_INET, a[4], &dst_ip) != 1 ||
      parse_count(a[5], &port) < 0 || port > 65535 || msg_len > 200)
    return usage();
  uint8_t frame[14 + 20 + 8 + 200] = {0};
  memcpy(frame, dst_mac, 6);
  memcpy(frame + 6, src_mac, 6);
  frame[12] = 0x08; /* IPv4 */
  uint8_t *ip = frame + 14, *udp = ip + 20;
  size_t ip_len = 20 + 8 + msg_len;
  ip[0] = 0x45;
  ip[2] = (uint8_t)(ip_len >> 8);
  ip[3] = (uint8_t)ip_len;
  ip[8] = 64;  /* TTL */
  ip[9] = 17;  /* UDP */
  memcpy(ip + 12, &src_ip, 4);
  memcpy(ip + 16, &dst_ip, 4);
  uint16_t sum = ip_checksum(ip, 20);
  ip[10] = (uint8_t)(sum >> 8);
  ip[11] = (uint8_t)sum;
  udp[0] = 0x9c; /* source port 40000 */
  udp[1] = 0x40;
  udp[2] = (uint8_t)(port >> 8);
  udp[3] = (uint8_t)port;
  udp[4] = (uint8_t)((8 + msg_len) >> 8);
  udp[5] = (uint8_t)(8 + msg_len); /* checksum 0: none, valid for UDP over IPv4 */
  memcpy(udp + 8, msg, msg_len);

  int s = socket(AF_PACKET, SOCK_RAW, htons(0x0800));
  if (s < 0) {
    perror("probe spoof: socket(AF_PACKET)");
    return 1;
  }
  struct sockaddr_ll to = {.sll_family = AF_PACKET, .sll_halen = 6};
  to.sll_ifindex = (int)if_nametoindex(a[0]);
  memcpy(to.sll_addr, dst_mac, 6);
  if (to.sll_ifindex == 0 ||
      sendto(s, frame, 14 + ip_len, 0, (struct sockaddr *)&to, sizeof(to)) < 0) {
    perror("probe spoof: sendto");
    return 1;
  }
  return 0;
}

/*
 * One ICMP echo through an unprivileged ICMP socket (net.ipv4.ping_group_range),
 * the way an instance without CAP_NET_RAW pings: exit 0 on a reply within 2 s.
 */
static int ping4(const char *addr) {
  struct sockaddr_in dst = {.sin_family = AF_INET};
  if (inet_pton(AF_INET, addr, &dst.sin_addr) != 1) return usage();
  int fd = socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP);
  if (fd < 0) {
    perror("probe: socket(SOCK_DGRAM, IPPROTO_ICMP)");
    return 1;
  }
  const struct timeval timeout = {2, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  struct icmphdr echo = {.type = ICMP_ECHO};
  echo.un.echo.sequence = htons(1);
  if (sendto(fd, &echo, sizeof(echo), 0, (struct sockaddr *)&dst, sizeof(dst)) < 0) {
    perror("probe: sendto");
    return 1;
  }
  char reply[128];
  ssize_t got = recv(fd, reply, sizeof(reply), 0);
  if (got < (ssize_t)sizeof(struct icmphdr) || ((struct icmphdr *)reply)->type != ICMP_ECHOREPLY) {
    fprintf(stderr, "probe: no echo reply from %s\n", addr);
    return 1;
  }
  printf("reply from %s\n", addr);
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2) return usage();
  const char *verb = argv[1];
  unsigned long n;

  if (strcmp(verb, "memhog") == 0 && argc == 3 && parse_count(argv[2], &n) == 0) memhog(n);
  if (strcmp(verb, "forkbomb") == 0 && argc == 2) forkbomb();
  if (strcmp(verb, "counter") == 0 && argc == 3) counter(argv[2]);
  if (strcmp(verb, "tick") == 0 && argc == 3) tick(argv[2]);
  if (strcmp(verb, "spam") == 0 && argc == 3 && parse_count(argv[2], &n) == 0) return spam(n);
  if (strcmp(verb, "caps") == 0 && argc == 2) return caps();
  if (strcmp(verb, "serve") == 0 && argc == 3 && parse_count(argv[2], &n) == 0 && n <= 65535)
    return serve(n);
  if (strcmp(verb, "spoof") == 0 && argc == 9) return spoof(argv + 2);
  if (strcmp(verb, "ping4") == 0 && argc == 3) return ping4(argv[2]);
  if (strcmp(verb, "pid") == 0 && argc == 2) {
    printf("%ld\n", (long)getpid());
    return 0;
  }
  return usage();
}
