# herald — the two commands: `make run` and `make test`.
BUILD ?= build
BUILD_SAN ?= build-san
LISTEN ?= 127.0.0.1:8080
DB ?= ./herald.db
JOBS ?= $(shell nproc)

.PHONY: all deps run test test-unit test-san test-integ format format-check lint bench clean

all: $(BUILD)/herald

deps:
	@scripts/deps.sh

$(BUILD)/Makefile:
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null

$(BUILD)/herald: deps $(BUILD)/Makefile FORCE
	@cmake --build $(BUILD) -j $(JOBS) 2>&1 | grep -v "^\[" ; test -x $(BUILD)/herald

run: $(BUILD)/herald
	$(BUILD)/herald --listen $(LISTEN) --db $(DB)

test: lint format-check test-unit test-san test-integ

test-unit: $(BUILD)/herald
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

$(BUILD_SAN)/Makefile:
	@cmake -S . -B $(BUILD_SAN) -DCMAKE_BUILD_TYPE=Debug -DHERALD_SANITIZE=ON >/dev/null

test-san: deps $(BUILD_SAN)/Makefile
	@cmake --build $(BUILD_SAN) -j $(JOBS) 2>&1 | grep -v "^\[" ; test -x $(BUILD_SAN)/herald
	cd $(BUILD_SAN) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --output-on-failure -j $(JOBS)

test-integ: $(BUILD)/herald
	@scripts/deps.sh test
	HERALD_BIN=$(CURDIR)/$(BUILD)/herald node --test --test-concurrency=1 tests/integ/

lint:
	@scripts/lint.sh

FORMAT_FILES = src/*.c src/*.h src/*/*.c src/*/*.h tests/unit/*/*.c tests/unit/*.h

format:
	clang-format -i $(FORMAT_FILES)

format-check:
	@if command -v clang-format >/dev/null; then \
	  clang-format --dry-run -Werror $(FORMAT_FILES) && echo "format: ok"; \
	else echo "format: clang-format not installed, skipped"; fi

bench: $(BUILD)/herald
	@scripts/deps.sh bench
	bench/run.sh

clean:
	rm -rf $(BUILD) $(BUILD_SAN)

FORCE:
