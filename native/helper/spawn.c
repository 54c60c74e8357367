/* Container creation: the kernel sequence of crun/runc (see the design
 * notes), driven entirely by a spec. The helper process is small and
 * single-threaded, so a fork-style clone is cheap; the child still only
 * uses strings prepared before the clone. */
#define _GNU_SOURCE
#include "spawn.h"
#include "mountpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <stdint.h>
#include <unistd.h>

#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif
#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif

static int last_cap = 40;
static int host_netns_fd = -1;

void spawn_init(void) {
  FILE *f = fopen("/proc/sys/kernel/cap_last_cap", "re");
  if (f) {
    if (fscanf(f, "%d", &last_cap) != 1) last_cap = 40;
    fclose(f);
  }
  host_netns_fd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
}

int write_file(const char *path, const char *value) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  size_t len = strlen(value);
  ssize_t n = write(fd, value, len);
  int saved = errno;
  close(fd);
  errno = saved;
  return n == (ssize_t)len ? 0 : -1;
}

static int mkdir_p(const char *path) {
  if (mkdir(path, 0755) == 0 || errno == EEXIST) return 0;
  if (errno != ENOENT) return -1;
  char parent[4096];
  snprintf(parent, sizeof parent, "%s", path);
  char *slash = strrchr(parent, '/');
  if (!slash || slash == parent) return -1;
  *slash = 0;
  if (mkdir_p(parent)) return -1;
  return mkdir(path, 0755) == 0 || errno == EEXIST ? 0 : -1;
}

int cgroups_prepare(const struct spec *s, struct fault *f) {
  for (int i = 0; i < s->ncgroups; i++)
    if (mkdir_p(s->cgroups[i])) return fault_set(f, errno, "mkdir", s->cgroups[i], "cgroup");
  if (s->cgroup2 && mkdir_p(s->cgroup2))
    return fault_set(f, errno, "mkdir", s->cgroup2, "cgroup");
  for (int i = 0; i < s->nwrites; i++)
    if (write_file(s->writes[i].path, s->writes[i].value)) {
      char detail[160];
      snprintf(detail, sizeof detail, "set limit to '%.120s'", s->writes[i].value);
      return fault_set(f, errno, "write", s->writes[i].path, detail);
    }
  return 0;
}

/* A cgroup whose last task just died can report EBUSY for a moment while
 * the kernel finishes offlining it, so retry briefly. */
void cgroups_remove(const struct spec *s) {
  for (int i = 0; i < s->nrmdirs; i++)
    for (int attempt = 0; attempt < 200; attempt++) {
      if (rmdir(s->rmdirs[i]) == 0 || errno == ENOENT) break;
      if (errno != EBUSY) break;
      usleep(1000);
    }
}

int oom_killed(const struct spec *s) {
  if (!s->oom_file) return 0;
  FILE *f = fopen(s->oom_file, "re");
  if (!f) return 0;
  char line[128];
  long count = 0;
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "oom_kill %ld", &count) == 1) break;
  fclose(f);
  return count > 0;
}

/* ---- child side: only async-signal-safe calls from here to execve ---- */

static size_t scopy(char *dst, size_t cap, size_t at, const char *src) {
  while (*src && at + 1 < cap) dst[at++] = *src++;
  dst[at] = 0;
  return at;
}

void child_fail(int errfd, const char *syscall, const char *path, const char *detail) {
  struct fault f;
  fault_set(&f, errno, syscall, path, detail);
  ssize_t ignored = write(errfd, &f, sizeof f);
  (void)ignored;
  _exit(127);
}

#define CHECK(expr, syscall, path, detail) \
  do {                                     \
    if ((expr) < 0) child_fail(errfd, syscall, path, detail); \
  } while (0)

