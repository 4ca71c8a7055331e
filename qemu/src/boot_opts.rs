//! The boot options both programs take (`gitfs-qemu` and `gitfs-bench`), turned into a
//! [`VmConfig`].

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, ValueEnum};

use crate::artifacts::{self, Artifacts};
use crate::error::{Error, Result};
use crate::vm::{Freq, VmConfig};
use crate::AccelMode;

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum AccelArg {
    Tcg,
    Kvm,
    /// KVM when /dev/kvm exists and a probe boot works (verdict cached), else TCG.
    Auto,
}

/// The app's flag for booting without a disk.
pub const NO_DISK: &str = "--no-disk";

/// How to boot, as both command-line programs take it.
#[derive(Args, Clone, Debug)]
pub struct BootOpts {
    /// Accelerator.
    #[arg(long, value_enum, default_value = "tcg")]
    pub accel: AccelArg,
    /// Guest memory (QEMU -m syntax).
    #[arg(long, default_value = "256M")]
    pub memory: String,
    /// Virtual CPUs.
    #[arg(long, default_value_t = 1)]
    pub cpus: u32,
    /// CPU frequency in MHz given to the kernel (default: the host's, from /proc/cpuinfo;
    /// 0: let the kernel measure, which is wrong by up to 2x under TCG).
    #[arg(long, value_name = "MHZ")]
    pub freq: Option<u32>,
    /// Extra kernel argument (repeatable), before `--` on the kernel command line.
    #[arg(long = "kernel-arg", value_name = "ARG", allow_hyphen_values = true)]
    pub kernel_args: Vec<String>,
    /// Loader image instead of the built one (also GITFS_LOADER).
    #[arg(long, value_name = "ELF32")]
    pub loader: Option<PathBuf>,
    /// Kernel app image instead of the built one (also GITFS_KERNEL).
    #[arg(long, value_name = "ELF")]
    pub kernel: Option<PathBuf>,
    /// Seconds to wait for the ready line.
    #[arg(long, default_value_t = 60)]
    pub boot_timeout: u64,
}

impl BootOpts {
    /// The VM for `disk` and `app_args`: the built loader and kernel unless given
    /// (`--no-disk` added for the app when there is no disk).
    pub fn config(&self, disk: Option<&Path>, app_args: &[String]) -> Result<VmConfig> {
        let root = artifacts::repo_root();
        let built = if self.loader.is_none() || self.kernel.is_none() {
            Some(Artifacts::find_or_build(&root)?)
        } else {
            None
        };
        let pick = |given: &Option<PathBuf>, f: fn(&Artifacts) -> &PathBuf| {
            given
                .clone()
                .or_else(|| built.as_ref().map(|a| f(a).clone()))
                .unwrap_or_default()
        };
        let artifacts = Artifacts {
            loader: pick(&self.loader, |a| &a.loader),
            kernel: pick(&self.kernel, |a| &a.kernel),
        };
        for p in [&artifacts.loader, &artifacts.kernel] {
            if !p.is_file() {
                return Err(Error::InvalidOption(format!(
                    "{} is not a file",
                    p.display()
                )));
            }
        }
        let mut app_args = app_args.to_vec();
        if disk.is_none() && !app_args.iter().any(|a| a == NO_DISK) {
            app_args.push(NO_DISK.into());
        }
        Ok(VmConfig {
            artifacts: Some(artifacts),
            memory: self.memory.clone(),
            cpus: self.cpus,
            accel: match self.accel {
                AccelArg::Tcg => AccelMode::Tcg,
                AccelArg::Kvm => AccelMode::Kvm,
                AccelArg::Auto => AccelMode::Auto,
            },
            freq: match self.freq {
                None => Freq::Host,
                Some(0) => Freq::None,
                Some(m) => Freq::Mhz(m),
            },
            kernel_args: self.kernel_args.clone(),
            app_args,
            disk: disk.map(Path::to_path_buf),
            boot_timeout: Duration::from_secs(self.boot_timeout),
            ..VmConfig::default()
        })
    }
}
