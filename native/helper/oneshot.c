/* Foreground modes: `run` creates one container with the caller's stdio
 * and exits with its status; `exec` enters a running container. Both read
 * their spec from fd 3 and forward terminal signals to the workload.
 * `exec pty` gives the entered process a new terminal of its own: the
 * helper relays the pty master to its stdin/stdout and applies the
 * `rows cols` lines it reads on fd 5 as window sizes. */
#define _GNU_SOURCE
#include "oneshot.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
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

/* The master end, and the slave opened before any setns: afterwards the
 * host's /dev/pts is no longer the one in view. */
static int open_pty(int *master, int *slave) {
  char name[128];
  if ((*master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC)) < 0)
    return setup_failed(errno, "posix_openpt", "/dev/ptmx", "console terminal");
  if (grantpt(*master) || unlockpt(*master) || ptsname_r(*master, name, sizeof name))
    return setup_failed(errno, "unlockpt", "/dev/ptmx", "console terminal");
  if ((*slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC)) < 0)
    return setup_failed(errno, "open", name, "console terminal");
  return 0;
}

/* In the child: a session of its own with the slave as controlling
 * terminal and stdio, so closing the master hangs the shell up. */
static void child_take_terminal(int slave, int errfd) {
  signal(SIGPIPE, SIG_DFL); /* an ignored disposition would survive execve */
  if (setsid() < 0) child_fail(errfd, "setsid", NULL, "console terminal");
  if (ioctl(slave, TIOCSCTTY, 0) < 0) child_fail(errfd, "ioctl", "TIOCSCTTY", "console terminal");
  for (int fd = 0; fd < 3; fd++)
    if (dup2(slave, fd) < 0) child_fail(errfd, "dup2", NULL, "console terminal");
}

static int write_all(int fd, const char *buf, size_t n) {
  while (n) {
    ssize_t w = write(fd, buf, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    buf += w;
    n -= (size_t)w;
  }
  return 0;
}

/* Applies each complete `rows cols` line; a partial one waits for the rest. */
static void apply_sizes(int master, char *lines, size_t *len) {
  char *start = lines, *nl;
  while ((nl = memchr(start, '\n', *len - (size_t)(start - lines)))) {
    *nl = 0;
    unsigned rows, cols;
    if (sscanf(start, "%u %u", &rows, &cols) == 2 && rows && cols && rows < 10000 && cols < 10000) {
      struct winsize ws = {.ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols};
      ioctl(master, TIOCSWINSZ, &ws);
    }
    start = nl + 1;
  }
  *len -= (size_t)(start - lines);
  memmove(lines, start, *len);
  if (*len == 255) *len = 0; /* a line this long is no size: drop it */
}

static int child_exited[2] = {-1, -1};

static void on_child(int sig) {
  (void)sig;
  int saved = errno;
  if (write(child_exited[1], "", 1) < 0) { /* the pipe is full: poll wakes anyway */ }
  errno = saved;
}

/* Until the shell exits or its side of the terminal is gone (EIO on the
 * master), or stdin ends (the console closed: the shell gets SIGHUP).
 * The shell's exit status, or -1 when it is still to be collected. */
static int relay_pty(int master, pid_t child) {
  char buf[16384], sizes[256];
  size_t nsizes = 0;
  int resize_open = fcntl(5, F_GETFD) >= 0, in_open = 1, status = -1;
  while (in_open) {
    struct pollfd p[4] = {{master, POLLIN, 0},
                          {0, POLLIN, 0},
                          {resize_open ? 5 : -1, POLLIN, 0},
                          {child_exited[0], POLLIN, 0}};
    if (poll(p, 4, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (p[0].revents) {
      ssize_t r = read(master, buf, sizeof buf);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0 || write_all(1, buf, (size_t)r)) break;
    }
    if (p[1].revents) {
      ssize_t r = read(0, buf, sizeof buf);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0 || write_all(master, buf, (size_t)r)) in_open = 0;
    }
    if (p[2].revents) {
      ssize_t r = read(5, sizes + nsizes, sizeof sizes - 1 - nsizes);
      if (r <= 0) resize_open = 0;
      else {
        nsizes += (size_t)r;
        apply_sizes(master, sizes, &nsizes);
      }
    }
    if (p[3].revents) {
      if (read(child_exited[0], buf, sizeof buf) < 0) { /* nothing to drain */ }
      if (waitpid(child, &status, WNOHANG) == child) {
        /* What the shell wrote last is still in the master: pass it on. */
        fcntl(master, F_SETFL, O_NONBLOCK);
        ssize_t r;
        while ((r = read(master, buf, sizeof buf)) > 0 && !write_all(1, buf, (size_t)r)) {}
        break;
      }
    }
  }
  /* Whatever the shell left in its session goes with the terminal. */
  kill(-child, SIGHUP);
  close(master);
  return status;
}

int exec_main(int pty) {
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
  int master = -1, slave = -1;
  if (pty && (bad = open_pty(&master, &slave))) return bad;
  spawn_init();
  if (join_namespaces(&s, &f)) return oneshot_report(&f);
  int errp[2];
  if (pipe2(errp, O_CLOEXEC)) return setup_failed(errno, "pipe2", "", "");
  if (pty) {
    if (pipe2(child_exited, O_CLOEXEC | O_NONBLOCK)) return setup_failed(errno, "pipe2", "", "");
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_child;
    sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
    sigaction(SIGCHLD, &sa, NULL);
    /* A console that went away is stdin's EOF, not a reason to die unreaped. */
    signal(SIGPIPE, SIG_IGN);
  }
  pid_t pid = fork(); /* the pid namespace applies to children only */
  if (pid == 0) {
    close(errp[0]);
    if (pty) child_take_terminal(slave, errp[1]);
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
  int status = -1;
  if (pty) {
    close(slave);
    if (!failed) status = relay_pty(master, pid);
  }
  if (status < 0) status = wait_status(pid);
  if (failed) return oneshot_report(&f);
  return exit_code(status);
}
