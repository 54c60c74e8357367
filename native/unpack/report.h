/* How berth-unpack tells its caller what happened. Events (a skipped
 * device node, a file that changed while packed) are JSON lines on stderr;
 * a failure is one last JSON line on stderr carrying the reason class the
 * TypeScript side maps to an error class, the entry, and errno/syscall/path
 * for I/O faults, so nothing is ever classified by its message text. */
#ifndef BERTH_UNPACK_REPORT_H
#define BERTH_UNPACK_REPORT_H

#include <stdio.h>

enum reason { REASON_ESCAPE, REASON_BOMB, REASON_FORMAT, REASON_IO };

struct failure {
  enum reason reason;
  int err;             /* errno for REASON_IO, else 0 */
  char syscall[32];
  char path[4096];
  char entry[4096];    /* the archive entry being processed, or "" */
  char message[8192];
};

/* The one failure of this run (the tool stops at the first). */
extern struct failure g_failure;
/* The entry being processed, named in failures that happen while it is. */
void report_set_entry(const char *name);

/* Each records the failure and returns -1, so callers `return fail_...`. */
int fail_escape(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int fail_bomb(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int fail_format(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* errno as the call left it; message "syscall 'path': strerror" */
int fail_io(int err, const char *syscall, const char *path);

/* Writes the failure as one JSON line on stderr. */
void report_failure(void);
/* {"event": kind, "entry": entry, "why": why} on stderr */
void report_event(const char *kind, const char *entry, const char *why);

/* A JSON string literal of s (escaped, quoted). */
void json_string(FILE *out, const char *s);

#endif
