//! The nested `cargo build` of the patched kernel, and the tools of its toolchain.

use std::env;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::{Error, Options, Result, KERNEL_CRATE, TOOLCHAIN};

/// A command for the pinned toolchain, with the outer build's CARGO*/RUST* variables
/// removed so they cannot leak into a build for another target.
pub fn clean_command(program: &str) -> Command {
    let mut cmd = Command::new(program);
    for (key, _) in env::vars_os() {
        let Some(key) = key.to_str() else { continue };
        let keep = key == "CARGO_HOME" || key == "RUSTUP_HOME";
        if !keep && (key.starts_with("CARGO") || key.starts_with("RUST")) {
            cmd.env_remove(key);
        }
    }
    cmd.env("RUSTUP_TOOLCHAIN", TOOLCHAIN);
    cmd
}

/// Runs `cmd` to completion; its stdout, stderr passed through.
pub fn run(cmd: &mut Command, what: &str) -> Result<Vec<u8>> {
    let out = cmd
        .stderr(Stdio::inherit())
        .output()
        .map_err(|source| Error::Spawn {
            what: what.to_string(),
            source,
        })?;
    if !out.status.success() {
        return Err(Error::Failed {
            what: what.to_string(),
            status: out.status,
        });
    }
    Ok(out.stdout)
}

/// Builds the patched copy (`copy`, its `Cargo.toml`) into `target_dir`; returns the
/// raw archive. Runs from the registry source `src`: cargo reads `.cargo/config.toml`
/// from the working directory upwards and must not pick up the app's.
pub fn build_kernel(
    src: &Path,
    copy: &Path,
    target_dir: &Path,
    options: &Options,
) -> Result<PathBuf> {
    let mut cmd = clean_command("cargo");
    cmd.current_dir(src)
        .args(["build", "--release", "--locked"])
        .args(["--target", "x86_64-unknown-none"])
        .args([
            "-Zbuild-std=core,alloc",
            "-Zbuild-std-features=compiler-builtins-mem",
        ])
        .arg("--no-default-features")
        .arg("--features")
        .arg(options.features.join(","))
        .arg("--manifest-path")
        .arg(copy.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(target_dir)
        .env("CARGO_ENCODED_RUSTFLAGS", "-Zmutable-noalias=no")
        .env("HERMIT_LOG_LEVEL_FILTER", &options.log_level)
        // Keep the caller's stdout clean: cargo reads it for build-script directives.
        .stdout(Stdio::null());
    run(&mut cmd, &format!("nested cargo build of {KERNEL_CRATE}"))?;
    let lib = target_dir.join("x86_64-unknown-none/release/libhermit.a");
    if lib.is_file() {
        Ok(lib)
    } else {
        Err(Error::Archive(format!("{} was not produced", lib.display())))
    }
}

/// `llvm-nm` / `llvm-objcopy` from the pinned toolchain's `llvm-tools` component.
pub fn llvm_tool(name: &str) -> Result<PathBuf> {
    let mut cmd = clean_command("rustc");
    cmd.args(["--print", "sysroot"]);
    let sysroot = String::from_utf8(run(&mut cmd, "rustc --print sysroot")?)
        .map_err(|_| Error::Export("rustc's sysroot is not UTF-8".into()))?;
    let mut cmd = clean_command("rustc");
    cmd.arg("-vV");
    let info = String::from_utf8_lossy(&run(&mut cmd, "rustc -vV")?).into_owned();
    let host = info
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .ok_or_else(|| Error::Export("rustc -vV names no host".into()))?
        .to_string();
    let path = Path::new(sysroot.trim()).join(format!("lib/rustlib/{host}/bin/{name}"));
    if path.is_file() {
        Ok(path)
    } else {
        Err(Error::Export(format!(
            "{} not found: install it with `rustup component add llvm-tools --toolchain {TOOLCHAIN}`",
            path.display()
        )))
    }
}
