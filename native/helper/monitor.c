/* The per-host monitor: owns every container so that they outlive the
 * berth service. It spawns them, reaps them as their parent, writes their
 * console logs and records how each one ended in its exit file even while
 * no berth process is connected. Its parent, the keeper (keeper.h), holds
 * a copy of each container's console pipe and pidfd, so a new monitor
 * takes over whatever a dead one left. */
#define _GNU_SOURCE
#include "monitor.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "console.h"
#include "frame.h"
#include "keeper.h"
#include "protocol.h"
#include "spawn.h"

#define MAX_CLIENTS 64
/* A client that lets this much output pile up is stuck: it is dropped
 * (and re-adopts when it reconnects) rather than grow the monitor. */
#define MAX_BACKLOG (2 * (size_t)MON_MAX_FRAME)

struct watch {
  int tag;
  void *ptr;
};

struct client {
  int fd;
  int writable_watched; /* EPOLLOUT is on: output is waiting */
  struct watch w;
  struct buf in, out;
};

struct container {
  struct container *next;
  char *blob; /* the spec's strings point into it */
  struct spec spec;
  pid_t pid;
  int pidfd;
  int err_fd, out_fd;
  struct console log;
  struct client *requester; /* waiting for the spawn reply */
  char req[32];
  struct watch werr, wout, wpid;
  int started; /* exec succeeded */
  int adopted; /* taken over from a dead monitor: the keeper is its parent */
  int failed;  /* setup failed: fault holds why */
  struct fault fault;
};

enum { TAG_LISTEN = 1, TAG_SIGNAL, TAG_CLIENT, TAG_ERR, TAG_OUT, TAG_PIDFD, TAG_KEEPER };

static int epfd, listen_fd, sig_fd, keeper_fd = -1;
static struct client clients[MAX_CLIENTS];
static struct container *containers, *graveyard;
static struct client *shutdown_requester;
static char shutdown_req[32];
static int shutting_down;

static void log_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void log_msg(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "berth-monitor[%d]: ", getpid());
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}

/* Every watched descriptor carries its owner, so an event can be routed
 * without lookups. Owners of a finished container are only freed after the
 * current batch of events, which may still name them. */
static void watch(int fd, struct watch *w, int tag, void *ptr) {
  w->tag = tag;
  w->ptr = ptr;
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = w};
  if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) log_msg("epoll_ctl: %s", strerror(errno));
}

static void unwatch(int fd) { epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL); }

/* ---- clients ---- */

static void client_close(struct client *c) {
  if (c->fd < 0) return;
  unwatch(c->fd);
  close(c->fd);
  c->fd = -1;
  c->writable_watched = 0;
  buf_free(&c->in);
  buf_free(&c->out);
  for (struct container *k = containers; k; k = k->next)
    if (k->requester == c) k->requester = NULL;
  if (shutdown_requester == c) shutdown_requester = NULL;
}

static void client_flush(struct client *c) {
  size_t sent = 0;
  while (sent < c->out.len) {
    ssize_t n = send(c->fd, c->out.data + sent, c->out.len - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) break;
    if (n < 0) return client_close(c);
    sent += (size_t)n;
  }
  buf_consume(&c->out, sent);
  /* Only when it changes: this runs for every reply. */
  int want = c->out.len > 0;
  if (want != c->writable_watched) {
    struct epoll_event ev = {.events = want ? EPOLLIN | EPOLLOUT : EPOLLIN, .data.ptr = &c->w};
    epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
    c->writable_watched = want;
  }
}

/* Queues a whole frame or, when it cannot, closes the connection: a
 * client never sees a shortened frame; it reconnects and re-adopts. */
static void send_frame(struct client *c, struct frame *f) {
  if (!c || c->fd < 0) return;
  if (f->failed || c->out.len + f->b.len > MAX_BACKLOG ||
      buf_append(&c->out, f->b.data, f->b.len)) {
    log_msg("dropping client: cannot queue a %zu-byte frame", f->b.len);
    return client_close(c);
  }
  client_flush(c);
}

