/* The per-host monitor: owns every container so that they outlive the
 * berth service. It spawns them, reaps them as their parent (and as child
 * subreaper), writes their console logs and records how each one ended in
 * its exit file even while no berth process is connected. */
#define _GNU_SOURCE
#include "monitor.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "console.h"
#include "spawn.h"

#define MAX_CLIENTS 64
#define MAX_FRAME (4 << 20)

struct watch {
  int tag;
  void *ptr;
};

struct client {
  int fd;
  struct watch w;
  char *buf;
  size_t len, cap;
};

struct container {
  struct container *next;
  char *blob; /* the spec's strings point into it */
  struct spec spec;
  pid_t pid;
  int err_fd, out_fd;
  struct console log;
  struct client *requester; /* waiting for the spawn reply */
  char req[32];
  struct watch werr, wout;
  int started;  /* exec succeeded */
  int failed;   /* setup failed: error holds why */
  char error[512];
};

enum { TAG_LISTEN = 1, TAG_SIGNAL, TAG_CLIENT, TAG_ERR, TAG_OUT };

static int epfd, listen_fd, sig_fd;
static struct client clients[MAX_CLIENTS];
static struct container *containers, *graveyard;
static struct client *shutdown_requester;
static char shutdown_req[32];
static int shutting_down;

/* Every watched descriptor carries its owner, so an event can be routed
 * without lookups. Owners of a finished container are only freed after the
 * current batch of events, which may still name them. */
static void watch(int fd, struct watch *w, int tag, void *ptr) {
  w->tag = tag;
  w->ptr = ptr;
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = w};
  if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) perror("berth-monitor: epoll_ctl");
}

static void unwatch(int fd) { epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL); }

/* ---- framing ---- */

struct frame {
  char buf[8192];
  size_t len;
};

static void frame_add(struct frame *f, const char *field) {
  size_t n = strlen(field) + 1;
  if (f->len + n > sizeof f->buf) return;
  memcpy(f->buf + f->len, field, n);
  f->len += n;
}

static void frame_addf(struct frame *f, const char *fmt, long v) {
  char tmp[32];
  snprintf(tmp, sizeof tmp, fmt, v);
  frame_add(f, tmp);
}

static void client_close(struct client *c) {
  if (c->fd < 0) return;
  unwatch(c->fd);
  close(c->fd);
  c->fd = -1;
  free(c->buf);
  c->buf = NULL;
  c->len = c->cap = 0;
  for (struct container *k = containers; k; k = k->next)
    if (k->requester == c) k->requester = NULL;
  if (shutdown_requester == c) shutdown_requester = NULL;
}

