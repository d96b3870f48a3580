#!/bin/sh
# gpu-compile.sh -- every program the library can build, compiled offline for
# GPU targets, with each kernel's resources checked against a budget.
#
#   scripts/gpu-compile.sh BUILD_DIR [--report]
#
# BUILD_DIR holds tests/gpu_sources (the library's own dy_program_text: the
# exact source and build options it hands to clCreateProgramWithSource, for
# every program, storage variant and tuning set). Identical programs (the
# same text after preprocessing with their options) are compiled once. Each
# is compiled for
#   AMD     gfx1030, gfx1100: clang -> amdgcn, libclc linked, llc; the
#           kernel metadata gives VGPRs, SGPRs, scratch, spills, LDS, and
#           the assembly's occupancy (waves per SIMD)
#   NVIDIA  sm_86, sm_90: clang -> nvptx64, libclc linked, llc -> PTX, then
#           ptxas -v (CUDA toolkit; skipped with a notice where absent):
#           registers, stack frame, spills, shared memory
#   Intel   clang -> SPIR (spir64) -> llvm-spirv -> spirv-val
# A program that fails on any target, a built-in left unresolved after
# linking libclc, or a kernel over the budget (scripts/gpu-budget.txt: no
# scratch, stack or spills, occupancy floor) fails the stage. First, two
# planted faults must each fail on the one target they aim at: the stage
# proves it can fail.
# With --report it writes docs/gpu-resources.md and
# bench/results/gpu-resources.tsv (make gpu-resources).
# Env: GPU_COMPILE_JOBS (default: nproc), LLVM_SUFFIX (default -15),
# CLC_DIR (default /usr/lib/clc), PTXAS (default: ptxas on PATH or
# /usr/local/cuda/bin/ptxas).
set -eu

if [ "${1:-}" = "--unit" ]; then
    mode=unit
else
    mode=main
fi

SFX=${LLVM_SUFFIX:--15}
CLC=${CLC_DIR:-/usr/lib/clc}
CLANG=clang$SFX LINK=llvm-link$SFX OPT=opt$SFX LLC=llc$SFX NM=llvm-nm$SFX SPIRV=llvm-spirv$SFX
AMD_CPUS="gfx1030 gfx1100"
NV_SMS="sm_86 sm_90"
if [ -z "${PTXAS:-}" ]; then
    PTXAS=$(command -v ptxas 2>/dev/null || true)
    [ -z "$PTXAS" ] && [ -x /usr/local/cuda/bin/ptxas ] && PTXAS=/usr/local/cuda/bin/ptxas
fi

