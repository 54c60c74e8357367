#include "frame.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol.h"

int buf_reserve(struct buf *b, size_t extra) {
  if (b->cap - b->len >= extra) return 0;
  size_t cap = b->cap ? b->cap : 4096;
  while (cap - b->len < extra) {
    if (cap > SIZE_MAX / 2) return -1;
    cap *= 2;
  }
  char *data = realloc(b->data, cap);
  if (!data) return -1;
  b->data = data;
  b->cap = cap;
  return 0;
}

int buf_append(struct buf *b, const void *data, size_t n) {
  if (buf_reserve(b, n)) return -1;
  memcpy(b->data + b->len, data, n);
  b->len += n;
  return 0;
}

void buf_consume(struct buf *b, size_t n) {
  if (!n) return;
  memmove(b->data, b->data + n, b->len - n);
  b->len -= n;
}

void buf_free(struct buf *b) {
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}

void frame_begin(struct frame *f) {
  memset(f, 0, sizeof *f);
  uint32_t placeholder = 0;
  f->failed = buf_append(&f->b, &placeholder, sizeof placeholder);
}

void frame_add(struct frame *f, const char *field) {
  if (!f->failed) f->failed = buf_append(&f->b, field, strlen(field) + 1);
}

void frame_addl(struct frame *f, long value) {
  char tmp[32];
  snprintf(tmp, sizeof tmp, "%ld", value);
  frame_add(f, tmp);
}

void frame_end(struct frame *f) {
  if (f->failed) return;
  size_t payload = f->b.len - sizeof(uint32_t);
  if (payload > MON_MAX_FRAME) {
    f->failed = 1;
    return;
  }
  uint32_t len = (uint32_t)payload; /* little-endian, as every host berth runs on */
  memcpy(f->b.data, &len, sizeof len);
}

void frame_free(struct frame *f) { buf_free(&f->b); }
