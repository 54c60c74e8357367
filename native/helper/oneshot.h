#ifndef BERTH_ONESHOT_H
#define BERTH_ONESHOT_H

int run_main(void);
/* pty: the process gets a terminal of its own (see oneshot.c) */
int exec_main(int pty);

#endif
