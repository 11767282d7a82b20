/* test_tracer_args — the tracer's plain logic: plugin arguments and filters
 * (tl_args), CPU-mode resolution and disassembly (tl_decode), and the QEMU
 * command line the launcher builds (vm_launch). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <Zydis/Zydis.h>

#include "../../stages/tracer/tl_args.h"
#include "../../stages/tracer/tl_decode.h"
#include "../../stages/tracer/vm_launch.h"
#include "xorshift.h"

static int parse(struct tl_args *a, char *err, const char *s)
{
    char buf[512], *argv[16];
    int argc = 0;
    snprintf(buf, sizeof buf, "%s", s);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t && argc < 16; t = strtok_r(NULL, ",", &save)) argv[argc++] = t;
    tl_args_default(a);
    return tl_args_parse(a, argc, argv, err, 256);
}

static void test_args_defaults_and_values(void **state)
{
    struct tl_args a;
    char err[256];
    assert_int_equal(parse(&a, err, "vm_id=vm7,mode=insn,sample_first=3,sample_every=0,filter=user,overflow=drop,"
                                    "timestamps=off,mem=off,batch=100,flush_us=500,size=1M,time=monotonic"), 0);
    assert_string_equal(a.queue, "/dev/shm/qemu_trace_vm7");
    assert_int_equal(a.mode, TL_MODE_INSN);
    assert_int_equal(a.sample_first, 3);
    assert_int_equal(a.sample_every, 0);
    assert_int_equal(a.filter, TL_FILTER_USER);
    assert_true(a.drop);
    assert_false(a.timestamps);
    assert_false(a.mem);
    assert_int_equal(a.batch, 100);
    assert_int_equal(a.flush_us, 500);
    assert_int_equal(a.queue_size, 1u << 20);
    assert_true(a.abs_time);
    assert_int_equal(parse(&a, err, "queue=mytrace"), 0);
    assert_string_equal(a.queue, "/dev/shm/mytrace");
    tl_args_default(&a);
    assert_string_equal(a.queue, "/dev/shm/qemu_trace_0");
    assert_int_equal(a.queue_size, 16u << 20);
    assert_int_equal(a.mode, TL_MODE_BLOCK);
    assert_int_equal(a.ts_every, 64);
    assert_false(a.check);
    assert_int_equal(parse(&a, err, "check=on"), 0);
    assert_true(a.check);
    tl_args_default(&a);
    assert_int_equal(a.batch, 65536);
    assert_int_equal(parse(&a, err, "ts_every=1"), 0);
    assert_int_equal(a.ts_every, 1);
    /* instruction mode's record format: compact unless asked */
    tl_args_default(&a);
    assert_int_equal(a.insn_format, TL_INSN_COMPACT);
    assert_int_equal(parse(&a, err, "mode=insn,insn_format=literal"), 0);
    assert_int_equal(a.insn_format, TL_INSN_LITERAL);
    assert_int_equal(parse(&a, err, "insn_format=compact"), 0);
    assert_int_equal(a.insn_format, TL_INSN_COMPACT);
    assert_int_equal(parse(&a, err, "insn_format=packed"), -1);
    assert_non_null(strstr(err, "insn_format='packed': expected compact or literal"));
}

static void test_args_errors_name_the_argument(void **state)
{
    struct tl_args a;
    char err[256];
    assert_int_equal(parse(&a, err, "mode=fast"), -1);
    assert_non_null(strstr(err, "mode='fast'"));
    assert_int_equal(parse(&a, err, "bogus=1"), -1);
    assert_non_null(strstr(err, "unknown argument 'bogus'"));
    assert_int_equal(parse(&a, err, "noequals"), -1);
    assert_non_null(strstr(err, "key=value"));
    assert_int_equal(parse(&a, err, "range=0x2000-0x1000"), -1);
    assert_non_null(strstr(err, "range="));
    assert_int_equal(parse(&a, err, "batch=70000"), -1);
    assert_int_equal(parse(&a, err, "check=some"), -1);
    assert_non_null(strstr(err, "check='some'"));
    assert_int_equal(parse(&a, err, "vm_id=a/b"), -1);
    assert_int_equal(parse(&a, err, "sample_every=-1"), -1);
    assert_int_equal(parse(&a, err, "sample_every=2147483649"), -1);   /* countdowns are 32-bit */
    assert_non_null(strstr(err, "sample_every='2147483649'"));
    assert_int_equal(parse(&a, err, "sample_every=2147483648"), 0);
    assert_int_equal(parse(&a, err, "ts_every=12"), -1);      /* not a power of 2 */
    assert_non_null(strstr(err, "ts_every='12'"));
    assert_int_equal(parse(&a, err, "ts_every=512"), -1);
}

