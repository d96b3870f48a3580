#!/bin/sh
# Installs the build at $1 into a scratch prefix, then builds the outside
# project at $2 against it twice: with find_package(dytcl) and with
# pkg-config. Its generate.c is the README's (the block after
# "<!-- file: generate.c -->"); both builds of it must print, from a
# checkpoint that `dytcl train` wrote, exactly what `dytcl generate` prints
# with the same seed.
# usage: run.sh BUILD SRC WORKDIR
set -eu
build=$1 src=$2 work=$3
rm -rf "$work"
mkdir -p "$work/src"
cp "$src/CMakeLists.txt" "$src/main.c" "$work/src/"
awk '/^<!-- file: generate.c -->$/ { f = 1; next } f == 1 && /^```c$/ { f = 2; next }
     f == 2 && /^```$/ { exit } f == 2 { print }' "$src/../../README.md" > "$work/src/generate.c"
[ -s "$work/src/generate.c" ] || { echo "README.md has no generate.c block"; exit 1; }
src=$work/src
prefix=$work/prefix
cmake --install "$build" --prefix "$prefix" >/dev/null
libdir=$(ls -d "$prefix"/lib*/pkgconfig | head -n 1)
export LD_LIBRARY_PATH=$(dirname "$libdir"):${LD_LIBRARY_PATH:-}

cmake -S "$src" -B "$work/cmake" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$work/cmake" >/dev/null
"$work/cmake/consumer"

flags=$(PKG_CONFIG_PATH=$libdir pkg-config --cflags --libs dytcl)
cc -std=c11 -o "$work/consumer-pc" "$src/main.c" $flags
cc -std=c11 -o "$work/generate-pc" "$src/generate.c" $flags
"$work/consumer-pc"
echo "install_consumer: find_package and pkg-config both work"

# a small model, trained for a few steps by the installed program
dytcl=$prefix/bin/dytcl
awk 'BEGIN { for (i = 0; i < 400; i++) printf "the cat sat on the mat %d times. ", i % 7 }' > "$work/text.txt"
"$dytcl" train --data "$work/text.txt" --batch 4 --seq 32 --dim 32 --layers 2 --heads 2 --steps 5 \
  --out "$work/model.safetensors" --log "$work/train.csv" >/dev/null
"$dytcl" generate --model "$work/model.safetensors" --prompt "the cat" --tokens 80 --seed 11 > "$work/want.txt"
"$work/cmake/generate" "$work/model.safetensors" "the cat" 80 11 > "$work/got-cmake.txt"
"$work/generate-pc" "$work/model.safetensors" "the cat" 80 11 > "$work/got-pc.txt"
[ $(wc -c < "$work/want.txt") -eq 88 ] || { echo "dytcl generate printed $(wc -c < "$work/want.txt") bytes, not 88"; exit 1; }
cmp "$work/want.txt" "$work/got-cmake.txt"
cmp "$work/want.txt" "$work/got-pc.txt"
echo "install_consumer: generate.c (find_package and pkg-config) prints what dytcl generate prints"
