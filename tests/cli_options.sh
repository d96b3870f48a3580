#!/bin/sh
# cli_options.sh DYTCL WORK -- every subcommand's options, from the one
# table-driven parser: --help exits 0 and lists every option with its
# default as typed; a bad value of each kind (whole number, number, enum,
# switch, missing value, out of range, overflow, unknown option) exits 2 with
# one line "dytcl CMD: --opt: why"; --force is a switch. None of this needs a
# device: every case stops before one is opened.
DYTCL=$1
WORK=$2
HERE=$(cd "$(dirname "$0")" && pwd)
rm -rf "$WORK" && mkdir -p "$WORK" && cd "$WORK" || exit 1
. "$HERE/check.sh"

# 1. --help: exit 0, every option listed
help_lists() { # CMD... -- OPTIONS...
  cmd=
  while [ "$1" != -- ]; do cmd="$cmd $1"; shift; done
  shift
  "$DYTCL" $cmd --help > help.txt 2> err.txt
  rc=$?
  missing=
  for o in "$@"; do grep -q -- "^  --$o\b" help.txt || missing="$missing --$o"; done
  check "dytcl$cmd --help exits 0 and lists its options$missing" "[ $rc -eq 0 ] && [ -z '$missing' ] && [ ! -s err.txt ]"
}
help_lists devices -- device no-selftest
help_lists bench norms -- quick reps iters json png device only shape dtype
help_lists bench attention -- reps max-t json
help_lists bench step -- batch seq reps json
help_lists bench train -- arch layers dim heads batch seq steps gen quick peer json peer-modes peer-threads norm
help_lists bench decode -- dim layers heads tokens rounds peer prompt peer-threads json
help_lists bench gemm -- reps json device no-defaults
help_lists tune gemm -- budget-seconds shape reps no-save device
help_lists train -- data tokenizer out resume log force arch norm layers heads dim ff alpha-attn alpha-ffn \
  alpha-final seq batch accum steps time-limit stop-at lr min-lr-frac warmup wd decay-norm clip beta2 \
  val-fraction eval-every eval-batches diag-every save-every seed
help_lists generate -- model prompt tokens temperature top-k top-p seed no-cache no-fold dtype stats ids
help_lists export -- dtype fold force
help_lists train-image -- train-images train-labels test-images test-labels train-limit test-limit norm pool \
  patch dim heads layers mlp alpha0 epochs batch lr min-lr-frac warmup weight-decay decay-norm beta2 clip \
  drop-path label-smoothing pad flip mean std seed out log resume stop-after force
help_lists classify -- model limit batch
help_lists tokenize train -- data vocab out type force
help_lists tokenize encode -- model force
help_lists tokenize decode -- model force
help_lists plot -- png tokens-per-step smooth title force

"$DYTCL" --help > top.txt 2> err.txt
check "dytcl --help exits 0 and lists every command, bench decode included" \
  "[ \$? -eq 0 ] && for c in devices 'bench norms' 'bench attention' 'bench step' 'bench train' 'bench decode' \
   'bench gemm' train generate export train-image classify tokenize plot 'tune gemm'; do \
   grep -q \"^  \$c \" top.txt || exit 1; done"

# defaults as a user would type them
"$DYTCL" train --help > help.txt
check "train --help: --lr's default is 0.001, --beta2's 0.95" \
  "grep -q -- '--lr X .*(default 0.001)$' help.txt && grep -q -- '--beta2 X .*(default 0.95)$' help.txt"
"$DYTCL" train-image --help > help.txt
check "train-image --help: --lr's default is 0.002, --std's 0.353" \
  "grep -q -- '--lr X .*(default 0.002)$' help.txt && grep -q -- '--std X .*(default 0.353)$' help.txt"

