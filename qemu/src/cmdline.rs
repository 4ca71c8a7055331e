//! The QEMU command line: one plain struct turned into argv.

use std::ffi::OsString;
use std::path::PathBuf;

use crate::accel::Accel;
use crate::error::{Error, Result};

/// CPU model for TCG: what Hermit 0.11 needs (fsgsbase, rdtscp, xsave) on top of qemu64.
pub const TCG_CPU: &str = "qemu64,apic,fsgsbase,rdtscp,xsave,xsaveopt,fxsr";
/// KVM here refuses to start without hiding arch-capabilities.
pub const KVM_CPU: &str = "host,-arch-capabilities";

/// Where the guest's first serial port goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Serial {
    /// QEMU's stdin/stdout, piped by the harness.
    Stdio,
    /// stdin/stdout multiplexed with the monitor: a person's terminal (Ctrl-A X quits).
    MonStdio,
}

/// Everything that goes on the QEMU command line.
#[derive(Debug, Clone)]
pub struct QemuArgs {
    pub qemu: PathBuf,
    pub loader: PathBuf,
    pub kernel: PathBuf,
    /// QEMU `-m` value, for example `256M`.
    pub memory: String,
    pub cpus: u32,
    pub accel: Accel,
    /// Passed as `-freq MHZ` so that guest clocks agree with the host under TCG.
    pub freq_mhz: Option<u32>,
    pub kernel_args: Vec<String>,
    pub app_args: Vec<String>,
    /// Attached read-only as a virtio-blk disk.
    pub disk: Option<PathBuf>,
    pub serial: Serial,
    /// Host port on 127.0.0.1 forwarded to the guest's HTTP port (8080) over virtio-net.
    pub http_port: Option<u16>,
    /// A virtio-console port (the program channel) on this chardev (QEMU's `-chardev`
    /// value, id `gitfsch`: see [`crate::channel::ChannelEnd::chardev`]).
    pub channel: Option<String>,
}

/// The guest port the app's `--http` listens on by default.
pub const GUEST_HTTP_PORT: u16 = 8080;

impl QemuArgs {
    /// The `-append` string: `KERNEL_ARGS -- APP_ARGS`, each word shell-quoted because
    /// the kernel splits it with shell rules.
    pub fn append_line(&self) -> String {
        let mut words: Vec<String> = Vec::new();
        if let Some(mhz) = self.freq_mhz {
            words.push("-freq".into());
            words.push(mhz.to_string());
        }
        words.extend(self.kernel_args.iter().map(|a| shell_quote(a)));
        if !self.app_args.is_empty() {
            words.push("--".into());
            words.extend(self.app_args.iter().map(|a| shell_quote(a)));
        }
        words.join(" ")
    }

    /// Checks values QEMU would otherwise reject with a less clear message.
    pub fn validate(&self) -> Result<()> {
        if !valid_memory(&self.memory) {
            return Err(Error::InvalidOption(format!(
                "memory {:?}: expected a number with an optional K/M/G suffix",
                self.memory
            )));
        }
        // QEMU's multiboot splits `-initrd` at spaces (module arguments).
        if self.kernel.to_string_lossy().contains(char::is_whitespace) {
            return Err(Error::InvalidOption(format!(
                "kernel path {:?} contains whitespace, which QEMU's -initrd cannot carry",
                self.kernel
            )));
        }
        if self.cpus == 0 || self.cpus > 64 {
            return Err(Error::InvalidOption(format!(
                "cpus {}: expected 1 to 64",
                self.cpus
            )));
        }
        Ok(())
    }

