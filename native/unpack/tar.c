#define _GNU_SOURCE
#include "tar.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"

#define BLOCK 512
/* A pax or long-name header holds metadata, never file data: a bigger one is a lie. */
#define META_MAX (1 << 20)

static int read_exact(struct tar_reader *r, void *buf, size_t n, const char *what) {
  ssize_t got = source_read(r->src, buf, n);
  if (got < 0) return -1;
  if ((size_t)got != n)
    return fail_format("truncated archive: %s cut short (%zd of %zu bytes)", what, got, n);
  return 0;
}

static int skip(struct tar_reader *r, uint64_t n) {
  static unsigned char scratch[1 << 16];
  while (n) {
    size_t want = n < sizeof scratch ? n : sizeof scratch;
    if (read_exact(r, scratch, want, "entry data") < 0) return -1;
    n -= want;
  }
  return 0;
}

ssize_t tar_read_data(struct tar_reader *r, void *buf, size_t n) {
  if (!r->remaining) return 0;
  if (n > r->remaining) n = r->remaining;
  ssize_t got = source_read(r->src, buf, n);
  if (got < 0) return -1;
  if ((size_t)got < n)
    return fail_format("truncated archive: the entry declares %llu bytes, only %llu are present",
                       (unsigned long long)r->declared,
                       (unsigned long long)(r->declared - r->remaining + got));
  r->remaining -= got;
  return got;
}

/* Octal, or GNU base-256 (high bit of the first byte) for values past the field. */
static int number(const char *f, size_t len, uint64_t *out, const char *field) {
  const unsigned char *p = (const unsigned char *)f;
  uint64_t v = 0;
  if (p[0] & 0x80) {
    if (p[0] & 0x40) return fail_format("negative %s in tar header", field);
    v = p[0] & 0x3f;
    for (size_t i = 1; i < len; i++) {
      if (v >> 56) return fail_format("%s out of range in tar header", field);
      v = v << 8 | p[i];
    }
    *out = v;
    return 0;
  }
  size_t i = 0;
  while (i < len && (p[i] == ' ' || p[i] == 0)) i++;
  for (; i < len && p[i] >= '0' && p[i] <= '7'; i++) v = v << 3 | (p[i] - '0');
  for (; i < len; i++)
    if (p[i] != ' ' && p[i] != 0) return fail_format("bad %s field in tar header", field);
  *out = v;
  return 0;
}

static int checksum_ok(const unsigned char *b) {
  uint64_t want;
  if (number((const char *)b + 148, 8, &want, "checksum") < 0) return 0;
  unsigned long u = 0;
  long s = 0;
  for (int i = 0; i < BLOCK; i++) {
    unsigned char c = (i >= 148 && i < 156) ? ' ' : b[i];
    u += c;
    s += (signed char)c;
  }
  /* some old tars summed signed chars */
  return want == u || (long)want == s;
}

static char *field_string(const char *f, size_t len) {
  size_t n = strnlen(f, len);
  char *s = malloc(n + 1);
  if (s) memcpy(s, f, n), s[n] = 0;
  return s;
}

static int read_meta(struct tar_reader *r, uint64_t size, char **out) {
  if (size > META_MAX) return fail_format("tar metadata header of %llu bytes", (unsigned long long)size);
  char *buf = malloc(size + 1);
  if (!buf) return fail_io(ENOMEM, "malloc", "");
  if (read_exact(r, buf, size, "tar metadata header") < 0 || skip(r, (BLOCK - size % BLOCK) % BLOCK) < 0) {
    free(buf);
    return -1;
  }
  buf[size] = 0;
  *out = buf;
  return 0;
}

static int parse_time(const char *v, struct timespec *t) {
  char *end;
  errno = 0;
  long long sec = strtoll(v, &end, 10);
  if (errno || end == v) return -1;
  long nsec = 0;
  if (*end == '.') {
    int digits = 0;
    for (end++; *end >= '0' && *end <= '9'; end++)
      if (digits < 9) nsec = nsec * 10 + (*end - '0'), digits++;
    while (digits++ < 9) nsec *= 10;
  }
  if (*end) return -1;
  t->tv_sec = sec;
  t->tv_nsec = sec < 0 && nsec ? -nsec : nsec;
  return 0;
}

