#define _GNU_SOURCE
#include "report.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>

struct failure g_failure;
static char current_entry[4096];

static const char *reason_name[] = {"escape", "bomb", "format", "io"};

void report_set_entry(const char *name) {
  snprintf(current_entry, sizeof current_entry, "%s", name ? name : "");
}

static int vfail(enum reason reason, const char *fmt, va_list ap) {
  g_failure.reason = reason;
  g_failure.err = 0;
  snprintf(g_failure.entry, sizeof g_failure.entry, "%s", current_entry);
  vsnprintf(g_failure.message, sizeof g_failure.message, fmt, ap);
  return -1;
}

#define DEFINE_FAIL(fn, reason)            \
  int fn(const char *fmt, ...) {           \
    va_list ap;                            \
    va_start(ap, fmt);                     \
    vfail(reason, fmt, ap);                \
    va_end(ap);                            \
    return -1;                             \
  }
DEFINE_FAIL(fail_escape, REASON_ESCAPE)
DEFINE_FAIL(fail_bomb, REASON_BOMB)
DEFINE_FAIL(fail_format, REASON_FORMAT)

int fail_io(int err, const char *syscall, const char *path) {
  g_failure.reason = REASON_IO;
  g_failure.err = err;
  snprintf(g_failure.syscall, sizeof g_failure.syscall, "%s", syscall);
  snprintf(g_failure.path, sizeof g_failure.path, "%s", path ? path : "");
  snprintf(g_failure.entry, sizeof g_failure.entry, "%s", current_entry);
  snprintf(g_failure.message, sizeof g_failure.message, "%s '%s': %s", syscall, g_failure.path,
           strerror(err));
  return -1;
}

void json_string(FILE *out, const char *s) {
  fputc('"', out);
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p == '"' || *p == '\\')
      fprintf(out, "\\%c", *p);
    else if (*p < 0x20 || *p == 0x7f)
      fprintf(out, "\\u%04x", *p);
    else
      fputc(*p, out);
  }
  fputc('"', out);
}

void report_failure(void) {
  const struct failure *f = &g_failure;
  fprintf(stderr, "{\"error\":");
  json_string(stderr, f->message);
  fprintf(stderr, ",\"reason\":\"%s\",\"entry\":", reason_name[f->reason]);
  json_string(stderr, f->entry);
  if (f->reason == REASON_IO) {
    fprintf(stderr, ",\"errno\":%d,\"code\":", f->err);
    json_string(stderr, strerrorname_np(f->err) ? strerrorname_np(f->err) : "EIO");
    fprintf(stderr, ",\"syscall\":");
    json_string(stderr, f->syscall);
    fprintf(stderr, ",\"path\":");
    json_string(stderr, f->path);
  }
  fprintf(stderr, "}\n");
  fflush(stderr);
}

void report_event(const char *kind, const char *entry, const char *why) {
  fprintf(stderr, "{\"event\":");
  json_string(stderr, kind);
  fprintf(stderr, ",\"entry\":");
  json_string(stderr, entry);
  fprintf(stderr, ",\"why\":");
  json_string(stderr, why);
  fprintf(stderr, "}\n");
}
