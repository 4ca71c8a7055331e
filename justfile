# gitfs recipes: the interface people type. `just --list` shows them all.
set shell := ["bash", "-euo", "pipefail", "-c"]
# Arguments reach recipes as "$1", "$@": paths with spaces, quotes or any byte stay whole.
set positional-arguments := true

# The guest side (kernel, loader) needs this nightly; host crates use the machine's stable.
nightly := "nightly-2025-03-15"

default:
    @just --list

# Install what is missing: the pinned nightly (rust-src, llvm-tools), QEMU, sshd for tests.
setup:
    #!/usr/bin/env bash
    set -euo pipefail
    if ! rustup toolchain list | grep -q '^{{nightly}}'; then
        rustup toolchain install {{nightly}} --profile minimal -c rust-src -c llvm-tools
    fi
    need=()
    command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
    command -v git >/dev/null || need+=(git)
    # sshd for the ssh:// source test (a private server on a free loopback port).
    [ -x /usr/sbin/sshd ] || need+=(openssh-server)
    # Python's HTML documentation, a corpus of `just bench`.
    compgen -G '/usr/share/doc/python3*/html/library/index.html' >/dev/null || need+=(python3-doc)
    if [ ${#need[@]} -gt 0 ]; then
        sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}"
    fi

# Build the host tools (imager, harness) and the guest side (loader, kernel).
build: build-guest
    cargo build --release -p gitfs-imager -p gitfs-qemu

# Outputs: the console-only kernel, the HTTP one in kernel/target/http/, the example apps.
# Build only the guest side: the loader, the kernels and the example apps.
build-guest: setup
    cd loader && ./build.sh >&2
    cd kernel && cargo build --release --locked -p gitfs-kernel -p gitfs-walk -p gitfs-fsprobe
    cd kernel && cargo build --release --locked --features http --target-dir target/http
    cd kernel && cargo build --release --locked -p gitfs-webserver --target-dir target/http

# Everything: format and lint checks, host tests, kernel logic tests, end-to-end tests under QEMU.
test: build-guest
    cargo fmt --all --check
    cargo fmt --manifest-path kernel/Cargo.toml --check
    cargo fmt --manifest-path loader/Cargo.toml --check
    cargo clippy --workspace --all-targets -- -D warnings
    cargo clippy --locked --manifest-path kernel/Cargo.toml --workspace --target x86_64-unknown-linux-gnu --lib --bins --tests --examples -- -D warnings
    cargo clippy --locked --manifest-path kernel/Cargo.toml -p gitfs-kernel --features bench --target x86_64-unknown-linux-gnu --lib --tests -- -D warnings
    cargo test --workspace
    # The kernel's logic on the host (its .cargo/config.toml targets Hermit: run from here).
    cargo +{{nightly}} test --locked --manifest-path kernel/Cargo.toml --workspace --target x86_64-unknown-linux-gnu
    cargo +{{nightly}} test --locked --manifest-path kernel/Cargo.toml --features bench --lib --target x86_64-unknown-linux-gnu

# Make an image: just image SOURCE IMAGE [imager make options]
image SOURCE IMAGE *OPTIONS:
    cargo run -q --release -p gitfs-imager -- make "$@"

# The main job: make an image of this repository, boot it, print its README.md from the unikernel.
demo: build
    cargo run -q --release -p gitfs-imager -- make . target/demo.img --force --quiet
    cargo run -q --release -p gitfs-qemu -- get target/demo.img README.md

# Boot IMAGE and write the exact bytes of PATH to stdout.
get IMAGE PATH: build
    cargo run -q --release -p gitfs-qemu -- get "$1" "$2"

# Boot IMAGE and list a directory (the root by default) as the unikernel sees it.
ls IMAGE PATH="": build
    cargo run -q --release -p gitfs-qemu -- ls "$1" "$2" -l

# Boot IMAGE with the HTTP server; prints the URL (127.0.0.1 only). Ctrl-C stops it.
serve IMAGE *ARGS: build
    cargo run -q --release -p gitfs-qemu -- serve "$@"

# Boot the unikernel with an optional disk image and attach this terminal (Ctrl-A X quits).
run *ARGS: build
    cargo run -q --release -p gitfs-qemu -- run "$@"

# OPTIONS as for `gitfs-qemu export`: --path SUBDIR, --force, --transport ...
# Boot with IMAGE and write its whole tree into DIR (created; must be empty).
export IMAGE DIR *OPTIONS: build
    cargo run -q --release -p gitfs-qemu -- export "$@"

# Each line exactly as `git -c core.quotePath=false ls-tree -r -l HEAD` prints it.
# Boot the `walk` example app (plain std::fs) on IMAGE: one line per file and symlink.
walk IMAGE: build
    cargo run -q --release -p gitfs-qemu -- app walk --disk "$1"

# Minutes and about 9 GB of disk; not part of `just test`, whose sparse-image test covers offsets past 4 GiB.
# Make, verify and boot a real image of more than 4 GiB; read the last bytes of its files.
past-4gib: build-guest
    cargo test --release -p gitfs-tests --test past_4gib -- --ignored --nocapture

# About 4 GB of disk under target/ while it runs; part of `just bench`.
# Peak memory of `imager make` on a generated 3.45 GB source.
bench-memory: setup
    GITFS_NIGHTLY={{nightly}} cargo run -q --release -p gitfs-imager --bin imager-bench -- --memory 100

# Image size and speed against git, host reads, boot time, serving over the console and
# HTTP, std::fs on a mount, each next to a peer measured in the same run.
# Run every benchmark and print its tables.
bench: build
    # The HTTP kernel with the benchmark peer, which the shipped kernels leave out.
    cd kernel && cargo build --release --locked --features bench --target-dir target/bench
    command -v mksquashfs >/dev/null || (sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo; $sudo apt-get install -y -qq squashfs-tools)
    GITFS_NIGHTLY={{nightly}} cargo run -q --release -p gitfs-imager --bin imager-bench
    just bench-memory
    cargo run -q --release -p gitfs-qemu --bin gitfs-bench -- boot-time --runs 10
    cargo run -q --release -p gitfs-qemu --bin gitfs-bench -- serve
    cargo run -q --release -p gitfs-qemu --bin gitfs-bench -- console --bytes 4194304 --rounds 3
    cargo run -q --release -p gitfs-qemu --bin gitfs-bench -- transport
    cargo run -q --release -p gitfs-qemu --bin gitfs-bench -- http
    cargo run -q --release -p gitfs-qemu --bin gitfs-bench -- std-fs

# The image format, the console protocol (kernel request parser, host response decoder,
# records) and the HTTP server; installs cargo-fuzz if missing.
# Fuzz every parser for SECONDS each.
fuzz SECONDS="60": setup
    #!/usr/bin/env bash
    set -euo pipefail
    command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
    run() { (cd "$1" && cargo +{{nightly}} fuzz run "$2" -- -max_total_time={{SECONDS}} -rss_limit_mb=1024); }
    for t in header pack_entry delta tree image; do run format/fuzz "$t"; done
    for t in request_line decoder records channel; do run console/fuzz "$t"; done
    run http/fuzz request