static void send_frame(struct client *c, const struct frame *f) {
  if (!c || c->fd < 0) return;
  uint32_t len = (uint32_t)f->len;
  struct iovec iov[2] = {{&len, 4}, {(void *)f->buf, f->len}};
  struct msghdr msg = {.msg_iov = iov, .msg_iovlen = 2};
  ssize_t n = sendmsg(c->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
  /* A client too slow to take a small frame is gone or stuck: drop it
   * rather than stall every container on this host. */
  if (n != (ssize_t)(4 + f->len)) client_close(c);
}

static void broadcast(const struct frame *f) {
  for (int i = 0; i < MAX_CLIENTS; i++)
    if (clients[i].fd >= 0) send_frame(&clients[i], f);
}

static void reply_error(struct client *c, const char *req, const char *msg) {
  struct frame f = {.len = 0};
  frame_add(&f, "reply");
  frame_add(&f, req);
  frame_add(&f, "error");
  frame_add(&f, msg);
  send_frame(c, &f);
}

static void reply_ok(struct client *c, const char *req, long value) {
  struct frame f = {.len = 0};
  frame_add(&f, "reply");
  frame_add(&f, req);
  frame_add(&f, "ok");
  frame_addf(&f, "%ld", value);
  send_frame(c, &f);
}

/* ---- containers ---- */

static struct container *find_by_id(const char *id) {
  for (struct container *k = containers; k; k = k->next)
    if (!strcmp(k->spec.id, id)) return k;
  return NULL;
}

static struct container *find_by_pid(pid_t pid) {
  for (struct container *k = containers; k; k = k->next)
    if (k->pid == pid) return k;
  return NULL;
}

static void write_atomic(const char *path, const char *content) {
  char tmp[4200];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return;
  ssize_t n = write(fd, content, strlen(content));
  close(fd);
  if (n == (ssize_t)strlen(content)) rename(tmp, path);
  else unlink(tmp);
}

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Called when the error pipe is readable or the child was reaped first. */
static void resolve_start(struct container *k) {
  if (k->err_fd < 0) return;
  k->failed = read_child_error(k->err_fd, k->error, sizeof k->error);
  unwatch(k->err_fd);
  close(k->err_fd);
  k->err_fd = -1;
  if (k->failed) return; /* replied once reaped and cleaned up */
  k->started = 1;
  if (k->spec.pid_file) {
    char content[64];
    snprintf(content, sizeof content, "%d\n", k->pid);
    write_atomic(k->spec.pid_file, content);
  }
  reply_ok(k->requester, k->req, k->pid);
  k->requester = NULL;
}

static void drain_output(struct container *k, int until_eof) {
  char buf[65536];
  while (k->out_fd >= 0) {
    ssize_t n = read(k->out_fd, buf, sizeof buf);
    if (n > 0) {
      console_write(&k->log, buf, (size_t)n);
      if (!until_eof) return;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN && !until_eof) return;
    /* EOF, or nothing left now that every writer in the namespace is dead. */
    unwatch(k->out_fd);
    close(k->out_fd);
    k->out_fd = -1;
  }
}

static void container_free(struct container *k) {
  struct container **pp = &containers;
  while (*pp != k) pp = &(*pp)->next;
  *pp = k->next;
  console_close(&k->log);
  k->next = graveyard;
  graveyard = k;
}

static void bury(void) {
  while (graveyard) {
    struct container *k = graveyard;
    graveyard = k->next;
    spec_free(&k->spec);
    free(k->blob);
    free(k);
  }
}

static void container_exited(struct container *k, int status) {
  resolve_start(k);
  drain_output(k, 1);
  if (k->failed) {
    cgroups_remove(&k->spec);
    reply_error(k->requester, k->req, k->error);
    container_free(k);
    return;
  }
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  int sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
  int oom = sig == SIGKILL && oom_killed(&k->spec);
  if (k->spec.exit_file) {
    char content[128];
    snprintf(content, sizeof content, "%d %d %d %lld\n", code, sig, oom, now_ms());
    write_atomic(k->spec.exit_file, content);
  }
  cgroups_remove(&k->spec);
  struct frame f = {.len = 0};
  frame_add(&f, "exit");
  frame_add(&f, k->spec.id);
  frame_addf(&f, "%ld", k->pid);
  frame_addf(&f, "%ld", code);
  frame_addf(&f, "%ld", sig);
  frame_addf(&f, "%ld", oom);
  broadcast(&f);
  container_free(k);
}

static void reap(void) {
  int status;
  pid_t pid;
  while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
    struct container *k = find_by_pid(pid);
    if (k) container_exited(k, status);
  }
  if (shutting_down && !containers) {
    struct frame f = {.len = 0};
    frame_add(&f, "reply");
    frame_add(&f, shutdown_req);
    frame_add(&f, "ok");
    frame_add(&f, "0");
    send_frame(shutdown_requester, &f);
    exit(0);
  }
}

