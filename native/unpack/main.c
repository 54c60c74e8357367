/* berth-unpack: an archive's bytes on disk to files, and back.
 *
 *   berth-unpack unpack SRC DEST [--max-bytes N] [--max-ratio R]
 *       creates DEST (which must not exist) and unpacks the plain, gzip, xz
 *       or zstd tar SRC into it, then prints one JSON object on stdout:
 *       {digest, diffId, size, compressedSize, compression, entries, skipped}
 *   berth-unpack cat SRC [--max-bytes N] [--max-ratio R]
 *       writes SRC's decompressed bytes to stdout
 *   berth-unpack pack UPPERDIR
 *       writes an overlayfs upper directory as an uncompressed OCI layer tar
 *
 * Events are JSON lines on stderr; a failure is one last JSON line there,
 * {error, reason: escape|bomb|format|io, entry, errno?, code?, syscall?, path?},
 * and the exit status is 1 (2 for a usage error). The caller removes DEST. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "extract.h"
#include "pack.h"
#include "report.h"
#include "source.h"
#include "tar.h"

static const struct source_limits default_limits = {
    .max_bytes = 64ULL << 30,
    .max_ratio = 200,
    /* a small layer of one zero-filled file legitimately expands a lot */
    .ratio_after = 8ULL << 20,
};

static int usage(void) {
  fprintf(stderr,
          "usage: berth-unpack unpack SRC DEST [--max-bytes N] [--max-ratio R]\n"
          "       berth-unpack cat SRC [--max-bytes N] [--max-ratio R]\n"
          "       berth-unpack pack UPPERDIR\n");
  return 2;
}

static int parse_limits(int argc, char **argv, struct source_limits *l) {
  *l = default_limits;
  for (int i = 0; i < argc; i++) {
    char *end = NULL;
    if (i + 1 < argc && !strcmp(argv[i], "--max-bytes")) {
      l->max_bytes = strtoull(argv[++i], &end, 10);
    } else if (i + 1 < argc && !strcmp(argv[i], "--max-ratio")) {
      l->max_ratio = strtod(argv[++i], &end);
    } else {
      return -1;
    }
    if (!end || *end) return -1;
  }
  return 0;
}

static void print_result(struct source *src, const struct layer *L) {
  char digest[72], diff_id[72];
  source_digests(src, digest, diff_id);
  printf("{\"digest\":\"%s\",\"diffId\":\"%s\",\"size\":%llu,\"compressedSize\":%llu,"
         "\"compression\":\"%s\",\"entries\":%lu,\"skipped\":[",
         digest, diff_id, (unsigned long long)source_out_bytes(src),
         (unsigned long long)source_in_bytes(src), compression_name(source_compression(src)),
         L->entries);
  for (size_t i = 0; i < L->nskipped; i++) {
    if (i) putchar(',');
    json_string(stdout, L->skipped[i]);
  }
  printf("]}\n");
  fflush(stdout);
}

static int unpack(const char *file, const char *dest, const struct source_limits *limits) {
  struct layer L;
  struct tar_reader r = {0};
  struct tar_entry e = {0};
  int rc = -1;
  r.src = source_open(file, limits);
  if (!r.src) return -1;
  if (layer_open(&L, dest) < 0) goto out;
  for (;;) {
    int got = tar_next(&r, &e);
    if (got < 0) goto out;
    if (got == 0) break;
    if (layer_apply(&L, &r, &e) < 0) goto out;
  }
  report_set_entry("");
  /* the diffId covers the whole stream, past the end-of-archive blocks */
  if (layer_finish(&L) < 0 || source_drain(r.src) < 0) goto out;
  print_result(r.src, &L);
  rc = 0;
out:
  tar_entry_free(&e);
  layer_close(&L);
  source_close(r.src);
  return rc;
}

static int cat(const char *file, const struct source_limits *limits) {
  struct source *src = source_open(file, limits);
  if (!src) return -1;
  static unsigned char buf[1 << 20];
  int rc = 0;
  for (;;) {
    ssize_t n = source_read(src, buf, sizeof buf);
    if (n <= 0) {
      rc = n;
      break;
    }
    for (ssize_t off = 0; off < n;) {
      ssize_t w = write(STDOUT_FILENO, buf + off, n - off);
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) {
        rc = fail_io(errno, "write", "stdout");
        break;
      }
      off += w;
    }
    if (rc) break;
  }
  source_close(src);
  return rc;
}

int main(int argc, char **argv) {
  struct source_limits limits;
  int rc;
  /* modes come from the archive alone */
  umask(0);
  if (argc >= 4 && !strcmp(argv[1], "unpack")) {
    if (parse_limits(argc - 4, argv + 4, &limits) < 0) return usage();
    rc = unpack(argv[2], argv[3], &limits);
  } else if (argc >= 3 && !strcmp(argv[1], "cat")) {
    if (parse_limits(argc - 3, argv + 3, &limits) < 0) return usage();
    rc = cat(argv[2], &limits);
  } else if (argc == 3 && !strcmp(argv[1], "pack")) {
    rc = pack(argv[2]);
  } else {
    return usage();
  }
  if (rc < 0) {
    report_failure();
    return 1;
  }
  return 0;
}
