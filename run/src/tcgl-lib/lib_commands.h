/* lib_commands.h — the subcommands of tcgl-lib (list, show, prune, verify),
 * each over an open microcode library; main.c parses the command line. */
#ifndef TCGL_LIB_COMMANDS_H
#define TCGL_LIB_COMMANDS_H

#include <stdbool.h>
#include <stdio.h>
#include <time.h>

#include "library.h"

/* Exit statuses of tcgl-lib. */
enum { LIBCMD_OK = 0, LIBCMD_PROBLEMS = 1, LIBCMD_USAGE = 2, LIBCMD_ERROR = 3 };

int libcmd_list(struct library *lib, FILE *out, bool json);
int libcmd_show(struct library *lib, FILE *out, const char *key_or_prefix, bool raw);
int libcmd_prune(struct library *lib, FILE *out, unsigned flags, time_t before);
int libcmd_verify(struct library *lib, FILE *out);

/* "30d", "12h", "90m", "45s", or a bare number of days → seconds; -1 if bad. */
long long libcmd_parse_age(const char *s);

#endif /* TCGL_LIB_COMMANDS_H */
