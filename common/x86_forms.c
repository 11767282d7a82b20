/* x86_forms.c — the supported-forms table expanded into data, its lookup,
 * and the generated coverage document (see x86_forms.h). */
#include "x86_forms.h"

#include <string.h>
#include <Zydis/Zydis.h>

#define X86_NOPS(o1, o2, o3) \
    ((X86_OK_##o1 != X86_OK_NONE) + (X86_OK_##o2 != X86_OK_NONE) + (X86_OK_##o3 != X86_OK_NONE))

const struct x86_form x86_forms[X86_FORM_COUNT] = {
#define X86_FORM_ROW(id, mn, sem, cc, o1, o2, o3) \
    [X86_FORM_##id] = { #id, ZYDIS_MNEMONIC_##mn, X86_SEM_##sem, (uint8_t)X86_CC_##cc, \
                        X86_NOPS(o1, o2, o3), { X86_OK_##o1, X86_OK_##o2, X86_OK_##o3 } },
    X86_FORM_TABLE(X86_FORM_ROW)
#undef X86_FORM_ROW
};

const struct x86_sem_info x86_sems[X86_SEM_COUNT] = {
#define X86_SEM_ROW(name, w, u, k, d) [X86_SEM_##name] = { #name, (uint8_t)(w), (uint8_t)(u), (k) != 0, d },
    X86_SEM_TABLE(X86_SEM_ROW)
#undef X86_SEM_ROW
};

const char *x86_opkind_name(enum x86_opkind k)
{
    static const char *const names[X86_OK_COUNT] = {
        [X86_OK_NONE] = "-", [X86_OK_R8] = "r8", [X86_OK_R16] = "r16", [X86_OK_R32] = "r32",
        [X86_OK_R64] = "r64", [X86_OK_M8] = "m8", [X86_OK_M16] = "m16", [X86_OK_M32] = "m32",
        [X86_OK_M64] = "m64", [X86_OK_MA] = "m", [X86_OK_I] = "imm", [X86_OK_ONE] = "1",
        [X86_OK_CL] = "cl", [X86_OK_REL] = "rel",
    };
    return (unsigned)k < X86_OK_COUNT ? names[k] : "?";
}

unsigned x86_opkind_bits(enum x86_opkind k)
{
    switch (k) {
    case X86_OK_R8: case X86_OK_M8: return 8;
    case X86_OK_R16: case X86_OK_M16: return 16;
    case X86_OK_R32: case X86_OK_M32: return 32;
    case X86_OK_R64: case X86_OK_M64: return 64;
    default: return 0;
    }
}

bool x86_opkind_is_reg(enum x86_opkind k) { return k >= X86_OK_R8 && k <= X86_OK_R64; }
bool x86_opkind_is_mem(enum x86_opkind k) { return k >= X86_OK_M8 && k <= X86_OK_MA; }

const char *x86_cc_name(enum x86_cc cc)
{
    static const char *const names[16] = { "o", "no", "b", "ae", "e", "ne", "be", "a",
                                           "s", "ns", "p", "np", "l", "ge", "le", "g" };
    return (unsigned)cc < 16 ? names[cc] : "";
}

unsigned x86_form_lookup(int zydis_mnemonic, unsigned nops, const uint8_t *kinds)
{
    for (unsigned i = 0; i < X86_FORM_COUNT; i++) {
        const struct x86_form *f = &x86_forms[i];
        if (f->zydis_mnemonic != zydis_mnemonic || f->nops != nops)
            continue;
        bool same = true;
        for (unsigned k = 0; k < nops && same; k++) {
            uint8_t want = f->op[k], got = kinds[k];
            /* lea accepts a memory operand of any reported width. */
            if (want == X86_OK_MA)
                same = x86_opkind_is_mem((enum x86_opkind)got);
            else
                same = want == got;
        }
        if (same)
            return i;
    }
    return X86_FORM_UNSUPPORTED;
}

static void flags_text(char *buf, size_t n, unsigned mask)
{
    static const char names[X86_NFLAG][3] = { "CF", "PF", "AF", "ZF", "SF", "OF" };
    size_t len = 0;
    buf[0] = 0;
    for (unsigned f = 0; f < X86_NFLAG; f++) {
        if (!(mask & (1u << f)))
            continue;
        len += (size_t)snprintf(buf + len, n - len, "%s%s", len ? " " : "", names[f]);
        if (len >= n)
            break;
    }
    if (!buf[0])
        snprintf(buf, n, "—");
}

int x86_forms_write_coverage_md(FILE *out)
{
    fprintf(out, "# x86-64 model coverage\n\n");
    fprintf(out, "Generated from the supported-forms table in `common/x86_forms.h` by\n"
                 "`build/bin/x86-coverage > docs/x86-coverage.md`; `test_x86_forms` checks that\n"
                 "this file matches the table.  Do not edit by hand.\n\n");
    fprintf(out, "%u instruction forms over %u semantic operations, 64-bit mode only.\n"
                 "Every form is co-simulated against the host CPU by `test_x86_cosim`.\n"
                 "Any other instruction (or prefix, segment override, 32-bit addressing,\n"
                 "16/32-bit code) is reported as unsupported with its mnemonic.\n\n",
            (unsigned)X86_FORM_COUNT, (unsigned)X86_SEM_COUNT);

    fprintf(out, "## Semantic operations\n\n");
    fprintf(out, "| operation | flags written | flags undefined | terminator | semantics |\n");
    fprintf(out, "|---|---|---|---|---|\n");
    for (unsigned s = 0; s < X86_SEM_COUNT; s++) {
        char w[32], u[32];
        flags_text(w, sizeof w, x86_sems[s].flags_written);
        flags_text(u, sizeof u, x86_sems[s].flags_undefined);
        fprintf(out, "| %s | %s | %s | %s | %s |\n", x86_sems[s].name, w, u,
                x86_sems[s].terminator ? "yes" : "no", x86_sems[s].what);
    }

    fprintf(out, "\n## Forms\n\n");
    fprintf(out, "| # | form | mnemonic | operands | operation | condition |\n");
    fprintf(out, "|---|---|---|---|---|---|\n");
    for (unsigned i = 0; i < X86_FORM_COUNT; i++) {
        const struct x86_form *f = &x86_forms[i];
        char ops[64] = "";
        size_t len = 0;
        for (unsigned k = 0; k < f->nops; k++)
            len += (size_t)snprintf(ops + len, sizeof ops - len, "%s%s", k ? ", " : "",
                                    x86_opkind_name((enum x86_opkind)f->op[k]));
        fprintf(out, "| %u | `%s` | %s | %s | %s | %s |\n", i, f->name,
                ZydisMnemonicGetString((ZydisMnemonic)f->zydis_mnemonic),
                f->nops ? ops : "—", x86_sems[f->sem].name,
                f->cc != X86_CC_NONE ? x86_cc_name((enum x86_cc)f->cc) : "—");
    }
    return ferror(out) ? -1 : 0;
}
