#ifndef BERTH_ONESHOT_H
#define BERTH_ONESHOT_H

int run_main(void);
int exec_main(void);

#endif
