#define _GNU_SOURCE
#include "fault.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static void scopy(char *dst, size_t cap, const char *src) {
  size_t i = 0;
  while (src && src[i] && i + 1 < cap) {
    dst[i] = src[i];
    i++;
  }
  dst[i] = 0;
}

int fault_set(struct fault *f, int err, const char *syscall, const char *path,
              const char *detail) {
  f->err = err;
  scopy(f->syscall, sizeof f->syscall, syscall);
  scopy(f->path, sizeof f->path, path);
  scopy(f->detail, sizeof f->detail, detail);
  return -1;
}

int fault_spec(struct fault *f, const char *fmt, ...) {
  fault_set(f, EINVAL, "spec", "", "");
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(f->detail, sizeof f->detail, fmt, ap);
  va_end(ap);
  return -1;
}

void fault_message(const struct fault *f, char *buf, size_t len) {
  if (!strcmp(f->syscall, "spec")) {
    snprintf(buf, len, "spec: %s", f->detail);
    return;
  }
  snprintf(buf, len, "%s%s%s%s%s%s: %s", f->detail, f->detail[0] ? ": " : "", f->syscall,
           f->path[0] ? " '" : "", f->path, f->path[0] ? "'" : "", strerror(f->err));
}

int fault_exit_code(const struct fault *f) {
  if (strcmp(f->syscall, "execve")) return 125;
  return f->err == ENOENT || f->err == ENOTDIR ? 127 : 126;
}
