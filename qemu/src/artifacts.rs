//! Finds the loader and kernel images, building them when missing or older than sources.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::SystemTime;

use crate::error::{Error, Result};

pub const LOADER_ENV: &str = "GITFS_LOADER";
pub const KERNEL_ENV: &str = "GITFS_KERNEL";
/// Overrides the kernel built with the `http` feature (networking).
pub const KERNEL_HTTP_ENV: &str = "GITFS_KERNEL_HTTP";
/// Overrides the benchmark kernel (HTTP server and the benchmark peer).
pub const KERNEL_BENCH_ENV: &str = "GITFS_KERNEL_BENCH";
/// The repository root; defaults to the one this crate was built in.
pub const ROOT_ENV: &str = "GITFS_ROOT";

/// Paths of the two images QEMU boots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifacts {
    /// 32-bit multiboot ELF (`-kernel`).
    pub loader: PathBuf,
    /// The Hermit app ELF (`-initrd`).
    pub kernel: PathBuf,
}

/// A guest component: where it lives, what it produces, how it is built.
struct Component {
    what: &'static str,
    env: &'static str,
    dir: &'static str,
    output: &'static str,
    /// Paths (relative to the repository root) whose changes call for a rebuild.
    sources: &'static [&'static str],
    /// Extra `cargo build --release` arguments (no effect with a build.sh).
    cargo_args: &'static [&'static str],
}

const LOADER: Component = Component {
    what: "loader",
    env: LOADER_ENV,
    dir: "loader",
    output: "loader/target/gitfs-loader.elf32",
    sources: &["loader"],
    cargo_args: &[],
};

const KERNEL: Component = Component {
    what: "kernel",
    env: KERNEL_ENV,
    dir: "kernel",
    output: "kernel/target/x86_64-unknown-hermit/release/gitfs-kernel",
    sources: &["kernel", "format/src", "format/Cargo.toml"],
    cargo_args: &[],
};

/// The kernel with networking and the HTTP server, in a target directory of its own so
/// that it never replaces the console-only build.
const KERNEL_HTTP: Component = Component {
    what: "kernel (http)",
    env: KERNEL_HTTP_ENV,
    dir: "kernel",
    output: "kernel/target/http/x86_64-unknown-hermit/release/gitfs-kernel",
    sources: &[
        "kernel",
        "format/src",
        "format/Cargo.toml",
        "http/src",
        "http/Cargo.toml",
    ],
    cargo_args: &[
        "--locked",
        "--features",
        "http",
        "--target-dir",
        "target/http",
    ],
};

/// The HTTP kernel with the benchmark code (`--http-peer`) that the shipped one leaves
/// out; `gitfs-bench http` measures the server and the peer on this one binary.
const KERNEL_BENCH: Component = Component {
    what: "kernel (http + bench)",
    env: KERNEL_BENCH_ENV,
    dir: "kernel",
    output: "kernel/target/bench/x86_64-unknown-hermit/release/gitfs-kernel",
    sources: KERNEL_HTTP.sources,
    cargo_args: &[
        "--locked",
        "--features",
        "bench",
        "--target-dir",
        "target/bench",
    ],
};

/// The example apps in `kernel/apps/`: plain Hermit programs that read a gitfs image
/// through `std::fs` (crate `gitfs`).
const APPS: [Component; 3] = [
    Component {
        what: "walk example app",
        env: "GITFS_APP_WALK",
        dir: "kernel",
        output: "kernel/target/x86_64-unknown-hermit/release/walk",
        sources: &["kernel", "format/src", "format/Cargo.toml"],
        cargo_args: &["--locked", "-p", "gitfs-walk"],
    },
    // The test and benchmark kit: answers std::fs requests on the serial console.
    Component {
        what: "fsprobe test app",
        env: "GITFS_APP_FSPROBE",
        dir: "kernel",
        output: "kernel/target/x86_64-unknown-hermit/release/fsprobe",
        sources: &["kernel", "format/src", "format/Cargo.toml"],
        cargo_args: &["--locked", "-p", "gitfs-fsprobe"],
    },
    // Built with networking, beside the HTTP kernel (same kernel features).
    Component {
        what: "webserver example app",
        env: "GITFS_APP_WEBSERVER",
        dir: "kernel",
        output: "kernel/target/http/x86_64-unknown-hermit/release/webserver",
        sources: &["kernel", "format/src", "format/Cargo.toml"],
        cargo_args: &[
            "--locked",
            "-p",
            "gitfs-webserver",
            "--target-dir",
            "target/http",
        ],
    },
];

