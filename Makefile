# Makefile - builds p2pbrokerd, libp2pbroker, p2pctl and the tests.
#
#   make            build into build/
#   make SAN=1      ASan+UBSan build into build/san/
#   make check      unit tests (under ASan+UBSan), system tests, VM tests
#   make demo       the daemon on the bundled 8-GPU fixture, shown with p2pctl
#   make install DESTDIR=... PREFIX=/usr
#
# Files follow conventions so that new modules need no edit here:
# daemon/*.c except main.c form the daemon core; client/lib*.c the client
# library; client/p2pctl*.c the CLI; tests/unit/test_*.c one cmocka binary each.

VERSION := 0.1.0
SOVERSION := 1

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
SBINDIR ?= $(PREFIX)/sbin
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
DATADIR ?= $(PREFIX)/share
SYSCONFDIR ?= /etc
UNITDIR ?= $(PREFIX)/lib/systemd/system
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig

CC ?= cc
PKG_CONFIG ?= pkg-config

# Checked by scripts/deps.sh, which installs what is missing (Debian/Ubuntu).
DEPS_OK := $(shell scripts/deps.sh --quiet >&2 && echo yes)
ifneq ($(DEPS_OK),yes)
$(error dependencies missing and scripts/deps.sh could not install them)
endif

DAEMON_PKGS := libpci libsystemd libevent_core libprotobuf-c
CLIENT_PKGS := libprotobuf-c json-c
TEST_PKGS := cmocka

pc_cflags = $(shell $(PKG_CONFIG) --cflags $(1))
pc_libs = $(shell $(PKG_CONFIG) --libs $(1))

WARNINGS := -Wall -Wextra -Werror -Wformat=2 -Wshadow -Wmissing-prototypes \
	-Wstrict-prototypes -Wno-unused-parameter
BASE_CFLAGS := -std=gnu17 -g -O2 -D_GNU_SOURCE -fPIC $(WARNINGS) \
	-DP2PB_VERSION=\"$(VERSION)\" -Idaemon -Iclient

ifeq ($(SAN),1)
BUILD ?= build/san
SAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -O1
else
BUILD ?= build
SAN_FLAGS :=
endif

CFLAGS_ALL = $(BASE_CFLAGS) $(SAN_FLAGS) -I$(BUILD)/proto $(CFLAGS)
LDFLAGS_ALL = $(SAN_FLAGS) $(LDFLAGS)

PROTO_C := $(BUILD)/proto/p2pbroker.pb-c.c
PROTO_H := $(BUILD)/proto/p2pbroker.pb-c.h
PROTO_O := $(BUILD)/proto/p2pbroker.pb-c.o