static void bind_device(int errfd, const char *name) {
  char host[64] = "/dev/", inside[64] = "dev/";
  scopy(host, sizeof host, 5, name);
  scopy(inside, sizeof inside, 4, name);
  int fd = open(inside, O_CREAT | O_WRONLY | O_CLOEXEC, 0666);
  CHECK(fd, "open", inside, "create device node");
  close(fd);
  CHECK(mount(host, inside, NULL, MS_BIND, NULL), "mount", host, "bind device");
}

static void mount_dev(const struct spec *s, int errfd) {
  const unsigned long nsd = MS_NOSUID | MS_NOEXEC | MS_NODEV;
  mkdir("dev", 0755);
  CHECK(mount("tmpfs", "dev", "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=755,size=65536k"),
        "mount", "/dev", "tmpfs");
  for (int i = 0; i < s->ndevices; i++) bind_device(errfd, s->devices[i]);
  CHECK(mkdir("dev/pts", 0755), "mkdir", "/dev/pts", NULL);
  CHECK(mount("devpts", "dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
              "newinstance,ptmxmode=0666,mode=0620"),
        "mount", "/dev/pts", "devpts");
  CHECK(symlink("pts/ptmx", "dev/ptmx"), "symlink", "/dev/ptmx", NULL);
  CHECK(mkdir("dev/shm", 01777), "mkdir", "/dev/shm", NULL);
  CHECK(mount("shm", "dev/shm", "tmpfs", nsd, "mode=1777,size=65536k"), "mount", "/dev/shm",
        "tmpfs");
  if (mkdir("dev/mqueue", 0755) == 0) mount("mqueue", "dev/mqueue", "mqueue", nsd, NULL);
  CHECK(symlink("/proc/self/fd", "dev/fd"), "symlink", "/dev/fd", NULL);
  CHECK(symlink("/proc/self/fd/0", "dev/stdin"), "symlink", "/dev/stdin", NULL);
  CHECK(symlink("/proc/self/fd/1", "dev/stdout"), "symlink", "/dev/stdout", NULL);
  CHECK(symlink("/proc/self/fd/2", "dev/stderr"), "symlink", "/dev/stderr", NULL);
}

static void mount_sys(int errfd) {
  const unsigned long flags = MS_RDONLY | MS_NOSUID | MS_NOEXEC | MS_NODEV;
  mkdir("sys", 0755);
  if (mount("sysfs", "sys", "sysfs", flags, NULL) == 0) return;
  /* Without owning the netns (user namespace joining a prepared netns) the
   * kernel refuses a new sysfs: expose the host's read-only instead. */
  CHECK(mount("/sys", "sys", NULL, MS_BIND | MS_REC, NULL), "mount", "/sys", "bind");
  CHECK(mount(NULL, "sys", NULL, MS_BIND | MS_REMOUNT | flags, NULL), "mount", "/sys",
        "remount read-only");
}

static void mask_and_protect(const struct spec *s, int errfd) {
  for (int i = 0; i < s->nmasks; i++) {
    struct stat st;
    if (stat(s->masks[i], &st) < 0) continue;
    if (S_ISDIR(st.st_mode))
      CHECK(mount("tmpfs", s->masks[i], "tmpfs", MS_RDONLY, "size=0"), "mount", s->masks[i],
            "mask");
    else
      CHECK(mount("/dev/null", s->masks[i], NULL, MS_BIND, NULL), "mount", s->masks[i], "mask");
  }
  for (int i = 0; i < s->nreadonly; i++) {
    if (mount(s->readonly[i], s->readonly[i], NULL, MS_BIND | MS_REC, NULL) < 0) {
      if (errno == ENOENT) continue;
      child_fail(errfd, "mount", s->readonly[i], "bind");
    }
    CHECK(mount(NULL, s->readonly[i], NULL,
                MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL),
          "mount", s->readonly[i], "remount read-only");
  }
}

