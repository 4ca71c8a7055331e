#!/usr/bin/env python3
"""Boots the gitfs kernel under QEMU (TCG) with a disk of random bytes and checks
virtio-blk reads at odd offsets and lengths against the file on the host (SHA-1 and
hex). Also checks the no-disk error path and prints guest read throughput.

usage: kernel/scripts/check-blk.py [--machine pc|q35] [--device-opts ,disable-legacy=on]
       [--bridge] [--bench-mib N]
Exit status 0 when every check passed. Needs the loader and the kernel built.
"""
import argparse
import hashlib
import os
import random
import select
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LOADER = os.path.join(ROOT, "loader/target/gitfs-loader.elf32")
KERNEL = os.path.join(ROOT, "kernel/target/x86_64-unknown-hermit/release/gitfs-kernel")


def host_mhz():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("cpu MHz"):
                return int(float(line.split(":")[1]))
    return 0


class Guest:
    def __init__(self, machine, drive_args, app_args="", mem="256M"):
        freq = host_mhz()
        append = (f"-freq {freq} " if freq else "") + (f"-- {app_args}" if app_args else "")
        cmd = [
            "timeout", "120", "qemu-system-x86_64", "-machine", machine,
            "-cpu", "qemu64,apic,fsgsbase,rdtscp,xsave,xsaveopt,fxsr", "-smp", "1",
            "-m", mem, "-display", "none", "-serial", "stdio", "-no-reboot",
            "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
            "-kernel", LOADER, "-initrd", KERNEL, "-append", append,
        ] + drive_args
        self.p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT)
        self.buf = b""

    def line(self, timeout=60):
        """Next output line, without the console's NUL padding."""
        end = time.time() + timeout
        while b"\n" not in self.buf:
            left = end - time.time()
            if left <= 0 or not select.select([self.p.stdout], [], [], left)[0]:
                raise TimeoutError("no output line in time; got %r" % self.buf[-200:])
            chunk = os.read(self.p.stdout.fileno(), 65536)
            if not chunk:
                raise EOFError("QEMU exited; got %r" % self.buf[-200:])
            self.buf += chunk.replace(b"\0", b"")
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode("utf-8", "replace").rstrip("\r")

    def wait_for(self, prefix, timeout=60):
        while True:
            line = self.line(timeout)
            if line.startswith(prefix):
                return line

    def request(self, text, timeout=60):
        """Sends one request and returns its answer (skipping the console echo)."""
        self.p.stdin.write(text.encode() + b"\n")
        self.p.stdin.flush()
        while True:
            line = self.line(timeout)
            if line != text and line.strip():
                return line

    def finish(self):
        try:
            return self.p.wait(30)
        finally:
            if self.p.poll() is None:
                self.p.kill()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--machine", default="pc")
    ap.add_argument("--device-opts", default="")
    ap.add_argument("--bridge", action="store_true", help="put the disk behind a pcie-root-port (q35)")
    ap.add_argument("--bench-mib", type=int, default=256)
    ap.add_argument("--mem", default="256M")
    args = ap.parse_args()

    rng = random.Random(7)
    size = 5 * 1024 * 1024 + 12345  # not a sector multiple: QEMU pads with zeros
    data = rng.randbytes(size)
    padded = data + bytes(-size % 512)
    failures = 0

    def check(name, ok, detail=""):
        nonlocal failures
        print(("ok   " if ok else "FAIL ") + name + ("" if ok else "  " + detail))
        failures += 0 if ok else 1

    with tempfile.NamedTemporaryFile(suffix=".img") as img:
        img.write(data)
        img.flush()
        bus = ",bus=rp0" if args.bridge else ""
        drive = ["-drive", f"file={img.name},format=raw,if=none,id=d0,readonly=on"]
        if args.bridge:
            drive += ["-device", "pcie-root-port,id=rp0,chassis=1"]
        drive += ["-device", f"virtio-blk-pci,drive=d0{bus}{args.device_opts}"]
        g = Guest(args.machine, drive, mem=args.mem)
        ready = g.wait_for("gitfs ")
        check("ready line", f" disk_bytes={len(padded)}" in ready, ready)
        cases = [(0, 1), (1, 1), (511, 2), (0, 512), (4095, 4097), (12345, 300000),
                 (len(padded) - 1, 1), (len(padded) - 777, 777), (3, len(padded) - 3)]
        cases += [(rng.randrange(len(padded) - 70000), rng.randrange(1, 70000)) for _ in range(20)]
        for off, n in cases:
            want = hashlib.sha1(padded[off:off + n]).hexdigest()
            got = g.request(f"blkread {off} {n}")
            check(f"blkread {off} {n}", got.endswith("sha1=" + want), got)
        for off, n in [(0, 16), (777, 33), (len(padded) - 5, 5)]:
            got = g.request(f"blkhex {off} {n}")
            check(f"blkhex {off} {n}", got.endswith("hex=" + padded[off:off + n].hex()), got)
        got = g.request(f"blkread {len(padded) - 1} 2")
        check("read past the end is an error", got.startswith("error: "), got)
        for req_kib in (4, 64, 256):
            print("     " + g.request(f"blkbench {args.bench_mib} {req_kib}", timeout=120))
        check("quit", g.request("quit") == "bye")
        check("exit status 0 -> QEMU rc 3", g.finish() == 3)

    g = Guest(args.machine, [])
    line = g.wait_for("gitfs ")
    check("no disk -> error line", line.startswith("gitfs error: no disk: "), line)
    check("no disk -> QEMU rc 1", g.finish() == 1)

    g = Guest(args.machine, [], app_args="--no-disk")
    line = g.wait_for("gitfs ")
    check("--no-disk -> ready", line.startswith("gitfs ready ") and "disk=none" in line, line)
    got = g.request("blkinfo")
    check("--no-disk blkinfo -> error", got.startswith("error: no disk: "), got)
    g.request("fail")
    check("fail -> QEMU rc 1", g.finish() == 1)

    print(f"{failures} failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
