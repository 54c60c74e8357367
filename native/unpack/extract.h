/* Creates a tar's entries in a layer directory so that no entry can create
 * or change anything outside it. Every path is resolved by the kernel with
 * openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS) from a descriptor of the
 * layer, so `..`, absolute names and symlinks (also ones made by earlier
 * entries) all stay inside; the last component is then made with an *at
 * call on that parent descriptor that never follows it. `..` in a name,
 * hardlinks to what the layer does not hold, and whiteouts that name more
 * than one component are refused. Device nodes are skipped (instances get
 * /dev from berth); OCI whiteouts become overlay whiteouts. */
#ifndef BERTH_UNPACK_EXTRACT_H
#define BERTH_UNPACK_EXTRACT_H

#include <stddef.h>

#include "tar.h"

struct dir_time;

struct layer {
  const char *dest;
  int rootfd;             /* O_PATH descriptor of the layer directory */
  int chown;              /* root keeps ownership; an unprivileged run cannot */
  unsigned char *buf;     /* file data passes through here */
  size_t buf_len;
  struct dir_time *dirs;  /* directory mtimes, set last (entries inside change them) */
  size_t ndirs, dirs_cap;
  char **skipped;
  size_t nskipped;
  unsigned long entries;
};

/* Creates dest (which must not exist) and opens it. */
int layer_open(struct layer *L, const char *dest);
int layer_apply(struct layer *L, struct tar_reader *r, const struct tar_entry *e);
/* Sets the deferred directory mtimes. */
int layer_finish(struct layer *L);
void layer_close(struct layer *L);

#endif
