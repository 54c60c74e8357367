/* What failed, as crun reports it: the errno, the syscall and the path it
 * was given, so callers map failures by errno, never by message text. The
 * struct is also what a container's child writes on its error pipe, so it
 * fits in PIPE_BUF (one atomic write) and holds no pointers. */
#ifndef BERTH_FAULT_H
#define BERTH_FAULT_H

#include <stddef.h>

struct fault {
  int err;            /* errno; EINVAL for a bad spec */
  char syscall[32];   /* "execve", "mount", ...; "spec" for parse errors */
  char path[1024];    /* what the call was given, or "" */
  char detail[160];   /* which step, when the syscall alone does not say */
};

/* Fills f and returns -1, so callers can `return fault_set(...)`. Safe to
 * call between clone and exec (no allocation, no stdio). */
int fault_set(struct fault *f, int err, const char *syscall, const char *path,
              const char *detail);
/* A spec or protocol error: errno EINVAL, syscall "spec". */
int fault_spec(struct fault *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "detail: syscall 'path': strerror" */
void fault_message(const struct fault *f, char *buf, size_t len);
/* The shell's convention, which `docker run` follows too: 127 when the
 * command does not exist, 126 when it cannot be executed, 125 for any
 * other failure to set the container up. */
int fault_exit_code(const struct fault *f);

#endif
