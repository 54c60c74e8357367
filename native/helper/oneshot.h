#ifndef BERTH_ONESHOT_H
#define BERTH_ONESHOT_H

#include "fault.h"

int run_main(void);
int exec_main(void);
/* Reports a setup failure (fd 4 as protocol fields, else stderr); the exit code. */
int oneshot_report(const struct fault *f);

#endif
