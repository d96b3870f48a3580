# The two commands of the README, and their pieces. The real build is CMake's;
# this file only installs what is missing, configures and calls it.
BUILD   ?= build
JOBS    ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_FLAGS ?= -DDYTCL_WERROR=ON

.PHONY: all deps configure build demo demo-vision test test-rusticl test-asan test-valgrind test-oclgrind fuzz clean \
	test-gpu-compile gpu-resources gpu-report

all: build

deps:
	@sh scripts/install-deps.sh

configure: deps
	cmake -S . -B $(BUILD) $(CMAKE_FLAGS)

build: configure
	cmake --build $(BUILD) -j $(JOBS)

# The main job: every device, a kernel self-test on the chosen one, DyT
# against RMSNorm at one shape (LLaMA-7B's 4096 x 4096, f32, forward and
# backward beside a copy kernel: seconds; the full benchmark is dytcl bench
# norms, docs/benchmarks.md), then a small LLaMA-DyT trained for DEMO_SECONDS
# on the fortunes package's English text, and a sample from it. The model
# reads subword tokens from a 1024-token tokenizer trained on the same text
# first (a few seconds; in the same time it reaches 2.85 bits per byte against
# 3.50 on bytes: docs/tokenizer.md); a build without SentencePiece trains on
# bytes instead.
DEMO_SECONDS ?= 150
FORTUNES ?= /usr/share/games/fortunes
demo: build
	$(BUILD)/dytcl devices
	$(BUILD)/dytcl bench norms --shape 4096x4096 --dtype f32 --only dyt,rmsnorm --reps 7 --iters 0 \
	    --json $(BUILD)/norms-demo.json
	find $(FORTUNES) -maxdepth 1 -type f ! -name '*.*' | sort | xargs cat > $(BUILD)/fortunes.txt
	if $(BUILD)/dytcl tokenize train --data $(BUILD)/fortunes.txt --vocab 1024 --out $(BUILD)/fortunes.model; \
	then tokens="--tokenizer $(BUILD)/fortunes.model --seq 64 --steps 250"; \
	else tokens="--seq 128 --steps 200"; fi; \
	$(BUILD)/dytcl train --data $(BUILD)/fortunes.txt $$tokens --arch llama --norm dyt --layers 4 --dim 128 \
	    --heads 4 --batch 16 --lr 1e-3 --time-limit $(DEMO_SECONDS) --eval-every 50 \
	    --out $(BUILD)/demo.safetensors --log $(BUILD)/demo.csv
	$(BUILD)/dytcl generate --model $(BUILD)/demo.safetensors --prompt "The meaning of life is" \
	    --tokens 200 --temperature 0.8 --top-k 40

# A small ViT-DyT on Fashion-MNIST (the dataset-fashion-mnist package): the
# first 10 000 training images, 4 epochs, test accuracy on all 10 000 test
# images after each; then the checkpoint classifies the test set again.
# lr 1e-2 and alpha0 1: the best common setting of the vision study
# (docs/vision.md): 77.8 % test accuracy for DyT, 78.5 % for LayerNorm (3
# seeds). Under a minute on 2 CPU cores (PoCL).
VISION_NORM ?= dyt
VISION_FLAGS ?= --train-limit 10000 --epochs 4 --dim 32 --heads 2 --layers 2 --mlp 64 --batch 64 --lr 1e-2 --alpha0 1 \
	--warmup 50 --pad 0 --flip 0
demo-vision: build
	$(BUILD)/dytcl train-image $(VISION_FLAGS) --norm $(VISION_NORM) --out $(BUILD)/vit-$(VISION_NORM).safetensors \
	    --log $(BUILD)/vit-$(VISION_NORM).csv
	$(BUILD)/dytcl classify --model $(BUILD)/vit-$(VISION_NORM).safetensors \
	    /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz \
	    /usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz | tail -1

# Every test, on the default device (PoCL on a machine without a GPU).
test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# Every test on Mesa's rusticl (llvmpipe), a second OpenCL implementation,
# but for the end-to-end training runs, which take minutes each on that
# slower device (test_train, test_model_half, test_model_q8, test_convert,
# cli_train, cli_mpi, cli_convert; their models and kernels are covered there
# by test_model, test_conformance, test_linear_half, test_q8 and test_hf),
# the program's file-handling matrices (cli_output_matrix, cli_hf: nothing
# in them depends on the device), and the small_* reruns under capped
# limits, which stand in for small devices on PoCL.
RUSTICL_SKIP ?= test_train|test_model_half|test_model_q8|test_convert|cli_train|cli_mpi|cli_convert|cli_output_matrix|cli_hf|test_prefill|^small_
test-rusticl: build
	cd $(BUILD) && RUSTICL_ENABLE=llvmpipe DYTCL_DEVICE=rusticl ctest --output-on-failure -j $(JOBS) -E '$(RUSTICL_SKIP)'

