/* Growing buffers and the frames built in them: a frame is as long as
 * what it carries, and one that could not be built whole says so
 * (`failed`) instead of being sent short. */
#ifndef BERTH_FRAME_H
#define BERTH_FRAME_H

#include <stddef.h>

struct buf {
  char *data;
  size_t len, cap;
};

/* Makes room for `extra` more bytes; -1 when memory runs out. */
int buf_reserve(struct buf *b, size_t extra);
int buf_append(struct buf *b, const void *data, size_t n);
/* Drops the first n bytes. */
void buf_consume(struct buf *b, size_t n);
void buf_free(struct buf *b);

struct frame {
  struct buf b;
  int failed;
};

void frame_begin(struct frame *f);
void frame_add(struct frame *f, const char *field);
void frame_addl(struct frame *f, long value);
/* Writes the length prefix; fails the frame past MON_MAX_FRAME. */
void frame_end(struct frame *f);
void frame_free(struct frame *f);

#endif
