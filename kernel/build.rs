//! Builds `libhermit.a` from the registry crate `hermit-kernel` 0.11.0 and links it,
//! when the target OS is Hermit (host builds of the library need nothing).
//!
//! Why by hand: the `hermit` crates' own build scripts download the kernel from a
//! code-hosting site these machines cannot reach. Steps (see the project's notes):
//! 1. cargo locates the source: `hermit-kernel` is a never-built dependency of this
//!    crate (`cfg(any())`), so `cargo metadata` pins, unpacks and reports it.
//! 2. a copy of that source gets our fixes (`build/patches.rs`), then a
//!    nested `cargo build` for `x86_64-unknown-none` with build-std, clean environment.
//! 3. export only the kernel ABI; rename every other symbol so the kernel's copies of
//!    core/alloc/compiler-builtins never clash with the application's.
//! 4. set the ELF OS/ABI byte to 255 (standalone) in every archive member.
//!
//! Knobs (rebuild on change): `GITFS_HERMIT_FEATURES` (comma-separated kernel
//! features, default `pci,acpi,fsgsbase`, or `pci,acpi,fsgsbase,tcp,dhcpv4` with the
//! app's `http` feature) and `HERMIT_LOG_LEVEL_FILTER` (kernel log
//! level: off, error, warn, info, debug, trace; default `warn`).

use std::collections::BTreeSet;
use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const KERNEL_CRATE: &str = "hermit-kernel";
const KERNEL_VERSION: &str = "0.11.0";
const TOOLCHAIN: &str = "nightly-2025-03-15";
const DEFAULT_FEATURES: &str = "pci,acpi,fsgsbase";
/// With the app's `http` feature: smoltcp + virtio-net, address by DHCP.
const HTTP_FEATURES: &str = "pci,acpi,fsgsbase,tcp,dhcpv4";
const DEFAULT_LOG_LEVEL: &str = "warn";
const LOG_LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];
/// Symbols the application links against besides the `sys_*` calls.
const EXTRA_EXPORTS: [&str; 4] = ["_start", "__bss_start", "mcount", "runtime_entry"];

type Result<T> = std::result::Result<T, String>;

#[path = "build/patches.rs"]
mod patches;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=Cargo.lock");
    println!("cargo:rerun-if-changed=build/patches.rs");
    println!("cargo:rerun-if-env-changed=GITFS_HERMIT_FEATURES");
    println!("cargo:rerun-if-env-changed=HERMIT_LOG_LEVEL_FILTER");
    if env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("hermit") {
        return;
    }
    if let Err(e) = build_and_link() {
        eprintln!("error: building libhermit.a: {e}");
        std::process::exit(1);
    }
}

fn build_and_link() -> Result<()> {
    let features = features()?;
    let log_level = log_level()?;
    let out_dir = PathBuf::from(env_var("OUT_DIR")?);
    let manifest_dir = PathBuf::from(env_var("CARGO_MANIFEST_DIR")?);

    let key = format!(
        "{}-log-{log_level}",
        if features.is_empty() {
            "none".to_string()
        } else {
            features.join("+")
        }
    );
    let lib_dir = out_dir.join(format!("hermit-{key}"));
    let lib = lib_dir.join("libhermit.a");

    let kernel_manifest = locate_kernel_source(&manifest_dir)?;
    let stamp = lib_dir.join("source");
    let stamp_text = format!(
        "{}\npatches {:016x}",
        kernel_manifest.display(),
        patches_digest()
    );
    let fresh = lib.is_file() && fs::read_to_string(&stamp).ok().as_deref() == Some(&*stamp_text);
    if !fresh {
        let raw = build_kernel(&kernel_manifest, &out_dir, &features, &log_level)?;
        fs::create_dir_all(&lib_dir).map_err(|e| format!("{}: {e}", lib_dir.display()))?;
        let tmp = lib_dir.join("libhermit.a.tmp");
        export_symbols(&raw, &tmp, &out_dir)?;
        let mut bytes = fs::read(&tmp).map_err(|e| format!("{}: {e}", tmp.display()))?;
        set_osabi_standalone(&mut bytes)?;
        fs::write(&lib, &bytes).map_err(|e| format!("{}: {e}", lib.display()))?;
        let _ = fs::remove_file(&tmp);
        fs::write(&stamp, &stamp_text).map_err(|e| format!("{}: {e}", stamp.display()))?;
    }
    println!("cargo:rustc-link-search=native={}", lib_dir.display());
    println!("cargo:rustc-link-lib=static:-bundle=hermit");
    Ok(())
}