# ---------------------------------------------------------------- one unit
# --unit DIR NAME: compiles DIR/src/NAME.cl with the options in
# DIR/src/NAME.opt for every target; writes DIR/out/NAME.tsv (one line per
# kernel and target: target kernel regs sgprs scratch spills lds occupancy)
# and DIR/out/NAME.fail (target: first lines of the log) on a failure.
unit_fail() { # target logfile
    { echo "== $1"; head -c 3000 "$2"; echo; } >> "$out.fail"
}
# the functions a linked module still only declares (not intrinsics): built-ins libclc lacks
unresolved() {
    "$NM" --undefined-only "$1" 2>/dev/null | awk '{print $NF}' | grep -v '^llvm\.' || true
}
if [ $mode = unit ]; then
    dir=$2 name=$3
    src=$dir/src/$name.cl out=$dir/out/$name log=$dir/out/$name.log
    opts=$(cat "$dir/src/$name.opt")
    rm -f "$out.fail" "$out.tsv"
    : > "$out.tsv"
    common="-x cl $opts -Xclang -finclude-default-header -O2 -emit-llvm -c -Wno-unused-command-line-argument"
    # AMD
    # shellcheck disable=SC2086
    if $CLANG $common -nogpulib -target amdgcn-amd-amdhsa "$src" -o "$out.amd.bc" 2> "$log" &&
       $LINK --only-needed "$out.amd.bc" "$CLC/amdgcn--amdhsa.bc" -o "$out.amdl.bc" 2>> "$log" &&
       $OPT -O2 "$out.amdl.bc" -o "$out.amdo.bc" 2>> "$log"; then
        u=$(unresolved "$out.amdo.bc")
        if [ -n "$u" ]; then
            echo "unresolved after linking libclc: $u" > "$log"
            for cpu in $AMD_CPUS; do unit_fail "$cpu" "$log"; done
        fi
        for cpu in $AMD_CPUS; do
            [ -n "$u" ] && continue
            if $LLC -O2 -mtriple=amdgcn-amd-amdhsa -mcpu=$cpu "$out.amdo.bc" -o "$out.$cpu.s" 2> "$log"; then
                awk -v t=$cpu '
                    /^[A-Za-z_][A-Za-z0-9_]*:/ { fn = substr($1, 1, length($1) - 1) }
                    /^; Occupancy:/ { occ[fn] = $3 }
                    /^    \.[a-z_]+:/ { f = substr($1, 2, length($1) - 2); v[f] = $2 }
                    /^    \.wavefront_size:/ {
                        printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t, v["name"], v["vgpr_count"], v["sgpr_count"],
                               v["private_segment_fixed_size"], v["vgpr_spill_count"] + v["sgpr_spill_count"],
                               v["group_segment_fixed_size"], occ[v["name"]]
                        delete v
                    }' "$out.$cpu.s" >> "$out.tsv"
            else
                unit_fail "$cpu" "$log"
            fi
        done
    else
        for cpu in $AMD_CPUS; do unit_fail "$cpu" "$log"; done
    fi
    # NVIDIA: PTX for sm_86 (the newest llc-15 knows), assembled by ptxas for each SM
    # shellcheck disable=SC2086
    if $CLANG $common -target nvptx64-nvidia-nvcl "$src" -o "$out.nv.bc" 2> "$log" &&
       $LINK --only-needed "$out.nv.bc" "$CLC/nvptx64--nvidiacl.bc" -o "$out.nvl.bc" 2>> "$log" &&
       $OPT -O2 "$out.nvl.bc" -o "$out.nvo.bc" 2>> "$log"; then
        u=$(unresolved "$out.nvo.bc")
        if [ -n "$u" ]; then
            echo "unresolved after linking libclc: $u" > "$log"
            for sm in $NV_SMS; do unit_fail "$sm" "$log"; done
        elif ! $LLC -O2 -mcpu=sm_86 "$out.nvo.bc" -o "$out.ptx" 2> "$log"; then
            for sm in $NV_SMS; do unit_fail "$sm" "$log"; done
        elif [ -n "$PTXAS" ]; then
            for sm in $NV_SMS; do
                if "$PTXAS" -v --gpu-name $sm "$out.ptx" -o /dev/null > "$log" 2>&1; then
                    awk -v t=$sm '
                        function flush() {
                            if (fn != "") printf "%s\t%s\t%s\t-\t%s\t%s\t%s\t%s\n", t, fn, regs, stack, spill, smem, warps
                        }
                        /Compiling entry function/ { flush(); fn = $7; gsub(/\047/, "", fn); regs = stack = spill = smem = 0 }
                        /bytes stack frame/ { stack = $1; spill = $5 + $9 }
                        /Used [0-9]+ registers/ {
                            for (i = 1; i <= NF; i++) {
                                if ($(i + 1) ~ /^registers/) regs = $i
                                if ($(i + 1) == "bytes" && $(i + 2) ~ /^smem/) smem = $i
                            }
                            # resident warps per SM from registers alone: 64K registers, allocated per warp
                            # in units of 256; at most 48 warps (sm_86) or 64 (sm_90)
                            per = int((regs * 32 + 255) / 256) * 256
                            warps = per ? int(65536 / per) : 64
                            cap = t == "sm_86" ? 48 : 64
                            if (warps > cap) warps = cap
                        }
                        END { flush() }' "$log" >> "$out.tsv"
                else
                    unit_fail "$sm" "$log"
                fi
            done
        fi
    else
        for sm in $NV_SMS; do unit_fail "$sm" "$log"; done
    fi
    # Intel: SPIR-V, validated. Unoptimised (-O0 after the options): the
    # SPIR-V translator of LLVM 15 cannot express some of its own optimiser's
    # output (freeze, allocas moved out of the entry block), and a driver
    # optimises SPIR-V itself. SPIR-V 1.0, as OpenCL 1.2 drivers take it.
    # shellcheck disable=SC2086
    if ! { $CLANG $common -O0 -target spir64 "$src" -o "$out.spir.bc" 2> "$log" &&
           $SPIRV --spirv-max-version=1.0 "$out.spir.bc" -o "$out.spv" 2>> "$log" &&
           spirv-val --target-env opencl1.2 "$out.spv" >> "$log" 2>&1; }; then
        unit_fail spirv64 "$log"
    fi
    rm -f "$out".*.bc "$out.spv"
    exit 0
