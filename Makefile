# The two commands of the README, and their pieces. The real build is CMake's;
# this file only installs what is missing, configures and calls it.
BUILD   ?= build
JOBS    ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_FLAGS ?= -DDYTCL_WERROR=ON

.PHONY: all deps configure build demo test clean

all: build

deps:
	@sh scripts/install-deps.sh

configure: deps
	cmake -S . -B $(BUILD) $(CMAKE_FLAGS)

build: configure
	cmake --build $(BUILD) -j $(JOBS)

# The main job: every device, a kernel self-test on the chosen one.
demo: build
	$(BUILD)/dytcl devices

# Every test, on the default device (PoCL on a machine without a GPU).
test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

clean:
	rm -rf $(BUILD)
