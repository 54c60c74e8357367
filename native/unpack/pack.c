#define _GNU_SOURCE
#include "pack.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "report.h"

#define BLOCK 512
#define OUT_BUF (1 << 20)

struct xattr {
  char *name;
  char *value;
  ssize_t len;
};

struct inode_seen {
  dev_t dev;
  ino_t ino;
  char *path;
};

struct packer {
  unsigned char *out;
  size_t out_len;
  unsigned char *data; /* file contents pass through here */
  struct inode_seen *seen;
  size_t nseen;
};

static int flush_out(struct packer *P) {
  for (size_t off = 0; off < P->out_len;) {
    ssize_t w = write(STDOUT_FILENO, P->out + off, P->out_len - off);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return fail_io(errno, "write", "stdout");
    off += w;
  }
  P->out_len = 0;
  return 0;
}

static int emit(struct packer *P, const void *buf, size_t n) {
  while (n) {
    size_t room = OUT_BUF - P->out_len, take = n < room ? n : room;
    memcpy(P->out + P->out_len, buf, take);
    P->out_len += take, buf = (const char *)buf + take, n -= take;
    if (P->out_len == OUT_BUF && flush_out(P) < 0) return -1;
  }
  return 0;
}

static int pad(struct packer *P, uint64_t size) {
  static const unsigned char zeros[BLOCK];
  return emit(P, zeros, (BLOCK - size % BLOCK) % BLOCK);
}

struct header {
  const char *name;
  const char *linkname;
  char type;
  uint64_t size;
  mode_t mode;
  uid_t uid;
  gid_t gid;
  time_t mtime;
  unsigned major, minor;
  struct xattr *xattrs;
  size_t nxattrs;
};

/* len-1 octal digits and a NUL; callers keep v within the field (pax holds the rest) */
static void octal(unsigned char *f, size_t len, uint64_t v) {
  f[len - 1] = 0;
  for (size_t i = len - 1; i-- > 0; v >>= 3) f[i] = '0' + (v & 7);
}

static int pax_record(char **buf, size_t *len, const char *key, const char *value, size_t vlen) {
  size_t rest = 1 + strlen(key) + 1 + vlen + 1; /* " key=value\n" */
  size_t total = rest + 1;
  while (snprintf(NULL, 0, "%zu", total) + rest != total) total = snprintf(NULL, 0, "%zu", total) + rest;
  char *b = realloc(*buf, *len + total + 1);
  if (!b) return fail_io(ENOMEM, "malloc", key);
  int n = sprintf(b + *len, "%zu %s=", total, key);
  memcpy(b + *len + n, value, vlen);
  b[*len + total - 1] = '\n';
  *buf = b, *len += total;
  return 0;
}

static void ustar(unsigned char b[BLOCK], const char *name, const char *linkname, char type,
                  uint64_t size, mode_t mode, uid_t uid, gid_t gid, time_t mtime, unsigned major,
                  unsigned minor) {
  memset(b, 0, BLOCK);
  strncpy((char *)b, name, 100);
  octal(b + 100, 8, mode & 07777);
  octal(b + 108, 8, uid > 07777777 ? 0 : uid);
  octal(b + 116, 8, gid > 07777777 ? 0 : gid);
  octal(b + 124, 12, size > 077777777777ULL ? 0 : size);
  octal(b + 136, 12, mtime < 0 || (uint64_t)mtime > 077777777777ULL ? 0 : mtime);
  memset(b + 148, ' ', 8);
  b[156] = type;
  strncpy((char *)b + 157, linkname, 100);
  memcpy(b + 257, "ustar\0" "00", 8);
  octal(b + 329, 8, major);
  octal(b + 337, 8, minor);
  unsigned sum = 0;
  for (int i = 0; i < BLOCK; i++) sum += b[i];
  octal(b + 148, 7, sum);
}

static int write_header(struct packer *P, const struct header *h) {
  char *pax = NULL, num[32];
  size_t plen = 0;
  int rc = 0;
  if (strlen(h->name) > 99) rc |= pax_record(&pax, &plen, "path", h->name, strlen(h->name));
  if (strlen(h->linkname) > 99)
    rc |= pax_record(&pax, &plen, "linkpath", h->linkname, strlen(h->linkname));
  if (h->size > 077777777777ULL)
    rc |= pax_record(&pax, &plen, "size", num, sprintf(num, "%llu", (unsigned long long)h->size));
  if (h->uid > 07777777) rc |= pax_record(&pax, &plen, "uid", num, sprintf(num, "%u", h->uid));
  if (h->gid > 07777777) rc |= pax_record(&pax, &plen, "gid", num, sprintf(num, "%u", h->gid));
  if (h->mtime < 0 || (uint64_t)h->mtime > 077777777777ULL)
    rc |= pax_record(&pax, &plen, "mtime", num, sprintf(num, "%lld", (long long)h->mtime));
  for (size_t i = 0; i < h->nxattrs && rc == 0; i++) {
    char key[XATTR_NAME_MAX + 16];
    snprintf(key, sizeof key, "SCHILY.xattr.%s", h->xattrs[i].name);
    rc = pax_record(&pax, &plen, key, h->xattrs[i].value, h->xattrs[i].len);
  }
  unsigned char b[BLOCK];
  if (rc == 0 && plen) {
    ustar(b, "PaxHeader", "", 'x', plen, 0644, 0, 0, 0, 0, 0);
    rc = emit(P, b, BLOCK) || emit(P, pax, plen) || pad(P, plen) ? -1 : 0;
  }
  free(pax);
  if (rc) return -1;
  ustar(b, h->name, h->linkname, h->type, h->size, h->mode, h->uid, h->gid, h->mtime, h->major,
        h->minor);
  return emit(P, b, BLOCK);
}

