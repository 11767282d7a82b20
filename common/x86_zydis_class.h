/* x86_zydis_class.h — the Zydis instruction categories whose effects go
 * beyond what their operands list: system, privilege, interrupt and
 * segment-loading instructions, I/O, and the state-saving and control
 * extensions.  cfg marks blocks containing them (INSN_K_SYSTEM); the tracer
 * reads every register again after them.  One list for both. */
#ifndef TCGL_X86_ZYDIS_CLASS_H
#define TCGL_X86_ZYDIS_CLASS_H

#include <stdbool.h>

#include <Zydis/Zydis.h>

static inline bool x86_zydis_category_is_system(ZydisInstructionCategory cat)
{
    switch (cat) {
    case ZYDIS_CATEGORY_SYSCALL: case ZYDIS_CATEGORY_SYSRET: case ZYDIS_CATEGORY_INTERRUPT:
    case ZYDIS_CATEGORY_IO: case ZYDIS_CATEGORY_IOSTRINGOP: case ZYDIS_CATEGORY_SYSTEM:
    case ZYDIS_CATEGORY_SEGOP: case ZYDIS_CATEGORY_VTX: case ZYDIS_CATEGORY_SGX:
    case ZYDIS_CATEGORY_XSAVE: case ZYDIS_CATEGORY_XSAVEOPT: case ZYDIS_CATEGORY_RDWRFSGS:
    case ZYDIS_CATEGORY_PT: case ZYDIS_CATEGORY_PCONFIG: case ZYDIS_CATEGORY_UINTR:
    case ZYDIS_CATEGORY_SERIALIZE: case ZYDIS_CATEGORY_RDPRU: case ZYDIS_CATEGORY_MPX:
    case ZYDIS_CATEGORY_CET: case ZYDIS_CATEGORY_SMAP: case ZYDIS_CATEGORY_WAITPKG:
        return true;
    default:
        return false;
    }
}

#endif /* TCGL_X86_ZYDIS_CLASS_H */
