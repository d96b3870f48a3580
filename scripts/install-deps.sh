#!/bin/sh
# Installs what dytcl needs on Debian or Ubuntu, and nothing when all of it is
# present. Uses sudo when not root; when it cannot install, it prints the
# exact command to run and exits 1.
set -eu

PACKAGES="build-essential clang libclang-rt-dev cmake pkg-config ocl-icd-opencl-dev opencl-headers \
ocl-icd-libopencl1 pocl-opencl-icd libclblast-dev clinfo libjansson-dev \
valgrind oclgrind libopenblas-dev mesa-opencl-icd gnuplot-nox fortunes libopenmpi-dev openmpi-bin \
zlib1g-dev dataset-fashion-mnist libsentencepiece-dev \
clang-15 llvm-15 libclc-15 llvm-spirv-15 spirv-tools"

missing=""
if command -v dpkg-query >/dev/null 2>&1; then
    for p in $PACKAGES; do
        status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
        case "$status" in
            *"install ok installed"*) ;;
            *) missing="$missing $p" ;;
        esac
    done
else
    echo "install-deps: this is not a Debian-like system (no dpkg-query)." >&2
    echo "install-deps: install by hand: a C11 compiler, CMake >= 3.16, pkg-config, an OpenCL" >&2
    echo "  ICD loader with headers, an OpenCL driver (PoCL for CPUs), CLBlast, clinfo, jansson." >&2
    exit 1
fi

if [ -z "$missing" ]; then
    echo "install-deps: all dependencies are present"
    exit 0
fi

echo "install-deps: installing:$missing"
cmd="apt-get install -y --no-install-recommends$missing"
if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO="sudo"
else
    echo "install-deps: cannot install without root. Run:" >&2
    echo "  sudo apt-get update && sudo $cmd" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO $cmd
echo "install-deps: done"