static void test_filters(void **state)
{
    struct tl_args a;
    char err[256];
    assert_int_equal(parse(&a, err, "filter=user"), 0);
    assert_true(tl_args_want(&a, 0x401000, 3));
    assert_false(tl_args_want(&a, 0xffffffff81000000ULL, 0));
    assert_false(tl_args_want(&a, 0x1000000, 0));           /* ring-0 boot code at a low address */
    assert_false(tl_args_want(&a, 0xffffffff81000000ULL, -1));  /* cpl unknown: address half */
    assert_int_equal(parse(&a, err, "filter=kernel"), 0);
    assert_true(tl_args_want(&a, 0xffffffff81000000ULL, 0));
    assert_false(tl_args_want(&a, 0x401000, 3));
    assert_int_equal(parse(&a, err, "range=0x401000-0x402000,range=0x500000-0x500010"), 0);
    assert_true(tl_args_want(&a, 0x401000, 3));
    assert_false(tl_args_want(&a, 0x402000, 3));
    assert_true(tl_args_want(&a, 0x50000f, 0));
    assert_false(tl_args_want(&a, 0x400fff, 3));
}

static void test_mode_resolution(void **state)
{
    struct tl_mode_hint lm = {.has_regs = true, .cr0 = 0x80050033, .efer = 0xd01, .cs = 0x33};
    struct tl_mode_hint pm = {.has_regs = true, .cr0 = 0x11, .efer = 0, .cs = 0x10};
    struct tl_mode_hint rm = {.has_regs = true, .cr0 = 0x60000010, .efer = 0, .cs = 0xf000};
    bool ok;
    /* mov [rdi], rcx: 64-bit in long mode */
    const uint8_t c64[] = {0x48, 0x89, 0x0f}, l64[] = {3};
    assert_int_equal(tl_mode_resolve(&lm, 0x401000, c64, l64, 1, NULL, &ok), 64);
    assert_true(ok);
    /* inc eax; ret — QEMU says two 1-byte instructions: 32-bit (compat) code even
     * though EFER.LMA is set (in 64-bit mode 0x40 is a REX prefix). */
    const uint8_t c32[] = {0x40, 0xc3}, l32[] = {1, 1};
    assert_int_equal(tl_mode_resolve(&lm, 0x8048000, c32, l32, 2, NULL, &ok), 32);
    assert_true(ok);
    /* mov ax, 0x1234 in real mode: 3 bytes (5 in 32-bit code) */
    const uint8_t c16[] = {0xb8, 0x34, 0x12}, l16[] = {3};
    assert_int_equal(tl_mode_resolve(&rm, 0xfe05b, c16, l16, 1, NULL, &ok), 16);
    assert_true(ok);
    assert_int_equal(tl_mode_resolve(&pm, 0x100000, c16, l16, 1, NULL, &ok), 16);
    /* Boundaries no mode produces: the hint stands, unconfirmed. */
    const uint8_t cbad[] = {0x90, 0x90}, lbad[] = {2};
    assert_int_equal(tl_mode_resolve(&pm, 0x100000, cbad, lbad, 1, NULL, &ok), 32);
    assert_false(ok);
    /* No registers: the address decides the first candidate. */
    struct tl_mode_hint none = {0};
    assert_int_equal(tl_mode_resolve(&none, 0xffffffff81000000ULL, c64, l64, 1, NULL, &ok), 64);
    /* Long mode: what a CS selector has shown decides code that fits both modes. */
    struct tl_mode_memory mem;
    tl_mode_memory_init(&mem);
    struct tl_mode_hint lm_k = lm, lm_u32 = lm, lm_odd = lm;
    lm_k.cs = 0x10;
    lm_u32.cs = 0x23;
    lm_odd.cs = 0x73;
    const uint8_t both[] = {0x31, 0xc0}, lboth[] = {2};                 /* xor eax, eax */
    assert_int_equal(tl_mode_resolve(&lm_u32, 0x8049000, both, lboth, 1, &mem, &ok), 32);  /* seeded */
    assert_true(ok);
    assert_int_equal(tl_mode_resolve(&lm_k, 0xffffffff81000000ULL, both, lboth, 1, &mem, &ok), 64);
    assert_int_equal(tl_mode_resolve(&lm_odd, 0x8049000, both, lboth, 1, &mem, &ok), 64);  /* unknown: 64 */
    assert_int_equal(tl_mode_resolve(&lm_odd, 0x8049000, c32, l32, 2, &mem, &ok), 32);    /* learns */
    assert_int_equal(tl_mode_resolve(&lm_odd, 0x8049002, both, lboth, 1, &mem, &ok), 32);
    /* a 16-bit code segment under long mode: fits neither 64 nor 32 */
    const uint8_t m16[] = {0xb8, 0x34, 0x12}, l16m[] = {3};                /* mov ax, 0x1234 */
    assert_int_equal(tl_mode_resolve(&lm_odd, 0x8000, m16, l16m, 1, &mem, &ok), 16);
    assert_true(ok);
    assert_int_equal(tl_modes_agreeing(c64, l64, 1) & 4u, 4u);
    assert_int_equal(tl_modes_agreeing(c32, l32, 2), 2u | 1u);
    assert_int_equal(tl_cpl(&lm), 3);
    assert_int_equal(tl_cpl(&rm), 0);
    assert_int_equal(tl_cpl(&none), -1);
}

