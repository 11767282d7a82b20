/* x86-coverage — print docs/x86-coverage.md, generated from the supported-forms
 * table (common/x86_forms.h).
 *
 *   build/bin/x86-coverage > docs/x86-coverage.md
 *
 * test_x86_model fails when the committed document differs from the table. */
#include <stdio.h>
#include <string.h>

#include "x86_forms.h"

int main(int argc, char **argv)
{
    if (argc > 1) {
        int help = strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0;
        fprintf(help ? stdout : stderr,
                "usage: x86-coverage > docs/x86-coverage.md\n"
                "Writes the x86-64 model's coverage document (every supported instruction\n"
                "form and its semantics) to standard output.\n");
        return help ? 0 : 2;
    }
    if (x86_forms_write_coverage_md(stdout) != 0 || fflush(stdout) != 0) {
        fprintf(stderr, "x86-coverage: write error on standard output\n");
        return 1;
    }
    return 0;
}
