#ifndef BERTH_CONSOLE_H
#define BERTH_CONSOLE_H

#include <stddef.h>
#include <stdint.h>

/* A console log capped at max bytes per file, rotated into keep backups
 * (path.1 is the newest), so a chatty workload cannot fill the disk. */
struct console {
  int fd;
  const char *path;
  uint64_t max, size;
  int keep;
};

int console_open(struct console *c, const char *path, uint64_t max, int keep);
void console_write(struct console *c, const char *buf, size_t n);
void console_close(struct console *c);

#endif
