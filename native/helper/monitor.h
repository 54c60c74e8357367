#ifndef BERTH_MONITOR_H
#define BERTH_MONITOR_H

/* Serves clients on listen_fd until told to shut down; keeper_fd is its
 * end of the pair with the keeper (see keeper.h). */
int monitor_main(int listen_fd, int keeper_fd);

#endif
