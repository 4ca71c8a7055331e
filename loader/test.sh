#!/bin/bash
# Boot tests for gitfs-loader under QEMU TCG (the oracle: a real boot of a real app).
# Usage: loader/test.sh APP_ELF
#   APP_ELF: a Hermit app that prints at least one line and exits 0 when its arguments
#   are empty (any std "hello" works; the gitfs kernel needs its disk, so use a plain app).
# Checks: success boots (pc, q35, -smp 2, loader.log, -freq), and every loader error
# prints one "gitfs-loader: error:" line and makes QEMU exit 65 within seconds.
set -u
cd "$(dirname "$0")"
app=${1:?usage: test.sh APP_ELF}
loader=$(./build.sh | tail -1) || exit 1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0

# boot EXPECTED_RC EXPECTED_TEXT INITRD APPEND [QEMU ARGS...]
boot() {
    local want_rc=$1 want=$2 initrd=$3 append=$4
    shift 4
    local init=()
    [ "$initrd" != - ] && init=(-initrd "$initrd")
    local out rc
    out=$(timeout 30 qemu-system-x86_64 -cpu qemu64,apic,fsgsbase,rdtscp,xsave,xsaveopt,fxsr \
        -smp 1 -m 256M -display none -serial stdio -no-reboot \
        -device isa-debug-exit,iobase=0xf4,iosize=0x04 \
        -kernel "$loader" "${init[@]}" -append "$append" "$@" </dev/null 2>&1)
    rc=$?
    if [ "$rc" = "$want_rc" ] && grep -qF -- "$want" <<<"$out"; then
        echo "ok   rc=$rc $initrd '$append' $* : $want"
    else
        echo "FAIL rc=$rc (want $want_rc, text '$want') $initrd '$append' $*"
        tail -5 <<<"$out" | sed 's/^/     | /'
        fails=$((fails + 1))
    fi
}

quiet() { # success output must carry no loader line
    local out
    out=$(timeout 30 qemu-system-x86_64 -cpu qemu64 -m 256M -display none -serial stdio -no-reboot \
        -device isa-debug-exit,iobase=0xf4,iosize=0x04 -kernel "$loader" -initrd "$app" </dev/null 2>&1)
    if grep -q gitfs-loader <<<"$out"; then echo "FAIL quiet boot printed loader lines"; fails=$((fails + 1)); else echo "ok   quiet by default"; fi
}

boot 3 "exit status 0" "$app" "-freq 2000 --"
boot 3 "exit status 0" "$app" "-freq 2000 --" -machine q35
boot 3 "exit status 0" "$app" "-freq 2000 --" -smp 2
boot 3 "exit status 0" "$app" "" -m 4G
boot 3 "gitfs-loader: jumping to the app" "$app" "loader.log -freq 2000 --"
quiet

echo "just text" >"$tmp/text"
: >"$tmp/empty"
head -c 100000 "$app" >"$tmp/truncated"
head -c 40 "$app" >"$tmp/header-only"
cp "$loader" "$tmp/elf32"
printf '\x01\x00' | cat <(head -c 16 "$app") - <(tail -c +19 "$app") >"$tmp/object"
E="gitfs-loader: error:"
boot 65 "$E no module" - ""
boot 65 "$E the module is not an ELF file" "$tmp/text" ""
boot 65 "$E the module is not an ELF file" "$tmp/empty" ""
boot 65 "$E the module ELF is truncated" "$tmp/truncated" ""
boot 65 "$E the module ELF is truncated" "$tmp/header-only" ""
boot 65 "$E the module is a 32-bit ELF" "$tmp/elf32" ""
boot 65 "$E the module is an object file" "$tmp/object" ""
boot 65 "$E too little memory" "$app" "" -m 24M
boot 65 "$E -freq value" "$app" "-freq fast --"
boot 65 "$E command line has an unclosed quote" "$app" "-- 'x"
boot 65 "$E the CPU does not support 64-bit mode" "$app" "" -cpu qemu32

if [ "$fails" = 0 ]; then echo "all loader boot tests passed"; else echo "$fails loader boot test(s) failed"; exit 1; fi
