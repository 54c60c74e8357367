/* Foreground modes: `run` creates one container with the caller's stdio
 * and exits with its status; `exec` enters a running container. Both read
 * their spec from fd 3 and forward terminal signals to the workload. */
#define _GNU_SOURCE
#include "oneshot.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "spawn.h"

static volatile pid_t forward_to = -1;

static void forward(int sig) {
  if (forward_to > 0) kill(forward_to, sig);
}

static void forward_signals(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = forward;
  sa.sa_flags = SA_RESTART;
  int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};
  for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) sigaction(sigs[i], &sa, NULL);
}

static char *read_all(int fd, size_t *len) {
  size_t cap = 65536, n = 0;
  char *buf = malloc(cap);
  *len = 0;
  if (!buf) return NULL;
  for (;;) {
    if (n == cap) {
      char *nb = realloc(buf, cap *= 2);
      if (!nb) {
        free(buf);
        return NULL;
      }
      buf = nb;
    }
    ssize_t r = read(fd, buf + n, cap - n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    n += (size_t)r;
  }
  *len = n;
  return buf;
}

/* A caller that wants setup failures apart from the workload's own output
 * passes fd 4 and reads them there as protocol fields (errno, syscall,
 * path, message: see protocol.h); the terminal user of `berth run` reads
 * the message on stderr. */
int oneshot_report(const struct fault *f) {
  char msg[1600];
  fault_message(f, msg, sizeof msg);
  if (fcntl(4, F_GETFD) >= 0) {
    dprintf(4, "%d%c%s%c%s%c%s%c", f->err, 0, f->syscall, 0, f->path, 0, msg, 0);
  } else {
    fprintf(stderr, "berth: cannot start container: %s\n", msg);
  }
  return fault_exit_code(f);
}

static int setup_failed(int err, const char *syscall, const char *path, const char *detail) {
  struct fault f;
  fault_set(&f, err, syscall, path, detail);
  return oneshot_report(&f);
}

/* 0, or the exit code of a spec that cannot be read. */
static int load_spec(struct spec *s, char **blob) {
  size_t len = 0;
  struct fault f;
  *blob = read_all(3, &len);
  close(3);
  if (!*blob) return setup_failed(ENOMEM, "malloc", "", "spec");
  if (spec_parse(*blob, len, s, 0, &f)) return oneshot_report(&f);
  return 0;
}

static int wait_status(pid_t pid) {
  int status;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) return 255;
  return status;
}

static int exit_code(int status) {
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void record_exit(const struct spec *s, int status) {
  if (!s->exit_file) return;
  FILE *f = fopen(s->exit_file, "we");
  if (!f) return;
  int sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
  fprintf(f, "%d %d %d 0\n", exit_code(status), sig, sig == SIGKILL && oom_killed(s));
  fclose(f);
}

int run_main(void) {
  struct spec s;
  struct fault f;
  char *blob;
  int bad = load_spec(&s, &blob);
  if (bad) return bad;
  prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  spawn_init();
  struct spawn_stdio io = {-1, -1, -1};
  struct spawned sp;
  if (spawn_container(&s, &io, &sp, &f)) return oneshot_report(&f);
  forward_to = sp.pid;
  forward_signals();
  int failed = read_child_error(sp.error_fd, &f);
  close(sp.error_fd);
  int status = wait_status(sp.pid);
  /* The pid namespace died with its init; the cgroups hold nothing now. */
  if (!failed) record_exit(&s, status);
  cgroups_remove(&s);
  if (failed) return oneshot_report(&f);
  return exit_code(status);
}

static int join_namespaces(const struct spec *s, struct fault *f) {
  static const struct { const char *name; int type; } order[] = {
    {"user", CLONE_NEWUSER}, {"cgroup", CLONE_NEWCGROUP}, {"ipc", CLONE_NEWIPC},
    {"uts", CLONE_NEWUTS}, {"net", CLONE_NEWNET}, {"pid", CLONE_NEWPID}, {"mnt", CLONE_NEWNS},
  };
  int fds[7];
  char path[64];
  /* Open every namespace before entering any: after the mount namespace
   * changes, /proc/<pid> may no longer be ours to read. */
  for (int i = 0; i < 7; i++) {
    fds[i] = -1;
    if (order[i].type == CLONE_NEWUSER && !s->userns) continue;
    snprintf(path, sizeof path, "/proc/%d/ns/%s", s->target_pid, order[i].name);
    if ((fds[i] = open(path, O_RDONLY | O_CLOEXEC)) < 0)
      return fault_set(f, errno, "open", path, "enter container");
  }
  for (int i = 0; i < 7; i++) {
    if (fds[i] < 0) continue;
    if (setns(fds[i], order[i].type) < 0) {
      snprintf(path, sizeof path, "/proc/%d/ns/%s", s->target_pid, order[i].name);
      return fault_set(f, errno, "setns", path, "enter container");
    }
    close(fds[i]);
  }
  return 0;
}

int exec_main(void) {
  struct spec s;
  struct fault f;
  char *blob;
  int bad = load_spec(&s, &blob);
  if (bad) return bad;
  if (s.target_pid <= 0) return setup_failed(EINVAL, "spec", "", "exec needs the container's pid");
  char self[32];
  snprintf(self, sizeof self, "%d", getpid());
  /* Join the container's cgroups first, so the child is born charged. */
  for (int i = 0; i < s.ncgroups + !!s.cgroup2; i++) {
    char path[4096];
    snprintf(path, sizeof path, "%s/cgroup.procs", i < s.ncgroups ? s.cgroups[i] : s.cgroup2);
    if (write_file(path, self))
      return setup_failed(errno, "write", path, "join cgroup");
  }
  spawn_init();
  if (join_namespaces(&s, &f)) return oneshot_report(&f);
  int errp[2];
  if (pipe2(errp, O_CLOEXEC)) return setup_failed(errno, "pipe2", "", "");
  pid_t pid = fork(); /* the pid namespace applies to children only */
  if (pid == 0) {
    close(errp[0]);
    if (s.userns && (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0))
      child_fail(errp[1], "setresuid", NULL, NULL);
    if (chdir(s.cwd ? s.cwd : "/") < 0)
      child_fail(errp[1], "chdir", s.cwd ? s.cwd : "/", "working directory");
    child_apply_security(&s, errp[1]);
    child_exec(&s, errp[1]);
  }
  close(errp[1]);
  if (pid < 0) return setup_failed(errno, "fork", "", "");
  forward_to = pid;
  forward_signals();
  int failed = read_child_error(errp[0], &f);
  int status = wait_status(pid);
  if (failed) return oneshot_report(&f);
  return exit_code(status);
}
