//! `gitfs-bench boot-time`: spawn to ready line, boot after boot.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use gitfs_qemu::{Exit, Vm, VmConfig};

use crate::stats::{median, ms};

/// Boots `runs` times to the ready line; prints median, min, max and spread.
pub fn run(config: &VmConfig, runs: usize) -> Result<()> {
    if runs == 0 {
        bail!("--runs must be at least 1");
    }
    let Some(a) = &config.artifacts else {
        bail!("no images");
    };
    let size = |p: &PathBuf| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let accel = config.resolve_accel()?;
    println!(
        "boot to ready line, {runs} runs, accel {accel}, -m {}",
        config.memory
    );
    let mut host = Vec::with_capacity(runs);
    let mut guest = Vec::new();
    for i in 0..runs {
        let vm = Vm::boot(config).with_context(|| format!("boot {}", i + 1))?;
        let t = vm.boot_time().unwrap_or_default();
        let boot_ms = vm
            .ready_line()
            .and_then(|l| {
                l.split_whitespace()
                    .find_map(|w| w.strip_prefix("boot_ms="))
            })
            .and_then(|v| v.parse::<f64>().ok());
        let exit = vm.stop()?;
        if exit != Exit::Success {
            bail!("boot {}: stop ended with {exit}", i + 1);
        }
        host.push(ms(t));
        guest.extend(boot_ms);
    }
    println!(
        "{:<28} {:>9} {:>9} {:>9} {:>9}",
        "", "median", "min", "max", "spread"
    );
    let row = |name: &str, v: &mut Vec<f64>| {
        let med = median(v);
        let (lo, hi) = (v[0], v[v.len() - 1]);
        println!(
            "{name:<28} {:>9.1} {:>9.1} {:>9.1} {:>9.1}",
            med,
            lo,
            hi,
            hi - lo
        );
    };
    row("spawn -> ready line (ms)", &mut host);
    if guest.len() == runs {
        row("guest-reported boot_ms", &mut guest);
    }
    println!("{:<28} {:>9} bytes", "kernel image", size(&a.kernel));
    println!("{:<28} {:>9} bytes", "loader image", size(&a.loader));
    Ok(())
}
