#define _GNU_SOURCE
#include "spec.h"

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int push(const char **list, int *n, const char *v) {
  if (*n >= SPEC_MAX_LIST) return -1;
  list[(*n)++] = v;
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

int spec_parse(char *buf, size_t len, struct spec *s, char *err, size_t errlen) {
  memset(s, 0, sizeof(*s));
  s->log_keep = 1;
  size_t off = 0;
  while (off < len) {
    const char *key = buf + off;
    size_t klen = strnlen(key, len - off);
    if (off + klen + 1 >= len) {
      snprintf(err, errlen, "spec: key '%.40s' has no value", key);
      return -1;
    }
    const char *val = key + klen + 1;
    size_t vlen = strnlen(val, len - off - klen - 1);
    if (off + klen + 1 + vlen >= len) {
      snprintf(err, errlen, "spec: value of '%.40s' is not terminated", key);
      return -1;
    }
    off += klen + vlen + 2;
    int rc = 0;
    if (!strcmp(key, "id")) s->id = val;
    else if (!strcmp(key, "rootfs")) s->rootfs = val;
    else if (!strcmp(key, "lower")) rc = push(s->lower, &s->nlower, val);
    else if (!strcmp(key, "idmapsource")) rc = push(s->idmap_source, &s->nidmap_source, val);
    else if (!strcmp(key, "upper")) s->upper = val;
    else if (!strcmp(key, "work")) s->work = val;
    else if (!strcmp(key, "ns")) rc = ns_flags(val, &s->clone_flags);
    else if (!strcmp(key, "netns")) s->netns = val;
    else if (!strcmp(key, "hostname")) s->hostname = val;
    else if (!strcmp(key, "cwd")) s->cwd = val;
    else if (!strcmp(key, "env")) rc = s->nenv < 256 ? (s->env[s->nenv++] = val, 0) : -1;
    else if (!strcmp(key, "arg")) rc = s->nargv < 256 ? (s->argv[s->nargv++] = val, 0) : -1;
    else if (!strcmp(key, "cgroup")) rc = push(s->cgroups, &s->ncgroups, val);
    else if (!strcmp(key, "cgroup2")) s->cgroup2 = val;
    else if (!strncmp(key, "write:", 6)) {
      if (s->nwrites >= SPEC_MAX_LIST) rc = -1;
      else s->writes[s->nwrites++] = (struct spec_write){key + 6, val};
    } else if (!strcmp(key, "rmdir")) rc = push(s->rmdirs, &s->nrmdirs, val);
    else if (!strcmp(key, "uidmap")) s->uid_map = val;
    else if (!strcmp(key, "gidmap")) s->gid_map = val;
    else if (!strcmp(key, "caps")) {
      s->caps = strtoull(val, NULL, 16);
      s->caps_set = 1;
    } else if (!strcmp(key, "seccomp")) rc = hex_decode(val, &s->seccomp, &s->seccomp_len);
    else if (!strcmp(key, "mask")) rc = push(s->masks, &s->nmasks, val);
    else if (!strcmp(key, "readonly")) rc = push(s->readonly, &s->nreadonly, val);
    else if (!strcmp(key, "device")) rc = push(s->devices, &s->ndevices, val);
    else if (!strcmp(key, "loopback")) s->loopback_up = atoi(val);
    else if (!strcmp(key, "log")) s->log_path = val;
    else if (!strcmp(key, "logmax")) s->log_max = strtoull(val, NULL, 10);
    else if (!strcmp(key, "logkeep")) s->log_keep = atoi(val);
    else if (!strcmp(key, "exitfile")) s->exit_file = val;
    else if (!strcmp(key, "pidfile")) s->pid_file = val;
    else if (!strcmp(key, "oomfile")) s->oom_file = val;
    else if (!strcmp(key, "pid")) s->target_pid = atoi(val);
    else if (!strcmp(key, "userns")) s->userns = atoi(val);
    else {
      snprintf(err, errlen, "spec: unknown key '%.40s'", key);
      return -1;
    }
    if (rc) {
      snprintf(err, errlen, "spec: bad value for '%.40s'", key);
      return -1;
    }
  }
  s->env[s->nenv] = NULL;
  s->argv[s->nargv] = NULL;
  if (s->nargv == 0) {
    snprintf(err, errlen, "spec: no command (arg) given");
    return -1;
  }
  if (s->nidmap_source && s->nidmap_source != s->nlower) {
    snprintf(err, errlen, "spec: %d id-map sources for %d lower layers", s->nidmap_source, s->nlower);
    return -1;
  }
  if (s->nlower > 0) {
    if (!s->rootfs || !s->upper || !s->work) {
      snprintf(err, errlen, "spec: overlay needs rootfs, upper and work");
      return -1;
    }
    if (build_overlay_opts(s)) {
      snprintf(err, errlen, "spec: out of memory");
      return -1;
    }
  }
  return 0;
}

void spec_free(struct spec *s) {
  free(s->overlay_opts);
  free(s->seccomp);
  s->overlay_opts = NULL;
  s->seccomp = NULL;
}