fi

# ---------------------------------------------------------------- the stage
BUILD=${1:?usage: scripts/gpu-compile.sh BUILD_DIR [--report]}
REPORT=${2:-}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SELF=$ROOT/scripts/gpu-compile.sh
JOBS=${GPU_COMPILE_JOBS:-$(nproc 2>/dev/null || echo 2)}
for tool in $CLANG $LINK $OPT $LLC $NM $SPIRV spirv-val; do
    command -v $tool >/dev/null 2>&1 || { echo "gpu-compile: $tool is missing (scripts/install-deps.sh installs it)" >&2; exit 1; }
done
for f in amdgcn--amdhsa.bc nvptx64--nvidiacl.bc; do
    [ -f "$CLC/$f" ] || { echo "gpu-compile: $CLC/$f is missing (libclc-15)" >&2; exit 1; }
done
if [ -n "$PTXAS" ]; then
    echo "gpu-compile: NVIDIA through $PTXAS ($("$PTXAS" --version | tail -1))"
else
    echo "gpu-compile: NOTICE: no ptxas (CUDA toolkit): NVIDIA is compiled to PTX only, without registers or spills"
fi

W=$BUILD/gpu-compile
rm -rf "$W"
mkdir -p "$W/all" "$W/src" "$W/out"
"$BUILD/tests/gpu_sources" "$W/all" > /dev/null

# Dedupe: units are the distinct preprocessed texts (with each line's options).
while IFS="$(printf '\t')" read -r file prog variant set opts; do
    # shellcheck disable=SC2086
    h=$($CLANG -E -P -x cl $opts "$W/all/$file" 2>/dev/null | cksum | tr ' ' _)
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$h" "$file" "$prog" "$variant" "$set" "$opts"
done < "$W/all/manifest.tsv" > "$W/keyed.tsv"
awk -F'\t' -v W="$W" '
    !($1 in unit) {
        unit[$1] = $3 ".v" $4 "." $5
        system("cp " W "/all/" $2 " " W "/src/" unit[$1] ".cl")
        print $6 > (W "/src/" unit[$1] ".opt"); close(W "/src/" unit[$1] ".opt")
    }
    { printf "%s\t%s\t%s\t%s\n", unit[$1], $3, $4, $5 }' "$W/keyed.tsv" > "$W/units.tsv"
nprog=$(wc -l < "$W/all/manifest.tsv")
nunit=$(ls "$W/src" | grep -c '\.cl$')
echo "gpu-compile: $nprog program builds, $nunit distinct after preprocessing; $JOBS jobs"

# The planted faults: an OpenCL 2.0 built-in on NVIDIA only, and a private
# array indexed at run time (scratch) on AMD only. Each must fail its target.
cat > "$W/src/planted_builtin.cl" <<'EOF'
__kernel void planted_builtin(__global float *x)
{
#ifdef __NVPTX__
    x[0] = work_group_reduce_add(x[get_local_id(0)]);
#else
    x[0] = x[get_local_id(0)];
#endif
}
EOF
cat > "$W/src/planted_scratch.cl" <<'EOF'
__kernel void planted_scratch(__global float *x, const int n)
{
#ifdef __AMDGCN__
    float a[64];
    for (int i = 0; i < 64; i++) a[i] = x[i * n];
    x[0] = a[n & 63];
#else
    x[0] = x[n];
#endif
}
EOF
echo "-cl-std=CL1.2" > "$W/src/planted_builtin.opt"
echo "-cl-std=CL1.2" > "$W/src/planted_scratch.opt"

start=$(date +%s)
ls "$W/src" | sed -n 's/\.cl$//p' | xargs -P "$JOBS" -I{} sh "$SELF" --unit "$W" {}
echo "gpu-compile: compiled in $(($(date +%s) - start)) s"

