#ifndef BERTH_SPAWN_H
#define BERTH_SPAWN_H

#include <sys/types.h>
#include "spec.h"

/* What a failed child reports on its CLOEXEC error pipe before _exit(127):
 * the errno and which step failed, so a failed spawn says why. */
struct child_error {
  int err;
  char what[240];
};

struct spawned {
  pid_t pid;
  int error_fd; /* read end: EOF once the workload is exec'd, or a child_error */
};

/* The stdio the workload gets; -1 keeps the caller's own descriptor. */
struct spawn_stdio {
  int in, out, err;
};

void spawn_init(void);
int cgroups_prepare(const struct spec *s, char *err, size_t errlen);
void cgroups_remove(const struct spec *s);
int spawn_container(const struct spec *s, const struct spawn_stdio *io, struct spawned *out,
                    char *err, size_t errlen);
int read_child_error(int fd, char *msg, size_t msglen);
int setup_failure_exit_code(const char *msg);
int oom_killed(const struct spec *s);
void child_apply_security(const struct spec *s, int errfd);
void child_exec(const struct spec *s, int errfd) __attribute__((noreturn));
void child_fail(int errfd, const char *what, const char *path) __attribute__((noreturn));
int write_file(const char *path, const char *value);

#endif