# The library and tests built with AddressSanitizer and UBSan. The tests run
# without address-space randomisation where setarch allows it: ASan's shadow
# memory can collide with a randomised mapping at start-up on recent kernels.
NORANDOM = $(shell setarch $$(uname -m) -R true 2>/dev/null && echo setarch $$(uname -m) -R)
test-asan: deps
	cmake -S . -B $(BUILD)-asan -DDYTCL_WERROR=ON -DDYTCL_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
	cmake --build $(BUILD)-asan -j $(JOBS)
	cd $(BUILD)-asan && LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp:fast_unwind_on_malloc=0:print_suppressions=0 $(NORANDOM) ctest --output-on-failure -j $(JOBS) -LE oclgrind

# The host-only tests (checkpoint reader/writer, text data, IDX images) under valgrind's
# leak checker: any definite or indirect leak or memory error fails.
VALGRIND = valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect --error-exitcode=1
test-valgrind: build
	$(VALGRIND) $(BUILD)/tests/test_safetensors
	$(VALGRIND) $(BUILD)/tests/test_data
	$(VALGRIND) $(BUILD)/tests/test_tokfile
	cd $(BUILD)/tests && $(VALGRIND) ./test_idx

# The kernel tests at small shapes under oclgrind (races, out of bounds, uninitialised reads).
test-oclgrind: deps
	cmake -S . -B $(BUILD)-oclgrind -DDYTCL_WERROR=ON -DDYTCL_OCLGRIND_TESTS=ON
	cmake --build $(BUILD)-oclgrind -j $(JOBS)
	cd $(BUILD)-oclgrind && ctest --output-on-failure -j $(JOBS) -L oclgrind

