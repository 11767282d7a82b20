/* tcgl-lib — list, show, prune and verify a microcode library.
 * The commands live in lib_commands.c; this file parses the command line. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib_commands.h"
#include "log.h"

static const char usage_text[] =
"NAME\n"
"    tcgl-lib - inspect and maintain a tcglearn microcode library\n"
"\n"
"SYNOPSIS\n"
"    tcgl-lib list   DIR [--json]\n"
"    tcgl-lib show   DIR KEY|PREFIX [--raw]\n"
"    tcgl-lib prune  DIR [--version-mismatch] [--qemu-only] [--older-than AGE]\n"
"                        [--corrupt] [--dry-run]\n"
"    tcgl-lib verify DIR\n"
"    tcgl-lib --help\n"
"\n"
"DESCRIPTION\n"
"    A microcode library (docs/library.md) holds one JSON file per template,\n"
"    DIR/<key>.json, where the key is the SHA-256 of the canonical x86\n"
"    template, its cpu mode, its live-out set, the Pixel ISA version and the\n"
"    x86 semantics version.  An entry is either verified Pixel microcode (with\n"
"    its proof, concrete tests, timings, cost and measured speedups) or a\n"
"    QEMU-only marker (with the reason and the mnemonic that blocked it).\n"
"    The pipeline writes DIR (by default out/library); this tool reads it and\n"
"    removes entries.  It never modifies an entry's content.\n"
"\n"
"COMMANDS\n"
"    list DIR\n"
"        One line per entry in key order: the first 16 hex digits of the key,\n"
"        the kind, the method (baseline, optimized) or the blocking mnemonic,\n"
"        the microcode size, cost against baseline cost, instance count, best\n"
"        measured speedup (or the QEMU-only reason) and the workload where the\n"
"        template was first seen; then a summary line.  Corrupt files are\n"
"        reported on stderr.  --json prints one JSON document instead.\n"
"\n"
"    show DIR KEY|PREFIX\n"
"        Everything about one entry: key parts, the x86 template\n"
"        disassembled, the live-in and live-out sets, the microcode with its\n"
"        Pixel disassembly, proof, tests per oracle, timings, speedups per\n"
"        executor.  A unique key prefix is enough.  --raw prints the entry\n"
"        as JSON (after validation) instead.\n"
"\n"
"    prune DIR [criteria]\n"
"        Removes every entry that matches any given criterion, under the\n"
"        library's lock (concurrent pipeline runs are safe):\n"
"          --version-mismatch   entries of another ISA or semantics version\n"
"                               (they can never be served again)\n"
"          --qemu-only          QEMU-only markers (to retry after an ISA\n"
"                               extension that kept the version)\n"
"          --older-than AGE     entries not updated for AGE: N followed by\n"
"                               d (days, the default), h, m or s\n"
"          --corrupt            files that fail validation\n"
"          --dry-run            only count what would go\n"
"        Temp files left by crashed writers (older than an hour) are always\n"
"        removed.  Without criteria, prune only removes those.\n"
"\n"
"    verify DIR\n"
"        Validates every entry (JSON syntax, every field's presence, type and\n"
"        range, the content hashing to the file name) and reports each\n"
"        problem with the file name, and entries of other versions.\n"
"\n"
"OPTIONS\n"
"    --isa-version N, --semantics-version N\n"
"        The versions the library is opened with (default: the versions this\n"
"        build was compiled with).  They decide what --version-mismatch and\n"
"        verify call stale.\n"
"    -h, --help\n"
"        This text.\n"
"\n"
"EXIT STATUS\n"
"    0 success; 1 problems found (corrupt entries, no such key); 2 usage\n"
"    error; 3 I/O error.\n"
"\n"
"EXAMPLES\n"
"    tcgl-lib list out/library\n"
"    tcgl-lib show out/library 3fa2c1\n"
"    tcgl-lib prune out/library --version-mismatch --older-than 30d\n"
"    tcgl-lib verify out/library\n";

static int usage_error(const char *msg)
{
    fprintf(stderr, "tcgl-lib: %s\nTry 'tcgl-lib --help'.\n", msg);
    return LIBCMD_USAGE;
}

int main(int argc, char **argv)
{
    enum { OPT_JSON = 256, OPT_RAW, OPT_VMIS, OPT_QONLY, OPT_OLDER, OPT_CORRUPT, OPT_DRY, OPT_ISA, OPT_SEM };
    static const struct option opts[] = {
        { "help", no_argument, NULL, 'h' },
        { "json", no_argument, NULL, OPT_JSON },
        { "raw", no_argument, NULL, OPT_RAW },
        { "version-mismatch", no_argument, NULL, OPT_VMIS },
        { "qemu-only", no_argument, NULL, OPT_QONLY },
        { "older-than", required_argument, NULL, OPT_OLDER },
        { "corrupt", no_argument, NULL, OPT_CORRUPT },
        { "dry-run", no_argument, NULL, OPT_DRY },
        { "isa-version", required_argument, NULL, OPT_ISA },
        { "semantics-version", required_argument, NULL, OPT_SEM },
        { NULL, 0, NULL, 0 },
    };
    bool json = false, raw = false;
    unsigned flags = 0;
    long long age = -1;
    struct library_options lo = { .read_only = true };
    log_set_ident("tcgl-lib", -1);

    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        char *end;
        switch (c) {
        case 'h': fputs(usage_text, stdout); return LIBCMD_OK;
        case OPT_JSON: json = true; break;
        case OPT_RAW: raw = true; break;
        case OPT_VMIS: flags |= LIBRARY_PRUNE_VERSION_MISMATCH; break;
        case OPT_QONLY: flags |= LIBRARY_PRUNE_QEMU_ONLY; break;
        case OPT_CORRUPT: flags |= LIBRARY_PRUNE_CORRUPT; break;
        case OPT_DRY: flags |= LIBRARY_PRUNE_DRY_RUN; break;
        case OPT_OLDER:
            age = libcmd_parse_age(optarg);
            if (age < 0)
                return usage_error("--older-than wants N[d|h|m|s], e.g. 30d");
            flags |= LIBRARY_PRUNE_OLDER_THAN;
            break;
        case OPT_ISA:
        case OPT_SEM: {
            unsigned long v = strtoul(optarg, &end, 10);
            if (*end || v == 0 || v > UINT32_MAX)
                return usage_error("a version is a positive integer");
            if (c == OPT_ISA)
                lo.isa_version = (uint32_t)v;
            else
                lo.semantics_version = (uint32_t)v;
            break;
        }
        default: return usage_error("unknown option");
        }
    }
    if (argc - optind < 2)
        return usage_error("need a command and a library directory");
    const char *cmd = argv[optind], *dir = argv[optind + 1];
    int nargs = argc - optind - 2;
    bool is_list = !strcmp(cmd, "list"), is_show = !strcmp(cmd, "show"),
         is_prune = !strcmp(cmd, "prune"), is_verify = !strcmp(cmd, "verify");
    if (!is_list && !is_show && !is_prune && !is_verify)
        return usage_error("unknown command (list, show, prune, verify)");
    if (nargs != (is_show ? 1 : 0))
        return usage_error(is_show ? "show wants DIR and one KEY or PREFIX" : "too many arguments");
    if ((json && !is_list) || (raw && !is_show) || (flags && !is_prune))
        return usage_error("option not valid for this command");

    lo.read_only = !is_prune;
    struct library *lib = library_open(dir, &lo);
    if (!lib)
        return LIBCMD_ERROR;
    int rc;
    if (is_list)
        rc = libcmd_list(lib, stdout, json);
    else if (is_show)
        rc = libcmd_show(lib, stdout, argv[optind + 2], raw);
    else if (is_prune)
        rc = libcmd_prune(lib, stdout, flags, age >= 0 ? time(NULL) - (time_t)age : 0);
    else
        rc = libcmd_verify(lib, stdout);
    library_close(lib);
    return rc;
}
