/*
 * probe: a misbehaving-on-purpose test program for the berth test image.
 *
 * Each verb exercises one containment boundary (memory limit, pids limit,
 * writable rootfs, log capture, privilege drop, pid namespace), so tests can
 * assert on what the runtime enforced rather than on what busybox happens to do.
 * libc only, built with `gcc -static -O2` so the image needs no loader.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/ip_icmp.h>
#include <sys/socket.h>
#include <sys/time.h>

#define MIB (1024UL * 1024UL)

static int usage(void) {
  fputs("usage: probe memhog MB | forkbomb | counter FILE | spam BYTES | caps | pid | ping4 ADDR\n",
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
  if (strcmp(verb, "spam") == 0 && argc == 3 && parse_count(argv[2], &n) == 0) return spam(n);
  if (strcmp(verb, "caps") == 0 && argc == 2) return caps();
  if (strcmp(verb, "ping4") == 0 && argc == 3) return ping4(argv[2]);
  if (strcmp(verb, "pid") == 0 && argc == 2) {
    printf("%ld\n", (long)getpid());
    return 0;
  }
  return usage();
}
