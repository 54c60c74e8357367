#define _GNU_SOURCE
#include "spec.h"

#include "protocol.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int push(const char **list, int *n, const char *v) {
  if (*n >= SPEC_MAX_LIST) return -1;
  list[(*n)++] = v;
  return 0;
}

/* A decimal id, all of it: strtoul alone would take "12abc" or "-1". */
static int parse_id(const char *v, unsigned int *out) {
  if (*v < '0' || *v > '9') return -1;
  char *end;
  errno = 0;
  unsigned long n = strtoul(v, &end, 10);
  if (errno || *end || n >= 0xffffffffUL) return -1;
  *out = (unsigned int)n;
  return 0;
}

static int ns_flags(const char *v, int *flags) {
  static const struct { const char *name; int flag; } names[] = {
    {"mnt", CLONE_NEWNS}, {"pid", CLONE_NEWPID}, {"net", CLONE_NEWNET},
    {"uts", CLONE_NEWUTS}, {"ipc", CLONE_NEWIPC}, {"cgroup", CLONE_NEWCGROUP},
    {"user", CLONE_NEWUSER},
  };
  for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
    if (strcmp(v, names[i].name) == 0) {
      *flags |= names[i].flag;
      return 0;
    }
  return -1;
}

static int hex_decode(const char *hex, struct sock_filter **out, unsigned short *count) {
  size_t n = strlen(hex);
  if (n % (2 * sizeof(struct sock_filter)) != 0) return -1;
  size_t bytes = n / 2;
  unsigned char *buf = malloc(bytes);
  if (!buf) return -1;
  for (size_t i = 0; i < bytes; i++) {
    unsigned int b;
    if (sscanf(hex + 2 * i, "%2x", &b) != 1) {
      free(buf);
      return -1;
    }
    buf[i] = (unsigned char)b;
  }
  *out = (struct sock_filter *)buf;
  *count = (unsigned short)(bytes / sizeof(struct sock_filter));
  return 0;
}

static int build_overlay_opts(struct spec *s) {
  size_t len = 64 + strlen(s->upper) + strlen(s->work);
  for (int i = 0; i < s->nlower; i++) len += strlen(s->lower[i]) + 1;
  s->overlay_opts = malloc(len);
  if (!s->overlay_opts) return -1;
  char *p = s->overlay_opts;
  p += sprintf(p, "lowerdir=");
  for (int i = 0; i < s->nlower; i++) p += sprintf(p, "%s%s", i ? ":" : "", s->lower[i]);
  sprintf(p, ",upperdir=%s,workdir=%s", s->upper, s->work);
  return 0;
}

#define SPEC_KEY_ENUM(name, str) KEY_##name,
enum spec_key { MON_SPEC_KEYS(SPEC_KEY_ENUM) NKEYS };
#define SPEC_KEY_NAME(name, str) str,
static const char *const key_names[] = {MON_SPEC_KEYS(SPEC_KEY_NAME)};

static int key_of(const char *key) {
  for (int k = 0; k < NKEYS; k++) {
    if (k == KEY_WRITE ? !strncmp(key, key_names[k], strlen(key_names[k]))
                       : !strcmp(key, key_names[k]))
      return k;
  }
  return -1;
}

static int set_key(struct spec *s, int k, const char *key, const char *val) {
  switch (k) {
  case KEY_ID: s->id = val; return 0;
  case KEY_ROOTFS: s->rootfs = val; return 0;
  case KEY_LOWER: return push(s->lower, &s->nlower, val);
  case KEY_IDMAPSOURCE: return push(s->idmap_source, &s->nidmap_source, val);
  case KEY_UPPER: s->upper = val; return 0;
  case KEY_WORK: s->work = val; return 0;
  case KEY_NS: return ns_flags(val, &s->clone_flags);
  case KEY_NETNS: s->netns = val; return 0;
  case KEY_HOSTNAME: s->hostname = val; return 0;
  case KEY_CWD: s->cwd = val; return 0;
  case KEY_ENV: return s->nenv < 256 ? (s->env[s->nenv++] = val, 0) : -1;
  case KEY_ARG: return s->nargv < 256 ? (s->argv[s->nargv++] = val, 0) : -1;
  case KEY_CGROUP: return push(s->cgroups, &s->ncgroups, val);
  case KEY_CGROUP2: s->cgroup2 = val; return 0;
  case KEY_WRITE:
    if (s->nwrites >= SPEC_MAX_LIST) return -1;
    s->writes[s->nwrites++] = (struct spec_write){key + strlen(key_names[KEY_WRITE]), val};
    return 0;
  case KEY_RMDIR: return push(s->rmdirs, &s->nrmdirs, val);
  case KEY_UIDMAP: s->uid_map = val; return 0;
  case KEY_GIDMAP: s->gid_map = val; return 0;
  case KEY_CAPS:
    s->caps = strtoull(val, NULL, 16);
    s->caps_set = 1;
    return 0;
  case KEY_SECCOMP: return hex_decode(val, &s->seccomp, &s->seccomp_len);
  case KEY_MASK: return push(s->masks, &s->nmasks, val);
  case KEY_READONLY: return push(s->readonly, &s->nreadonly, val);
  case KEY_DEVICE: return push(s->devices, &s->ndevices, val);
  case KEY_LOOPBACK: s->loopback_up = atoi(val); return 0;
  case KEY_LOG: s->log_path = val; return 0;
  case KEY_LOGMAX: s->log_max = strtoull(val, NULL, 10); return 0;
  case KEY_LOGKEEP: s->log_keep = atoi(val); return 0;
  case KEY_EXITFILE: s->exit_file = val; return 0;
  case KEY_PIDFILE: s->pid_file = val; return 0;
  case KEY_OOMFILE: s->oom_file = val; return 0;
  case KEY_PID: s->target_pid = atoi(val); return 0;
  case KEY_USERNS: s->userns = atoi(val); return 0;
  case KEY_UID: s->user_set = 1; return parse_id(val, &s->uid);
  case KEY_GID: return parse_id(val, &s->gid);
  case KEY_VOLUME: return push(s->volume, &s->nvolume, val);
  case KEY_VOLUMEAT:
    if (val[0] != '/') return -1;
    return push(s->volume_at, &s->nvolume_at, val);
  case KEY_VOLUMERO:
    if (s->nvolume_ro >= SPEC_MAX_LIST) return -1;
    s->volume_ro[s->nvolume_ro++] = !strcmp(val, "1");
    return 0;
  case KEY_SGID:
    if (s->nsgids >= SPEC_MAX_LIST) return -1;
    return parse_id(val, &s->sgids[s->nsgids++]);
  }
  return -1;
}

