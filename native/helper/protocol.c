#include "protocol.h"

#include <string.h>

#define MON_NAME(name, str) str,
const char *const mon_verbs[MON_NVERBS] = {MON_VERBS(MON_NAME)};
const char *const mon_events[MON_NEVENTS] = {MON_EVENTS(MON_NAME)};
const char *const mon_statuses[MON_NSTATUSES] = {MON_STATUSES(MON_NAME)};

int mon_verb_of(const char *verb) {
  for (int v = 0; v < MON_NVERBS; v++)
    if (!strcmp(verb, mon_verbs[v])) return v;
  return -1;
}
