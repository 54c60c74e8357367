#define _GNU_SOURCE
#include "console.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

int console_open(struct console *c, const char *path, uint64_t max, int keep) {
  c->path = path;
  c->max = max ? max : 1 << 20;
  c->keep = keep;
  c->fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (c->fd < 0) return -1;
  struct stat st;
  c->size = fstat(c->fd, &st) == 0 ? (uint64_t)st.st_size : 0;
  return 0;
}

static void rotate(struct console *c) {
  char from[4200], to[4200];
  close(c->fd);
  if (c->keep == 0) {
    unlink(c->path);
  } else {
    for (int i = c->keep - 1; i >= 1; i--) {
      snprintf(from, sizeof from, "%s.%d", c->path, i);
      snprintf(to, sizeof to, "%s.%d", c->path, i + 1);
      rename(from, to);
    }
    snprintf(to, sizeof to, "%s.1", c->path);
    rename(c->path, to);
  }
  c->fd = open(c->path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0640);
  c->size = 0;
}

void console_write(struct console *c, const char *buf, size_t n) {
  while (n > 0 && c->fd >= 0) {
    if (c->size >= c->max) rotate(c);
    if (c->fd < 0) return;
    size_t room = (size_t)(c->max - c->size);
    size_t chunk = n < room ? n : room;
    ssize_t w = write(c->fd, buf, chunk);
    if (w <= 0) return; /* a full disk loses console output, never the container */
    c->size += (uint64_t)w;
    buf += w;
    n -= (size_t)w;
  }
}

void console_close(struct console *c) {
  if (c->fd >= 0) close(c->fd);
  c->fd = -1;
}
