# tests/module.mk — test rules beyond the conventions of the top-level Makefile.
#
# fuzz_records needs only the record codec, so it links just that object
# instead of all of libcommon-fuzz.a: the fuzz target (and with it
# `make test`) keeps building when some other common/ file does not compile
# under clang's stricter warnings.
$(BUILD)/fuzz/fuzz_records: tests/fuzz/fuzz_records.c $(BUILD)/fuzzobj/common/records.o
	@mkdir -p $(@D)
	$(CLANG) $(FUZZ_CFLAGS) $(FUZZFLAGS) $< $(BUILD)/fuzzobj/common/records.o -o $@
