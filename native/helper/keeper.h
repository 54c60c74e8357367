/* The keeper: a minimal parent above the monitor, so that no single
 * process's death loses a container. It holds the host's lock and listening
 * socket, a copy of every container's console pipe (the read end: writers
 * never see EPIPE while no monitor reads) and pidfd, and a small record of
 * each (where its logs and exit file go). As child subreaper it inherits
 * the containers of a monitor that died, reaps them and keeps their exit
 * status. It restarts the monitor, which takes everything over.
 *
 * Monitor and keeper talk over a SOCK_SEQPACKET pair: one message a
 * packet, NUL-separated fields, descriptors as SCM_RIGHTS. */
#ifndef BERTH_KEEPER_H
#define BERTH_KEEPER_H

#include <stddef.h>
#include <sys/types.h>

/* monitor -> keeper */
#define KEEP_READY "ready"       /* serving: the keeper may announce itself */
#define KEEP_HOLD "hold"         /* id, pid, record... + [console, pidfd] */
#define KEEP_DROP "drop"         /* id: the container is gone and recorded */
#define KEEP_TAKEOVER "takeover" /* send me everything you hold */
#define KEEP_STATUS "status"     /* pid: it has ended; how? */
#define KEEP_SHUTDOWN "shutdown" /* do not restart the monitor once it exits */
/* keeper -> monitor */
#define KEEP_HELD "held" /* pid, exited, status, record... + [console, pidfd] */
#define KEEP_DONE "done" /* end of a takeover */
#define KEEP_EXIT "exit" /* pid, wait status (-1: unknown) */

#define KEEP_MAX_PACKET 65536

int keeper_main(const char *socket_path, const char *lock_path);

/* Sends one packet of fields (each NUL-terminated in buf[0..len)) and up
 * to two descriptors (-1 for none). Blocking; 0 or -1 with errno. */
int keep_send(int sock, const char *buf, size_t len, int fd0, int fd1, int flags);
/* Receives one packet; fds[0..1] are -1 when absent. Returns its length, 0
 * at EOF, -1 with errno. */
ssize_t keep_recv(int sock, char *buf, size_t cap, int fds[2], int flags);

#endif