CORE_SRCS := $(filter-out daemon/main.c,$(wildcard daemon/*.c))
CORE_OBJS := $(CORE_SRCS:%.c=$(BUILD)/%.o)
CORE_LIB := $(BUILD)/libp2pbcore.a

LIB_SRCS := $(wildcard client/lib*.c)
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/%.o)
LIB_SO := $(BUILD)/libp2pbroker.so.$(SOVERSION)

CTL_SRCS := $(wildcard client/p2pctl*.c)
CTL_OBJS := $(CTL_SRCS:%.c=$(BUILD)/%.o)

UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/unit/%)

BENCH_SRCS := $(wildcard bench/*.c)
BENCH_BINS := $(BENCH_SRCS:bench/%.c=$(BUILD)/bench/%)

# The fuzz targets, linked with fuzz/replay.c instead of libFuzzer: `make check`
# replays their seed corpora under the gcc sanitizer build (no clang needed).
REPLAY_SRCS := $(wildcard fuzz/fuzz_*.c)
REPLAY_BINS := $(REPLAY_SRCS:fuzz/%.c=$(BUILD)/fuzz-replay/%)

TOOL_SRCS := $(wildcard tests/tools/*.c)
TOOL_BINS := $(TOOL_SRCS:tests/tools/%.c=$(BUILD)/tests/tools/%)

BINS := $(BUILD)/p2pbrokerd $(BUILD)/p2pctl $(LIB_SO) $(BUILD)/p2pbroker.pc

.PHONY: FORCE all check unit-check system-check vm-check demo install clean bench format lint
all: $(BINS) $(TOOL_BINS)

$(PROTO_C) $(PROTO_H): proto/p2pbroker.proto
	@mkdir -p $(dir $@)
	protoc-c --proto_path=proto --c_out=$(BUILD)/proto $<

$(PROTO_O): $(PROTO_C)
	$(CC) $(CFLAGS_ALL) -Wno-missing-prototypes $(call pc_cflags,libprotobuf-c) -c -o $@ $<

$(BUILD)/daemon/%.o: daemon/%.c $(PROTO_H) $(wildcard daemon/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(call pc_cflags,$(DAEMON_PKGS)) -c -o $@ $<

$(BUILD)/client/%.o: client/%.c $(PROTO_H) $(wildcard client/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(call pc_cflags,$(CLIENT_PKGS)) -c -o $@ $<

$(CORE_LIB): $(CORE_OBJS) $(PROTO_O)
	rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/p2pbrokerd: $(BUILD)/daemon/main.o $(CORE_LIB)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(call pc_libs,$(DAEMON_PKGS)) -lm

$(LIB_SO): $(LIB_OBJS) $(PROTO_O) client/libp2pbroker.map
	$(CC) $(LDFLAGS_ALL) -shared -Wl,-soname,libp2pbroker.so.$(SOVERSION) \
		-Wl,--version-script=client/libp2pbroker.map -o $@ $(LIB_OBJS) $(PROTO_O) \
		$(call pc_libs,libprotobuf-c)
	ln -sf libp2pbroker.so.$(SOVERSION) $(BUILD)/libp2pbroker.so

$(BUILD)/p2pctl: $(CTL_OBJS) $(LIB_SO)
	$(CC) $(LDFLAGS_ALL) -o $@ $(CTL_OBJS) -L$(BUILD) -lp2pbroker -Wl,-rpath,'$$ORIGIN' \
		$(call pc_libs,$(CLIENT_PKGS))

# The .pc file embeds the install paths: rebuild it when they change (e.g.
# `make` then `make install PREFIX=/usr`), not only when the template does.
PC_VARS := $(PREFIX) $(LIBDIR) $(INCLUDEDIR) $(VERSION)
$(BUILD)/pc-vars: FORCE
	@mkdir -p $(dir $@)
	@echo '$(PC_VARS)' | cmp -s - $@ || echo '$(PC_VARS)' > $@

$(BUILD)/p2pbroker.pc: client/p2pbroker.pc.in Makefile $(BUILD)/pc-vars
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' \
		-e 's|@VERSION@|$(VERSION)|' $< > $@

$(BUILD)/tests/unit/%: tests/unit/%.c $(CORE_LIB) $(LIB_SO) $(wildcard tests/unit/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -Wno-missing-prototypes -Itests/unit \
		$(call pc_cflags,$(DAEMON_PKGS) $(CLIENT_PKGS) $(TEST_PKGS)) -o $@ $< $(CORE_LIB) \
		-L$(BUILD) -lp2pbroker -Wl,-rpath,'$$ORIGIN/../..' \
		$(call pc_libs,$(DAEMON_PKGS) $(CLIENT_PKGS) $(TEST_PKGS)) -lm $(LDFLAGS_ALL)

$(BUILD)/bench/%: bench/%.c $(CORE_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -Wno-missing-prototypes $(call pc_cflags,$(DAEMON_PKGS)) -o $@ $< \
		$(CORE_LIB) $(call pc_libs,$(DAEMON_PKGS)) -lm $(LDFLAGS_ALL)

$(BUILD)/fuzz-replay/%: fuzz/%.c fuzz/replay.c $(wildcard fuzz/*.h) $(CORE_LIB) $(LIB_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -Wno-missing-prototypes -Ifuzz -Itests/unit $(call pc_cflags,$(DAEMON_PKGS) $(CLIENT_PKGS)) \
		-o $@ $< fuzz/replay.c $(LIB_OBJS) $(CORE_LIB) \
		$(call pc_libs,$(DAEMON_PKGS) $(CLIENT_PKGS)) -lm $(LDFLAGS_ALL)

$(BUILD)/tests/tools/%: tests/tools/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -Wno-missing-prototypes -o $@ $< $(LDFLAGS_ALL)

# --- tests ---------------------------------------------------------------

check:
	$(MAKE) SAN=1 all $(addprefix build/san/tests/unit/,$(notdir $(UNIT_BINS))) \
		$(addprefix build/san/fuzz-replay/,$(notdir $(REPLAY_BINS)))
	$(MAKE) all
	tests/run-all.sh

unit-check:
	$(MAKE) SAN=1 all $(addprefix build/san/tests/unit/,$(notdir $(UNIT_BINS)))
	tests/run-all.sh unit

system-check: all
	$(MAKE) SAN=1 all $(addprefix build/san/fuzz-replay/,$(notdir $(REPLAY_BINS)))
	tests/run-all.sh system

vm-check: all
	tests/run-all.sh vm

demo: all
	scripts/demo.sh

bench: all $(BENCH_BINS)
	bench/run.sh

# --- install -------------------------------------------------------------

install: all
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR) \
		$(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(PKGCONFIGDIR) $(DESTDIR)$(UNITDIR) \
		$(DESTDIR)$(SYSCONFDIR)/p2pbroker $(DESTDIR)$(DATADIR)/p2pbroker/policy
	install -m 0755 $(BUILD)/p2pbrokerd $(DESTDIR)$(SBINDIR)/p2pbrokerd
	install -m 0755 $(BUILD)/p2pctl $(DESTDIR)$(BINDIR)/p2pctl
	install -m 0755 $(LIB_SO) $(DESTDIR)$(LIBDIR)/libp2pbroker.so.$(SOVERSION)
	ln -sf libp2pbroker.so.$(SOVERSION) $(DESTDIR)$(LIBDIR)/libp2pbroker.so
	install -m 0644 client/p2pbroker.h $(DESTDIR)$(INCLUDEDIR)/p2pbroker.h
	install -m 0644 $(BUILD)/p2pbroker.pc $(DESTDIR)$(PKGCONFIGDIR)/p2pbroker.pc
	for u in systemd/*.service systemd/*.socket; do \
		sed -e 's|@SBINDIR@|$(SBINDIR)|g' $$u > $(DESTDIR)$(UNITDIR)/$$(basename $$u); \
	done
	if ls policy/*.conf >/dev/null 2>&1; then \
		install -m 0644 policy/*.conf $(DESTDIR)$(DATADIR)/p2pbroker/policy/; fi

# --- housekeeping --------------------------------------------------------

format:
	clang-format -i daemon/*.[ch] client/*.[ch] tests/unit/*.[ch] $(wildcard tests/tools/*.c bench/*.c fuzz/*.c)

lint:
	clang-format --dry-run -Werror daemon/*.[ch] client/*.[ch] tests/unit/*.[ch]
	cppcheck --quiet --error-exitcode=1 --enable=warning,portability --inline-suppr \
		--suppressions-list=.cppcheck-suppressions -Idaemon -Iclient daemon client

clean:
	rm -rf build

FORCE:

# --- fuzzing (fuzz/fuzz.mk: make fuzz, make fuzz-smoke; docs/fuzzing.md) --------
include fuzz/fuzz.mk
