/* signals.h -- SIGINT and SIGTERM stop training at the end of the step
 * under way: the handler only records the signal; the loop saves (a save
 * under way finishes: the checkpoint is written to a temporary and renamed),
 * says where the last good checkpoint is, and exits 128 + the signal. A
 * second signal has the default effect (the user insists). */
#ifndef DYTCL_CLI_SIGNALS_H
#define DYTCL_CLI_SIGNALS_H

void signals_install(void);
/* The first SIGINT/SIGTERM received since signals_install, or 0. */
int signals_pending(void);
/* "SIGINT" / "SIGTERM". */
const char *signals_name(int sig);

#endif
