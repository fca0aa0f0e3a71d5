# hfsync — build, test, demo. `make help` lists the targets.

CC       ?= cc
# Build in parallel on every core unless the caller chose a -j.
ifeq ($(filter -j%,$(MAKEFLAGS)),)
MAKEFLAGS += -j$(shell nproc 2>/dev/null || echo 2)
endif
PKGS     := libcurl libcjson openssl libarchive libzstd
VERSION  := 0.1.0

PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

WARN     := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wno-missing-field-initializers
CFLAGS   ?= -O2 -g
ALL_CFLAGS := -std=c11 -D_GNU_SOURCE -DHFSYNC_VERSION='"$(VERSION)"' $(WARN) -Iinclude -Isrc \
              $(PKG_CFLAGS) $(CFLAGS)
LDLIBS   := $(PKG_LIBS) -lpthread -lm

SAN_FLAGS := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

LIB_SRC  := $(sort $(shell find src -name '*.c' ! -path src/main.c))
LIB_OBJ  := $(LIB_SRC:%.c=build/obj/%.o)
SAN_OBJ  := $(LIB_SRC:%.c=build/san/%.o)
UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=build/unit/%)
UNIT_SUPPORT := $(sort $(wildcard tests/unit/support/*.c))

.PHONY: all deps demo check unit e2e format format-check clean help bench

all: hfsync

help:
	@echo "make            build ./hfsync"
	@echo "make deps       install the Debian packages needed to build and test"
	@echo "make demo       build and run the demo (backup, change, incremental, restore, compare)"
	@echo "make check      build and run the whole test suite (unit tests under ASan+UBSan, e2e)"
	@echo "make bench      run the benchmarks in bench/ (several minutes, ~3 GB of disk)"
	@echo "make format     clang-format every source file"

deps:
	@scripts/install-deps.sh

hfsync: build/obj/src/main.o build/libhfsync.a
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDLIBS)

build/libhfsync.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

build/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

build/san/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(SAN_FLAGS) -MMD -MP -c -o $@ $<

build/san/libhfsync.a: $(SAN_OBJ)
	@rm -f $@
	ar rcs $@ $^

build/unit/%: tests/unit/%.c $(UNIT_SUPPORT) build/san/libhfsync.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(SAN_FLAGS) -Itests/unit -o $@ $< $(UNIT_SUPPORT) build/san/libhfsync.a \
		$(LDLIBS) $(shell pkg-config --libs cmocka)

unit: $(UNIT_BIN)

demo: hfsync
	@scripts/demo.sh

check: hfsync unit
	@tests/run.sh

e2e: hfsync
	@tests/run.sh --e2e-only

bench: hfsync
	@bench/run.sh

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

format-check:
	clang-format --dry-run -Werror $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build hfsync

-include $(LIB_OBJ:.o=.d) $(SAN_OBJ:.o=.d) build/obj/src/main.d
