/* oracle_result.c — names of the oracle result kinds (oracle_result.h). */
#include "oracle_result.h"

const char *oracle_kind_name(enum oracle_kind kind)
{
    static const char *const names[ORACLE_NKINDS] = {
#define ORACLE_KIND_TEXT(name, text) [name] = text,
        ORACLE_KINDS(ORACLE_KIND_TEXT)
#undef ORACLE_KIND_TEXT
    };
    if ((unsigned)kind >= ORACLE_NKINDS)
        return "invalid oracle result kind";
    return names[kind];
}
