/* A container spec as the TypeScript side sends it: NUL-separated key/value
 * pairs. The helper interprets only mechanism; every choice (which
 * namespaces, mounts, capabilities, limits) was made by the caller. */
#ifndef BERTH_SPEC_H
#define BERTH_SPEC_H

#include <stddef.h>
#include <stdint.h>
#include <linux/filter.h>
#include <sys/types.h>

#include "fault.h"

#define SPEC_MAX_LIST 64

struct spec_write {
  const char *path;
  const char *value;
};

struct spec {
  const char *id;
  const char *rootfs;  /* mount point for the overlay, or the rootfs itself */
  const char *lower[SPEC_MAX_LIST];
  int nlower;
  const char *upper, *work;
  /* with a user namespace: the image layers, id-mapped onto the `lower`
   * directories (then only attach points) inside the container */
  const char *idmap_source[SPEC_MAX_LIST];
  int nidmap_source;
  char *overlay_opts; /* built from lower/upper/work before clone */
  int clone_flags;    /* CLONE_NEW* to create */
  const char *netns;  /* bind-mounted netns to join instead of CLONE_NEWNET */
  const char *hostname;
  const char *cwd;
  const char *env[256 + 1];
  int nenv;
  const char *argv[256 + 1];
  int nargv;
  const char *cgroups[SPEC_MAX_LIST]; /* v1 dirs: joined by writing cgroup.procs */
  int ncgroups;
  const char *cgroup2; /* v2 dir: joined at birth with CLONE_INTO_CGROUP */
  struct spec_write writes[SPEC_MAX_LIST]; /* cgroup limits etc. before clone */
  int nwrites;
  const char *rmdirs[SPEC_MAX_LIST]; /* removed, in order, once the container is gone */
  int nrmdirs;
  const char *uid_map, *gid_map;
  uint64_t caps;
  int caps_set;
  struct sock_filter *seccomp;
  unsigned short seccomp_len;
  const char *masks[SPEC_MAX_LIST];
  int nmasks;
  const char *readonly[SPEC_MAX_LIST];
  int nreadonly;
  const char *devices[SPEC_MAX_LIST];
  int ndevices;
  int loopback_up;
  const char *log_path;
  uint64_t log_max;
  int log_keep;
  const char *exit_file;
  const char *pid_file;
  const char *oom_file;
  /* the workload's user, switched to after every privileged step */
  int user_set;
  uid_t uid;
  gid_t gid;
  gid_t sgids[SPEC_MAX_LIST];
  int nsgids;
  /* volumes: the host mount `volume[i]` bound at `volume_at[i]` inside,
   * read-only when volume_ro[i] */
  const char *volume[SPEC_MAX_LIST];
  int nvolume;
  const char *volume_at[SPEC_MAX_LIST];
  int nvolume_at;
  int volume_ro[SPEC_MAX_LIST];
  int nvolume_ro;
  int target_pid; /* exec: the container to enter */
  int userns;     /* exec: the container has a user namespace */
};

/* A record is the part of a spec the keeper stores so that a new monitor
 * can take a running container over: no command, no namespaces. */
#define SPEC_RECORD 1

/* Parses buf[0..len) in place (the spec points into buf). Returns 0, or -1
 * with f filled. */
int spec_parse(char *buf, size_t len, struct spec *s, int flags, struct fault *f);
/* The record of s (a malloc'd spec blob), or NULL when out of memory. */
char *spec_record(const struct spec *s, size_t *len);
void spec_free(struct spec *s);

#endif
