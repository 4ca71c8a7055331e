//! The Hermit kernel as a library an app links: builds `libhermit.a` from the
//! registry crate `hermit-kernel` 0.11.0 with the unified diffs in `patches/`.
//!
//! Why by hand: the `hermit` crates' own build scripts download the kernel from a
//! code-hosting site these machines cannot reach. Steps, one module each:
//! 1. [`locate`]: `hermit-kernel` is a never-built (`cfg(any())`) dependency of the
//!    calling crate, so `cargo metadata` pins, unpacks and reports its source;
//! 2. [`patch`]: a copy of that source gets every patch, in file-name order; a hunk
//!    that does not apply stops the build;
//! 3. [`nested`]: `cargo build` of the copy for `x86_64-unknown-none` with build-std,
//!    in an environment cleaned of the outer build's variables;
//! 4. [`export`]: only the kernel ABI stays global, every other symbol is renamed so
//!    the kernel's core/alloc never clash with the app's;
//! 5. [`osabi`]: the ELF OS/ABI byte of every archive member becomes 255
//!    (standalone), as Hermit's linker expects.

mod error;
pub mod export;
pub mod locate;
pub mod nested;
pub mod options;
pub mod osabi;
pub mod patch;

use std::env;
use std::fs;
use std::path::{Path, PathBuf};

pub use error::Error;
pub use options::Options;

pub type Result<T> = std::result::Result<T, Error>;

/// The kernel crate and version the patches are written for.
pub const KERNEL_CRATE: &str = "hermit-kernel";
pub const KERNEL_VERSION: &str = "0.11.0";
/// The toolchain the kernel builds with (the app's own, see `kernel/rust-toolchain.toml`).
pub const TOOLCHAIN: &str = "nightly-2025-03-15";

/// The patches shipped with this crate.
pub fn patch_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("patches")
}

/// The whole job for a build script: build (or reuse) the patched kernel and tell cargo
/// to link it. `default_features` are the kernel features when `GITFS_HERMIT_FEATURES`
/// is not set. Exits the build script with a message on failure.
pub fn main_for_build_script(default_features: &str) {
    println!("cargo:rerun-if-env-changed={}", options::FEATURES_ENV);
    println!("cargo:rerun-if-env-changed={}", options::LOG_ENV);
    let run = || -> Result<()> {
        let options = Options::from_env(default_features)?;
        let out_dir = PathBuf::from(env_var("OUT_DIR")?);
        let manifest_dir = PathBuf::from(env_var("CARGO_MANIFEST_DIR")?);
        let lib_dir = build(&options, &manifest_dir, &out_dir)?;
        println!("cargo:rustc-link-search=native={}", lib_dir.display());
        println!("cargo:rustc-link-lib=static:-bundle=hermit");
        Ok(())
    };
    if let Err(e) = run() {
        eprintln!("error: building libhermit.a: {e}");
        std::process::exit(1);
    }
}

/// Builds `libhermit.a` for `options` under `out_dir` unless an up-to-date one is
/// there; returns its directory. `manifest_dir` is the crate that depends on
/// `hermit-kernel`.
pub fn build(options: &Options, manifest_dir: &Path, out_dir: &Path) -> Result<PathBuf> {
    let patches = patch::PatchSet::load(&patch_dir())?;
    for file in patches.files() {
        println!("cargo:rerun-if-changed={}", file.display());
    }
    println!("cargo:rerun-if-changed={}", patch_dir().display());
    let kernel_manifest = locate::kernel_manifest(manifest_dir)?;
    println!("cargo:rerun-if-changed={}", kernel_manifest.display());

    let lib_dir = out_dir.join(format!("hermit-{}", options.key()));
    let lib = lib_dir.join("libhermit.a");
    let stamp = lib_dir.join("source");
    let stamp_text = format!(
        "{}\npatches {:016x}\n",
        kernel_manifest.display(),
        patches.digest()
    );
    if lib.is_file() && fs::read_to_string(&stamp).ok().as_deref() == Some(&*stamp_text) {
        return Ok(lib_dir);
    }
    let src = kernel_manifest
        .parent()
        .ok_or_else(|| Error::Layout(kernel_manifest.clone()))?;
    let copy = out_dir.join("hermit-src");
    patch::patched_copy(src, &copy, &patches)?;
    let raw = nested::build_kernel(src, &copy, &out_dir.join("hermit-build"), options)?;
    error::io(&lib_dir, fs::create_dir_all(&lib_dir))?;
    let tmp = lib_dir.join("libhermit.a.tmp");
    export::export_kernel_abi(&raw, &tmp, &out_dir.join("hermit-redefine-syms.txt"))?;
    let mut bytes = error::io(&tmp, fs::read(&tmp))?;
    osabi::set_standalone(&mut bytes)?;
    error::io(&lib, fs::write(&lib, &bytes))?;
    let _ = fs::remove_file(&tmp);
    error::io(&stamp, fs::write(&stamp, &stamp_text))?;
    Ok(lib_dir)
}

fn env_var(name: &'static str) -> Result<String> {
    env::var(name).map_err(|_| Error::Env(name))
}