fn env_var(name: &str) -> Result<String> {
    env::var(name).map_err(|_| format!("environment variable {name} is not set"))
}

/// Sorted, de-duplicated kernel features (the cache key must not depend on order).
fn features() -> Result<Vec<String>> {
    let default = if env::var_os("CARGO_FEATURE_HTTP").is_some() {
        HTTP_FEATURES
    } else {
        DEFAULT_FEATURES
    };
    let raw = env::var("GITFS_HERMIT_FEATURES").unwrap_or_else(|_| default.into());
    let set: BTreeSet<String> = raw
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    for f in &set {
        if !f
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(format!("GITFS_HERMIT_FEATURES: bad feature name {f:?}"));
        }
    }
    Ok(set.into_iter().collect())
}

fn log_level() -> Result<String> {
    let level = env::var("HERMIT_LOG_LEVEL_FILTER")
        .unwrap_or_else(|_| DEFAULT_LOG_LEVEL.into())
        .to_ascii_lowercase();
    if LOG_LEVELS.contains(&level.as_str()) {
        Ok(level)
    } else {
        Err(format!(
            "HERMIT_LOG_LEVEL_FILTER={level:?}: expected one of {LOG_LEVELS:?}"
        ))
    }
}

/// A command for the pinned toolchain, with the outer build's CARGO*/RUST* variables
/// removed so they cannot leak into a build for another target.
fn clean_command(program: &str) -> Command {
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

fn run(cmd: &mut Command, what: &str) -> Result<Vec<u8>> {
    let out = cmd
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("{what}: cannot start: {e}"))?;
    if !out.status.success() {
        return Err(format!("{what}: failed with {}", out.status));
    }
    Ok(out.stdout)
}

/// The kernel's `Cargo.toml` in cargo's own unpacked copy of the registry crate.
fn locate_kernel_source(manifest_dir: &Path) -> Result<PathBuf> {
    let mut cmd = clean_command("cargo");
    cmd.current_dir(manifest_dir)
        .args(["metadata", "--format-version", "1", "--locked"]);
    let stdout = run(&mut cmd, "cargo metadata")?;
    let text = String::from_utf8(stdout).map_err(|_| "cargo metadata: output is not UTF-8")?;
    let json = json::parse(&text)?;
    let packages = json.get("packages").and_then(json::Value::as_array);
    for pkg in packages.ok_or("cargo metadata: no packages")? {
        let field = |k| pkg.get(k).and_then(json::Value::as_str);
        if field("name") == Some(KERNEL_CRATE) && field("version") == Some(KERNEL_VERSION) {
            let path = field("manifest_path").ok_or("cargo metadata: no manifest_path")?;
            let path = PathBuf::from(path);
            println!("cargo:rerun-if-changed={}", path.display());
            return Ok(path);
        }
    }
    Err(format!(
        "cargo metadata does not list {KERNEL_CRATE} {KERNEL_VERSION}"
    ))
}

