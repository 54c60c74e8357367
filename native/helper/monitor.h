#ifndef BERTH_MONITOR_H
#define BERTH_MONITOR_H

int monitor_main(const char *socket_path, const char *lock_path);

#endif