# 2. usage errors: exit 2, one line, "dytcl CMD: --opt: why"
usage_error() { # NAME PATTERN CMD...
  name=$1 pat=$2
  shift 2
  "$DYTCL" "$@" > out.txt 2> err.txt
  rc=$?
  check "$name: exit 2, one line: $pat" \
    "[ $rc -eq 2 ] && [ \$(wc -l < err.txt) -eq 1 ] && grep -q -- \"^\$pat\" err.txt && [ ! -s out.txt ]"
}
usage_error "not a number" 'dytcl train: --lr: "nope" is not a number$' train --data x --lr nope
usage_error "number with trailing text" 'dytcl train: --lr: "1e-3x" is not a number$' train --data x --lr 1e-3x
usage_error "not finite" 'dytcl train: --clip: "inf" is not a finite number$' train --data x --clip inf
usage_error "float out of range" 'dytcl train: --beta2: 1 is out of range (> 0 and < 1)$' train --data x --beta2 1
usage_error "not a whole number" 'dytcl train: --batch: "8.5" is not a whole number$' train --data x --batch 8.5
usage_error "int out of range" 'dytcl train: --layers: 100000 is out of range (1 to 1024)$' train --data x --layers 100000
usage_error "int overflow" 'dytcl train: --steps: 99999999999999999999 is out of range' train --data x --steps 99999999999999999999
usage_error "u64 negative" 'dytcl train: --seed: "-1" is not a whole number >= 0$' train --data x --seed -1
usage_error "u64 overflow" 'dytcl train: --seed: 99999999999999999999 is out of range' train --data x --seed 99999999999999999999
usage_error "enum" 'dytcl train: --arch: "mamba" is not gpt or llama$' train --data x --arch mamba
usage_error "enum, many names" 'dytcl train-image: --norm: "batchnorm" is not dyt, derf, rmsnorm or layernorm$' train-image --norm batchnorm
usage_error "switch given a value" 'dytcl train: --force: a switch, "yes" is not 0 or 1$' train --data x --force=yes
usage_error "missing value" 'dytcl train: --lr: needs a value' train --data x --lr
usage_error "unknown option" 'dytcl train: --lrate: unknown option' train --data x --lrate 1
usage_error "required option" 'dytcl train: --data: required' train --lr 0.1
usage_error "model config named in options" 'dytcl train: model config: d_model must be a multiple of n_head (--arch llama --norm dyt --layers 4 --heads 3 --dim 100 ' train --data x --heads 3 --dim 100
usage_error "generate: float range" 'dytcl generate: --top-p: 0 is out of range (> 0 and <= 1)$' generate --model m --top-p 0
usage_error "generate: enum" 'dytcl generate: --dtype: "f64" is not f32, f16, bf16 or q8$' generate --model m --dtype f64
usage_error "export: positional" 'dytcl export: IN and OUT: required (1 given)$' export --dtype f16 a
usage_error "export: too many" 'dytcl export: c: unexpected argument (too many)$' export --dtype f16 a b c
usage_error "classify: int" 'dytcl classify: --batch: "x" is not a whole number$' classify --model m --batch x a b
usage_error "plot: i64 range" 'dytcl plot: --tokens-per-step: 0 is out of range' plot a.csv --png a.png --tokens-per-step 0
usage_error "tokenize: enum" 'dytcl tokenize train: --type: "wordpiece" is not bpe or unigram$' tokenize train --type wordpiece
usage_error "tune gemm: double" 'dytcl tune gemm: --budget-seconds: "x" is not a number$' tune gemm --budget-seconds x
usage_error "tune gemm: shape" 'dytcl tune gemm: --shape: "12x3" is not MxNxK' tune gemm --shape 12x3
usage_error "devices: unknown" 'dytcl devices: --bogus: unknown option' devices --bogus
usage_error "bench norms: dtype list" 'dytcl bench norms: --dtype: "f32,f32" is not a list' bench norms --dtype f32,f32
usage_error "bench norms: shape" 'dytcl bench norms: --shape: "4096" is not ROWSxC' bench norms --shape 4096
usage_error "bench decode: range" 'dytcl bench decode: --rounds: 0 is out of range (1 to 64)$' bench decode --rounds 0
usage_error "bench decode: peer options alone" 'dytcl bench decode: --prompt, --peer-threads and --json go with --peer$' bench decode --prompt 64
usage_error "bench train: norm" 'dytcl bench train: --norm: "derf" is not all, dyt, rmsnorm or layernorm$' bench train --norm derf
usage_error "bench train: seq range" 'dytcl bench train: --seq: 5 is out of range' bench train --seq 5
usage_error "bench train: enum" 'dytcl bench train: --arch: "rnn" is not gpt or llama$' bench train --arch rnn
usage_error "bench attention: int" 'dytcl bench attention: --max-t: "big" is not a whole number$' bench attention --max-t big
usage_error "bench step: unknown" 'dytcl bench step: --steps: unknown option' bench step --steps 3
usage_error "bench gemm: missing value" 'dytcl bench gemm: --reps: needs a value' bench gemm --reps
usage_error "bench: unknown" 'dytcl bench: fast: unknown benchmark' bench fast
usage_error "short option" 'dytcl generate: -x: unknown option' generate -x

# 3. --force is a switch for train and train-image: accepted without a value
# (the run then stops at its missing input: exit 1, not 2); a value after it
# is a stray argument
"$DYTCL" train --data nonexistent.txt --force > out.txt 2> err.txt
check "train --force is a switch (then: no data, exit 1)" "[ \$? -eq 1 ] && grep -q nonexistent err.txt"
"$DYTCL" train-image --train-images nonexistent.gz --force > out.txt 2> err.txt
check "train-image --force is a switch (then: no images, exit 1)" "[ \$? -eq 1 ] && grep -q nonexistent err.txt"
usage_error "train-image --force takes no value" 'dytcl train-image: 1: unexpected argument' train-image --force 1
exit $fail
