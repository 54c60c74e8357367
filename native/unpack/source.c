#define _GNU_SOURCE
#include "source.h"

#include <errno.h>
#include <fcntl.h>
#include <lzma.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "report.h"

/* Large reads: this sits on the cold-boot path, and a layer is read once. */
#define IN_BUF (1 << 20)

struct source {
  int fd;
  const char *path;
  struct source_limits limits;
  enum compression comp;
  unsigned char *in;
  size_t in_pos, in_len;
  int in_eof;
  uint64_t in_total;  /* bytes read from the file */
  uint64_t out_total; /* uncompressed bytes produced */
  int done;           /* the compressed stream has ended */
  EVP_MD_CTX *hash_in, *hash_out;
  z_stream z;
  lzma_stream x;
  ZSTD_DStream *zs;
  size_t zs_last; /* ZSTD_decompressStream's last hint: 0 = frame complete */
};

const char *compression_name(enum compression c) {
  static const char *names[] = {"none", "gzip", "xz", "zstd"};
  return names[c];
}

static int refill(struct source *s) {
  if (s->in_pos < s->in_len || s->in_eof) return 0;
  s->in_pos = s->in_len = 0;
  while (s->in_len < IN_BUF) {
    ssize_t n = read(s->fd, s->in + s->in_len, IN_BUF - s->in_len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail_io(errno, "read", s->path);
    }
    if (n == 0) {
      s->in_eof = 1;
      break;
    }
    s->in_len += n;
  }
  EVP_DigestUpdate(s->hash_in, s->in, s->in_len);
  s->in_total += s->in_len;
  return 0;
}

static enum compression sniff(const unsigned char *b, size_t n) {
  if (n >= 2 && b[0] == 0x1f && b[1] == 0x8b) return COMP_GZIP;
  if (n >= 6 && !memcmp(b, "\xfd" "7zXZ\0", 6)) return COMP_XZ;
  if (n >= 4 && !memcmp(b, "\x28\xb5\x2f\xfd", 4)) return COMP_ZSTD;
  return COMP_NONE;
}

