# tcglearn — learn GPU-native Pixel CPU microcode from running x86-64 code.
#
#   make            set-up (deps) and build everything into $(BUILD)/
#   make run        set-up, build, then run the default pipeline (pipeline.yaml)
#   make test       set-up, build with ASan/UBSan into build/test/, run every test
#   make bench      every benchmark (make bench-NAME for one: see bench/)
#   make fuzz       longer libFuzzer runs of every fuzz target
#   make deps       install what is missing (Debian packages, QEMU 10, kernel, plugin header)
#
# The build is non-recursive and convention-driven, so adding a file needs no
# Makefile edit (see docs/building.md):
#   common/*.c                      -> $(BUILD)/lib/libcommon.a
#   stages/S/*.c except main.c      -> $(BUILD)/lib/libS.a   (the stage's logic)
#   stages/S/main.c                 -> $(BUILD)/bin/S        (the stage executable)
#   run/src/T/*.c                   -> $(BUILD)/bin/T        (pipectl, shmq-inspect, ...)
#   tests/unit/test_*.c             -> $(BUILD)/tests/test_* (cmocka)
#   tests/integration/test_*.c      -> $(BUILD)/tests/test_* (cmocka, real processes)
#   tests/tools/*.c                 -> $(BUILD)/tests/tools/* (helper programs for tests)
#   bench/bench_*.c                 -> $(BUILD)/bench/bench_*
#   tests/fuzz/fuzz_*.c             -> $(BUILD)/fuzz/fuzz_*   (clang, libFuzzer)
# A directory with needs of its own (the QEMU plugin, the guest workloads)
# adds rules in a module.mk beside its sources.

BUILD    ?= build
SAN      ?= 0
DEPS_DIR := build/deps
CC       ?= cc
CLANG    ?= clang

PKGS     := z3 msgpack yaml-0.1 liburing cmocka unicorn libseccomp jansson
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

WARN     := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wno-unused-parameter
CFLAGS   := -std=c11 -D_GNU_SOURCE -g -O2 $(WARN) -Icommon -I$(DEPS_DIR)/include $(PKG_CFLAGS) -MMD -MP $(EXTRA_CFLAGS)
LDFLAGS  := $(EXTRA_LDFLAGS)
LDLIBS   := $(PKG_LIBS) -lZydis -lZycore -lpthread -lm
ifeq ($(SAN),1)
  SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
  CFLAGS   := $(filter-out -O2,$(CFLAGS)) -O1 $(SANFLAGS)
  LDFLAGS  += $(SANFLAGS)
endif

# ---- discovery ---------------------------------------------------------------
STAGES      := $(notdir $(patsubst %/,%,$(dir $(wildcard stages/*/main.c))))
STAGE_LIBS  := $(foreach s,$(notdir $(wildcard stages/*)),$(if $(filter-out stages/$(s)/main.c,$(wildcard stages/$(s)/*.c)),$(s)))
TOOLS       := $(notdir $(patsubst %/,%,$(dir $(wildcard run/src/*/*.c))))
TOOLS       := $(sort $(TOOLS))

COMMON_SRC  := $(wildcard common/*.c)
COMMON_OBJ  := $(COMMON_SRC:%.c=$(BUILD)/obj/%.o)
COMMON_LIB  := $(BUILD)/lib/libcommon.a

stage_src   = $(filter-out stages/$(1)/main.c,$(wildcard stages/$(1)/*.c))
stage_lib   = $(BUILD)/lib/lib$(1).a
ALL_STAGE_LIBS := $(foreach s,$(STAGE_LIBS),$(call stage_lib,$(s)))
STAGE_BINS  := $(STAGES:%=$(BUILD)/bin/%)
TOOL_BINS   := $(TOOLS:%=$(BUILD)/bin/%)

TEST_SRC    := $(wildcard tests/unit/test_*.c tests/integration/test_*.c)
TEST_BINS   := $(foreach t,$(TEST_SRC),$(BUILD)/tests/$(basename $(notdir $(t))))
TESTTOOL_SRC := $(wildcard tests/tools/*.c)
TESTTOOL_BINS := $(TESTTOOL_SRC:tests/tools/%.c=$(BUILD)/tests/tools/%)
BENCH_SRC   := $(wildcard bench/bench_*.c)
BENCH_BINS  := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)
FUZZ_SRC    := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS   := $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/fuzz/%)

# Link order: stage libraries may use each other and common.
LINK_LIBS   := $(ALL_STAGE_LIBS) $(COMMON_LIB)
LINK_GROUP  := -Wl,--start-group $(LINK_LIBS) -Wl,--end-group

# ---- modules with rules of their own (they may add to MODULE_TARGETS) -------------
MODULE_TARGETS :=
-include $(wildcard stages/*/module.mk common/module.mk run/module.mk tests/module.mk bench/module.mk)

.PHONY: all build deps run test test-build bench fuzz clean help
.DEFAULT_GOAL := all
# Keep objects that pattern chains would otherwise delete as intermediates.
.SECONDARY:

all: deps
	@$(MAKE) --no-print-directory build

build: $(COMMON_LIB) $(ALL_STAGE_LIBS) $(STAGE_BINS) $(TOOL_BINS) $(TESTTOOL_BINS) $(MODULE_TARGETS)