static void test_disasm(void **state)
{
    char out[TL_DISASM_MAX];
    const uint8_t c[] = {0x48, 0x89, 0x0f};
    assert_int_equal(tl_disasm(64, 0x401000, c, 3, out, sizeof out), 3);
    assert_string_equal(out, "mov [rdi], rcx");
    const uint8_t j[] = {0x75, 0xf5};
    assert_int_equal(tl_disasm(64, 0x401009, j, 2, out, sizeof out), 2);
    assert_string_equal(out, "jnz 0x0000000000401000");
    const uint8_t bad[] = {0x0f};
    assert_int_equal(tl_disasm(64, 0, bad, 1, out, sizeof out), 0);
    assert_string_equal(out, "(bad)");
}

/* tl_disasm keeps its decoders and formatter across calls: it must say
 * exactly what Zydis's one-shot ZydisDisassembleIntel says, in every mode,
 * on whatever bytes (random ones decode to a wide mix of instructions). */
static void test_disasm_matches_zydis(void **state)
{
    static const struct { int bits; ZydisMachineMode mm; } modes[] = {
        {16, ZYDIS_MACHINE_MODE_LEGACY_16}, {32, ZYDIS_MACHINE_MODE_LEGACY_32}, {64, ZYDIS_MACHINE_MODE_LONG_64},
    };
    uint64_t x = XORSHIFT64_SEED;
    int decoded = 0;
    for (int i = 0; i < 30000; i++) {
        uint8_t b[15];
        for (size_t k = 0; k < sizeof b; k++) b[k] = (uint8_t)xorshift64(&x);
        int m = i % 3;
        uint64_t pc = x & 0xffffffffffffu;
        char got[TL_DISASM_MAX], want[TL_DISASM_MAX];
        ZydisDisassembledInstruction d;
        size_t n = tl_disasm(modes[m].bits, pc, b, sizeof b, got, sizeof got);
        if (ZYAN_FAILED(ZydisDisassembleIntel(modes[m].mm, pc, b, sizeof b, &d))) {
            assert_int_equal(n, 0);
            assert_string_equal(got, "(bad)");
            continue;
        }
        snprintf(want, sizeof want, "%s", d.text);
        assert_int_equal(n, d.info.length);
        assert_string_equal(got, want);
        decoded++;
    }
    assert_true(decoded > 20000);
}

static size_t unhex(const char *hex, uint8_t b[15])
{
    size_t n = 0;
    for (; hex[0] && hex[1] && n < 15; hex += 2) {
        unsigned v;
        sscanf(hex, "%2x", &v);
        b[n++] = (uint8_t)v;
    }
    return n;
}

static uint32_t writes(const char *hex)
{
    uint8_t b[15];
    size_t n = unhex(hex, b);
    return tl_insn_writes(64, b, n);
}

static bool may_mem(int mode, const char *hex)
{
    uint8_t b[15];
    size_t n = unhex(hex, b);
    return tl_insn_may_access_memory(mode, b, n);
}

/* Block mode's memory callbacks go only where an access is possible
 * (test_tracer_vm checks the classification against QEMU over a whole boot). */
static void test_insn_memory_classes(void **state)
{
    assert_false(may_mem(64, "4889d8"));      /* mov rax, rbx */
    assert_false(may_mem(64, "4801d8"));      /* add rax, rbx */
    assert_false(may_mem(64, "488d4308"));    /* lea rax, [rbx+8]: address generation only */
    assert_false(may_mem(64, "75f5"));        /* jnz */
    assert_false(may_mem(64, "0f94c0"));      /* setz al */
    assert_false(may_mem(64, "90"));          /* nop */
    assert_false(may_mem(64, "660fefc0"));    /* pxor xmm0, xmm0 */
    assert_true(may_mem(64, "488b03"));       /* mov rax, [rbx] */
    assert_true(may_mem(64, "48890f"));       /* mov [rdi], rcx */
    assert_true(may_mem(64, "50"));           /* push rax */
    assert_true(may_mem(64, "58"));           /* pop rax */
    assert_true(may_mem(64, "e800000000"));   /* call */
    assert_true(may_mem(64, "c3"));           /* ret */
    assert_true(may_mem(64, "c9"));           /* leave */
    assert_true(may_mem(64, "9c"));           /* pushfq */
    assert_true(may_mem(64, "f3a4"));         /* rep movsb */
    assert_true(may_mem(64, "ac"));           /* lodsb */
    assert_true(may_mem(64, "d7"));           /* xlat */
    assert_true(may_mem(64, "8ed8"));         /* mov ds, eax: loads a descriptor */
    assert_true(may_mem(64, "0f05"));         /* syscall */
    assert_true(may_mem(64, "cd80"));         /* int 0x80 */
    assert_true(may_mem(64, "48cf"));         /* iretq */
    assert_true(may_mem(64, "0f01d0"));       /* xgetbv (system) */
    assert_true(may_mem(64, "d9c0"));         /* fld st0: x87, not a listed category */
    assert_true(may_mem(64, "0f"));           /* does not decode */
    assert_true(may_mem(32, "ff2d00000000")); /* jmp far [mem] */
    assert_true(may_mem(32, "ea000000000800")); /* jmp far ptr 0x8:0 */
}

#define W(r) (1u << (r))
#define RIP W(16)
#define FLAGS W(17)

/* Instruction mode re-reads only what the previous instruction wrote: the
 * write sets must cover every register the instruction can change. */
static void test_insn_write_sets(void **state)
{
    /* Instructions that change more than their operands say: everything. */
    assert_int_equal(writes("0faa"), TL_WRITES_ALL);                  /* rsm: state from SMRAM */
    assert_int_equal(writes("480f07"), TL_WRITES_ALL);                /* sysretq */
    assert_int_equal(writes("0f35"), TL_WRITES_ALL);                  /* sysexit */
    assert_int_equal(writes("48cf"), TL_WRITES_ALL);                  /* iretq */
    assert_int_equal(writes("0f01c1"), TL_WRITES_ALL);                /* vmcall */
    assert_int_equal(writes("0f01f8"), TL_WRITES_ALL);                /* swapgs */
    assert_int_equal(writes("48cb"), TL_WRITES_ALL);                  /* retfq */
    assert_int_equal(writes("48890f"), RIP);                          /* mov [rdi], rcx */
    assert_int_equal(writes("480317"), RIP | FLAGS | W(2));           /* add rdx, [rdi] */
    assert_int_equal(writes("48ffc9"), RIP | FLAGS | W(1));           /* dec rcx */
    assert_int_equal(writes("50") & ~RIP, W(4));                      /* push rax: rsp */
    assert_int_equal(writes("58") & ~RIP, W(0) | W(4));               /* pop rax */
    assert_int_equal(writes("0fa2") & ~RIP, W(0) | W(1) | W(2) | W(3)); /* cpuid */
    assert_int_equal(writes("48f7e3") & ~RIP, FLAGS | W(0) | W(2));   /* mul rbx */
    assert_int_equal(writes("a4") & ~RIP & ~FLAGS, W(6) | W(7));      /* movsb: rsi, rdi */
    assert_int_equal(writes("8ee0"), TL_WRITES_ALL);                  /* mov fs, ax */
    assert_int_equal(writes("f30faed0"), TL_WRITES_ALL);              /* wrfsbase eax */
    assert_int_equal(writes("0f"), TL_WRITES_ALL);                    /* does not decode */
    assert_int_equal(writes("c5f857c0"), RIP);                        /* vxorps xmm0: not in x86_regs */
    assert_true(writes("e800000000") & W(4));                         /* call: rsp */
    assert_true(writes("c3") & W(4));                                 /* ret: rsp */
}