static void loopback_up(int errfd) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  CHECK(fd, "socket", NULL, "loopback");
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  scopy(ifr.ifr_name, sizeof ifr.ifr_name, 0, "lo");
  CHECK(ioctl(fd, SIOCGIFFLAGS, &ifr), "ioctl", "lo", "SIOCGIFFLAGS");
  ifr.ifr_flags |= IFF_UP;
  CHECK(ioctl(fd, SIOCSIFFLAGS, &ifr), "ioctl", "lo", "SIOCSIFFLAGS");
  close(fd);
}

static void child_report(int errfd, const struct fault *f) {
  ssize_t ignored = write(errfd, f, sizeof *f);
  (void)ignored;
  _exit(127);
}

/* After pivot_root: the mount points resolve in the container's own tree. */
static void attach_volumes(const struct spec *s, const int *trees, int errfd) {
  struct fault f;
  int root = s->nvolume ? open("/", O_PATH | O_DIRECTORY | O_CLOEXEC) : -1;
  if (s->nvolume) CHECK(root, "open", "/", "container root");
  for (int i = 0; i < s->nvolume; i++) {
    int at = mountpoint_open(root, s->volume_at[i], &f);
    if (at < 0) child_report(errfd, &f);
    CHECK(move_mount(trees[i], "", at, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH),
          "move_mount", s->volume_at[i], "attach volume");
    close(at);
    close(trees[i]);
  }
  if (root >= 0) close(root);
}

static void setup_root(const struct spec *s, const int *volumes, int errfd) {
  if (s->overlay_opts)
    CHECK(mount("overlay", s->rootfs, "overlay", MS_NODEV, s->overlay_opts), "mount", s->rootfs,
          "overlay root");
  else
    CHECK(mount(s->rootfs, s->rootfs, NULL, MS_BIND | MS_REC, NULL), "mount", s->rootfs,
          "bind root");
  CHECK(chdir(s->rootfs), "chdir", s->rootfs, NULL);
  mkdir("proc", 0555);
  CHECK(mount("proc", "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL), "mount", "/proc",
        "proc");
  mount_sys(errfd);
  mount_dev(s, errfd);
  /* pivot_root(".", ".") stacks the old root on top of the new one; the
   * lazy unmount then drops it without needing a put_old directory. */
  CHECK(syscall(SYS_pivot_root, ".", "."), "pivot_root", s->rootfs, NULL);
  CHECK(umount2(".", MNT_DETACH), "umount2", "/", "old root");
  CHECK(chdir("/"), "chdir", "/", NULL);
  attach_volumes(s, volumes, errfd);
  mask_and_protect(s, errfd);
}

/* Groups first and the uid last: each step needs CAP_SETGID/CAP_SETUID,
 * which the uid change takes away. Once no uid is 0 the kernel empties the
 * permitted, effective and ambient sets itself (no SECBIT_KEEP_CAPS), so a
 * non-root workload holds no capability, as under Docker. */
static void child_set_user(const struct spec *s, int errfd) {
  CHECK(setgroups((size_t)s->nsgids, s->sgids), "setgroups", NULL, "image user");
  CHECK(setresgid(s->gid, s->gid, s->gid), "setresgid", NULL, "image user");
  CHECK(setresuid(s->uid, s->uid, s->uid), "setresuid", NULL, "image user");
}

void child_apply_security(const struct spec *s, int errfd) {
  if (!s->caps_set) {
    if (s->user_set) child_set_user(s, errfd);
    return;
  }
  for (int cap = 0; cap <= last_cap; cap++)
    if (!(s->caps & (1ULL << cap)) && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 &&
        errno != EINVAL)
      child_fail(errfd, "prctl", NULL, "PR_CAPBSET_DROP");
  CHECK(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0), "prctl", NULL,
        "PR_CAP_AMBIENT_CLEAR_ALL");
  if (s->user_set) child_set_user(s, errfd);
  /* A non-root user's sets are empty now and cannot be raised again: it
   * keeps none, inheritable included (Docker dropped those too). */
  uint64_t caps = s->user_set && s->uid != 0 ? 0 : s->caps;
  struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2];
  memset(data, 0, sizeof data);
  for (int i = 0; i < 2; i++) {
    uint32_t word = (uint32_t)(caps >> (32 * i));
    data[i].effective = data[i].permitted = data[i].inheritable = word;
  }
  CHECK(syscall(SYS_capset, &hdr, data), "capset", NULL, NULL);
  CHECK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl", NULL, "PR_SET_NO_NEW_PRIVS");
  if (s->seccomp) {
    struct sock_fprog prog = {s->seccomp_len, s->seccomp};
    CHECK(prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog), "prctl", NULL, "PR_SET_SECCOMP");
  }
}

