/* A tar reader over a source: ustar, GNU long names and long links ('L',
 * 'K') and pax headers ('x', 'g': path, linkpath, size, uid, gid, mtime,
 * SCHILY.xattr.*). It reads headers and data only; what an entry may do on
 * disk is extract.c's business. */
#ifndef BERTH_UNPACK_TAR_H
#define BERTH_UNPACK_TAR_H

#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "source.h"

struct tar_xattr {
  char *name;
  char *value;
  size_t len;
};

struct tar_entry {
  char type; /* '0' file, '1' hardlink, '2' symlink, '3' char, '4' block, '5' dir, '6' fifo */
  char *name;
  char *linkname;
  uint64_t size;
  mode_t mode;
  uid_t uid;
  gid_t gid;
  struct timespec mtime;
  unsigned devmajor, devminor;
  struct tar_xattr *xattrs;
  size_t nxattrs;
};

struct tar_reader {
  struct source *src;
  uint64_t remaining; /* data bytes of the current entry not read yet */
  uint64_t padding;   /* to the next 512-byte block */
  uint64_t declared;  /* the current entry's size, for the truncation message */
  /* pax 'g' values, applied to every later entry */
  int g_uid_set, g_gid_set, g_mtime_set;
  uid_t g_uid;
  gid_t g_gid;
  struct timespec g_mtime;
};

/* 1: e holds the next entry (its data to be read with tar_read_data);
 * 0: the end of the archive; -1: failure. e's strings live until the next call. */
int tar_next(struct tar_reader *r, struct tar_entry *e);
/* Up to n bytes of the current entry's data; 0 when it is all read. */
ssize_t tar_read_data(struct tar_reader *r, void *buf, size_t n);
void tar_entry_free(struct tar_entry *e);

#endif