# Every kernel line, with the units' programs, variants and sets.
awk -F'\t' 'FNR == NR { units[$1] = units[$1] "|" $2 "\t" $3 "\t" $4; next }
    { u = FILENAME; sub(/.*\//, "", u); sub(/\.tsv$/, "", u)
      if (!(u in units)) next
      n = split(substr(units[u], 2), us, "|")
      for (i = 1; i <= n; i++) print us[i] "\t" $0 }' "$W/units.tsv" "$W"/out/*.tsv |
    sort -t"$(printf '\t')" -k1,1 -k5,5 -k4,4 -k2,2n > "$W/resources.tsv"
# program variant set target kernel regs sgprs scratch spills lds occupancy

status=0
# The planted faults, each on its target and no other.
check_planted() { # name target-prefix
    if ! grep -q "^== $2" "$W/out/$1.fail" 2>/dev/null; then
        echo "gpu-compile: FAIL: the planted fault $1 did not fail on $2: this stage cannot see that fault" >&2
        status=1
    elif grep '^== ' "$W/out/$1.fail" | grep -qv "^== $2"; then
        echo "gpu-compile: FAIL: the planted fault $1 failed on more than $2" >&2
        status=1
    fi
}
check_planted planted_builtin sm_
if ! awk -F'\t' '$2 == "planted_scratch" && $5 > 0 { found = 1 } END { exit !found }' "$W"/out/planted_scratch.tsv; then
    echo "gpu-compile: FAIL: the planted private array shows no scratch on AMD: the budget cannot see it" >&2
    status=1
fi
[ $status -eq 0 ] && echo "gpu-compile: the planted faults fail as they must (a CL 2.0 built-in on NVIDIA, scratch on AMD)"

# Build failures of the real programs.
for f in "$W"/out/*.fail; do
    [ -e "$f" ] || continue
    u=$(basename "$f" .fail)
    case $u in planted_*) continue ;; esac
    echo "gpu-compile: FAIL: $u ($(awk -F'\t' -v u="$u" '$1 == u { printf "%s v%s %s; ", $2, $3, $4 }' "$W/units.tsv"))" >&2
    cat "$f" >&2
    status=1
done

# The budget (scripts/gpu-budget.txt): no scratch, stack or spills but in
# the exempt kernels; occupancy at least the floor on AMD.
awk -F'\t' -v out="$W/over.txt" '
    FNR == NR { if ($0 ~ /^exempt[ \t]/) { split($0, e, /[ \t]+/); exempt[e[2]] = 1 }
                if ($0 ~ /^min_occupancy[ \t]/) { split($0, e, /[ \t]+/); minocc = e[2] }
                if ($0 ~ /^budget_sets[ \t]/) { n = split($0, e, /[ \t]+/); for (i = 2; i <= n; i++) sets[e[i]] = 1 }
                next }
    ($3 in sets) {
        prog = $1; k = $5; t = $4; what = ""
        if ($8 + 0 > 0 && !(k in exempt)) what = what " scratch/stack " $8 " B"
        if ($9 + 0 > 0 && !(k in exempt)) what = what " spills " $9
        if (t ~ /^gfx/ && $11 != "" && $11 + 0 < minocc && !(k in exempt)) what = what " occupancy " $11 " < " minocc
        if (what != "") printf "%s (cl/%s.cl, variant %s, set %s) on %s:%s\n", k, prog, $2, $3, t, what > out
    }' "$ROOT/scripts/gpu-budget.txt" "$W/resources.tsv"
if [ -s "$W/over.txt" ]; then
    echo "gpu-compile: FAIL: over the budget (scripts/gpu-budget.txt):" >&2
    sort -u "$W/over.txt" | head -40 >&2
    status=1
fi
nk=$(cut -f1,5 "$W/resources.tsv" | sort -u | wc -l)
echo "gpu-compile: $nk kernels x targets $AMD_CPUS $([ -n "$PTXAS" ] && echo "$NV_SMS") checked; SPIR-V validated for every program"

if [ "$REPORT" = "--report" ]; then
    sh "$ROOT/scripts/gpu-report-md.sh" "$W/resources.tsv" "$ROOT/scripts/gpu-budget.txt" \
        "$ROOT/docs/gpu-resources.md" "$PTXAS"
    cp "$W/resources.tsv" "$ROOT/bench/results/gpu-resources.tsv"
    echo "gpu-compile: wrote docs/gpu-resources.md and bench/results/gpu-resources.tsv"
fi
[ $status -eq 0 ] && echo "gpu-compile: OK"
exit $status
