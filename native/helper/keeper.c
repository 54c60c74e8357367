#define _GNU_SOURCE
#include "keeper.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "monitor.h"

struct held {
  struct held *next;
  char *id;
  pid_t pid;
  int fds[2]; /* console read end, pidfd */
  char *record;
  size_t rlen;
  int exited, status;
  int told; /* the current monitor knows how it ended */
};

static struct held *held;
static int epfd, sig_fd, listen_fd, lock_fd;
static int mon_fd = -1; /* our end of the pair with the current monitor */
static pid_t mon_pid;
static int taken_over;  /* the current monitor has asked for what we hold */
static int announced, shutting_down;
static struct timespec mon_started;

int keep_send(int sock, const char *buf, size_t len, int fd0, int fd1, int flags) {
  struct iovec iov = {(void *)buf, len};
  union {
    char raw[CMSG_SPACE(2 * sizeof(int))];
    struct cmsghdr align;
  } ctl;
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
  int fds[2] = {fd0, fd1}, nfds = (fd0 >= 0) + (fd1 >= 0);
  if (nfds) {
    memset(&ctl, 0, sizeof ctl);
    msg.msg_control = ctl.raw;
    msg.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
    memcpy(CMSG_DATA(c), fd0 >= 0 ? fds : fds + 1, nfds * sizeof(int));
  }
  ssize_t n;
  do n = sendmsg(sock, &msg, MSG_NOSIGNAL | flags);
  while (n < 0 && errno == EINTR);
  return n == (ssize_t)len ? 0 : -1;
}

ssize_t keep_recv(int sock, char *buf, size_t cap, int fds[2], int flags) {
  struct iovec iov = {buf, cap};
  union {
    char raw[CMSG_SPACE(2 * sizeof(int))];
    struct cmsghdr align;
  } ctl;
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.raw,
                       .msg_controllen = sizeof ctl.raw};
  fds[0] = fds[1] = -1;
  ssize_t n;
  do n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | flags);
  while (n < 0 && errno == EINTR);
  if (n < 0) return -1;
  for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < k; i++) {
      int fd;
      memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
      if (i < 2) fds[i] = fd;
      else close(fd);
    }
  }
  if (msg.msg_flags & MSG_TRUNC) {
    for (int i = 0; i < 2; i++)
      if (fds[i] >= 0) close(fds[i]);
    errno = EMSGSIZE;
    return -1;
  }
  return n;
}

static void say(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "berth-keeper: ");
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}

/* ---- what we hold ---- */

static struct held *find_id(const char *id) {
  for (struct held *h = held; h; h = h->next)
    if (!strcmp(h->id, id)) return h;
  return NULL;
}

static struct held *find_pid(pid_t pid) {
  for (struct held *h = held; h; h = h->next)
    if (h->pid == pid) return h;
  return NULL;
}

static void release(struct held *h) {
  struct held **pp = &held;
  while (*pp != h) pp = &(*pp)->next;
  *pp = h->next;
  for (int i = 0; i < 2; i++)
    if (h->fds[i] >= 0) close(h->fds[i]);
  free(h->id);
  free(h->record);
  free(h);
}

/* Splits fields off a packet: returns the field at *off and moves past it. */
static const char *field(const char *buf, size_t len, size_t *off) {
  if (*off >= len) return NULL;
  const char *f = buf + *off;
  size_t n = strnlen(f, len - *off);
  if (*off + n >= len) return NULL;
  *off += n + 1;
  return f;
}

static void on_hold(const char *buf, size_t len, size_t off, int fds[2]) {
  const char *id = field(buf, len, &off), *pid = field(buf, len, &off);
  struct held *h = id && pid ? calloc(1, sizeof *h) : NULL;
  if (h) {
    h->id = strdup(id);
    h->rlen = len - off;
    h->record = malloc(h->rlen ? h->rlen : 1);
  }
  if (!h || !h->id || !h->record) {
    /* The container runs on; only a monitor crash would now lose its
     * console and exit code. */
    say("cannot hold container '%s' (out of memory or bad packet)", id ? id : "?");
    if (h) {
      free(h->id);
      free(h->record);
      free(h);
    }
    for (int i = 0; i < 2; i++)
      if (fds[i] >= 0) close(fds[i]);
    return;
  }
  memcpy(h->record, buf + off, h->rlen);
  h->pid = atoi(pid);
  h->fds[0] = fds[0];
  h->fds[1] = fds[1];
  struct held *old = find_id(id);
  if (old) release(old);
  h->next = held;
  held = h;
}

/* ---- talking to the monitor ---- */

static int mon_writable_watched; /* EPOLLOUT is on: exits wait to be told */