    /// argv without the program name.
    pub fn argv(&self) -> Vec<OsString> {
        let mut a: Vec<OsString> = Vec::new();
        let mut push = |s: &str| a.push(s.into());
        match self.accel {
            Accel::Tcg => {
                push("-accel");
                push("tcg");
                push("-cpu");
                push(TCG_CPU);
            }
            Accel::Kvm => {
                push("-accel");
                push("kvm");
                push("-cpu");
                push(KVM_CPU);
            }
        }
        push("-smp");
        push(&self.cpus.to_string());
        push("-m");
        push(&self.memory);
        push("-display");
        push("none");
        match self.serial {
            Serial::Stdio => {
                push("-serial");
                push("stdio");
                // Keep the monitor off the pipes so nothing but the guest talks there.
                push("-monitor");
                push("none");
            }
            Serial::MonStdio => {
                push("-serial");
                push("mon:stdio");
            }
        }
        push("-device");
        push("isa-debug-exit,iobase=0xf4,iosize=0x04");
        push("-no-reboot");
        if let Some(disk) = &self.disk {
            let mut drive = OsString::from("file=");
            drive.push(qemu_escape(&disk.to_string_lossy()));
            drive.push(",format=raw,if=none,id=disk0,readonly=on");
            a.push("-drive".into());
            a.push(drive);
            a.push("-device".into());
            a.push("virtio-blk-pci,drive=disk0".into());
        }
        if let Some(port) = self.http_port {
            // restrict=on: the guest reaches nothing but this forward, bound to loopback.
            // No host_mtu: Hermit 0.11's virtio-net panics on full-size frames with it.
            a.push("-netdev".into());
            a.push(
                format!("user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:{port}-:{GUEST_HTTP_PORT}")
                    .into(),
            );
            a.push("-device".into());
            // The kernel rejects the transitional (legacy) device.
            a.push("virtio-net-pci,netdev=n0,disable-legacy=on".into());
        }
        if let Some(chardev) = &self.channel {
            // Port 0 of a device without multiport: the guest's driver needs nothing
            // but the console queues.
            a.push("-chardev".into());
            a.push(chardev.into());
            a.push("-device".into());
            a.push("virtio-serial-pci,disable-legacy=on,max_ports=1".into());
            a.push("-device".into());
            a.push("virtconsole,chardev=gitfsch,nr=0".into());
        }
        a.push("-kernel".into());
        a.push(self.loader.clone().into());
        a.push("-initrd".into());
        a.push(qemu_escape(&self.kernel.to_string_lossy()).into());
        let append = self.append_line();
        if !append.is_empty() {
            a.push("-append".into());
            a.push(append.into());
        }
        a
    }
}

/// QEMU option values use `,` as a separator; a literal comma is written twice.
pub(crate) fn qemu_escape(s: &str) -> String {
    s.replace(',', ",,")
}

fn valid_memory(m: &str) -> bool {
    let digits = m.trim_end_matches(['K', 'M', 'G', 'k', 'm', 'g']);
    let suffix_len = m.len() - digits.len();
    !digits.is_empty() && suffix_len <= 1 && digits.bytes().all(|b| b.is_ascii_digit())
}

