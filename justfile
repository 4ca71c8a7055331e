# gitfs recipes: the interface people type. `just --list` shows them all.
set shell := ["bash", "-euo", "pipefail", "-c"]

# The guest side (kernel, loader) needs this nightly; host crates use the machine's stable.
nightly := "nightly-2025-03-15"
kernel_elf := "kernel/target/x86_64-unknown-hermit/release/gitfs-kernel"
loader_elf := "loader/target/gitfs-loader.elf32"

default:
    @just --list

# Install what is missing: the pinned nightly (rust-src, llvm-tools) and QEMU.
setup:
    #!/usr/bin/env bash
    set -euo pipefail
    if ! rustup toolchain list | grep -q '^{{nightly}}'; then
        rustup toolchain install {{nightly}} --profile minimal -c rust-src -c llvm-tools
    fi
    need=()
    command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
    command -v git >/dev/null || need+=(git)
    if [ ${#need[@]} -gt 0 ]; then
        sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}"
    fi

# Build the host tools (imager, harness) and the guest side (loader, kernel).
build: setup build-guest
    cargo build --release -p gitfs-imager -p gitfs-qemu

# Build only the guest side: the loader and the Hermit kernel application.
build-guest: setup
    cd loader && ./build.sh
    cd kernel && cargo build --release

# Everything: format and lint checks, host tests, kernel logic tests, end-to-end tests under QEMU.
test: setup build-guest
    cargo fmt --all --check
    cargo clippy --workspace --all-targets -- -D warnings
    cargo test --workspace
    cd kernel && cargo test --lib --target x86_64-unknown-linux-gnu