/// Names of the example apps [`find_or_build_app`] knows.
pub const APP_NAMES: [&str; 3] = ["walk", "fsprobe", "webserver"];

/// The ELF of example app `name` (see [`APP_NAMES`]), built when missing or stale;
/// its environment variable (`GITFS_APP_WALK`, ...) points at another image instead.
pub fn find_or_build_app(root: &Path, name: &str) -> Result<PathBuf> {
    let i = APP_NAMES
        .iter()
        .position(|n| *n == name)
        .ok_or_else(|| Error::UnknownApp(name.to_string()))?;
    let c = &APPS[i];
    let path = match std::env::var_os(c.env) {
        Some(p) => PathBuf::from(p),
        None => {
            let _lock = FileLock::acquire(&root.join("target").join("gitfs-qemu-build.lock"));
            ensure_built(root, c)?;
            root.join(c.output)
        }
    };
    if !path.is_file() {
        return Err(Error::ArtifactMissing {
            what: c.what,
            path,
            env: c.env,
        });
    }
    Ok(path)
}

pub fn repo_root() -> PathBuf {
    match std::env::var_os(ROOT_ENV) {
        Some(r) => PathBuf::from(r),
        None => Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf),
    }
}

impl Artifacts {
    /// Default output paths under `root`, or the env overrides; nothing is checked.
    pub fn paths(root: &Path) -> Artifacts {
        let pick = |c: &Component| {
            std::env::var_os(c.env).map_or_else(|| root.join(c.output), PathBuf::from)
        };
        Artifacts {
            loader: pick(&LOADER),
            kernel: pick(&KERNEL),
        }
    }

    /// Existing images only: never builds.
    pub fn find(root: &Path) -> Result<Artifacts> {
        let a = Artifacts::paths(root);
        for (c, path) in [(&LOADER, &a.loader), (&KERNEL, &a.kernel)] {
            if !path.is_file() {
                return Err(Error::ArtifactMissing {
                    what: c.what,
                    path: path.clone(),
                    env: c.env,
                });
            }
        }
        Ok(a)
    }

    /// Builds what is missing or stale (env overrides are taken as they are), once per
    /// process and under a file lock so parallel test binaries do not build twice.
    pub fn find_or_build(root: &Path) -> Result<Artifacts> {
        static DONE: Mutex<Option<Artifacts>> = Mutex::new(None);
        let mut done = DONE.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(a) = done.as_ref() {
            return Ok(a.clone());
        }
        let _lock = FileLock::acquire(&root.join("target").join("gitfs-qemu-build.lock"));
        for c in [&LOADER, &KERNEL] {
            if std::env::var_os(c.env).is_none() {
                ensure_built(root, c)?;
            }
        }
        let a = Artifacts::find(root)?;
        *done = Some(a.clone());
        Ok(a)
    }

    /// As [`Artifacts::find_or_build`], with the kernel built with the `http` feature.
    pub fn find_or_build_http(root: &Path) -> Result<Artifacts> {
        static DONE: Mutex<Option<PathBuf>> = Mutex::new(None);
        Artifacts::find_or_build_kernel(root, &KERNEL_HTTP, &DONE)
    }

    /// As [`Artifacts::find_or_build_http`], with the benchmark code as well.
    pub fn find_or_build_bench(root: &Path) -> Result<Artifacts> {
        static DONE: Mutex<Option<PathBuf>> = Mutex::new(None);
        Artifacts::find_or_build_kernel(root, &KERNEL_BENCH, &DONE)
    }

    /// The loader and the kernel variant `c`, built once per process (`done`).
    fn find_or_build_kernel(
        root: &Path,
        c: &Component,
        done: &Mutex<Option<PathBuf>>,
    ) -> Result<Artifacts> {
        let mut a = Artifacts::find_or_build(root)?;
        let mut done = done.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(k) = done.as_ref() {
            a.kernel = k.clone();
            return Ok(a);
        }
        let kernel = match std::env::var_os(c.env) {
            Some(k) => PathBuf::from(k),
            None => {
                let _lock = FileLock::acquire(&root.join("target").join("gitfs-qemu-build.lock"));
                ensure_built(root, c)?;
                root.join(c.output)
            }
        };
        if !kernel.is_file() {
            return Err(Error::ArtifactMissing {
                what: c.what,
                path: kernel,
                env: c.env,
            });
        }
        *done = Some(kernel.clone());
        a.kernel = kernel;
        Ok(a)
    }
}