static const char *env_path(const struct spec *s) {
  for (int i = 0; i < s->nenv; i++)
    if (!strncmp(s->env[i], "PATH=", 5)) return s->env[i] + 5;
  return "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
}

/* execvpe() may allocate; this walks PATH with a stack buffer instead. */
void child_exec(const struct spec *s, int errfd) {
  const char *cmd = s->argv[0];
  if (strchr(cmd, '/')) {
    execve(cmd, (char *const *)s->argv, (char *const *)s->env);
    child_fail(errfd, "execve", cmd, NULL);
  }
  int saved = ENOENT;
  for (const char *p = env_path(s); *p;) {
    const char *end = strchr(p, ':');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    char full[4096];
    if (len + strlen(cmd) + 2 < sizeof full) {
      memcpy(full, p, len);
      full[len] = '/';
      scopy(full, sizeof full, len + 1, cmd);
      execve(full, (char *const *)s->argv, (char *const *)s->env);
      if (errno != ENOENT && errno != ENOTDIR) saved = errno;
    }
    p = end ? end + 1 : p + len;
  }
  errno = saved;
  child_fail(errfd, "execve", cmd, NULL);
}

/* Docker makes a missing working directory (owned by the container's
 * root) rather than refusing to start; a component that cannot be made is
 * left for chdir to report. Stack buffer only: we are between clone and
 * exec. */
static void child_mkdir_p(const char *dir) {
  char path[4096];
  size_t len = scopy(path, sizeof path, 0, dir);
  for (size_t i = 1; i <= len; i++)
    if (path[i] == '/' || path[i] == 0) {
      char c = path[i];
      path[i] = 0;
      mkdir(path, 0755);
      path[i] = c;
    }
}

static void child_main(const struct spec *s, const struct spawn_stdio *io, const int *idmapped,
                       const int *volumes, int syncfd, int errfd) {
  char ready;
  /* The parent joins our cgroups and writes the id maps before we go on. */
  if (read(syncfd, &ready, 1) != 1) _exit(127);
  close(syncfd);
  /* The monitor blocks SIGCHLD and ignores SIGPIPE/SIGHUP; ignored
   * dispositions and the mask would survive execve into the workload. */
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  signal(SIGPIPE, SIG_DFL);
  signal(SIGHUP, SIG_DFL);
  /* Unshared only now that the parent has moved us into our cgroups, so the
   * namespace's root is the container's own cgroup. */
  if (s->clone_flags & CLONE_NEWCGROUP)
    CHECK(unshare(CLONE_NEWCGROUP), "unshare", NULL, "CLONE_NEWCGROUP");
  if (s->clone_flags & CLONE_NEWNS)
    CHECK(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), "mount", "/", "make private");
  /* Attach each id-mapped image layer, in this namespace only, where the
   * overlay expects it: the image's root-owned files then belong to the
   * container's root. Done while we still act as the host's root for path
   * lookups, so images under directories closed to the mapped uid (a
   * private checkout, say) stay reachable. */
  for (int i = 0; idmapped && i < s->nlower; i++)
    CHECK(move_mount(idmapped[i], "", AT_FDCWD, s->lower[i], MOVE_MOUNT_F_EMPTY_PATH),
          "move_mount", s->lower[i], "attach id-mapped layer");
  if (s->clone_flags & CLONE_NEWUSER) {
    CHECK(setresgid(0, 0, 0), "setresgid", NULL, NULL);
    CHECK(setresuid(0, 0, 0), "setresuid", NULL, NULL);
  }
  /* The monitor's own supplementary groups must not leak into the workload. */
  CHECK(setgroups(0, NULL), "setgroups", NULL, NULL);
  if (s->clone_flags & CLONE_NEWNS) setup_root(s, volumes, errfd);
  if (s->hostname && (s->clone_flags & CLONE_NEWUTS))
    CHECK(sethostname(s->hostname, strlen(s->hostname)), "sethostname", s->hostname, NULL);
  if (s->loopback_up) loopback_up(errfd);
  CHECK(setsid(), "setsid", NULL, NULL);
  if (io->in >= 0) CHECK(dup2(io->in, 0), "dup2", NULL, "stdin");
  if (io->out >= 0) CHECK(dup2(io->out, 1), "dup2", NULL, "stdout");
  if (io->err >= 0) CHECK(dup2(io->err, 2), "dup2", NULL, "stderr");
  if (s->cwd) child_mkdir_p(s->cwd);
  CHECK(chdir(s->cwd ? s->cwd : "/"), "chdir", s->cwd ? s->cwd : "/", "working directory");
  child_apply_security(s, errfd);
  child_exec(s, errfd);
}