int spec_parse(char *buf, size_t len, struct spec *s, int flags, struct fault *f) {
  memset(s, 0, sizeof(*s));
  s->log_keep = 1;
  size_t off = 0;
  while (off < len) {
    const char *key = buf + off;
    size_t klen = strnlen(key, len - off);
    if (off + klen + 1 >= len) return fault_spec(f, "key '%.40s' has no value", key);
    const char *val = key + klen + 1;
    size_t vlen = strnlen(val, len - off - klen - 1);
    if (off + klen + 1 + vlen >= len)
      return fault_spec(f, "value of '%.40s' is not terminated", key);
    off += klen + vlen + 2;
    int k = key_of(key);
    if (k < 0) return fault_spec(f, "unknown key '%.40s'", key);
    if (set_key(s, k, key, val)) return fault_spec(f, "bad value for '%.40s'", key);
  }
  s->env[s->nenv] = NULL;
  s->argv[s->nargv] = NULL;
  if (flags & SPEC_RECORD) return s->id ? 0 : fault_spec(f, "record without id");
  if (s->nargv == 0) return fault_spec(f, "no command (arg) given");
  if (s->nidmap_source && s->nidmap_source != s->nlower)
    return fault_spec(f, "%d id-map sources for %d lower layers", s->nidmap_source, s->nlower);
  if (s->nvolume != s->nvolume_at || s->nvolume != s->nvolume_ro)
    return fault_spec(f, "%d volumes, %d mount points, %d read-only flags", s->nvolume,
                      s->nvolume_at, s->nvolume_ro);
  if (s->nvolume && !(s->clone_flags & CLONE_NEWNS))
    return fault_spec(f, "volumes need a mount namespace");
  if (s->nlower > 0) {
    if (!s->rootfs || !s->upper || !s->work)
      return fault_spec(f, "overlay needs rootfs, upper and work");
    if (build_overlay_opts(s)) return fault_set(f, ENOMEM, "malloc", "", "overlay options");
  }
  return 0;
}

/* Appends key, value to a growing buffer; -1 when it cannot grow. */
static int record_add(char **buf, size_t *len, size_t *cap, int k, const char *val) {
  if (!val) return 0;
  size_t kl = strlen(key_names[k]) + 1, vl = strlen(val) + 1;
  if (*len + kl + vl > *cap) {
    size_t ncap = (*cap ? *cap * 2 : 512) + kl + vl;
    char *nb = realloc(*buf, ncap);
    if (!nb) return -1;
    *buf = nb;
    *cap = ncap;
  }
  memcpy(*buf + *len, key_names[k], kl);
  memcpy(*buf + *len + kl, val, vl);
  *len += kl + vl;
  return 0;
}

char *spec_record(const struct spec *s, size_t *len) {
  char *buf = NULL, num[32];
  size_t cap = 0;
  int rc = 0;
  *len = 0;
  rc |= record_add(&buf, len, &cap, KEY_ID, s->id);
  rc |= record_add(&buf, len, &cap, KEY_LOG, s->log_path);
  snprintf(num, sizeof num, "%llu", (unsigned long long)s->log_max);
  rc |= record_add(&buf, len, &cap, KEY_LOGMAX, num);
  snprintf(num, sizeof num, "%d", s->log_keep);
  rc |= record_add(&buf, len, &cap, KEY_LOGKEEP, num);
  rc |= record_add(&buf, len, &cap, KEY_EXITFILE, s->exit_file);
  rc |= record_add(&buf, len, &cap, KEY_PIDFILE, s->pid_file);
  rc |= record_add(&buf, len, &cap, KEY_OOMFILE, s->oom_file);
  for (int i = 0; i < s->nrmdirs; i++) rc |= record_add(&buf, len, &cap, KEY_RMDIR, s->rmdirs[i]);
  if (rc) {
    free(buf);
    return NULL;
  }
  return buf;
}

void spec_free(struct spec *s) {
  free(s->overlay_opts);
  free(s->seccomp);
  s->overlay_opts = NULL;
  s->seccomp = NULL;
}
