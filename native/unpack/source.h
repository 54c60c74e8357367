/* An archive's bytes as a tar stream: the file is read in large blocks,
 * its compression is told by magic bytes (gzip, xz, zstd or none) and
 * undone in process, both the file and the uncompressed stream are hashed
 * on the way (the blob digest and the layer's diffId), and the
 * decompression-bomb guard is applied to every block produced. */
#ifndef BERTH_UNPACK_SOURCE_H
#define BERTH_UNPACK_SOURCE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum compression { COMP_NONE, COMP_GZIP, COMP_XZ, COMP_ZSTD };

struct source_limits {
  uint64_t max_bytes;   /* uncompressed bytes, in all */
  double max_ratio;     /* uncompressed / compressed, once past ratio_after */
  uint64_t ratio_after; /* small archives may expand a lot (one zero-filled file) */
};

struct source;

/* NULL on failure (g_failure says why). */
struct source *source_open(const char *path, const struct source_limits *limits);
/* Up to n bytes; fewer only at the end of the stream. -1 on failure. */
ssize_t source_read(struct source *s, void *buf, size_t n);
/* Reads (and hashes) whatever follows the tar's end, to the end of the file. */
int source_drain(struct source *s);
enum compression source_compression(const struct source *s);
const char *compression_name(enum compression c);
uint64_t source_in_bytes(const struct source *s);
uint64_t source_out_bytes(const struct source *s);
/* "sha256:<hex>" of the file and of the uncompressed stream; after source_drain */
void source_digests(struct source *s, char digest[72], char diff_id[72]);
void source_close(struct source *s);

#endif