help:
	@sed -n '3,9p' Makefile | sed 's/^# \{0,1\}//'

deps:
	@bash mk/deps.sh build

# ---- compile and archive -------------------------------------------------------
$(BUILD)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c $< -o $@

$(COMMON_LIB): $(COMMON_OBJ)
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

define STAGE_LIB_RULE
$(call stage_lib,$(1)): $(patsubst %.c,$(BUILD)/obj/%.o,$(call stage_src,$(1)))
	@mkdir -p $$(@D)
	rm -f $$@ && ar rcs $$@ $$^
endef
$(foreach s,$(STAGE_LIBS),$(eval $(call STAGE_LIB_RULE,$(s))))

$(BUILD)/bin/%: $(BUILD)/obj/stages/%/main.o $(LINK_LIBS)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $< $(LINK_GROUP) $(LDLIBS) -o $@

define TOOL_RULE
$(BUILD)/bin/$(1): $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard run/src/$(1)/*.c)) $(LINK_LIBS)
	@mkdir -p $$(@D)
	$(CC) $(LDFLAGS) $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard run/src/$(1)/*.c)) $(LINK_GROUP) $(LDLIBS) -o $$@
endef
$(foreach t,$(TOOLS),$(eval $(call TOOL_RULE,$(t))))

$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(LINK_LIBS)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $< $(LINK_GROUP) $(LDLIBS) -o $@

$(BUILD)/tests/%: $(BUILD)/obj/tests/integration/%.o $(LINK_LIBS)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $< $(LINK_GROUP) $(LDLIBS) -o $@

$(BUILD)/tests/tools/%: $(BUILD)/obj/tests/tools/%.o $(LINK_LIBS)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $< $(LINK_GROUP) $(LDLIBS) -o $@

$(BUILD)/bench/%: $(BUILD)/obj/bench/%.o $(LINK_LIBS)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $< $(LINK_GROUP) $(LDLIBS) -o $@

# ---- tests -------------------------------------------------------------------------
# `make test` builds everything with sanitizers into build/test and runs the
# runner, which prints one closing line "N passed, N failed[, N skipped]".
TEST_BUILD ?= build/test
test: deps
	@$(MAKE) --no-print-directory BUILD=$(TEST_BUILD) SAN=1 test-build
	@bash tests/run_tests.sh $(TEST_BUILD)

test-build: build $(TEST_BINS) $(FUZZ_BINS)

# ---- fuzzing (clang + libFuzzer) ------------------------------------------------------
FUZZFLAGS := -fsanitize=fuzzer,address,undefined -fno-omit-frame-pointer -g -O1
FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE -g -O1 $(WARN) -Wno-missing-field-initializers -Wno-unknown-pragmas -Icommon -I$(DEPS_DIR)/include $(PKG_CFLAGS) \
               -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer
FUZZ_COMMON_OBJ := $(COMMON_SRC:%.c=$(BUILD)/fuzzobj/%.o)
$(BUILD)/fuzzobj/%.o: %.c
	@mkdir -p $(@D)
	$(CLANG) $(FUZZ_CFLAGS) -c $< -o $@
$(BUILD)/lib/libcommon-fuzz.a: $(FUZZ_COMMON_OBJ)
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^
$(BUILD)/fuzz/%: tests/fuzz/%.c $(BUILD)/lib/libcommon-fuzz.a
	@mkdir -p $(@D)
	$(CLANG) $(FUZZ_CFLAGS) $(FUZZFLAGS) $< $(BUILD)/lib/libcommon-fuzz.a $(LDLIBS) -o $@

.PHONY: fuzz-build-quick
fuzz-build-quick: $(FUZZ_BINS)

FUZZ_SECONDS ?= 300
fuzz: deps
	@$(MAKE) --no-print-directory BUILD=$(TEST_BUILD) fuzz-build-quick
	@bash tests/fuzz/run_fuzz.sh $(TEST_BUILD) $(FUZZ_SECONDS)

# ---- benchmarks -------------------------------------------------------------------------
# bench/bench_NAME.sh or bench/bench_NAME.c; `make bench-NAME` runs one.
BENCH_NAMES := $(sort $(patsubst bench/bench_%.sh,%,$(wildcard bench/bench_*.sh)) \
                      $(patsubst bench/bench_%.c,%,$(BENCH_SRC)))
bench: $(BENCH_NAMES:%=bench-%)
bench-%: all
	@$(MAKE) --no-print-directory $(BENCH_BINS)
	@if [ -f bench/bench_$*.sh ]; then BUILD=$(BUILD) bash bench/bench_$*.sh; \
	 else $(BUILD)/bench/bench_$*; fi

# ---- run ----------------------------------------------------------------------------------
# The library (output.library in pipeline.yaml) outlives runs: a second
# `make run` is served from it, and the summary says how much that saved.
run: all
	@TCGL_BUILD=$(abspath $(BUILD)) run/pipectl start pipeline.yaml
	@TCGL_BUILD=$(abspath $(BUILD)) run/tcgl-summary pipeline.yaml

clean:
	rm -rf $(filter-out $(DEPS_DIR),$(wildcard build/*))

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
