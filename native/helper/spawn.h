#ifndef BERTH_SPAWN_H
#define BERTH_SPAWN_H

#include <sys/types.h>
#include "fault.h"
#include "spec.h"

struct spawned {
  pid_t pid;
  int pidfd;    /* the process itself: signals and exit without pid reuse */
  int error_fd; /* read end: EOF once the workload is exec'd, or a struct fault */
};

/* The stdio the workload gets; -1 keeps the caller's own descriptor. */
struct spawn_stdio {
  int in, out, err;
};

void spawn_init(void);
int cgroups_prepare(const struct spec *s, struct fault *f);
void cgroups_remove(const struct spec *s);
int spawn_container(const struct spec *s, const struct spawn_stdio *io, struct spawned *out,
                    struct fault *f);
/* 0 when the pipe closed without a report (exec succeeded), 1 with f
 * filled when the child reported why it failed. */
int read_child_error(int fd, struct fault *f);
int oom_killed(const struct spec *s);
void child_apply_security(const struct spec *s, int errfd);
void child_exec(const struct spec *s, int errfd) __attribute__((noreturn));
void child_fail(int errfd, const char *syscall, const char *path, const char *detail)
    __attribute__((noreturn));
int write_file(const char *path, const char *value);

#endif
