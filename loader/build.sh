#!/bin/sh
# Builds gitfs-loader and converts it to the 32-bit multiboot ELF QEMU's -kernel wants.
# Output: loader/target/gitfs-loader.elf32 (path printed on success). Incremental.
set -eu
cd "$(dirname "$0")"
cargo build --release
sysroot=$(rustc --print sysroot)
objcopy="$sysroot/lib/rustlib/x86_64-unknown-linux-gnu/bin/llvm-objcopy"
if [ ! -x "$objcopy" ]; then
    echo "build.sh: llvm-objcopy not found; install the toolchain component: rustup component add llvm-tools" >&2
    exit 1
fi
in=target/x86_64-unknown-none/release/gitfs-loader
out=target/gitfs-loader.elf32
# Skip the conversion when the output is newer than the cargo artifact.
if [ ! -f "$out" ] || [ "$in" -nt "$out" ]; then
    "$objcopy" --output-target elf32-i386 --strip-all "$in" "$out.tmp"
    mv "$out.tmp" "$out"
fi
echo "$(pwd)/$out"