static void broadcast(struct frame *f) {
  for (int i = 0; i < MAX_CLIENTS; i++)
    if (clients[i].fd >= 0) send_frame(&clients[i], f);
}

static void reply_fault(struct client *c, const char *req, const struct fault *fl) {
  char msg[1600], err[16];
  fault_message(fl, msg, sizeof msg);
  snprintf(err, sizeof err, "%d", fl->err);
  struct frame f;
  frame_begin(&f);
  frame_add(&f, mon_events[MON_EV_REPLY]);
  frame_add(&f, req);
  frame_add(&f, mon_statuses[MON_ST_ERROR]);
  frame_add(&f, err);
  frame_add(&f, fl->syscall);
  frame_add(&f, fl->path);
  frame_add(&f, msg);
  frame_end(&f);
  send_frame(c, &f);
  frame_free(&f);
}

static void reply_error(struct client *c, const char *req, int err, const char *what) {
  struct fault fl;
  fault_set(&fl, err, "monitor", "", what);
  reply_fault(c, req, &fl);
}

static void reply_ok(struct client *c, const char *req, long a, long b, int nvalues) {
  struct frame f;
  frame_begin(&f);
  frame_add(&f, mon_events[MON_EV_REPLY]);
  frame_add(&f, req);
  frame_add(&f, mon_statuses[MON_ST_OK]);
  frame_addl(&f, a);
  if (nvalues > 1) frame_addl(&f, b);
  frame_end(&f);
  send_frame(c, &f);
  frame_free(&f);
}

/* ---- the keeper ---- */

static void keeper_lost(void);

/* Blocking: the keeper reads without ever waiting on us. */
static void keeper_tell(const char *buf, size_t len, int fd0, int fd1) {
  if (keeper_fd < 0) return;
  if (keep_send(keeper_fd, buf, len, fd0, fd1, 0) < 0) {
    log_msg("keeper: %s", strerror(errno));
    keeper_lost();
  }
}

static void keeper_hold(struct container *k) {
  static char msg[KEEP_MAX_PACKET];
  size_t rlen;
  char *record = spec_record(&k->spec, &rlen);
  int n = snprintf(msg, sizeof msg, "%s%c%s%c%d%c", KEEP_HOLD, 0, k->spec.id, 0, k->pid, 0);
  if (!record || (size_t)n + rlen > sizeof msg) {
    /* It runs on, but would not survive this monitor's death. */
    log_msg("container %s: cannot hand its record to the keeper", k->spec.id);
  } else {
    memcpy(msg + n, record, rlen);
    keeper_tell(msg, (size_t)n + rlen, k->out_fd, k->pidfd);
  }
  free(record);
}

static void keeper_drop(const char *id) {
  char msg[256];
  int n = snprintf(msg, sizeof msg, "%s%c%s%c", KEEP_DROP, 0, id, 0);
  if ((size_t)n < sizeof msg) keeper_tell(msg, (size_t)n, -1, -1);
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

/* Without fsync: a lost exit file matters only when the host loses power,
 * and then the workload is gone too. */
static void write_atomic(const char *path, const char *content) {
  char tmp[4200];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    log_msg("open '%s': %s", tmp, strerror(errno));
    return;
  }
  ssize_t n = write(fd, content, strlen(content));
  close(fd);
  if (n == (ssize_t)strlen(content) && rename(tmp, path) == 0) return;
  log_msg("write '%s': %s", path, strerror(errno));
  unlink(tmp);
}

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
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

static void close_fd(int *fd) {
  if (*fd < 0) return;
  unwatch(*fd);
  close(*fd);
  *fd = -1;
}