/* ---- parent side ---- */

static pid_t do_clone(const struct spec *s, int cgroup_fd, int *pidfd) {
  uint64_t flags = (uint64_t)s->clone_flags;
  if (s->netns) flags &= ~(uint64_t)CLONE_NEWNET;
  flags &= ~(uint64_t)CLONE_NEWCGROUP;
  struct clone_args args;
  memset(&args, 0, sizeof args);
  args.exit_signal = SIGCHLD;
  args.flags = flags | CLONE_PIDFD;
  args.pidfd = (uint64_t)(uintptr_t)pidfd;
  if (cgroup_fd >= 0) {
    args.flags |= CLONE_INTO_CGROUP;
    args.cgroup = (uint64_t)cgroup_fd;
  }
  pid_t pid = (pid_t)syscall(SYS_clone3, &args, sizeof args);
  if (pid < 0 && errno == ENOSYS) {
    pid = (pid_t)syscall(SYS_clone, (unsigned long)flags | SIGCHLD, 0, 0, 0, 0);
    /* Our unreaped child: its pid cannot be reused before we open it. */
    if (pid > 0) *pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
  }
  return pid;
}

static int join_cgroups(const struct spec *s, pid_t pid, int joined_v2, struct fault *f) {
  char buf[32], path[4096];
  snprintf(buf, sizeof buf, "%d", pid);
  for (int i = 0; i < s->ncgroups + (joined_v2 ? 0 : !!s->cgroup2); i++) {
    const char *dir = i < s->ncgroups ? s->cgroups[i] : s->cgroup2;
    snprintf(path, sizeof path, "%s/cgroup.procs", dir);
    if (write_file(path, buf)) return fault_set(f, errno, "write", path, "join cgroup");
  }
  return 0;
}

/* setgroups stays allowed in a container's namespace: its root (and an
 * image user's supplementary groups) need it, and the maps are written by
 * the host's root, not by an unprivileged user whom "deny" protects
 * against. The namespace that only holds a mapping for id-mapped mounts
 * runs nothing and denies it. */
static int write_id_maps(const struct spec *s, pid_t pid, int deny_setgroups, struct fault *f) {
  char path[64];
  const char *files[] = {"setgroups", "uid_map", "gid_map"};
  const char *values[] = {deny_setgroups ? "deny" : NULL, s->uid_map, s->gid_map};
  for (int i = 0; i < 3; i++) {
    if (!values[i]) continue;
    snprintf(path, sizeof path, "/proc/%d/%s", pid, files[i]);
    if (write_file(path, values[i])) return fault_set(f, errno, "write", path, "id map");
  }
  return 0;
}

