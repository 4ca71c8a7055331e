//! Accelerator choice: TCG always works; KVM only where a probe boot proves it.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// What the person asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AccelMode {
    #[default]
    Tcg,
    Kvm,
    /// KVM if `/dev/kvm` exists and a probe boot reaches the ready line, else TCG.
    Auto,
}

/// What QEMU is started with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accel {
    Tcg,
    Kvm,
}

impl fmt::Display for Accel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Accel::Tcg => "tcg",
            Accel::Kvm => "kvm",
        })
    }
}

impl FromStr for AccelMode {
    type Err = crate::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "tcg" => Ok(AccelMode::Tcg),
            "kvm" => Ok(AccelMode::Kvm),
            "auto" => Ok(AccelMode::Auto),
            _ => Err(crate::Error::InvalidOption(format!(
                "accel {s:?}: expected tcg, kvm or auto"
            ))),
        }
    }
}

/// Where the probe verdict is cached (one line: `KEY VERDICT`).
pub fn verdict_cache_path() -> PathBuf {
    std::env::temp_dir().join("gitfs-qemu-kvm-verdict")
}

/// Identifies what the verdict depends on: QEMU binary and both images (size + mtime).
pub fn verdict_key(files: &[&Path]) -> String {
    files
        .iter()
        .map(|p| match std::fs::metadata(p) {
            Ok(m) => {
                let mtime = m
                    .modified()
                    .ok()
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map_or(0, |d| d.as_nanos());
                format!("{}:{}:{}", p.display(), m.len(), mtime)
            }
            Err(_) => format!("{}:?", p.display()),
        })
        .collect::<Vec<_>>()
        .join("|")
        .replace(char::is_whitespace, "_")
}

/// A cached verdict for this key, if any.
pub fn cached_verdict(cache: &Path, key: &str) -> Option<Accel> {
    let text = std::fs::read_to_string(cache).ok()?;
    let (k, v) = text.trim_end().rsplit_once(' ')?;
    if k != key {
        return None;
    }
    match v {
        "kvm" => Some(Accel::Kvm),
        "tcg" => Some(Accel::Tcg),
        _ => None,
    }
}

/// Best effort: a lost cache only costs another probe.
pub fn store_verdict(cache: &Path, key: &str, accel: Accel) {
    let tmp = cache.with_extension(format!("tmp{}", std::process::id()));
    if std::fs::write(&tmp, format!("{key} {accel}\n")).is_ok() {
        let _ = std::fs::rename(&tmp, cache);
    }
}

/// Resolves the mode; `probe` boots once under KVM and says whether the ready line came.
pub fn resolve(
    mode: AccelMode,
    kvm_device: &Path,
    cache: Option<(&Path, &str)>,
    probe: impl FnOnce() -> bool,
) -> Accel {
    match mode {
        AccelMode::Tcg => Accel::Tcg,
        AccelMode::Kvm => Accel::Kvm,
        AccelMode::Auto => {
            if !kvm_device.exists() {
                return Accel::Tcg;
            }
            if let Some(v) = cache.and_then(|(path, key)| cached_verdict(path, key)) {
                return v;
            }
            let verdict = if probe() { Accel::Kvm } else { Accel::Tcg };
            if let Some((path, key)) = cache {
                store_verdict(path, key, verdict);
            }
            verdict
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    fn tmp(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("gitfs-qemu-test-{}-{name}", std::process::id()))
    }

    #[test]
    fn explicit_modes_never_probe() {
        let dev = Path::new("/");
        assert_eq!(resolve(AccelMode::Tcg, dev, None, || panic!()), Accel::Tcg);
        assert_eq!(resolve(AccelMode::Kvm, dev, None, || panic!()), Accel::Kvm);
    }

    #[test]
    fn auto_without_device_is_tcg() {
        let dev = Path::new("/nonexistent/kvm");
        assert_eq!(resolve(AccelMode::Auto, dev, None, || panic!()), Accel::Tcg);
    }

    #[test]
    fn auto_probes_once_and_caches() {
        let cache = tmp("verdict");
        let _ = std::fs::remove_file(&cache);
        let calls = Cell::new(0);
        let dev = Path::new("/");
        for _ in 0..3 {
            let v = resolve(AccelMode::Auto, dev, Some((&cache, "k1")), || {
                calls.set(calls.get() + 1);
                false
            });
            assert_eq!(v, Accel::Tcg);
        }
        assert_eq!(calls.get(), 1);
        // Another key (new kernel) probes again.
        let v = resolve(AccelMode::Auto, dev, Some((&cache, "k2")), || true);
        assert_eq!(v, Accel::Kvm);
        assert_eq!(cached_verdict(&cache, "k2"), Some(Accel::Kvm));
        assert_eq!(cached_verdict(&cache, "k1"), None);
        let _ = std::fs::remove_file(&cache);
    }

    #[test]
    fn parse_mode() {
        assert_eq!("auto".parse::<AccelMode>().ok(), Some(AccelMode::Auto));
        assert!("hvf".parse::<AccelMode>().is_err());
    }
}