static void container_free(struct container *k) {
  struct container **pp = &containers;
  while (*pp != k) pp = &(*pp)->next;
  *pp = k->next;
  console_close(&k->log);
  close_fd(&k->pidfd);
  close_fd(&k->err_fd);
  close_fd(&k->out_fd);
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

static void finish_shutdown(void) {
  if (!shutting_down || containers) return;
  reply_ok(shutdown_requester, shutdown_req, 0, 0, 1);
  if (shutdown_requester) client_flush(shutdown_requester);
  exit(0);
}

/* Called when the error pipe is readable or the child was reaped first. */
static void resolve_start(struct container *k) {
  if (k->err_fd < 0) return;
  k->failed = read_child_error(k->err_fd, &k->fault);
  close_fd(&k->err_fd);
  if (k->failed) return; /* replied once reaped and cleaned up */
  k->started = 1;
  if (k->spec.pid_file) {
    char content[64];
    snprintf(content, sizeof content, "%d\n", k->pid);
    write_atomic(k->spec.pid_file, content);
  }
  reply_ok(k->requester, k->req, k->pid, 0, 1);
  k->requester = NULL;
}

/* status is a wait status, or -1 when nobody can know it any more. */
static void container_exited(struct container *k, int status) {
  resolve_start(k);
  drain_output(k, 1);
  if (k->failed) {
    cgroups_remove(&k->spec);
    reply_fault(k->requester, k->req, &k->fault);
    keeper_drop(k->spec.id);
    container_free(k);
    return;
  }
  int code = status < 0 ? 255 : WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  int sig = status >= 0 && WIFSIGNALED(status) ? WTERMSIG(status) : 0;
  int oom = sig == SIGKILL && oom_killed(&k->spec);
  if (status < 0) log_msg("container %s: ended while no monitor ran; status unknown", k->spec.id);
  if (k->spec.exit_file) {
    char content[128];
    snprintf(content, sizeof content, "%d %d %d %lld\n", code, sig, oom, now_ms());
    write_atomic(k->spec.exit_file, content);
  }
  cgroups_remove(&k->spec);
  struct frame f;
  frame_begin(&f);
  frame_add(&f, mon_events[MON_EV_EXIT]);
  frame_add(&f, k->spec.id);
  frame_addl(&f, k->pid);
  frame_addl(&f, code);
  frame_addl(&f, sig);
  frame_addl(&f, oom);
  frame_end(&f);
  broadcast(&f);
  frame_free(&f);
  keeper_drop(k->spec.id);
  container_free(k);
}

static void reap(void) {
  int status;
  pid_t pid;
  while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
    struct container *k = find_by_pid(pid);
    if (k) container_exited(k, status);
  }
}

/* An adopted container ended: its parent, the keeper, has the status. */
static void adopted_ended(struct container *k) {
  close_fd(&k->pidfd);
  if (keeper_fd < 0) return container_exited(k, -1);
  char msg[64];
  int n = snprintf(msg, sizeof msg, "%s%c%d%c", KEEP_STATUS, 0, k->pid, 0);
  keeper_tell(msg, (size_t)n, -1, -1);
}

static void keeper_lost(void) {
  if (keeper_fd < 0) return;
  log_msg("keeper gone: containers now depend on this monitor alone");
  close_fd(&keeper_fd);
  /* Nobody will tell the status of an adopted container that already
   * ended; those still running are watched through their pidfds. */
  for (struct container *k = containers, *next; k; k = next) {
    next = k->next;
    if (k->adopted && k->pidfd < 0) container_exited(k, -1);
  }
}

static struct container *container_new(char *blob) {
  struct container *k = calloc(1, sizeof *k);
  if (!k) return NULL;
  k->blob = blob;
  k->err_fd = k->out_fd = k->pidfd = -1;
  k->log.fd = -1;
  return k;
}

static void container_discard(struct container *k) {
  console_close(&k->log);
  spec_free(&k->spec);
  free(k->blob);
  free(k);
}