static void handle_spawn(struct client *c, const char *req, char *blob, size_t len) {
  struct container *k = calloc(1, sizeof *k);
  char err[512];
  k->blob = blob;
  k->err_fd = k->out_fd = -1;
  k->log.fd = -1;
  snprintf(k->req, sizeof k->req, "%s", req);
  if (spec_parse(blob, len, &k->spec, err, sizeof err)) goto fail;
  if (!k->spec.id) {
    snprintf(err, sizeof err, "spec: no id");
    goto fail;
  }
  if (find_by_id(k->spec.id)) {
    snprintf(err, sizeof err, "container '%s' already exists", k->spec.id);
    goto fail;
  }
  if (shutting_down) {
    snprintf(err, sizeof err, "monitor is shutting down");
    goto fail;
  }
  int outp[2];
  if (pipe2(outp, O_CLOEXEC)) {
    snprintf(err, sizeof err, "pipe: %s", strerror(errno));
    goto fail;
  }
  if (k->spec.log_path &&
      console_open(&k->log, k->spec.log_path, k->spec.log_max, k->spec.log_keep)) {
    snprintf(err, sizeof err, "open console log '%s': %s", k->spec.log_path, strerror(errno));
    close(outp[0]);
    close(outp[1]);
    goto fail;
  }
  static int devnull = -1;
  if (devnull < 0) devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
  struct spawn_stdio io = {devnull, outp[1], outp[1]};
  struct spawned sp;
  int rc = spawn_container(&k->spec, &io, &sp, err, sizeof err);
  close(outp[1]);
  if (rc) {
    close(outp[0]);
    goto fail;
  }
  fcntl(outp[0], F_SETFL, O_NONBLOCK);
  k->pid = sp.pid;
  k->err_fd = sp.error_fd;
  k->out_fd = outp[0];
  k->requester = c;
  k->next = containers;
  containers = k;
  watch(k->err_fd, &k->werr, TAG_ERR, k);
  watch(k->out_fd, &k->wout, TAG_OUT, k);
  return;
fail:
  reply_error(c, req, err);
  console_close(&k->log);
  spec_free(&k->spec);
  free(k->blob);
  free(k);
}

static void handle_list(struct client *c, const char *req) {
  struct frame f = {.len = 0};
  frame_add(&f, "reply");
  frame_add(&f, req);
  frame_add(&f, "ok");
  for (struct container *k = containers; k; k = k->next) {
    if (!k->started) continue;
    frame_add(&f, k->spec.id);
    frame_addf(&f, "%ld", k->pid);
  }
  send_frame(c, &f);
}

static void handle_frame(struct client *c, char *payload, size_t len) {
  /* payload: verb \0 request-id \0 args... */
  const char *verb = payload;
  size_t vlen = strnlen(payload, len);
  if (vlen + 1 >= len) return client_close(c);
  const char *req = payload + vlen + 1;
  size_t rlen = strnlen(req, len - vlen - 1);
  if (vlen + rlen + 2 > len) return client_close(c);
  char *args = payload + vlen + rlen + 2;
  size_t alen = len - vlen - rlen - 2;
  if (!strcmp(verb, "spawn")) {
    char *blob = malloc(alen + 1);
    memcpy(blob, args, alen);
    handle_spawn(c, req, blob, alen);
  } else if (!strcmp(verb, "kill")) {
    const char *id = args;
    size_t idlen = strnlen(args, alen);
    int sig = idlen + 1 < alen ? atoi(args + idlen + 1) : SIGKILL;
    struct container *k = idlen < alen ? find_by_id(id) : NULL;
    if (!k) return reply_error(c, req, "no such container");
    if (kill(k->pid, sig) < 0) return reply_error(c, req, strerror(errno));
    reply_ok(c, req, 0);
  } else if (!strcmp(verb, "list")) {
    handle_list(c, req);
  } else if (!strcmp(verb, "ping")) {
    reply_ok(c, req, getpid());
  } else if (!strcmp(verb, "shutdown")) {
    shutting_down = 1;
    shutdown_requester = c;
    snprintf(shutdown_req, sizeof shutdown_req, "%s", req);
    for (struct container *k = containers; k; k = k->next) kill(k->pid, SIGKILL);
    reap();
  } else {
    reply_error(c, req, "unknown verb");
  }
}