fn build_kernel(
    manifest: &Path,
    out_dir: &Path,
    features: &[String],
    log: &str,
) -> Result<PathBuf> {
    let src_dir = manifest.parent().ok_or("kernel manifest has no parent")?;
    let patched = patched_source(src_dir, out_dir)?;
    let target_dir = out_dir.join("hermit-build");
    let mut cmd = clean_command("cargo");
    // Run from the registry copy: cargo reads .cargo/config.toml from the working
    // directory upwards and must not pick up this crate's (the patched copy lives in
    // OUT_DIR, under this crate).
    cmd.current_dir(src_dir)
        .args([
            "build",
            "--release",
            "--locked",
            "--target",
            "x86_64-unknown-none",
        ])
        .args([
            "-Zbuild-std=core,alloc",
            "-Zbuild-std-features=compiler-builtins-mem",
        ])
        .arg("--no-default-features")
        .arg("--features")
        .arg(features.join(","))
        .arg("--manifest-path")
        .arg(&patched)
        .arg("--target-dir")
        .arg(&target_dir)
        .env("CARGO_ENCODED_RUSTFLAGS", "-Zmutable-noalias=no")
        .env("HERMIT_LOG_LEVEL_FILTER", log)
        // Keep our stdout clean: cargo reads it for build-script directives.
        .stdout(Stdio::null());
    let status = cmd
        .status()
        .map_err(|e| format!("nested cargo: cannot start: {e}"))?;
    if !status.success() {
        return Err(format!(
            "nested cargo build of {KERNEL_CRATE} failed with {status}"
        ));
    }
    let lib = target_dir.join("x86_64-unknown-none/release/libhermit.a");
    if !lib.is_file() {
        return Err(format!("{} was not produced", lib.display()));
    }
    Ok(lib)
}

/// A fresh copy of the kernel crate in OUT_DIR with every patch applied; its manifest.
fn patched_source(src: &Path, out_dir: &Path) -> Result<PathBuf> {
    let dest = out_dir.join("hermit-src");
    if dest.exists() {
        fs::remove_dir_all(&dest).map_err(|e| format!("{}: {e}", dest.display()))?;
    }
    copy_tree(src, &dest)?;
    for patch in patches::PATCHES {
        for edit in patch.edits {
            let path = dest.join(edit.file);
            let text = fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            let found = text.matches(edit.old).count();
            if found != 1 {
                return Err(format!(
                    "kernel patch {:?}: {}: the text to replace occurs {found} times, not once \
                     (was the kernel source changed?)",
                    patch.name, edit.file
                ));
            }
            fs::write(&path, text.replacen(edit.old, edit.new, 1))
                .map_err(|e| format!("{}: {e}", path.display()))?;
        }
    }
    // A workspace of its own: the copy lives under this crate's workspace.
    let manifest = dest.join("Cargo.toml");
    let mut text =
        fs::read_to_string(&manifest).map_err(|e| format!("{}: {e}", manifest.display()))?;
    text.push_str("\n[workspace]\n");
    fs::write(&manifest, text).map_err(|e| format!("{}: {e}", manifest.display()))?;
    Ok(manifest)
}

fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    fs::create_dir_all(to).map_err(|e| format!("{}: {e}", to.display()))?;
    for entry in fs::read_dir(from).map_err(|e| format!("{}: {e}", from.display()))? {
        let entry = entry.map_err(|e| format!("{}: {e}", from.display()))?;
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        if entry
            .file_type()
            .map_err(|e| format!("{}: {e}", src.display()))?
            .is_dir()
        {
            copy_tree(&src, &dst)?;
        } else {
            fs::copy(&src, &dst).map_err(|e| format!("{}: {e}", src.display()))?;
        }
    }
    Ok(())
}

/// Identifies the patch set in the cache stamp (FNV-1a: stable across toolchains).
fn patches_digest() -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for patch in patches::PATCHES {
        for edit in patch.edits {
            for part in [edit.file, edit.old, edit.new] {
                for b in part.bytes().chain([0xff]) {
                    h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
                }
            }
        }
    }
    h
}

/// `llvm-nm` / `llvm-objcopy` from the pinned toolchain's `llvm-tools` component.
fn llvm_tool(name: &str) -> Result<PathBuf> {
    let mut cmd = clean_command("rustc");
    cmd.args(["--print", "sysroot"]);
    let sysroot = String::from_utf8(run(&mut cmd, "rustc --print sysroot")?)
        .map_err(|_| "rustc sysroot is not UTF-8")?;
    let host = env_var("HOST")?;
    let path = Path::new(sysroot.trim()).join(format!("lib/rustlib/{host}/bin/{name}"));
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!(
            "{} not found: install it with `rustup component add llvm-tools --toolchain {TOOLCHAIN}`",
            path.display()
        ))
    }
}