static int devnull(struct fault *f) {
  static int fd = -1;
  if (fd < 0 && (fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0)
    fault_set(f, errno, "open", "/dev/null", NULL);
  return fd;
}

static void handle_spawn(struct client *c, const char *req, char *blob, size_t len) {
  struct fault fl;
  struct container *k = container_new(blob);
  if (!k) {
    free(blob);
    return reply_error(c, req, ENOMEM, "spawn");
  }
  snprintf(k->req, sizeof k->req, "%s", req);
  int outp[2] = {-1, -1};
  if (spec_parse(blob, len, &k->spec, 0, &fl)) goto fail;
  if (!k->spec.id) {
    fault_spec(&fl, "no id");
    goto fail;
  }
  if (find_by_id(k->spec.id)) {
    fault_set(&fl, EEXIST, "spawn", "", "container already exists");
    goto fail;
  }
  if (shutting_down) {
    fault_set(&fl, ESHUTDOWN, "spawn", "", "monitor is shutting down");
    goto fail;
  }
  if (pipe2(outp, O_CLOEXEC)) {
    fault_set(&fl, errno, "pipe2", "", "console");
    goto fail;
  }
  if (k->spec.log_path &&
      console_open(&k->log, k->spec.log_path, k->spec.log_max, k->spec.log_keep)) {
    fault_set(&fl, errno, "open", k->spec.log_path, "console log");
    goto fail;
  }
  int in = devnull(&fl);
  if (in < 0) goto fail;
  struct spawn_stdio io = {in, outp[1], outp[1]};
  struct spawned sp;
  int rc = spawn_container(&k->spec, &io, &sp, &fl);
  close(outp[1]);
  outp[1] = -1;
  if (rc) goto fail;
  fcntl(outp[0], F_SETFL, O_NONBLOCK);
  k->pid = sp.pid;
  k->pidfd = sp.pidfd;
  k->err_fd = sp.error_fd;
  k->out_fd = outp[0];
  k->requester = c;
  k->next = containers;
  containers = k;
  watch(k->err_fd, &k->werr, TAG_ERR, k);
  watch(k->out_fd, &k->wout, TAG_OUT, k);
  /* Before anyone learns it started (the pid file, the reply): a container
   * berth knows of is always one the keeper holds. */
  keeper_hold(k);
  return;
fail:
  for (int i = 0; i < 2; i++)
    if (outp[i] >= 0) close(outp[i]);
  reply_fault(c, req, &fl);
  container_discard(k);
}

static void handle_list(struct client *c, const char *req) {
  struct frame f;
  frame_begin(&f);
  frame_add(&f, mon_events[MON_EV_REPLY]);
  frame_add(&f, req);
  frame_add(&f, mon_statuses[MON_ST_OK]);
  for (struct container *k = containers; k; k = k->next) {
    if (!k->started) continue;
    frame_add(&f, k->spec.id);
    frame_addl(&f, k->pid);
  }
  frame_end(&f);
  if (f.failed) reply_error(c, req, ENOMEM, "list: cannot build the reply");
  else send_frame(c, &f);
  frame_free(&f);
}

/* The pidfd names this very process, even once its pid is reused. */
static long signal_container(const struct container *k, int sig) {
  return k->pidfd >= 0 ? syscall(SYS_pidfd_send_signal, k->pidfd, sig, NULL, 0) : kill(k->pid, sig);
}

static void handle_kill(struct client *c, const char *req, const char *args, size_t alen) {
  size_t idlen = strnlen(args, alen);
  if (idlen >= alen) return reply_error(c, req, EINVAL, "kill: no container id");
  int sig = idlen + 1 < alen ? atoi(args + idlen + 1) : SIGKILL;
  struct container *k = find_by_id(args);
  if (!k || !k->started) return reply_error(c, req, ESRCH, "kill: no such container");
  if (signal_container(k, sig) < 0) {
    struct fault fl;
    fault_set(&fl, errno, k->pidfd >= 0 ? "pidfd_send_signal" : "kill", "", k->spec.id);
    return reply_fault(c, req, &fl);
  }
  reply_ok(c, req, 0, 0, 1);
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
  int v = mon_verb_of(verb);
  switch (v) {
  case MON_SPAWN: {
    char *blob = malloc(alen + 1);
    if (!blob) return reply_error(c, req, ENOMEM, "spawn");
    memcpy(blob, args, alen);
    return handle_spawn(c, req, blob, alen);
  }
  case MON_KILL: return handle_kill(c, req, args, alen);
  case MON_LIST: return handle_list(c, req);
  case MON_PING: return reply_ok(c, req, getpid(), keeper_fd >= 0 ? getppid() : 0, 2);
  case MON_SHUTDOWN:
    shutting_down = 1;
    shutdown_requester = c;
    snprintf(shutdown_req, sizeof shutdown_req, "%s", req);
    keeper_tell(KEEP_SHUTDOWN, sizeof KEEP_SHUTDOWN, -1, -1);
    for (struct container *k = containers; k; k = k->next) signal_container(k, SIGKILL);
    return;
  default: return reply_error(c, req, EINVAL, "unknown verb");
  }
}

static void client_readable(struct client *c) {
  if (buf_reserve(&c->in, 65536)) return client_close(c);
  ssize_t n = read(c->fd, c->in.data + c->in.len, c->in.cap - c->in.len);
  if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) return client_close(c);
  if (n < 0) return;
  c->in.len += (size_t)n;
  size_t off = 0;
  while (c->fd >= 0 && c->in.len - off >= 4) {
    uint32_t flen;
    memcpy(&flen, c->in.data + off, 4);
    if (flen > MON_MAX_FRAME) {
      log_msg("dropping client: %u-byte frame is over the limit", flen);
      return client_close(c);
    }
    if (c->in.len - off - 4 < flen) {
      /* Grow once for the whole frame rather than in 64 KiB steps. */
      if (buf_reserve(&c->in, off + 4 + flen - c->in.len)) return client_close(c);
      break;
    }
    handle_frame(c, c->in.data + off + 4, flen);
    off += 4 + flen;
  }
  if (c->fd >= 0) buf_consume(&c->in, off);
}

