#ifndef BERTH_MOUNT_INTO_H
#define BERTH_MOUNT_INTO_H

/* berth-monitor mount-into PID SOURCE TARGET ro|rw userns|host
 * berth-monitor umount-from PID TARGET userns|host
 * Exit 0, or a fault (errno, syscall, path, message) on fd 4. */
int mount_into_main(int argc, char **argv);

#endif