/* An id-mapped mount needs a user namespace holding the mapping; one
 * made once per mapping by a throwaway child serves every container. */
static int userns_for_map(const struct spec *s, struct fault *f) {
  static struct { char map[64]; int fd; } cache[8];
  static int ncache;
  for (int i = 0; i < ncache; i++)
    if (!strcmp(cache[i].map, s->uid_map)) return cache[i].fd;
  int holdp[2];
  if (pipe2(holdp, O_CLOEXEC)) return fault_set(f, errno, "pipe2", NULL, "user namespace");
  struct clone_args args = {.flags = CLONE_NEWUSER, .exit_signal = SIGCHLD};
  pid_t pid = (pid_t)syscall(SYS_clone3, &args, sizeof args);
  if (pid == 0) {
    char c;
    close(holdp[1]);
    ssize_t ignored = read(holdp[0], &c, 1);
    (void)ignored;
    _exit(0);
  }
  close(holdp[0]);
  int fd = -1;
  char path[64];
  if (pid < 0) fault_set(f, errno, "clone3", NULL, "user namespace");
  else if (write_id_maps(s, pid, 1, f) == 0) {
    snprintf(path, sizeof path, "/proc/%d/ns/user", pid);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) fault_set(f, errno, "open", path, NULL);
  }
  close(holdp[1]);
  if (pid > 0) waitpid(pid, NULL, 0);
  if (fd >= 0 && ncache < 8) {
    snprintf(cache[ncache].map, sizeof cache[ncache].map, "%s", s->uid_map);
    cache[ncache++].fd = fd;
  }
  return fd;
}