static void accept_client(void) {
  int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
  if (fd < 0) return;
  for (int i = 0; i < MAX_CLIENTS; i++)
    if (clients[i].fd < 0) {
      clients[i].fd = fd;
      watch(fd, &clients[i].w, TAG_CLIENT, &clients[i]);
      return;
    }
  log_msg("refusing a client: %d are connected", MAX_CLIENTS);
  close(fd);
}

/* ---- taking over from a monitor that died ---- */

struct ended {
  struct container **k;
  int *status;
  int n, cap;
};

/* Remembers an adopted container that ended while no monitor ran. */
static int ended_add(struct ended *e, struct container *k, int status) {
  if (e->n == e->cap) {
    int cap = e->cap ? 2 * e->cap : 256;
    struct container **nk = realloc(e->k, cap * sizeof *nk);
    if (nk) e->k = nk;
    int *ns = nk ? realloc(e->status, cap * sizeof *ns) : NULL;
    if (!ns) return -1;
    e->status = ns;
    e->cap = cap;
  }
  e->k[e->n] = k;
  e->status[e->n++] = status;
  return 0;
}

/* 0 when the container was adopted. */
static int adopt_record(char *pkt, size_t len, const int fds[2], struct ended *ended) {
  size_t off = 0;
  const char *fields[4];
  for (int i = 0; i < 4; i++) {
    fields[i] = off < len ? pkt + off : NULL;
    off += fields[i] ? strnlen(fields[i], len - off) + 1 : 0;
  }
  struct fault fl;
  char *blob = fields[3] && off <= len ? malloc(len - off + 1) : NULL;
  struct container *k = blob ? container_new(blob) : NULL;
  if (!k) {
    free(blob);
    log_msg("takeover: cannot adopt a container (out of memory or bad record)");
    goto close_fds;
  }
  memcpy(blob, pkt + off, len - off);
  if (spec_parse(blob, len - off, &k->spec, SPEC_RECORD, &fl)) {
    char msg[1600];
    fault_message(&fl, msg, sizeof msg);
    log_msg("takeover: bad record: %s", msg);
    container_discard(k);
    goto close_fds;
  }
  k->pid = atoi(fields[1]);
  k->out_fd = fds[0];
  k->pidfd = fds[1];
  k->started = k->adopted = 1;
  if (k->out_fd >= 0) {
    fcntl(k->out_fd, F_SETFL, O_NONBLOCK);
    watch(k->out_fd, &k->wout, TAG_OUT, k);
  }
  if (k->spec.log_path &&
      console_open(&k->log, k->spec.log_path, k->spec.log_max, k->spec.log_keep))
    log_msg("container %s: open '%s': %s", k->spec.id, k->spec.log_path, strerror(errno));
  k->next = containers;
  containers = k;
  /* One whose end cannot be queued is asked about again through its pidfd. */
  if (atoi(fields[2]) && ended_add(ended, k, atoi(fields[3])) == 0) return 0;
  if (k->pidfd >= 0) watch(k->pidfd, &k->wpid, TAG_PIDFD, k);
  return 0;
close_fds:
  for (int i = 0; i < 2; i++)
    if (fds[i] >= 0) close(fds[i]);
  return -1;
}