static void client_readable(struct client *c) {
  if (c->cap - c->len < 65536) {
    size_t cap = c->cap ? c->cap * 2 : 131072;
    char *nb = realloc(c->buf, cap);
    if (!nb) return client_close(c);
    c->buf = nb;
    c->cap = cap;
  }
  ssize_t n = read(c->fd, c->buf + c->len, c->cap - c->len);
  if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) return client_close(c);
  if (n < 0) return;
  c->len += (size_t)n;
  size_t off = 0;
  while (c->fd >= 0 && c->len - off >= 4) {
    uint32_t flen;
    memcpy(&flen, c->buf + off, 4);
    if (flen > MAX_FRAME) return client_close(c);
    if (c->len - off - 4 < flen) break;
    handle_frame(c, c->buf + off + 4, flen);
    off += 4 + flen;
  }
  if (c->fd >= 0 && off) {
    memmove(c->buf, c->buf + off, c->len - off);
    c->len -= off;
  }
}

static void accept_client(void) {
  int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
  if (fd < 0) return;
  for (int i = 0; i < MAX_CLIENTS; i++)
    if (clients[i].fd < 0) {
      clients[i].fd = fd;
      int sz = 1 << 20;
      setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
      watch(fd, &clients[i].w, TAG_CLIENT, &clients[i]);
      return;
    }
  close(fd);
}

static int listen_on(const char *path) {
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  if (strlen(path) >= sizeof addr.sun_path) {
    fprintf(stderr, "berth-monitor: socket path too long: %s\n", path);
    return -1;
  }
  strcpy(addr.sun_path, path);
  unlink(path); /* stale: we hold the lock, so no live monitor owns it */
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(fd, 64) < 0) {
    fprintf(stderr, "berth-monitor: listen '%s': %s\n", path, strerror(errno));
    return -1;
  }
  chmod(path, 0600);
  return fd;
}

int monitor_main(const char *socket_path, const char *lock_path) {
  int lock = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock < 0) {
    fprintf(stderr, "berth-monitor: open '%s': %s\n", lock_path, strerror(errno));
    return 1;
  }
  if (flock(lock, LOCK_EX | LOCK_NB) < 0) {
    printf("already running\n"); /* another monitor owns this state dir */
    fflush(stdout);
    return 0;
  }
  prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
  signal(SIGPIPE, SIG_IGN);
  signal(SIGHUP, SIG_IGN);
  spawn_init();
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGCHLD);
  sigprocmask(SIG_BLOCK, &mask, NULL);
  for (int i = 0; i < MAX_CLIENTS; i++) clients[i].fd = -1;
  epfd = epoll_create1(EPOLL_CLOEXEC);
  sig_fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
  if ((listen_fd = listen_on(socket_path)) < 0) return 1;
  static struct watch wlisten, wsignal;
  watch(listen_fd, &wlisten, TAG_LISTEN, NULL);
  watch(sig_fd, &wsignal, TAG_SIGNAL, NULL);
  printf("ready %d\n", getpid());
  fflush(stdout);
  for (;;) {
    struct epoll_event evs[64];
    int n = epoll_wait(epfd, evs, 64, -1);
    for (int i = 0; i < n; i++) {
      struct watch *w = evs[i].data.ptr;
      switch (w->tag) {
      case TAG_LISTEN: accept_client(); break;
      case TAG_SIGNAL: {
        struct signalfd_siginfo si;
        while (read(sig_fd, &si, sizeof si) > 0) {}
        reap();
        break;
      }
      case TAG_CLIENT:
        if (((struct client *)w->ptr)->fd >= 0) client_readable(w->ptr);
        break;
      case TAG_ERR: resolve_start(w->ptr); break; /* no-op once err_fd is closed */
      case TAG_OUT: drain_output(w->ptr, 0); break;
      }
    }
    bury();
  }
}
