# The two commands a newcomer needs: `make run` and `make test`. Both install what is missing
# (deploy/install-deps.sh), configure with Ninja and build; run builds what the README's sections
# use (berthd, berthctl, berth-local-exec, berth-sim) and starts berthd on the embedded default
# (local backend, SQLite under ./var), test runs every test through CTest.
BUILD_DIR ?= build
BUILD_TYPE ?= RelWithDebInfo
CONFIG ?= deploy/berthd.dev.yaml
JOBS ?= $(shell nproc)
export CCACHE_BASEDIR := $(abspath $(CURDIR)/..)
export CCACHE_NOHASHDIR := 1

.PHONY: all deps configure build run test bench clean

all: build

deps:
	@deploy/install-deps.sh

$(BUILD_DIR)/build.ninja: | deps
	cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DCMAKE_CXX_COMPILER=clang++

configure: deps $(BUILD_DIR)/build.ninja

build: configure
	cmake --build $(BUILD_DIR) -j $(JOBS)

run: configure
	cmake --build $(BUILD_DIR) -j $(JOBS) --target berthd berthctl berth-local-exec berth-sim
	mkdir -p var
	$(BUILD_DIR)/bin/berthd --config $(CONFIG)

test: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS) --timeout 300

bench: configure
	cmake --build $(BUILD_DIR) -j $(JOBS) --target berth-bench
	$(BUILD_DIR)/bin/berth-bench --results bench/results --name short

clean:
	rm -rf $(BUILD_DIR)