static uint32_t rereads(const char *hex)
{
    uint8_t b[16];
    size_t n = 0;
    for (const char *p = hex; p[0] && p[1] && n < sizeof b; p += 2) {
        unsigned v;
        sscanf(p, "%2x", &v);
        b[n++] = (uint8_t)v;
    }
    return tl_insn_reread(64, b, n);
}

/* What instruction mode reads again: never rip (known), rflags only when a
 * bit QEMU keeps in env->eflags (not CF PF AF ZF SF OF DF) may change. */
static void test_insn_rereads(void **state)
{
    assert_int_equal(rereads("480317"), W(2));                        /* add rdx, [rdi]: status flags only */
    assert_int_equal(rereads("48ffc9"), W(1));                        /* dec rcx */
    assert_int_equal(rereads("48890f"), 0);                           /* mov [rdi], rcx */
    assert_int_equal(rereads("fd"), 0);                               /* std: DF */
    assert_int_equal(rereads("9d") & FLAGS, FLAGS);                   /* popfq: IF, TF, AC, ... */
    assert_int_equal(rereads("fb") & FLAGS, FLAGS);                   /* sti */
    assert_int_equal(rereads("8ee0"), TL_WRITES_ALL & ~RIP);          /* mov fs, ax */
    assert_int_equal(rereads("0f"), TL_WRITES_ALL & ~RIP);            /* does not decode */
}

static void test_vm_command_line(void **state)
{
    char kernel[] = "/tmp/tcgl_test_kernel_XXXXXX";
    int fd = mkstemp(kernel);
    assert_true(fd >= 0);
    close(fd);
    struct vm_spec s;
    vm_spec_default(&s);
    char msg[512];
    s.kernel = "/nonexistent/vmlinuz";
    s.initrd = kernel;
    s.serial_log = "/tmp/x.console";
    assert_null(vm_build_argv(&s, msg, sizeof msg));
    assert_non_null(strstr(msg, "kernel image '/nonexistent/vmlinuz' does not exist"));
    s.kernel = kernel;
    s.plugin = kernel;
    s.plugin_args[s.nplugin_args++] = "vm_id=v1";
    s.plugin_args[s.nplugin_args++] = "mode=insn";
    s.icount = 0;
    s.vm_id = "v1";
    s.workloads = "loop,sort";
    char **v = vm_build_argv(&s, msg, sizeof msg);
    assert_non_null(v);
    char line[4096] = "";
    for (char **p = v; *p; p++) { strcat(line, *p); strcat(line, " "); }
    vm_argv_free(v);
    assert_non_null(strstr(line, "memory-backend-file,id=tcgl_ram,size=512M,mem-path=/dev/shm/qemu_ram_v1,share=on"));
    assert_non_null(strstr(line, "memory-backend=tcgl_ram"));
    assert_non_null(strstr(line, ",vm_id=v1,mode=insn "));
    assert_non_null(strstr(line, "-icount shift=0"));
    assert_non_null(strstr(line, "tcgl_run=loop,sort"));
    assert_non_null(strstr(line, "-no-reboot"));
    s.plugin_args[s.nplugin_args++] = "bad,arg";
    assert_null(vm_build_argv(&s, msg, sizeof msg));
    unlink(kernel);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_args_defaults_and_values),
        cmocka_unit_test(test_args_errors_name_the_argument),
        cmocka_unit_test(test_filters),
        cmocka_unit_test(test_mode_resolution),
        cmocka_unit_test(test_disasm),
        cmocka_unit_test(test_disasm_matches_zydis),
        cmocka_unit_test(test_insn_memory_classes),
        cmocka_unit_test(test_insn_write_sets),
        cmocka_unit_test(test_insn_rereads),
        cmocka_unit_test(test_vm_command_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