fn ensure_built(root: &Path, c: &Component) -> Result<()> {
    let output = root.join(c.output);
    let mtime = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    // The stamp marks a build that cargo found up to date (output left untouched).
    let stamp = stamp_path(&output);
    let built = mtime(&output).map(|o| o.max(mtime(&stamp).unwrap_or(o)));
    let newest = c
        .sources
        .iter()
        .filter_map(|s| newest_mtime(&root.join(s)))
        .max();
    let stale = match (built, newest) {
        (None, _) => true,
        (Some(b), Some(n)) => n > b,
        (Some(_), None) => false,
    };
    if !stale {
        return Ok(());
    }
    let dir = root.join(c.dir);
    let mut cmd = if dir.join("build.sh").is_file() {
        Command::new(dir.join("build.sh"))
    } else {
        let mut cmd = Command::new("cargo");
        cmd.args(["build", "--release"]).args(c.cargo_args);
        cmd
    };
    cmd.current_dir(&dir);
    // The guest crates pick their pinned nightly through rust-toolchain.toml; variables
    // set by an outer cargo (we may run inside `cargo test`) would override it.
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy();
        let outer = k.starts_with("CARGO") || k.starts_with("RUST");
        if outer && k != "CARGO_HOME" && k != "RUSTUP_HOME" {
            cmd.env_remove(&*k);
        }
    }
    eprintln!("gitfs-qemu: building the {} in {}", c.what, dir.display());
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(Error::io("starting the guest build"))?;
    if !out.status.success() {
        let text = String::from_utf8_lossy(&out.stderr);
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(30)..].join("\n");
        return Err(Error::BuildFailed {
            what: c.what,
            status: out.status.to_string(),
            tail,
        });
    }
    let _ = std::fs::write(&stamp, b"");
    Ok(())
}

fn stamp_path(output: &Path) -> PathBuf {
    let mut name = output.file_name().unwrap_or_default().to_os_string();
    name.push(".gitfs-qemu-stamp");
    output.with_file_name(name)
}

/// Newest modification time of a file or of any file below a directory (skipping `target`).
fn newest_mtime(path: &Path) -> Option<SystemTime> {
    let meta = std::fs::symlink_metadata(path).ok()?;
    if !meta.is_dir() {
        return meta.modified().ok();
    }
    let mut newest = None;
    for entry in std::fs::read_dir(path).ok()?.flatten() {
        let name = entry.file_name();
        let text = name.to_string_lossy();
        let hidden = text.starts_with('.') && text != ".cargo";
        // Documentation does not change the images.
        if name == "target" || hidden || text.ends_with(".md") {
            continue;
        }
        newest = newest.max(newest_mtime(&entry.path()));
    }
    newest
}

/// An exclusive advisory lock held until dropped; best effort (no lock if it cannot open).
struct FileLock(Option<std::fs::File>);

impl FileLock {
    fn acquire(path: &Path) -> FileLock {
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .ok();
        if let Some(f) = &file {
            use std::os::fd::AsRawFd;
            // SAFETY: flock on a descriptor we own; blocks until the lock is free.
            unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) };
        }
        FileLock(file)
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        if let Some(f) = &self.0 {
            use std::os::fd::AsRawFd;
            // SAFETY: as above.
            unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_UN) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newest_skips_target() {
        let dir = std::env::temp_dir().join(format!("gitfs-qemu-art-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("src")).unwrap();
        std::fs::create_dir_all(dir.join("target")).unwrap();
        std::fs::write(dir.join("src/a.rs"), "x").unwrap();
        let before = newest_mtime(&dir).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(dir.join("target/out"), "y").unwrap();
        assert_eq!(newest_mtime(&dir), Some(before));
        std::fs::write(dir.join("src/b.rs"), "z").unwrap();
        assert!(newest_mtime(&dir).unwrap() > before);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn find_reports_missing() {
        let root = Path::new("/nonexistent-gitfs-root");
        if std::env::var_os(LOADER_ENV).is_none() {
            assert!(matches!(
                Artifacts::find(root),
                Err(Error::ArtifactMissing { what: "loader", .. })
            ));
        }
    }
}