/// Quotes a word for the kernel's shell-style argument splitting.
pub fn shell_quote(word: &str) -> String {
    let plain = |b: u8| b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(&b);
    if !word.is_empty() && word.bytes().all(plain) {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// The host CPU frequency in whole MHz, from /proc/cpuinfo.
pub fn host_cpu_mhz() -> Option<u32> {
    let text = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    parse_cpu_mhz(&text)
}

/// The first `cpu MHz` entry of a /proc/cpuinfo text, rounded.
pub fn parse_cpu_mhz(cpuinfo: &str) -> Option<u32> {
    cpuinfo.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        if key.trim() != "cpu MHz" {
            return None;
        }
        let mhz: f64 = value.trim().parse().ok()?;
        (1.0..100_000.0).contains(&mhz).then(|| mhz.round() as u32)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> QemuArgs {
        QemuArgs {
            qemu: "qemu-system-x86_64".into(),
            loader: "/l/loader.elf32".into(),
            kernel: "/k/app".into(),
            memory: "256M".into(),
            cpus: 1,
            accel: Accel::Tcg,
            freq_mhz: Some(2596),
            kernel_args: vec![],
            app_args: vec![],
            disk: None,
            serial: Serial::Stdio,
            http_port: None,
            channel: None,
        }
    }

    fn joined(a: &QemuArgs) -> String {
        a.argv()
            .iter()
            .map(|s| s.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn tcg_command_line() {
        let a = base();
        assert_eq!(
            joined(&a),
            "-accel tcg -cpu qemu64,apic,fsgsbase,rdtscp,xsave,xsaveopt,fxsr -smp 1 -m 256M \
             -display none -serial stdio -monitor none \
             -device isa-debug-exit,iobase=0xf4,iosize=0x04 -no-reboot \
             -kernel /l/loader.elf32 -initrd /k/app -append -freq 2596"
        );
    }

    #[test]
    fn kvm_disk_and_args() {
        let mut a = base();
        a.accel = Accel::Kvm;
        a.disk = Some("/tmp/a,b.img".into());
        a.cpus = 2;
        a.memory = "1G".into();
        a.kernel_args = vec!["-ip".into(), "10.0.5.3".into()];
        a.app_args = vec!["cat".into(), "it's here".into()];
        a.serial = Serial::MonStdio;
        let argv: Vec<String> = a
            .argv()
            .iter()
            .map(|s| s.to_string_lossy().into_owned())
            .collect();
        let s = argv.join(" ");
        assert!(s.starts_with("-accel kvm -cpu host,-arch-capabilities -smp 2 -m 1G"));
        assert!(s.contains("-serial mon:stdio -device"));
        assert!(!s.contains("-monitor none"));
        assert!(s.contains(
            "-drive file=/tmp/a,,b.img,format=raw,if=none,id=disk0,readonly=on \
             -device virtio-blk-pci,drive=disk0"
        ));
        assert_eq!(
            argv.last().map(String::as_str),
            Some(r"-freq 2596 -ip 10.0.5.3 -- cat 'it'\''s here'")
        );
    }

    #[test]
    fn http_forward_on_loopback_only() {
        let mut a = base();
        assert!(!joined(&a).contains("-netdev"));
        a.http_port = Some(18080);
        assert!(joined(&a).contains(
            "-no-reboot -netdev user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:18080-:8080 \
             -device virtio-net-pci,netdev=n0,disable-legacy=on -kernel"
        ));
        assert!(!joined(&a).contains("host_mtu"));
    }

    #[test]
    fn virtio_channel_on_an_abstract_socket() {
        let mut a = base();
        assert!(!joined(&a).contains("virtconsole"));
        a.channel = Some("socket,id=gitfsch,path=gitfs-1,,2,abstract=on".into());
        assert!(joined(&a).contains(
            "-no-reboot -chardev socket,id=gitfsch,path=gitfs-1,,2,abstract=on \
             -device virtio-serial-pci,disable-legacy=on,max_ports=1 \
             -device virtconsole,chardev=gitfsch,nr=0 -kernel"
        ));
    }

    #[test]
    fn no_append_without_args() {
        let mut a = base();
        a.freq_mhz = None;
        assert!(!joined(&a).contains("-append"));
    }

    #[test]
    fn memory_validation() {
        for ok in ["256M", "1G", "110M", "262144"] {
            let mut a = base();
            a.memory = ok.into();
            assert!(a.validate().is_ok(), "{ok}");
        }
        for bad in ["", "M", "12MB", "-1G", "1.5G"] {
            let mut a = base();
            a.memory = bad.into();
            assert!(a.validate().is_err(), "{bad}");
        }
        let mut a = base();
        a.cpus = 0;
        assert!(a.validate().is_err());
    }

    #[test]
    fn cpuinfo_mhz() {
        let text = "processor\t: 0\nmodel name\t: X\ncpu MHz\t\t: 2595.999\ncache size\t: 1\n\
                    processor\t: 1\ncpu MHz\t\t: 1200.000\n";
        assert_eq!(parse_cpu_mhz(text), Some(2596));
        assert_eq!(parse_cpu_mhz("model name: x\n"), None);
        assert_eq!(parse_cpu_mhz("cpu MHz : garbage\n"), None);
    }

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("plain-word_1.2"), "plain-word_1.2");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("a'b"), r"'a'\''b'");
    }
}
