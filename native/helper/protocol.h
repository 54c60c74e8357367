/* The monitor protocol, declared once. The C helper follows this header;
 * driver/runtime/monitor-protocol.ts mirrors it, and its test reads this
 * file to check that both sides agree on every name and number.
 *
 * A frame is a u32 length (little-endian) and a payload of NUL-terminated
 * fields. Requests are `verb, request-id, args...`; the monitor answers
 * `reply, request-id, ok, values...` or `reply, request-id, error, errno,
 * syscall, path, message` and broadcasts `exit, id, pid, code, signal,
 * oom`. Frames have no fixed size: both sides grow their buffers, and a
 * payload over MON_MAX_FRAME is refused (the request with an error, a
 * reply by closing the connection, never by sending less). */
#ifndef BERTH_PROTOCOL_H
#define BERTH_PROTOCOL_H

#define MON_MAX_FRAME (256u << 20)

/* Requests and what an ok reply carries:
 *   spawn  spec             -> pid
 *   kill   id, signal       -> 0
 *   list                    -> (id, pid)...  every started container
 *   ping                    -> monitor pid, keeper pid
 *   shutdown                -> 0, once every container is gone */
#define MON_VERBS(X)    \
  X(SPAWN, "spawn")     \
  X(KILL, "kill")       \
  X(LIST, "list")       \
  X(PING, "ping")       \
  X(SHUTDOWN, "shutdown")

/* The first field of every frame the monitor sends. */
#define MON_EVENTS(X) \
  X(REPLY, "reply")   \
  X(EXIT, "exit")

#define MON_STATUSES(X) \
  X(OK, "ok")           \
  X(ERROR, "error")

/* Fields after `error`, in order. */
#define MON_ERROR_FIELDS(X) \
  X(ERRNO, "errno")         \
  X(SYSCALL, "syscall")     \
  X(PATH, "path")           \
  X(MESSAGE, "message")

/* Fields after `exit`, in order. */
#define MON_EXIT_FIELDS(X) \
  X(ID, "id")              \
  X(PID, "pid")            \
  X(CODE, "code")          \
  X(SIGNAL, "signal")      \
  X(OOM, "oom")

/* The keys of a container spec (key, value pairs). WRITE is a prefix: the
 * key `write:<file>` writes the value to <file> before the clone. */
#define MON_SPEC_KEYS(X)          \
  X(ID, "id")                     \
  X(ROOTFS, "rootfs")             \
  X(LOWER, "lower")               \
  X(IDMAPSOURCE, "idmapsource")   \
  X(UPPER, "upper")               \
  X(WORK, "work")                 \
  X(NS, "ns")                     \
  X(NETNS, "netns")               \
  X(HOSTNAME, "hostname")         \
  X(CWD, "cwd")                   \
  X(ENV, "env")                   \
  X(ARG, "arg")                   \
  X(CGROUP, "cgroup")             \
  X(CGROUP2, "cgroup2")           \
  X(WRITE, "write:")              \
  X(RMDIR, "rmdir")               \
  X(UIDMAP, "uidmap")             \
  X(GIDMAP, "gidmap")             \
  X(CAPS, "caps")                 \
  X(SECCOMP, "seccomp")           \
  X(MASK, "mask")                 \
  X(READONLY, "readonly")         \
  X(DEVICE, "device")             \
  X(LOOPBACK, "loopback")         \
  X(LOG, "log")                   \
  X(LOGMAX, "logmax")             \
  X(LOGKEEP, "logkeep")           \
  X(EXITFILE, "exitfile")         \
  X(PIDFILE, "pidfile")           \
  X(OOMFILE, "oomfile")           \
  X(PID, "pid")                   \
  X(USERNS, "userns")             \
  X(UID, "uid")                   \
  X(GID, "gid")                   \
  X(SGID, "sgid")                 \
  X(VOLUME, "volume")             \
  X(VOLUMEAT, "volumeat")         \
  X(VOLUMERO, "volumero")

#define MON_ENUM_VERB(name, str) MON_##name,
#define MON_ENUM_EVENT(name, str) MON_EV_##name,
#define MON_ENUM_STATUS(name, str) MON_ST_##name,
enum mon_verb { MON_VERBS(MON_ENUM_VERB) MON_NVERBS };
enum mon_event { MON_EVENTS(MON_ENUM_EVENT) MON_NEVENTS };
enum mon_status { MON_STATUSES(MON_ENUM_STATUS) MON_NSTATUSES };

extern const char *const mon_verbs[MON_NVERBS];
extern const char *const mon_events[MON_NEVENTS];
extern const char *const mon_statuses[MON_NSTATUSES];
/* The verb's enum value, or -1. */
int mon_verb_of(const char *verb);

#endif
