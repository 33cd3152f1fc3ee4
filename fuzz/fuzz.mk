# fuzz/fuzz.mk - libFuzzer targets (fuzz/fuzz_*.c), included by the Makefile; docs/fuzzing.md.
#
#   make fuzz             build into build/fuzz/, run each target FUZZ_SECONDS (default 60)
#   make fuzz-smoke       each target over its seed corpus, then 10 s of fuzzing (CI)
#   make fuzz-build       only build; FUZZ_TARGETS=fuzz_request limits what runs
#
# Everything is compiled again here with clang, -fsanitize=fuzzer-no-link and ASan+UBSan,
# so that coverage reaches the daemon and the client library, not only the target files.

FUZZ_CC ?= clang
FUZZ_SECONDS ?= 60
FUZZ_OUT := build/fuzz
FUZZ_NAMES := $(patsubst fuzz/%.c,%,$(wildcard fuzz/fuzz_*.c))
FUZZ_TARGETS ?= $(FUZZ_NAMES)
FUZZ_BINS := $(FUZZ_NAMES:%=$(FUZZ_OUT)/%)

# clang's -Wformat=2 also flags vprintf-style helpers that gcc's accepts (libpci's
# callbacks cannot carry a format attribute): the gcc build keeps that check.
FUZZ_WARNINGS := $(WARNINGS) -Wno-format-nonliteral
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_CFLAGS = -std=gnu17 -g -O1 -D_GNU_SOURCE $(FUZZ_WARNINGS) -DP2PB_VERSION=\"$(VERSION)\" \
	-Idaemon -Iclient -I$(FUZZ_OUT)/proto $(FUZZ_SAN) -fsanitize=fuzzer-no-link \
	$(call pc_cflags,$(DAEMON_PKGS) $(CLIENT_PKGS))
FUZZ_LIBS = $(call pc_libs,$(DAEMON_PKGS) $(CLIENT_PKGS)) -lm

FUZZ_PROTO_C := $(FUZZ_OUT)/proto/p2pbroker.pb-c.c
FUZZ_PROTO_H := $(FUZZ_OUT)/proto/p2pbroker.pb-c.h
FUZZ_CORE_OBJS := $(CORE_SRCS:%.c=$(FUZZ_OUT)/obj/%.o) $(FUZZ_OUT)/obj/proto.o
FUZZ_CLIENT_OBJS := $(LIB_SRCS:%.c=$(FUZZ_OUT)/obj/%.o)

.PHONY: fuzz fuzz-smoke fuzz-build fuzz-check-cc

# libFuzzer comes with clang's runtime package, which apt only recommends.
fuzz-check-cc:
	@printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return 0; }\n' | \
	$(FUZZ_CC) -fsanitize=fuzzer -x c -o /dev/null - 2>/dev/null || { \
		echo "fuzz: $(FUZZ_CC) cannot link libFuzzer programs; on Debian 12:" \
			"apt-get install clang libclang-rt-14-dev" >&2; exit 1; }

$(FUZZ_PROTO_C) $(FUZZ_PROTO_H): proto/p2pbroker.proto
	@mkdir -p $(dir $@)
	protoc-c --proto_path=proto --c_out=$(FUZZ_OUT)/proto $<

$(FUZZ_OUT)/obj/proto.o: $(FUZZ_PROTO_C) | fuzz-check-cc
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -Wno-missing-prototypes -c -o $@ $<

$(FUZZ_OUT)/obj/%.o: %.c $(FUZZ_PROTO_H) $(wildcard daemon/*.h client/*.h) | fuzz-check-cc
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -c -o $@ $<

$(FUZZ_OUT)/libcore.a: $(FUZZ_CORE_OBJS)
	rm -f $@
	$(AR) rcs $@ $^

$(FUZZ_OUT)/libclient.a: $(FUZZ_CLIENT_OBJS)
	rm -f $@
	$(AR) rcs $@ $^

$(FUZZ_OUT)/fuzz_%: fuzz/fuzz_%.c fuzz/fuzz-util.h $(FUZZ_OUT)/libcore.a $(FUZZ_OUT)/libclient.a \
		tests/unit/sysfs_tree.h
	$(FUZZ_CC) $(FUZZ_CFLAGS) -Itests/unit -fsanitize=fuzzer -o $@ $< \
		$(FUZZ_OUT)/libclient.a $(FUZZ_OUT)/libcore.a $(FUZZ_LIBS)

fuzz-build: $(FUZZ_BINS)

fuzz: fuzz-build
	fuzz/run.sh --seconds $(FUZZ_SECONDS) $(FUZZ_TARGETS)

fuzz-smoke: fuzz-build
	fuzz/run.sh --smoke $(FUZZ_TARGETS)