static int cmp_name(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}
static int cmp_xattr(const void *a, const void *b) {
  return strcmp(((const struct xattr *)a)->name, ((const struct xattr *)b)->name);
}

static void free_xattrs(struct xattr *x, size_t n) {
  for (size_t i = 0; i < n; i++) free(x[i].name), free(x[i].value);
  free(x);
}

/* xattrs of fd (or of path when fd < 0, not following it), trusted.overlay.* left out. */
static int read_xattrs(int fd, const char *path, struct xattr **out, size_t *n) {
  *out = NULL, *n = 0;
  ssize_t len = fd >= 0 ? flistxattr(fd, NULL, 0) : llistxattr(path, NULL, 0);
  if (len < 0) return errno == ENOTSUP ? 0 : fail_io(errno, "listxattr", path);
  if (len == 0) return 0;
  char *names = malloc(len);
  if (!names) return fail_io(ENOMEM, "malloc", path);
  len = fd >= 0 ? flistxattr(fd, names, len) : llistxattr(path, names, len);
  if (len < 0) {
    free(names);
    return fail_io(errno, "listxattr", path);
  }
  struct xattr *x = NULL;
  for (char *name = names; name < names + len; name += strlen(name) + 1) {
    if (!strncmp(name, "trusted.overlay.", 16)) continue;
    ssize_t vlen = fd >= 0 ? fgetxattr(fd, name, NULL, 0) : lgetxattr(path, name, NULL, 0);
    if (vlen < 0) continue; /* removed since listed */
    struct xattr *grown = realloc(x, (*n + 1) * sizeof *x);
    if (!grown) break;
    x = grown;
    x[*n].name = strdup(name);
    x[*n].value = malloc(vlen ? vlen : 1);
    x[*n].len = fd >= 0 ? fgetxattr(fd, name, x[*n].value, vlen) : lgetxattr(path, name, x[*n].value, vlen);
    if (x[*n].len < 0) x[*n].len = 0;
    (*n)++;
  }
  free(names);
  qsort(x, *n, sizeof *x, cmp_xattr);
  *out = x;
  return 0;
}

static int is_opaque(int fd) {
  char v[4];
  ssize_t n = fgetxattr(fd, "trusted.overlay.opaque", v, sizeof v);
  return n == 1 && v[0] == 'y';
}

/* The path of an earlier name of this inode, or NULL (and it is remembered). */
static const char *first_name(struct packer *P, const struct stat *st, const char *rel) {
  for (size_t i = 0; i < P->nseen; i++)
    if (P->seen[i].ino == st->st_ino && P->seen[i].dev == st->st_dev) return P->seen[i].path;
  struct inode_seen *s = realloc(P->seen, (P->nseen + 1) * sizeof *s);
  if (s) {
    P->seen = s;
    s[P->nseen++] = (struct inode_seen){st->st_dev, st->st_ino, strdup(rel)};
  }
  return NULL;
}

static int copy_data(struct packer *P, int fd, uint64_t size, const char *rel) {
  if (flush_out(P) < 0) return -1;
  uint64_t left = size;
  while (left) {
    ssize_t n = read(fd, P->data, left < OUT_BUF ? left : OUT_BUF);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail_io(errno, "read", rel);
    if (n == 0) {
      /* shrank while read: the header already promised size bytes */
      report_event("changed", rel, "file shrank while packed; padded with zeros");
      memset(P->data, 0, OUT_BUF);
      while (left) {
        size_t take = left < OUT_BUF ? left : OUT_BUF;
        if (emit(P, P->data, take) < 0) return -1;
        left -= take;
      }
      break;
    }
    P->out_len = 0;
    memcpy(P->out, P->data, n);
    P->out_len = n;
    if (flush_out(P) < 0) return -1;
    left -= n;
  }
  return pad(P, size);
}

static int walk(struct packer *P, int dirfd, const char *dir);