/* Asks the keeper for every container it holds and adopts them; those that
 * ended meanwhile are recorded once the table is whole. */
static void takeover(void) {
  static char pkt[KEEP_MAX_PACKET];
  if (keep_send(keeper_fd, KEEP_TAKEOVER, sizeof KEEP_TAKEOVER, -1, -1, 0)) return keeper_lost();
  struct ended ended = {0};
  int adopted = 0;
  for (;;) {
    int fds[2];
    ssize_t n = keep_recv(keeper_fd, pkt, sizeof pkt - 1, fds, 0);
    if (n <= 0) {
      log_msg("takeover: keeper: %s", n < 0 ? strerror(errno) : "closed");
      break;
    }
    pkt[n] = 0;
    if (!strcmp(pkt, KEEP_DONE)) break;
    if (strcmp(pkt, KEEP_HELD)) continue; /* an exit sent before it saw our request */
    if (adopt_record(pkt, (size_t)n, fds, &ended) == 0) adopted++;
  }
  for (int i = 0; i < ended.n; i++) container_exited(ended.k[i], ended.status[i]);
  if (adopted) log_msg("took over %d containers, %d of them ended", adopted, ended.n);
  free(ended.k);
  free(ended.status);
}

static void keeper_readable(void) {
  static char pkt[KEEP_MAX_PACKET];
  for (;;) {
    int fds[2];
    ssize_t n = keep_recv(keeper_fd, pkt, sizeof pkt - 1, fds, MSG_DONTWAIT);
    if (n < 0 && errno == EAGAIN) return;
    if (n <= 0) return keeper_lost();
    for (int i = 0; i < 2; i++)
      if (fds[i] >= 0) close(fds[i]);
    pkt[n] = 0;
    if (strcmp(pkt, KEEP_EXIT)) continue;
    const char *pid = pkt + sizeof KEEP_EXIT;
    if ((size_t)(pid - pkt) >= (size_t)n) continue;
    const char *status = pid + strlen(pid) + 1;
    if ((size_t)(status - pkt) >= (size_t)n) continue;
    struct container *k = find_by_pid(atoi(pid));
    if (k && k->adopted) container_exited(k, atoi(status));
  }
}

int monitor_main(int listen, int keeper) {
  listen_fd = listen;
  keeper_fd = keeper;
  prctl(PR_SET_NAME, "berth-monitor", 0, 0, 0);
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
  if (epfd < 0 || sig_fd < 0) {
    log_msg("epoll/signalfd: %s", strerror(errno));
    return 1;
  }
  static struct watch wlisten, wsignal, wkeeper;
  watch(sig_fd, &wsignal, TAG_SIGNAL, NULL);
  takeover();
  if (keeper_fd >= 0) watch(keeper_fd, &wkeeper, TAG_KEEPER, NULL);
  watch(listen_fd, &wlisten, TAG_LISTEN, NULL);
  keeper_tell(KEEP_READY, sizeof KEEP_READY, -1, -1);
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
      case TAG_CLIENT: {
        struct client *c = w->ptr;
        if (c->fd >= 0 && (evs[i].events & EPOLLOUT)) client_flush(c);
        if (c->fd >= 0 && (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))) client_readable(c);
        break;
      }
      case TAG_ERR: resolve_start(w->ptr); break; /* no-op once err_fd is closed */
      case TAG_OUT: drain_output(w->ptr, 0); break;
      case TAG_PIDFD: adopted_ended(w->ptr); break;
      case TAG_KEEPER: keeper_readable(); break;
      }
    }
    bury();
    finish_shutdown(); /* whichever event ended the last container */
  }
}
