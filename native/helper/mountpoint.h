/* Mount points inside a container's root: resolved and made so that no
 * symlink or ".." reaches outside it. */
#ifndef BERTH_MOUNTPOINT_H
#define BERTH_MOUNTPOINT_H

#include "fault.h"

/* An O_PATH descriptor of the directory `path` (absolute, as the container
 * sees it) under `rootfd`, making missing components (0755, owned by the
 * caller). Every lookup is openat2 RESOLVE_IN_ROOT from `rootfd`: symlinks
 * resolve as they would inside the container. Allocation-free, so it may
 * run between clone and exec. Returns the fd, or -1 with f filled. */
int mountpoint_open(int rootfd, const char *path, struct fault *f);

/* A detached copy of the mount at `source` (open_tree OPEN_TREE_CLONE),
 * read-only when asked, id-mapped through `userns_fd` when >= 0. */
int volume_tree(const char *source, int read_only, int userns_fd, struct fault *f);

#endif