static void watch_monitor(int writable) {
  if (writable == mon_writable_watched) return;
  struct epoll_event ev = {.events = writable ? EPOLLIN | EPOLLOUT : EPOLLIN, .data.fd = mon_fd};
  epoll_ctl(epfd, EPOLL_CTL_MOD, mon_fd, &ev);
  mon_writable_watched = writable;
}

/* Tells the monitor of exits it has not heard of, as far as its socket
 * takes them now; the rest go once it is writable again. */
static void tell_exits(void) {
  if (mon_fd < 0 || !taken_over) return;
  for (struct held *h = held; h; h = h->next) {
    if (!h->exited || h->told) continue;
    char msg[64];
    int n = snprintf(msg, sizeof msg, "%s%c%d%c%d%c", KEEP_EXIT, 0, h->pid, 0, h->status, 0);
    if (keep_send(mon_fd, msg, (size_t)n, -1, -1, MSG_DONTWAIT)) {
      if (errno == EAGAIN) watch_monitor(1);
      return;
    }
    h->told = 1;
  }
  watch_monitor(0);
}

static void send_unknown(pid_t pid) {
  char msg[64];
  int n = snprintf(msg, sizeof msg, "%s%c%d%c%d%c", KEEP_EXIT, 0, pid, 0, -1, 0);
  keep_send(mon_fd, msg, (size_t)n, -1, -1, 0);
}

/* The monitor reads nothing else until `done`, so blocking sends cannot
 * deadlock here. */
static void send_takeover(void) {
  static char msg[KEEP_MAX_PACKET];
  for (struct held *h = held; h; h = h->next) {
    int n = snprintf(msg, KEEP_MAX_PACKET, "%s%c%d%c%d%c%d%c", KEEP_HELD, 0, h->pid, 0, h->exited,
                     0, h->status, 0);
    if ((size_t)n + h->rlen > KEEP_MAX_PACKET) continue;
    memcpy(msg + n, h->record, h->rlen);
    if (keep_send(mon_fd, msg, (size_t)n + h->rlen, h->fds[0], h->fds[1], 0)) break;
    h->told = h->exited;
  }
  if (keep_send(mon_fd, KEEP_DONE, sizeof KEEP_DONE, -1, -1, 0) == 0) taken_over = 1;
}

static void on_status(pid_t pid) {
  struct held *h = find_pid(pid);
  if (h && h->exited) return; /* told, or about to be */
  int status;
  if (h && waitpid(pid, &status, WNOHANG) == pid) {
    h->exited = 1;
    h->status = status;
    tell_exits();
    return;
  }
  /* Not our child: the monitor that reaped it died before recording it. */
  send_unknown(pid);
}

static void on_packet(char *buf, size_t len, int fds[2]) {
  size_t off = 0;
  const char *verb = field(buf, len, &off);
  if (verb && !strcmp(verb, KEEP_HOLD)) return on_hold(buf, len, off, fds);
  for (int i = 0; i < 2; i++)
    if (fds[i] >= 0) close(fds[i]);
  if (!verb) return;
  if (!strcmp(verb, KEEP_READY)) {
    if (announced) return;
    announced = 1;
    printf("ready %d\n", getpid());
    fflush(stdout);
    /* Whoever started us stops reading once we are ready. */
    int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (null >= 0) {
      dup2(null, 1);
      close(null);
    }
  } else if (!strcmp(verb, KEEP_DROP)) {
    const char *id = field(buf, len, &off);
    struct held *h = id ? find_id(id) : NULL;
    if (h) release(h);
  } else if (!strcmp(verb, KEEP_TAKEOVER)) {
    send_takeover();
  } else if (!strcmp(verb, KEEP_STATUS)) {
    const char *pid = field(buf, len, &off);
    if (pid) on_status(atoi(pid));
  } else if (!strcmp(verb, KEEP_SHUTDOWN)) {
    shutting_down = 1;
  }
}

static void read_monitor(void) {
  static char buf[KEEP_MAX_PACKET];
  while (mon_fd >= 0) {
    int fds[2];
    ssize_t n = keep_recv(mon_fd, buf, sizeof buf, fds, MSG_DONTWAIT);
    if (n > 0) {
      on_packet(buf, (size_t)n, fds);
      continue;
    }
    if (n < 0 && errno == EAGAIN) return;
    if (n < 0 && errno == EMSGSIZE) {
      say("dropped an oversized packet from the monitor");
      continue;
    }
    /* EOF: the monitor is exiting; SIGCHLD follows. Stop listening so the
     * hang-up does not spin the loop. */
    epoll_ctl(epfd, EPOLL_CTL_DEL, mon_fd, NULL);
    return;
  }
}

