/* legalize.c — placeholder replaced below */
#include "sir.h"
#include <stdio.h>
int sir_legalize_core(struct sir_prog *p, char *err, size_t errlen)
{
    for (size_t i = 0; i < p->n; i++)
        if (p->v[i].op >= PIXEL_CORE_LIMIT && p->v[i].op != PX_HALT) {
            snprintf(err, errlen, "core: no expansion yet for %s", pixel_opinfo(p->v[i].op)->name);
            return -1;
        }
    return 0;
}
