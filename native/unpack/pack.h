/* An overlayfs upper directory as an uncompressed OCI layer tar on stdout:
 * overlay whiteouts (char devices 0:0) become `.wh.NAME` files, opaque
 * directories (trusted.overlay.opaque=y) get a `.wh..wh..opq` entry;
 * ownership, modes, mtimes and xattrs (but trusted.overlay.*) are kept in
 * pax records; a second name of an inode becomes a hardlink entry; names
 * are sorted so the same tree always makes the same bytes (and diffId). */
#ifndef BERTH_UNPACK_PACK_H
#define BERTH_UNPACK_PACK_H

int pack(const char *upper);

#endif
