#define _GNU_SOURCE
#include "mountpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdint.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static int open_in_root(int rootfd, const char *path) {
  struct open_how how = {
      .flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
      .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
  };
  return (int)syscall(SYS_openat2, rootfd, path, &how, sizeof how);
}

int mountpoint_open(int rootfd, const char *path, struct fault *f) {
  char buf[4096];
  size_t len = 0;
  while (path[len] && len + 1 < sizeof buf) {
    buf[len] = path[len];
    len++;
  }
  buf[len] = 0;
  if (path[len] || buf[0] != '/') {
    errno = EINVAL;
    return fault_set(f, EINVAL, "openat2", path, "mount point must be absolute");
  }
  /* Each component is made in its parent as resolved in the root, so a
   * symlinked parent leads where it would inside the container, never out. */
  for (size_t i = 1; i <= len; i++) {
    if (buf[i] != '/' && buf[i] != 0) continue;
    size_t start = i;
    while (start > 0 && buf[start - 1] != '/') start--;
    if (start == i) continue; /* "//" */
    char saved = buf[i], before = buf[start - 1];
    buf[i] = 0;
    buf[start - 1] = 0;
    int parent = open_in_root(rootfd, start > 1 ? buf : "/");
    buf[start - 1] = before;
    if (parent < 0) return fault_set(f, errno, "openat2", buf, "mount point parent");
    int made = mkdirat(parent, buf + start, 0755);
    int err = errno;
    close(parent);
    if (made < 0 && err != EEXIST) return fault_set(f, err, "mkdirat", buf, "mount point");
    buf[i] = saved;
  }
  int fd = open_in_root(rootfd, path);
  if (fd < 0) return fault_set(f, errno, "openat2", path, "mount point");
  return fd;
}

int volume_tree(const char *source, int read_only, int userns_fd, struct fault *f) {
  int fd = open_tree(AT_FDCWD, source, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
  if (fd < 0) return fault_set(f, errno, "open_tree", source, "volume");
  struct mount_attr attr = {0};
  if (read_only) attr.attr_set |= MOUNT_ATTR_RDONLY;
  /* The volume's files are owned by host ids; through the container's
   * mapping its root owns them as the host's root does. */
  if (userns_fd >= 0) {
    attr.attr_set |= MOUNT_ATTR_IDMAP;
    attr.userns_fd = (uint64_t)userns_fd;
  }
  if (attr.attr_set && mount_setattr(fd, "", AT_EMPTY_PATH, &attr, sizeof attr) < 0) {
    int err = errno;
    close(fd);
    return fault_set(f, err, "mount_setattr", source, "volume");
  }
  return fd;
}