static void start_monitor(void) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
    say("socketpair: %s", strerror(errno));
    exit(1);
  }
  int sz = 4 << 20;
  for (int i = 0; i < 2; i++) {
    setsockopt(sv[i], SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
    setsockopt(sv[i], SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
  }
  clock_gettime(CLOCK_MONOTONIC, &mon_started);
  pid_t pid = fork();
  if (pid == 0) {
    /* The monitor gets what we hold through the takeover, not as stray
     * inherited copies. */
    for (struct held *h = held; h; h = h->next)
      for (int i = 0; i < 2; i++)
        if (h->fds[i] >= 0) close(h->fds[i]);
    close(sv[0]);
    close(epfd);
    close(sig_fd);
    (void)lock_fd; /* kept open: the lock stays held while any of us lives */
    _exit(monitor_main(listen_fd, sv[1]));
  }
  close(sv[1]);
  if (pid < 0) {
    say("fork: %s", strerror(errno));
    exit(1);
  }
  mon_pid = pid;
  mon_fd = sv[0];
  taken_over = 0;
  fcntl(mon_fd, F_SETFL, O_NONBLOCK);
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = mon_fd};
  epoll_ctl(epfd, EPOLL_CTL_ADD, mon_fd, &ev);
  mon_writable_watched = 0;
}

static void monitor_ended(int status) {
  read_monitor(); /* what it sent before dying still counts */
  if (mon_fd >= 0) {
    epoll_ctl(epfd, EPOLL_CTL_DEL, mon_fd, NULL);
    close(mon_fd);
    mon_fd = -1;
  }
  if (shutting_down || !announced) exit(WIFEXITED(status) ? WEXITSTATUS(status) : 1);
  for (struct held *h = held; h; h = h->next) h->told = 0;
  say("monitor %d ended (wait status %d); starting a new one", mon_pid, status);
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  /* A monitor that keeps dying at once should not spin a core. */
  if (now.tv_sec - mon_started.tv_sec < 1) nanosleep(&(struct timespec){1, 0}, NULL);
  start_monitor();
}

static void reap(void) {
  int status;
  pid_t pid;
  while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
    if (pid == mon_pid) {
      monitor_ended(status);
      continue;
    }
    /* A container whose monitor died: we are its parent now. */
    struct held *h = find_pid(pid);
    if (!h) continue;
    h->exited = 1;
    h->status = status;
  }
  tell_exits();
}

static int listen_on(const char *path) {
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  if (strlen(path) >= sizeof addr.sun_path) {
    say("socket path too long: %s", path);
    return -1;
  }
  strcpy(addr.sun_path, path);
  unlink(path); /* stale: we hold the lock, so no live monitor owns it */
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(fd, 128) < 0) {
    fprintf(stderr, "berth-keeper: listen '%s': %s\n", path, strerror(errno));
    return -1;
  }
  chmod(path, 0600);
  return fd;
}

int keeper_main(const char *socket_path, const char *lock_path) {
  lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock_fd < 0) {
    fprintf(stderr, "berth-keeper: open '%s': %s\n", lock_path, strerror(errno));
    return 1;
  }
  if (flock(lock_fd, LOCK_EX | LOCK_NB) < 0) {
    printf("already running\n"); /* another keeper owns this state dir */
    fflush(stdout);
    return 0;
  }
  prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
  prctl(PR_SET_NAME, "berth-keeper", 0, 0, 0);
  /* Each container costs the monitor three descriptors and us two: a
   * thousand of them do not fit the usual soft limit of 1024. */
  struct rlimit nofile;
  if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
    nofile.rlim_cur = nofile.rlim_max;
    setrlimit(RLIMIT_NOFILE, &nofile);
  }
  signal(SIGPIPE, SIG_IGN);
  signal(SIGHUP, SIG_IGN);
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGCHLD);
  sigprocmask(SIG_BLOCK, &mask, NULL);
  if ((listen_fd = listen_on(socket_path)) < 0) return 1;
  epfd = epoll_create1(EPOLL_CLOEXEC);
  sig_fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
  if (epfd < 0 || sig_fd < 0) {
    fprintf(stderr, "berth-keeper: epoll/signalfd: %s\n", strerror(errno));
    return 1;
  }
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = sig_fd};
  epoll_ctl(epfd, EPOLL_CTL_ADD, sig_fd, &ev);
  start_monitor();
  for (;;) {
    struct epoll_event evs[8];
    int n = epoll_wait(epfd, evs, 8, -1);
    for (int i = 0; i < n; i++) {
      if (evs[i].data.fd == sig_fd) {
        struct signalfd_siginfo si;
        while (read(sig_fd, &si, sizeof si) > 0) {}
        reap();
      } else if (evs[i].data.fd == mon_fd) {
        if (evs[i].events & EPOLLIN) read_monitor();
        if (evs[i].events & EPOLLOUT) tell_exits();
      }
    }
  }
}