struct source *source_open(const char *path, const struct source_limits *limits) {
  struct source *s = calloc(1, sizeof *s);
  if (!s || !(s->in = malloc(IN_BUF))) {
    fail_io(ENOMEM, "malloc", path);
    goto fail;
  }
  s->fd = -1;
  s->path = path;
  s->limits = *limits;
  s->hash_in = EVP_MD_CTX_new();
  s->hash_out = EVP_MD_CTX_new();
  EVP_DigestInit_ex(s->hash_in, EVP_sha256(), NULL);
  EVP_DigestInit_ex(s->hash_out, EVP_sha256(), NULL);
  s->fd = open(path, O_RDONLY | O_CLOEXEC);
  if (s->fd < 0) {
    fail_io(errno, "open", path);
    goto fail;
  }
  posix_fadvise(s->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  if (refill(s) < 0) goto fail;
  s->comp = sniff(s->in, s->in_len);
  int ok = 1;
  switch (s->comp) {
  case COMP_GZIP:
    ok = inflateInit2(&s->z, 15 + 16) == Z_OK; /* gzip wrapper only */
    break;
  case COMP_XZ:
    ok = lzma_stream_decoder(&s->x, UINT64_MAX, LZMA_CONCATENATED) == LZMA_OK;
    break;
  case COMP_ZSTD:
    ok = (s->zs = ZSTD_createDStream()) != NULL;
    /* zstd --long archives use windows past the 128 MiB default */
    if (ok) ZSTD_DCtx_setParameter(s->zs, ZSTD_d_windowLogMax, 31);
    break;
  case COMP_NONE:
    break;
  }
  if (!ok) {
    fail_io(ENOMEM, "decompressor init", path);
    goto fail;
  }
  return s;
fail:
  if (s) source_close(s);
  return NULL;
}

static int truncated(struct source *s) {
  return fail_format("truncated archive: the %s stream of %s ends early", compression_name(s->comp),
                     s->path);
}

static ssize_t step_gzip(struct source *s, unsigned char *buf, size_t n) {
  for (;;) {
    if (refill(s) < 0) return -1;
    if (s->in_pos == s->in_len && s->in_eof) {
      if (s->z.total_in == 0 && s->z.total_out == 0) return 0; /* between members */
      return truncated(s);
    }
    s->z.next_in = s->in + s->in_pos;
    s->z.avail_in = s->in_len - s->in_pos;
    s->z.next_out = buf;
    s->z.avail_out = n;
    int rc = inflate(&s->z, Z_NO_FLUSH);
    s->in_pos = s->in_len - s->z.avail_in;
    size_t got = n - s->z.avail_out;
    if (rc == Z_STREAM_END) {
      /* a gzip file may hold several members, as `cat a.gz b.gz` makes */
      inflateReset(&s->z);
      if (refill(s) < 0) return -1;
      if (s->in_pos == s->in_len && s->in_eof) s->done = 1;
    } else if (rc != Z_OK && rc != Z_BUF_ERROR) {
      return fail_format("not a valid gzip stream (%s): %s", s->z.msg ? s->z.msg : "error", s->path);
    }
    if (got || s->done) return got;
  }
}

static ssize_t step_xz(struct source *s, unsigned char *buf, size_t n) {
  for (;;) {
    if (refill(s) < 0) return -1;
    s->x.next_in = s->in + s->in_pos;
    s->x.avail_in = s->in_len - s->in_pos;
    s->x.next_out = buf;
    s->x.avail_out = n;
    lzma_ret rc = lzma_code(&s->x, s->in_eof ? LZMA_FINISH : LZMA_RUN);
    s->in_pos = s->in_len - s->x.avail_in;
    size_t got = n - s->x.avail_out;
    if (rc == LZMA_STREAM_END)
      s->done = 1;
    else if (rc == LZMA_BUF_ERROR)
      return truncated(s);
    else if (rc != LZMA_OK)
      return fail_format("not a valid xz stream (liblzma error %d): %s", rc, s->path);
    if (got || s->done) return got;
  }
}

static ssize_t step_zstd(struct source *s, unsigned char *buf, size_t n) {
  for (;;) {
    if (refill(s) < 0) return -1;
    if (s->in_pos == s->in_len && s->in_eof && s->zs_last == 0) {
      s->done = 1;
      return 0;
    }
    ZSTD_inBuffer in = {s->in, s->in_len, s->in_pos};
    ZSTD_outBuffer out = {buf, n, 0};
    size_t rc = ZSTD_decompressStream(s->zs, &out, &in);
    if (ZSTD_isError(rc))
      return fail_format("not a valid zstd stream (%s): %s", ZSTD_getErrorName(rc), s->path);
    s->in_pos = in.pos;
    s->zs_last = rc;
    if (out.pos) return out.pos;
    /* no output, and all input used with a frame left open: cut short */
    if (s->in_pos == s->in_len && s->in_eof && rc != 0) return truncated(s);
  }
}

static ssize_t step_none(struct source *s, unsigned char *buf, size_t n) {
  if (s->in_pos == s->in_len) {
    if (s->in_eof) {
      s->done = 1;
      return 0;
    }
    if (refill(s) < 0) return -1;
    if (s->in_pos == s->in_len) return s->done = 1, 0;
  }
  size_t got = s->in_len - s->in_pos < n ? s->in_len - s->in_pos : n;
  memcpy(buf, s->in + s->in_pos, got);
  s->in_pos += got;
  return got;
}

static int guard(struct source *s) {
  const struct source_limits *l = &s->limits;
  if (s->out_total > l->max_bytes)
    return fail_bomb("decompression bomb: %s expands past the limit of %llu bytes", s->path,
                     (unsigned long long)l->max_bytes);
  uint64_t consumed = s->in_total - (s->in_len - s->in_pos);
  if (s->comp != COMP_NONE && s->out_total > l->ratio_after &&
      (double)s->out_total > l->max_ratio * (double)(consumed ? consumed : 1))
    return fail_bomb("decompression bomb: %s expands more than %g times (%llu bytes from %llu)",
                     s->path, l->max_ratio, (unsigned long long)s->out_total,
                     (unsigned long long)consumed);
  return 0;
}

ssize_t source_read(struct source *s, void *buf, size_t n) {
  size_t have = 0;
  while (have < n && !s->done) {
    ssize_t got;
    unsigned char *p = (unsigned char *)buf + have;
    switch (s->comp) {
    case COMP_GZIP: got = step_gzip(s, p, n - have); break;
    case COMP_XZ: got = step_xz(s, p, n - have); break;
    case COMP_ZSTD: got = step_zstd(s, p, n - have); break;
    default: got = step_none(s, p, n - have); break;
    }
    if (got < 0) return -1;
    if (got == 0) {
      if (s->comp == COMP_NONE || s->done) break;
      continue;
    }
    EVP_DigestUpdate(s->hash_out, p, got);
    s->out_total += got;
    have += got;
    if (guard(s) < 0) return -1;
  }
  return have;
}

int source_drain(struct source *s) {
  static unsigned char scratch[1 << 16];
  for (;;) {
    ssize_t n = source_read(s, scratch, sizeof scratch);
    if (n < 0) return -1;
    if (n == 0) return 0;
  }
}

enum compression source_compression(const struct source *s) { return s->comp; }
uint64_t source_in_bytes(const struct source *s) { return s->in_total; }
uint64_t source_out_bytes(const struct source *s) { return s->out_total; }

static void hex_digest(EVP_MD_CTX *ctx, char out[72]) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx, md, &len);
  char *p = out + sprintf(out, "sha256:");
  for (unsigned i = 0; i < len; i++) p += sprintf(p, "%02x", md[i]);
}

void source_digests(struct source *s, char digest[72], char diff_id[72]) {
  hex_digest(s->hash_in, digest);
  hex_digest(s->hash_out, diff_id);
}

void source_close(struct source *s) {
  if (s->fd >= 0) close(s->fd);
  if (s->comp == COMP_GZIP) inflateEnd(&s->z);
  if (s->comp == COMP_XZ) lzma_end(&s->x);
  if (s->zs) ZSTD_freeDStream(s->zs);
  EVP_MD_CTX_free(s->hash_in);
  EVP_MD_CTX_free(s->hash_out);
  free(s->in);
  free(s);
}