static int open_idmapped_layers(const struct spec *s, int *fds, struct fault *f) {
  int userns = userns_for_map(s, f);
  if (userns < 0) return -1;
  for (int i = 0; i < s->nlower; i++) {
    fds[i] = open_tree(AT_FDCWD, s->idmap_source[i], OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
    if (fds[i] < 0) return fault_set(f, errno, "open_tree", s->idmap_source[i], "id-map layer");
    struct mount_attr attr = {.attr_set = MOUNT_ATTR_IDMAP, .userns_fd = (uint64_t)userns};
    if (mount_setattr(fds[i], "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof attr) < 0)
      return fault_set(f, errno, "mount_setattr", s->idmap_source[i], "id-map layer");
  }
  return 0;
}

/* Copies of the volumes' host mounts, made here in the host's namespace
 * and moved into the container's by the child. */
static int open_volumes(const struct spec *s, int *fds, struct fault *f) {
  int userns = -1;
  if (s->nvolume && (s->clone_flags & CLONE_NEWUSER) && s->uid_map &&
      (userns = userns_for_map(s, f)) < 0)
    return -1;
  for (int i = 0; i < s->nvolume; i++)
    if ((fds[i] = volume_tree(s->volume[i], s->volume_ro[i], userns, f)) < 0) return -1;
  return 0;
}

/* The child is still waiting on the sync pipe: nothing of it ran. */
static void discard_child(pid_t pid, int pidfd) {
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
  if (pidfd >= 0) close(pidfd);
}

int spawn_container(const struct spec *s, const struct spawn_stdio *io, struct spawned *out,
                    struct fault *f) {
  int idmapped[SPEC_MAX_LIST], volumes[SPEC_MAX_LIST];
  int use_idmap = (s->clone_flags & CLONE_NEWUSER) && s->uid_map && s->nidmap_source > 0;
  for (int i = 0; i < SPEC_MAX_LIST; i++) idmapped[i] = volumes[i] = -1;
  int syncp[2] = {-1, -1}, errp[2] = {-1, -1}, cgfd = -1, netfd = -1, pidfd = -1;
  int rc = -1;
  pid_t pid = -1;
  if (cgroups_prepare(s, f)) goto fail;
  if (use_idmap && open_idmapped_layers(s, idmapped, f)) goto fail;
  if (open_volumes(s, volumes, f)) goto fail;
  if (pipe2(syncp, O_CLOEXEC) || pipe2(errp, O_CLOEXEC)) {
    fault_set(f, errno, "pipe2", NULL, NULL);
    goto fail;
  }
  if (s->cgroup2 && (cgfd = open(s->cgroup2, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
    fault_set(f, errno, "open", s->cgroup2, "cgroup");
    goto fail;
  }
  /* Joining a prepared netns from inside a new user namespace is refused
   * (the netns belongs to the host's), so the single-threaded helper steps
   * into it for the clone and back out right after. */
  if (s->netns) {
    if ((netfd = open(s->netns, O_RDONLY | O_CLOEXEC)) < 0) {
      fault_set(f, errno, "open", s->netns, "network namespace");
      goto fail;
    }
    if (setns(netfd, CLONE_NEWNET) < 0) {
      fault_set(f, errno, "setns", s->netns, "network namespace");
      goto fail;
    }
  }
  pid = do_clone(s, cgfd, &pidfd);
  int joined_v2 = 1;
  if (pid < 0 && cgfd >= 0 && (errno == EINVAL || errno == EOPNOTSUPP || errno == E2BIG)) {
    pid = do_clone(s, -1, &pidfd);
    joined_v2 = 0;
  }
  if (pid == 0) {
    close(syncp[1]);
    close(errp[0]);
    child_main(s, io, use_idmap ? idmapped : NULL, volumes, syncp[0], errp[1]);
  }
  int clone_errno = errno;
  if (s->netns && setns(host_netns_fd, CLONE_NEWNET) < 0) {
    /* Every later clone would land in this container's network: stop here,
     * and let the keeper start a clean monitor, which takes the running
     * containers over. */
    fprintf(stderr, "berth-monitor: cannot return to the host network namespace: %s\n",
            strerror(errno));
    _exit(70);
  }
  if (pid < 0) {
    fault_set(f, clone_errno, "clone3", NULL, NULL);
    goto fail;
  }
  close(syncp[0]);
  close(errp[1]);
  syncp[0] = errp[1] = -1;
  if (join_cgroups(s, pid, joined_v2 && cgfd >= 0, f) ||
      ((s->clone_flags & CLONE_NEWUSER) && write_id_maps(s, pid, 0, f))) {
    discard_child(pid, pidfd);
    pidfd = -1;
    goto fail;
  }
  if (write(syncp[1], "1", 1) != 1) {
    fault_set(f, errno, "write", NULL, "release child");
    discard_child(pid, pidfd);
    pidfd = -1;
    goto fail;
  }
  out->pid = pid;
  out->pidfd = pidfd;
  out->error_fd = errp[0];
  errp[0] = -1;
  rc = 0;
fail:
  for (int i = 0; i < 2; i++) {
    if (syncp[i] >= 0) close(syncp[i]);
    if (errp[i] >= 0) close(errp[i]);
  }
  if (cgfd >= 0) close(cgfd);
  if (netfd >= 0) close(netfd);
  for (int i = 0; i < s->nlower; i++)
    if (idmapped[i] >= 0) close(idmapped[i]);
  for (int i = 0; i < s->nvolume; i++)
    if (volumes[i] >= 0) close(volumes[i]);
  if (rc) cgroups_remove(s);
  return rc;
}

int read_child_error(int fd, struct fault *f) {
  ssize_t n;
  do n = read(fd, f, sizeof *f);
  while (n < 0 && errno == EINTR);
  if (n != (ssize_t)sizeof *f) return 0;
  f->syscall[sizeof f->syscall - 1] = 0;
  f->path[sizeof f->path - 1] = 0;
  f->detail[sizeof f->detail - 1] = 0;
  return 1;
}