static int pack_entry(struct packer *P, int dirfd, const char *dir, const char *name) {
  char rel[PATH_MAX];
  if (snprintf(rel, sizeof rel, "%s%s", dir, name) >= (int)sizeof rel)
    return fail_format("path too long: %s%s", dir, name);
  report_set_entry(rel);
  struct stat st;
  if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) return fail_io(errno, "fstatat", rel);
  struct header h = {.name = rel, .linkname = "", .mode = st.st_mode, .uid = st.st_uid,
                     .gid = st.st_gid, .mtime = st.st_mtim.tv_sec};
  char wh[PATH_MAX + 16], link[PATH_MAX];
  int fd = -1, rc;
  if (S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0)) {
    if (snprintf(wh, sizeof wh, "%s.wh.%s", dir, name) >= (int)sizeof wh)
      return fail_format("path too long: %s", rel);
    h.name = wh, h.type = '0';
    return write_header(P, &h);
  }
  if (!S_ISDIR(st.st_mode) && st.st_nlink > 1) {
    const char *first = first_name(P, &st, rel);
    if (first) {
      h.type = '1', h.linkname = first;
      return write_header(P, &h);
    }
  }
  if (S_ISDIR(st.st_mode) || S_ISREG(st.st_mode)) {
    fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | (S_ISDIR(st.st_mode) ? O_DIRECTORY : 0));
    if (fd < 0) return fail_io(errno, "openat", rel);
    rc = read_xattrs(fd, rel, &h.xattrs, &h.nxattrs);
  } else {
    char proc[PATH_MAX + 32];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d/%s", dirfd, name);
    rc = read_xattrs(-1, proc, &h.xattrs, &h.nxattrs);
  }
  if (rc < 0) goto out;
  if (S_ISDIR(st.st_mode)) {
    snprintf(wh, sizeof wh, "%s/", rel);
    h.name = wh, h.type = '5';
    rc = write_header(P, &h);
    if (rc == 0 && is_opaque(fd)) {
      struct header o = {.linkname = "", .type = '0', .mode = 0644,
                         .uid = st.st_uid, .gid = st.st_gid, .mtime = h.mtime};
      char opq[PATH_MAX + 32];
      snprintf(opq, sizeof opq, "%s.wh..wh..opq", wh);
      o.name = opq;
      rc = write_header(P, &o);
    }
    if (rc == 0) rc = walk(P, fd, wh);
  } else if (S_ISREG(st.st_mode)) {
    h.type = '0', h.size = st.st_size;
    rc = write_header(P, &h);
    if (rc == 0) rc = copy_data(P, fd, st.st_size, rel);
  } else if (S_ISLNK(st.st_mode)) {
    ssize_t n = readlinkat(dirfd, name, link, sizeof link - 1);
    if (n < 0) {
      rc = fail_io(errno, "readlinkat", rel);
      goto out;
    }
    link[n] = 0;
    h.type = '2', h.linkname = link;
    rc = write_header(P, &h);
  } else if (S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
    h.type = S_ISFIFO(st.st_mode) ? '6' : S_ISCHR(st.st_mode) ? '3' : '4';
    h.major = major(st.st_rdev), h.minor = minor(st.st_rdev);
    rc = write_header(P, &h);
  } else {
    report_event("skip", rel, "socket");
    rc = 0;
  }
out:
  free_xattrs(h.xattrs, h.nxattrs);
  if (fd >= 0) close(fd);
  return rc;
}

static int walk(struct packer *P, int dirfd, const char *dir) {
  int fd = dup(dirfd);
  if (fd < 0) return fail_io(errno, "dup", dir);
  DIR *d = fdopendir(fd);
  if (!d) {
    close(fd);
    return fail_io(errno, "fdopendir", dir);
  }
  char **names = NULL;
  size_t n = 0, cap = 0;
  int rc = 0;
  struct dirent *de;
  while ((de = readdir(d))) {
    if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
    if (n == cap) {
      cap = cap ? cap * 2 : 64;
      char **grown = realloc(names, cap * sizeof *names);
      if (!grown) {
        rc = fail_io(ENOMEM, "malloc", dir);
        break;
      }
      names = grown;
    }
    names[n++] = strdup(de->d_name);
  }
  closedir(d);
  qsort(names, n, sizeof *names, cmp_name);
  for (size_t i = 0; i < n && rc == 0; i++) rc = pack_entry(P, dirfd, dir, names[i]);
  for (size_t i = 0; i < n; i++) free(names[i]);
  free(names);
  return rc;
}

int pack(const char *upper) {
  struct packer P = {0};
  int rc = -1;
  int root = open(upper, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (root < 0) return fail_io(errno, "open", upper);
  P.out = malloc(OUT_BUF);
  P.data = malloc(OUT_BUF);
  if (!P.out || !P.data) {
    fail_io(ENOMEM, "malloc", upper);
    goto out;
  }
  static const unsigned char end[2 * BLOCK];
  if (walk(&P, root, "") < 0 || emit(&P, end, sizeof end) < 0 || flush_out(&P) < 0) goto out;
  rc = 0;
out:
  for (size_t i = 0; i < P.nseen; i++) free(P.seen[i].path);
  free(P.seen);
  free(P.out);
  free(P.data);
  close(root);
  return rc;
}