static int parse_id(const char *v, uint64_t *out) {
  char *end;
  errno = 0;
  unsigned long long n = strtoull(v, &end, 10);
  if (errno || end == v || *end || n > UINT32_MAX) return -1;
  *out = n;
  return 0;
}

struct pax {
  char *path, *linkpath;
  int size_set, uid_set, gid_set, mtime_set;
  uint64_t size, uid, gid;
  struct timespec mtime;
};

static int add_xattr(struct tar_entry *e, const char *name, const char *value, size_t len) {
  struct tar_xattr *x = realloc(e->xattrs, (e->nxattrs + 1) * sizeof *x);
  if (!x) return fail_io(ENOMEM, "malloc", "");
  e->xattrs = x;
  x = &x[e->nxattrs];
  x->name = strdup(name);
  x->value = malloc(len ? len : 1);
  if (!x->name || !x->value) return fail_io(ENOMEM, "malloc", "");
  memcpy(x->value, value, len);
  x->len = len;
  e->nxattrs++;
  return 0;
}

/* "<len> key=value\n" records; values may hold any byte (xattrs). */
static int parse_pax(char *buf, size_t size, struct pax *p, struct tar_entry *e) {
  size_t off = 0;
  while (off < size) {
    char *rec = buf + off, *end;
    unsigned long len = strtoul(rec, &end, 10);
    if (end == rec || *end != ' ' || len < 5 || len > size - off || rec[len - 1] != '\n')
      return fail_format("malformed pax record");
    char *key = end + 1, *eq = memchr(key, '=', rec + len - key);
    if (!eq) return fail_format("malformed pax record");
    *eq = 0;
    char *val = eq + 1;
    size_t vlen = rec + len - 1 - val;
    rec[len - 1] = 0;
    off += len;
    int bad = 0;
    if (!strcmp(key, "path")) {
      free(p->path);
      p->path = strdup(val);
    } else if (!strcmp(key, "linkpath")) {
      free(p->linkpath);
      p->linkpath = strdup(val);
    } else if (!strcmp(key, "size")) {
      char *e2;
      errno = 0;
      p->size = strtoull(val, &e2, 10);
      bad = errno || e2 == val || *e2;
      p->size_set = 1;
    } else if (!strcmp(key, "uid")) {
      bad = parse_id(val, &p->uid) < 0;
      p->uid_set = 1;
    } else if (!strcmp(key, "gid")) {
      bad = parse_id(val, &p->gid) < 0;
      p->gid_set = 1;
    } else if (!strcmp(key, "mtime")) {
      bad = parse_time(val, &p->mtime) < 0;
      p->mtime_set = 1;
    } else if (!strncmp(key, "SCHILY.xattr.", 13) && e) {
      if (add_xattr(e, key + 13, val, vlen) < 0) return -1;
    } else if (!strncmp(key, "GNU.sparse.", 11)) {
      return fail_format("sparse files are not supported");
    }
    if (bad) return fail_format("bad pax %s value", key);
  }
  return 0;
}

void tar_entry_free(struct tar_entry *e) {
  free(e->name);
  free(e->linkname);
  for (size_t i = 0; i < e->nxattrs; i++) free(e->xattrs[i].name), free(e->xattrs[i].value);
  free(e->xattrs);
  memset(e, 0, sizeof *e);
}

static int is_zero(const unsigned char *b) {
  for (int i = 0; i < BLOCK; i++)
    if (b[i]) return 0;
  return 1;
}

