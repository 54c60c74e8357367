/* `mount-into` and `umount-from`: a volume attached to, or detached from, a
 * running container. Entering a mount namespace takes a single-threaded
 * process (setns refuses a multithreaded one), hence this helper rather
 * than the addon. The detached copy of the volume's mount is made in the
 * host's namespace, then moved onto the mount point inside. */
#define _GNU_SOURCE
#include "mount-into.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "mountpoint.h"
#include "oneshot.h"

static int open_ns(int pid, const char *name, struct fault *f) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/ns/%s", pid, name);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) fault_set(f, errno, "open", path, "enter container");
  return fd;
}

/* The container's user namespace (when it has one) first, as root there,
 * so what we make inside belongs to the container's root; then its mounts. */
static int enter(int pid, int userns_fd, struct fault *f) {
  int mnt = open_ns(pid, "mnt", f);
  if (mnt < 0) return -1;
  if (userns_fd >= 0) {
    if (setns(userns_fd, CLONE_NEWUSER) < 0)
      return fault_set(f, errno, "setns", "user", "enter container");
    if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0)
      return fault_set(f, errno, "setresuid", "", "enter container");
  }
  if (setns(mnt, CLONE_NEWNS) < 0) return fault_set(f, errno, "setns", "mnt", "enter container");
  close(mnt);
  return 0;
}

static int parse_pid(const char *v, struct fault *f) {
  char *end;
  long pid = strtol(v, &end, 10);
  if (*end || pid <= 0) return fault_spec(f, "bad pid '%.20s'", v);
  return (int)pid;
}

static int mount_into(int pid, const char *source, const char *target, int ro, int userns,
                      struct fault *f) {
  int userns_fd = userns ? open_ns(pid, "user", f) : -1;
  if (userns && userns_fd < 0) return -1;
  int tree = volume_tree(source, ro, userns_fd, f);
  if (tree < 0) return -1;
  if (enter(pid, userns_fd, f)) return -1;
  int root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (root < 0) return fault_set(f, errno, "open", "/", "container root");
  int at = mountpoint_open(root, target, f);
  if (at < 0) return -1;
  if (move_mount(tree, "", at, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
    return fault_set(f, errno, "move_mount", target, "attach volume");
  return 0;
}

/* The last component is not followed: a symlink put there is not a mount. */
static int umount_from(int pid, const char *target, int userns, struct fault *f) {
  int userns_fd = userns ? open_ns(pid, "user", f) : -1;
  if (userns && userns_fd < 0) return -1;
  if (enter(pid, userns_fd, f)) return -1;
  if (umount2(target, MNT_DETACH | UMOUNT_NOFOLLOW) < 0)
    return fault_set(f, errno, "umount2", target, "detach volume");
  return 0;
}

int mount_into_main(int argc, char **argv) {
  struct fault f;
  int umount = !strcmp(argv[1], "umount-from");
  if (argc != (umount ? 5 : 7)) {
    fault_spec(&f, "%s: wrong number of arguments", argv[1]);
    return oneshot_report(&f);
  }
  int pid = parse_pid(argv[2], &f);
  if (pid < 0) return oneshot_report(&f);
  int failed = umount
                   ? umount_from(pid, argv[3], !strcmp(argv[4], "userns"), &f)
                   : mount_into(pid, argv[3], argv[4], !strcmp(argv[5], "ro"),
                                !strcmp(argv[6], "userns"), &f);
  return failed ? oneshot_report(&f) : 0;
}