/// Keeps the kernel ABI global and prefixes everything else the archive defines.
fn export_symbols(raw: &Path, dest: &Path, out_dir: &Path) -> Result<()> {
    let mut nm = Command::new(llvm_tool("llvm-nm")?);
    nm.args([
        "--defined-only",
        "--extern-only",
        "--print-file-name",
        "--format=posix",
    ])
    .arg(raw);
    let listing = String::from_utf8(run(&mut nm, "llvm-nm")?).map_err(|_| "llvm-nm: not UTF-8")?;

    let mut renames = String::new();
    let mut seen = BTreeSet::new();
    let mut exported = 0usize;
    for line in listing.lines() {
        // posix format with file names: "ARCHIVE[MEMBER]: SYMBOL TYPE VALUE SIZE"
        let Some((file, rest)) = line.split_once("]: ") else {
            continue;
        };
        let Some(symbol) = rest.split_whitespace().next() else {
            continue;
        };
        if !seen.insert(symbol.to_string()) {
            continue;
        }
        let member = file.rsplit_once('[').map(|(_, m)| m).unwrap_or("");
        let own_member = member.starts_with("hermit-");
        let keep = EXTRA_EXPORTS.contains(&symbol) || (own_member && symbol.starts_with("sys_"));
        if keep {
            exported += 1;
            continue;
        }
        let renamed = match symbol.strip_prefix("_ZN") {
            Some(rest) => format!("_ZN6hermit{rest}"),
            None => format!("hermit_{symbol}"),
        };
        renames.push_str(&format!("{symbol} {renamed}\n"));
    }
    if exported == 0 {
        return Err("no kernel symbols to export: unexpected llvm-nm output".into());
    }
    let map = out_dir.join("hermit-redefine-syms.txt");
    fs::write(&map, renames).map_err(|e| format!("{}: {e}", map.display()))?;
    let mut objcopy = Command::new(llvm_tool("llvm-objcopy")?);
    objcopy.arg("--redefine-syms").arg(&map).arg(raw).arg(dest);
    run(&mut objcopy, "llvm-objcopy")?;
    Ok(())
}

/// Sets byte 7 of every ELF member of a System V `ar` archive to 255 (standalone), as
/// Hermit's linker expects; no other byte changes.
fn set_osabi_standalone(ar: &mut [u8]) -> Result<()> {
    const MAGIC: &[u8] = b"!<arch>\n";
    const HEADER: usize = 60;
    if !ar.starts_with(MAGIC) {
        return Err("libhermit.a is not an ar archive".into());
    }
    let mut pos = MAGIC.len();
    let mut patched = 0;
    while pos < ar.len() {
        let header = ar
            .get(pos..pos + HEADER)
            .ok_or("truncated ar member header")?;
        if &header[58..60] != b"`\n" {
            return Err(format!("bad ar member header at offset {pos}"));
        }
        let size: usize = std::str::from_utf8(&header[48..58])
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .ok_or_else(|| format!("bad ar member size at offset {pos}"))?;
        let data = pos + HEADER;
        let end = data
            .checked_add(size)
            .filter(|&e| e <= ar.len())
            .ok_or("truncated ar member")?;
        if ar[data..end].starts_with(b"\x7fELF") && size > 7 {
            ar[data + 7] = 255;
            patched += 1;
        }
        pos = end + (size & 1); // members are 2-byte aligned
    }
    if patched == 0 {
        return Err("no ELF members in libhermit.a".into());
    }
    Ok(())
}

/// Just enough JSON to read `cargo metadata` (no extra build dependency).
mod json {
    pub enum Value {
        Null,
        Bool,
        Num,
        Str(String),
        Arr(Vec<Value>),
        Obj(Vec<(String, Value)>),
    }

    impl Value {
        pub fn get(&self, key: &str) -> Option<&Value> {
            match self {
                Value::Obj(fields) => fields.iter().find(|(k, _)| k == key).map(|(_, v)| v),
                _ => None,
            }
        }
        pub fn as_str(&self) -> Option<&str> {
            match self {
                Value::Str(s) => Some(s),
                _ => None,
            }
        }
        pub fn as_array(&self) -> Option<&[Value]> {
            match self {
                Value::Arr(a) => Some(a),
                _ => None,
            }
        }
    }