int tar_next(struct tar_reader *r, struct tar_entry *e) {
  if (skip(r, r->remaining) < 0 || skip(r, r->padding) < 0) return -1;
  r->remaining = r->padding = 0;
  tar_entry_free(e);
  struct pax pax = {0};
  char *long_name = NULL, *long_link = NULL;
  int rc = -1;
  unsigned char b[BLOCK];
  for (;;) {
    ssize_t got = source_read(r->src, b, BLOCK);
    if (got < 0) goto out;
    /* an archive cut at a block boundary without its end marker reads as ended, as Go's does */
    if (got == 0) {
      rc = 0;
      if (long_name || long_link || pax.path || pax.size_set)
        rc = fail_format("truncated archive: ends after a metadata header");
      goto out;
    }
    if (got != BLOCK) {
      fail_format("truncated archive: a header cut short (%zd bytes)", got);
      goto out;
    }
    if (is_zero(b)) {
      rc = 0;
      goto out;
    }
    if (!checksum_ok(b)) {
      fail_format("not a tar archive (bad header checksum)");
      goto out;
    }
    uint64_t size, v;
    if (number((char *)b + 124, 12, &size, "size") < 0) goto out;
    char type = b[156] ? b[156] : '0';
    if (type == 'x' || type == 'g') {
      char *buf;
      if (read_meta(r, size, &buf) < 0) goto out;
      struct pax g = {0};
      int prc = parse_pax(buf, size, type == 'x' ? &pax : &g, type == 'x' ? e : NULL);
      free(buf);
      if (type == 'g') {
        if (g.uid_set) r->g_uid_set = 1, r->g_uid = g.uid;
        if (g.gid_set) r->g_gid_set = 1, r->g_gid = g.gid;
        if (g.mtime_set) r->g_mtime_set = 1, r->g_mtime = g.mtime;
        free(g.path), free(g.linkpath);
      }
      if (prc < 0) goto out;
      continue;
    }
    if (type == 'L' || type == 'K') {
      char **dst = type == 'L' ? &long_name : &long_link;
      free(*dst);
      if (read_meta(r, size, dst) < 0) goto out;
      continue;
    }
    if (type == 'S' || type == 'M') {
      fail_format("unsupported tar entry type '%c' (GNU sparse or multi-volume)", type);
      goto out;
    }
    e->type = type == '7' ? '0' : type;
    if (pax.path) e->name = pax.path, pax.path = NULL;
    else if (long_name) e->name = long_name, long_name = NULL;
    else if (!memcmp(b + 257, "ustar\0", 6) && b[345]) {
      /* POSIX ustar: prefix "/" name (GNU's old format keeps times there instead) */
      char *prefix = field_string((char *)b + 345, 155), *name = field_string((char *)b, 100);
      if (prefix && name && asprintf(&e->name, "%s/%s", prefix, name) < 0) e->name = NULL;
      free(prefix), free(name);
    } else
      e->name = field_string((char *)b, 100);
    if (pax.linkpath) e->linkname = pax.linkpath, pax.linkpath = NULL;
    else if (long_link) e->linkname = long_link, long_link = NULL;
    else e->linkname = field_string((char *)b + 157, 100);
    if (!e->name || !e->linkname) {
      fail_io(ENOMEM, "malloc", "");
      goto out;
    }
    if (strlen(e->name) >= PATH_MAX || strlen(e->linkname) >= PATH_MAX) {
      fail_format("entry name longer than %d bytes", PATH_MAX);
      goto out;
    }
    report_set_entry(e->name);
    if (number((char *)b + 100, 8, &v, "mode") < 0) goto out;
    e->mode = v & 07777;
    if (number((char *)b + 108, 8, &v, "uid") < 0) goto out;
    e->uid = pax.uid_set ? pax.uid : r->g_uid_set ? r->g_uid : v;
    if (number((char *)b + 116, 8, &v, "gid") < 0) goto out;
    e->gid = pax.gid_set ? pax.gid : r->g_gid_set ? r->g_gid : v;
    if (number((char *)b + 136, 12, &v, "mtime") < 0) goto out;
    e->mtime.tv_sec = v;
    e->mtime.tv_nsec = 0;
    if (r->g_mtime_set) e->mtime = r->g_mtime;
    if (pax.mtime_set) e->mtime = pax.mtime;
    if (number((char *)b + 329, 8, &v, "devmajor") < 0) goto out;
    e->devmajor = v;
    if (number((char *)b + 337, 8, &v, "devminor") < 0) goto out;
    e->devminor = v;
    if (pax.size_set) size = pax.size;
    /* links, devices, fifos and dirs carry no data, whatever size they claim */
    if (e->type == '1' || e->type == '2' || e->type == '3' || e->type == '4' || e->type == '5' ||
        e->type == '6')
      size = 0;
    e->size = size;
    r->remaining = r->declared = size;
    r->padding = (BLOCK - size % BLOCK) % BLOCK;
    rc = 1;
    goto out;
  }
out:
  free(pax.path), free(pax.linkpath), free(long_name), free(long_link);
  return rc;
}
