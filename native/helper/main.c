/* berth-monitor: the small single-threaded helper that creates and owns
 * containers, so nothing runs between clone and exec inside Node. */
#include <stdio.h>
#include <string.h>

#include "keeper.h"
#include "mount-into.h"
#include "oneshot.h"

int main(int argc, char **argv) {
  if (argc == 4 && !strcmp(argv[1], "serve")) return keeper_main(argv[2], argv[3]);
  if (argc == 2 && !strcmp(argv[1], "run")) return run_main();
  if (argc == 2 && !strcmp(argv[1], "exec")) return exec_main();
  if (argc >= 2 && (!strcmp(argv[1], "mount-into") || !strcmp(argv[1], "umount-from")))
    return mount_into_main(argc, argv);
  fprintf(stderr,
          "usage: berth-monitor serve SOCKET LOCKFILE\n"
          "       berth-monitor run   (spec on fd 3)\n"
          "       berth-monitor exec  (spec on fd 3)\n"
          "       berth-monitor mount-into PID SOURCE TARGET ro|rw userns|host\n"
          "       berth-monitor umount-from PID TARGET userns|host\n");
  return 2;
}