# libFuzzer on the safetensors reader, the text data loader, the token-file reader and the IDX reader, each from its
# committed seed corpus, then on the GEMM/attention argument checks and on sequences of model API calls (a tiny
# model, kernels cached in $(BUILD)-fuzz/kcache), FUZZ_SECONDS each.
# FUZZ_SECONDS=600 make fuzz for a longer run.
FUZZ_SECONDS ?= 30
fuzz: build
	mkdir -p $(BUILD)-fuzz/corpus
	clang -std=c11 -g -O1 -Werror=incompatible-pointer-types -Werror=implicit-function-declaration -fsanitize=fuzzer,address,undefined -D_POSIX_C_SOURCE=200809L \
	    -Ihost -Icl -I$(BUILD)/generated tests/fuzz/fuzz_safetensors.c host/safetensors.c host/half.c host/error.c \
	    $$(pkg-config --cflags --libs jansson) -o $(BUILD)-fuzz/fuzz_safetensors
	$(BUILD)-fuzz/fuzz_safetensors -max_total_time=$(FUZZ_SECONDS) -max_len=4096 \
	    $(BUILD)-fuzz/corpus tests/fuzz/safetensors
	mkdir -p $(BUILD)-fuzz/corpus-text
	clang -std=c11 -g -O1 -Werror=incompatible-pointer-types -Werror=implicit-function-declaration -fsanitize=fuzzer,address,undefined -D_POSIX_C_SOURCE=200809L \
	    -Ihost -Imodels -Imodels/cli tests/fuzz/fuzz_text.c models/cli/data.c models/cli/tokfile.c models/rng.c -lm \
	    -o $(BUILD)-fuzz/fuzz_text
	$(BUILD)-fuzz/fuzz_text -max_total_time=$(FUZZ_SECONDS) -max_len=4096 \
	    $(BUILD)-fuzz/corpus-text tests/fuzz/text
	mkdir -p $(BUILD)-fuzz/corpus-tokfile
	clang -std=c11 -g -O1 -Werror=incompatible-pointer-types -Werror=implicit-function-declaration -fsanitize=fuzzer,address,undefined -D_POSIX_C_SOURCE=200809L \
	    -Imodels -Imodels/cli tests/fuzz/fuzz_tokfile.c models/cli/tokfile.c -o $(BUILD)-fuzz/fuzz_tokfile
	$(BUILD)-fuzz/fuzz_tokfile -max_total_time=$(FUZZ_SECONDS) -max_len=4096 \
	    $(BUILD)-fuzz/corpus-tokfile tests/fuzz/tokfile
	mkdir -p $(BUILD)-fuzz/corpus-idx
	clang -std=c11 -g -O1 -Werror=incompatible-pointer-types -Werror=implicit-function-declaration -fsanitize=fuzzer,address,undefined -D_POSIX_C_SOURCE=200809L \
	    -Ihost -Imodels tests/fuzz/fuzz_idx.c models/idx.c models/rng.c -lz -lm -o $(BUILD)-fuzz/fuzz_idx
	$(BUILD)-fuzz/fuzz_idx -max_total_time=$(FUZZ_SECONDS) -max_len=4096 \
	    $(BUILD)-fuzz/corpus-idx tests/fuzz/idx
	mkdir -p $(BUILD)-fuzz/corpus-gemm
	clang -std=c11 -g -O1 -Werror=incompatible-pointer-types -Werror=implicit-function-declaration -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	    -D_POSIX_C_SOURCE=200809L -Ihost -Icl -I$(BUILD)/generated \
	    tests/fuzz/fuzz_gemm_args.c $$(sed -n 's|^  \(host/.*\.c\)$$|\1|p' CMakeLists.txt) \
	    $(BUILD)/generated/kernels_src.c $$(pkg-config --cflags --libs jansson) -lclblast -lOpenCL -lm \
	    -o $(BUILD)-fuzz/fuzz_gemm_args
	DYTCL_CACHE_DIR=$(CURDIR)/$(BUILD)-fuzz/kcache ASAN_OPTIONS=detect_leaks=0 \
	    $(BUILD)-fuzz/fuzz_gemm_args -max_total_time=$(FUZZ_SECONDS) -max_len=256 $(BUILD)-fuzz/corpus-gemm
	mkdir -p $(BUILD)-fuzz/corpus-model
	clang -std=c11 -g -O1 -Werror=incompatible-pointer-types -Werror=implicit-function-declaration -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	    -D_POSIX_C_SOURCE=200809L -Ihost -Imodels -Icl -I$(BUILD)/generated \
	    tests/fuzz/fuzz_model_calls.c $$(sed -n 's|^  \(host/.*\.c\)$$|\1|p' CMakeLists.txt) \
	    $$(sed -n '/^set(DYTCL_MODEL_SOURCES/,/^)/s|^  \(models/.*\.c\)$$|\1|p' CMakeLists.txt) models/tokenizer_sp_none.c \
	    $(BUILD)/generated/kernels_src.c $$(pkg-config --cflags --libs jansson) -lclblast -lOpenCL -lm \
	    -o $(BUILD)-fuzz/fuzz_model_calls
	DYTCL_CACHE_DIR=$(CURDIR)/$(BUILD)-fuzz/kcache ASAN_OPTIONS=detect_leaks=0 \
	    $(BUILD)-fuzz/fuzz_model_calls -max_total_time=$(FUZZ_SECONDS) -max_len=512 $(BUILD)-fuzz/corpus-model

# Every program the library can build (every storage variant and tuning set,
# as dy_program_text gives them), compiled offline for AMD (gfx1030, gfx1100),
# NVIDIA (sm_86, sm_90 through ptxas, when the CUDA toolkit is present) and
# Intel (SPIR-V, validated), each kernel held to scripts/gpu-budget.txt.
# No GPU needed; docs/gpu.md.
test-gpu-compile: build
	cmake --build $(BUILD) --target gpu_sources
	sh scripts/gpu-compile.sh $(BUILD)

# The same, writing docs/gpu-resources.md and bench/results/gpu-resources.tsv.
gpu-resources: build
	cmake --build $(BUILD) --target gpu_sources
	sh scripts/gpu-compile.sh $(BUILD) --report

# On a machine with a GPU: devices, tests and benchmarks on the first GPU
# (DYTCL_DEVICE picks another), one summary file (docs/gpu.md).
gpu-report: build
	sh scripts/gpu-report.sh $(BUILD)

clean:
	rm -rf $(BUILD) $(BUILD)-asan $(BUILD)-oclgrind $(BUILD)-fuzz
