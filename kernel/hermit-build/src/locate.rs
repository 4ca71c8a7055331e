//! Where cargo unpacked the kernel source.

use std::path::{Path, PathBuf};

use crate::nested::{clean_command, run};
use crate::{Error, Result, KERNEL_CRATE, KERNEL_VERSION};

/// The kernel's `Cargo.toml` in cargo's copy of the registry crate, as `cargo
/// metadata` reports it for the workspace of `manifest_dir`.
pub fn kernel_manifest(manifest_dir: &Path) -> Result<PathBuf> {
    let mut cmd = clean_command("cargo");
    cmd.current_dir(manifest_dir)
        .args(["metadata", "--format-version", "1", "--locked"]);
    let stdout = run(&mut cmd, "cargo metadata")?;
    find_package(&stdout, KERNEL_CRATE, KERNEL_VERSION)
}

/// The manifest path of package `name` `version` in `cargo metadata` output.
pub fn find_package(metadata: &[u8], name: &str, version: &str) -> Result<PathBuf> {
    let json: serde_json::Value =
        serde_json::from_slice(metadata).map_err(|e| Error::Metadata(e.to_string()))?;
    let packages = json["packages"]
        .as_array()
        .ok_or_else(|| Error::Metadata("no package list".into()))?;
    let pkg = packages
        .iter()
        .find(|p| p["name"] == name && p["version"] == version)
        .ok_or_else(|| {
            Error::Metadata(format!(
                "{name} {version} is not a dependency of this workspace"
            ))
        })?;
    let path = pkg["manifest_path"]
        .as_str()
        .ok_or_else(|| Error::Metadata(format!("{name}: no manifest_path")))?;
    Ok(PathBuf::from(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"{"packages":[
        {"name":"hermit-kernel","version":"0.10.0","manifest_path":"/old/Cargo.toml"},
        {"name":"hermit-kernel","version":"0.11.0","manifest_path":"/r\u00e9g/k 1/Cargo.toml"}
    ],"version":1}"#;

    #[test]
    fn finds_the_pinned_version() {
        let p = find_package(SAMPLE.as_bytes(), "hermit-kernel", "0.11.0").unwrap();
        assert_eq!(p, Path::new("/rég/k 1/Cargo.toml"));
    }

    #[test]
    fn a_missing_package_or_bad_json_is_an_error() {
        let e = find_package(SAMPLE.as_bytes(), "hermit-kernel", "0.12.0").unwrap_err();
        assert!(e.to_string().contains("0.12.0"), "{e}");
        assert!(find_package(b"{\"packages\": 3}", "a", "1").is_err());
        assert!(find_package(b"not json", "a", "1").is_err());
    }
}
