# stages/tracer/module.mk — what the generic rules cannot build for the tracer:
#   $(BUILD)/lib/trace_logger.so          the QEMU TCG plugin (-fPIC, glib, no sanitizers,
#                                         with its own -fPIC copies of the common/ objects it uses)
#   $(BUILD)/tracer/guest-bin/wl_*        the bundled guest workloads (static, -O2)
#   $(BUILD)/tracer/initramfs.cpio.gz     the tracing VM's initramfs (busybox + workloads)
#   $(BUILD)/tracer/vmlinux               the uncompressed kernel (PVH boot, no decompressor run)
# The launcher (stages/tracer/main.c) and the plain logic (tl_args.c,
# tl_decode.c, vm_launch.c) go through the generic rules.

TRACER_DIR      := stages/tracer
TRACER_PIC_DIR  := $(BUILD)/tracer-pic
TRACER_SO       := $(BUILD)/lib/trace_logger.so
TRACER_PLUGIN_SRC := $(wildcard $(TRACER_DIR)/plugin/*.c) $(TRACER_DIR)/tl_args.c $(TRACER_DIR)/tl_decode.c $(TRACER_DIR)/tl_insns.c \
                     common/records.c common/shmq.c common/futex.c common/log.c
TRACER_PLUGIN_OBJ := $(TRACER_PLUGIN_SRC:%.c=$(TRACER_PIC_DIR)/%.o)
TRACER_PLUGIN_CFLAGS := -std=c11 -D_GNU_SOURCE -g -O2 -fPIC -fvisibility=hidden $(WARN) \
                        -Icommon -I$(TRACER_DIR) -I$(DEPS_DIR)/include $(shell pkg-config --cflags glib-2.0) -MMD -MP
TRACER_PLUGIN_LIBS := -lZydis -lZycore $(shell pkg-config --libs glib-2.0) -lpthread

$(TRACER_PIC_DIR)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(TRACER_PLUGIN_CFLAGS) -c $< -o $@

$(TRACER_SO): $(TRACER_PLUGIN_OBJ)
	@mkdir -p $(@D)
	$(CC) -shared $(TRACER_PLUGIN_OBJ) $(TRACER_PLUGIN_LIBS) -o $@

-include $(wildcard $(TRACER_PIC_DIR)/*/*.d $(TRACER_PIC_DIR)/*/*/*.d $(TRACER_PIC_DIR)/*/*/*/*.d)

# ---- the guest ----------------------------------------------------------------------
TRACER_GUEST_DIR := $(BUILD)/tracer
TRACER_WL_SRC    := $(wildcard $(TRACER_DIR)/workloads/wl_*.c)
TRACER_WL_ASM    := $(wildcard $(TRACER_DIR)/workloads/wl_*.S)
TRACER_WL_BINS   := $(TRACER_WL_SRC:$(TRACER_DIR)/workloads/%.c=$(TRACER_GUEST_DIR)/guest-bin/%) \
                    $(TRACER_WL_ASM:$(TRACER_DIR)/workloads/%.S=$(TRACER_GUEST_DIR)/guest-bin/%)
TRACER_INITRAMFS := $(TRACER_GUEST_DIR)/initramfs.cpio.gz

# Guest programs are plain static x86-64 binaries: never sanitized.
$(TRACER_GUEST_DIR)/guest-bin/wl_%: $(TRACER_DIR)/workloads/wl_%.c
	@mkdir -p $(@D)
	$(CC) -std=c11 -D_GNU_SOURCE -static -O2 -g -Wall -Wextra -Werror -o $@ $<

# 32-bit workloads (wl_*.S): IA-32 code without libc, for compatibility mode.
$(TRACER_GUEST_DIR)/guest-bin/wl_%: $(TRACER_DIR)/workloads/wl_%.S
	@mkdir -p $(@D)
	$(CC) -m32 -nostdlib -static -o $@ $<

$(TRACER_INITRAMFS): $(TRACER_WL_BINS) $(TRACER_DIR)/image/mkinitramfs.sh $(TRACER_DIR)/workloads/workloads.conf
	bash $(TRACER_DIR)/image/mkinitramfs.sh -o $@ -w $(TRACER_GUEST_DIR)/guest-bin -c $(TRACER_DIR)/workloads/workloads.conf

# The ELF kernel inside Debian's bzImage: booted directly (PVH), it skips the
# in-guest decompressor (billions of TCG instructions per boot).
TRACER_VMLINUX := $(TRACER_GUEST_DIR)/vmlinux
$(TRACER_VMLINUX): $(DEPS_DIR)/vmlinuz $(TRACER_DIR)/image/extract-vmlinux.sh
	@mkdir -p $(@D)
	bash $(TRACER_DIR)/image/extract-vmlinux.sh $< $@

MODULE_TARGETS += $(TRACER_WL_BINS) $(TRACER_INITRAMFS) $(TRACER_VMLINUX)
ifneq ($(wildcard common/shmq.c),)
MODULE_TARGETS += $(TRACER_SO)
endif
