/* control.h — pipectl's control socket, client side (the server side is
 * pipectl_handle_client in control.c, called from the supervision loop). */
#ifndef PIPECTL_CONTROL_H
#define PIPECTL_CONTROL_H

#include <stdio.h>

/* Send one request line to RUN_DIR/pipectl.sock and copy the answer to out
 * (errors to stderr).  Returns -1 (errno) when no pipeline answers; else 0
 * with *server_ok = 1 when the answer ended in "ok". */
int control_request(const char *run_dir, const char *request, FILE *out, int *server_ok);

#endif /* PIPECTL_CONTROL_H */