    pub fn parse(text: &str) -> Result<Value, String> {
        let mut p = Parser {
            s: text.as_bytes(),
            i: 0,
        };
        let v = p.value()?;
        p.ws();
        if p.i != p.s.len() {
            return Err("cargo metadata: trailing data after JSON".into());
        }
        Ok(v)
    }

    struct Parser<'a> {
        s: &'a [u8],
        i: usize,
    }

    impl Parser<'_> {
        fn err<T>(&self, what: &str) -> Result<T, String> {
            Err(format!(
                "cargo metadata: bad JSON at byte {}: {what}",
                self.i
            ))
        }
        fn ws(&mut self) {
            while self.s.get(self.i).is_some_and(|c| c.is_ascii_whitespace()) {
                self.i += 1;
            }
        }
        fn eat(&mut self, lit: &str) -> bool {
            if self.s[self.i..].starts_with(lit.as_bytes()) {
                self.i += lit.len();
                true
            } else {
                false
            }
        }
        fn value(&mut self) -> Result<Value, String> {
            self.ws();
            match self.s.get(self.i) {
                Some(b'{') => {
                    self.i += 1;
                    let mut fields = Vec::new();
                    self.ws();
                    if self.eat("}") {
                        return Ok(Value::Obj(fields));
                    }
                    loop {
                        self.ws();
                        let key = self.string()?;
                        self.ws();
                        if !self.eat(":") {
                            return self.err("expected ':'");
                        }
                        fields.push((key, self.value()?));
                        self.ws();
                        if self.eat("}") {
                            return Ok(Value::Obj(fields));
                        }
                        if !self.eat(",") {
                            return self.err("expected ',' or '}'");
                        }
                    }
                }
                Some(b'[') => {
                    self.i += 1;
                    let mut items = Vec::new();
                    self.ws();
                    if self.eat("]") {
                        return Ok(Value::Arr(items));
                    }
                    loop {
                        items.push(self.value()?);
                        self.ws();
                        if self.eat("]") {
                            return Ok(Value::Arr(items));
                        }
                        if !self.eat(",") {
                            return self.err("expected ',' or ']'");
                        }
                    }
                }
                Some(b'"') => Ok(Value::Str(self.string()?)),
                Some(_) if self.eat("null") => Ok(Value::Null),
                Some(_) if self.eat("true") => Ok(Value::Bool),
                Some(_) if self.eat("false") => Ok(Value::Bool),
                Some(c) if *c == b'-' || c.is_ascii_digit() => {
                    while self
                        .s
                        .get(self.i)
                        .is_some_and(|c| c.is_ascii_digit() || b"+-.eE".contains(c))
                    {
                        self.i += 1;
                    }
                    Ok(Value::Num)
                }
                _ => self.err("unexpected character"),
            }
        }
        fn string(&mut self) -> Result<String, String> {
            if !self.eat("\"") {
                return self.err("expected string");
            }
            let mut out = Vec::new();
            loop {
                let Some(&c) = self.s.get(self.i) else {
                    return self.err("unterminated string");
                };
                self.i += 1;
                match c {
                    b'"' => break,
                    b'\\' => {
                        let Some(&e) = self.s.get(self.i) else {
                            return self.err("bad escape");
                        };
                        self.i += 1;
                        match e {
                            b'n' => out.push(b'\n'),
                            b't' => out.push(b'\t'),
                            b'r' => out.push(b'\r'),
                            b'b' => out.push(8),
                            b'f' => out.push(12),
                            b'u' => {
                                let hex = self.s.get(self.i..self.i + 4).ok_or("bad \\u escape")?;
                                let hex = std::str::from_utf8(hex).map_err(|_| "bad \\u escape")?;
                                let code = u32::from_str_radix(hex, 16).map_err(|_| "bad \\u")?;
                                self.i += 4;
                                let ch = char::from_u32(code).unwrap_or('\u{fffd}');
                                out.extend_from_slice(ch.to_string().as_bytes());
                            }
                            other => out.push(other),
                        }
                    }
                    c => out.push(c),
                }
            }
            String::from_utf8(out).or_else(|_| self.err("string is not UTF-8"))
        }
    }
}
