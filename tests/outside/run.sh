#!/bin/sh
# Installs the build at $1 into a scratch prefix, then builds the outside
# project at $2 against it twice: with find_package(dytcl) and with pkg-config.
set -eu
build=$1 src=$2 work=$3
rm -rf "$work"
mkdir -p "$work"
prefix=$work/prefix
cmake --install "$build" --prefix "$prefix" >/dev/null

cmake -S "$src" -B "$work/cmake" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$work/cmake" >/dev/null
LD_LIBRARY_PATH=$prefix/lib:${LD_LIBRARY_PATH:-} "$work/cmake/consumer"

libdir=$(ls -d "$prefix"/lib*/pkgconfig | head -n 1)
flags=$(PKG_CONFIG_PATH=$libdir pkg-config --cflags --libs dytcl)
cc -std=c11 -o "$work/consumer-pc" "$src/main.c" $flags
LD_LIBRARY_PATH=$(dirname "$libdir"):${LD_LIBRARY_PATH:-} "$work/consumer-pc"
echo "install_consumer: find_package and pkg-config both work"
