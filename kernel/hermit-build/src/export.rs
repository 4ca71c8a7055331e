//! Keeps the kernel ABI global and renames everything else the archive defines, so
//! that the kernel's own copies of core, alloc and compiler-builtins never clash with
//! the app's.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;
use std::process::Command;

use crate::error::io;
use crate::nested::{llvm_tool, run};
use crate::{Error, Result};

/// Symbols the app links against besides the `sys_*` calls.
pub const EXTRA_EXPORTS: [&str; 4] = ["_start", "__bss_start", "mcount", "runtime_entry"];

/// Writes `dest`: `raw` with every defined global symbol renamed except the ABI.
/// `map` receives the rename list.
pub fn export_kernel_abi(raw: &Path, dest: &Path, map: &Path) -> Result<()> {
    let mut nm = Command::new(llvm_tool("llvm-nm")?);
    nm.args([
        "--defined-only",
        "--extern-only",
        "--print-file-name",
        "--format=posix",
    ])
    .arg(raw);
    let listing = String::from_utf8(run(&mut nm, "llvm-nm")?)
        .map_err(|_| Error::Export("llvm-nm printed bytes that are not UTF-8".into()))?;
    let renames = renames(&listing)?;
    io(map, fs::write(map, renames))?;
    let mut objcopy = Command::new(llvm_tool("llvm-objcopy")?);
    objcopy.arg("--redefine-syms").arg(map).arg(raw).arg(dest);
    run(&mut objcopy, "llvm-objcopy")?;
    Ok(())
}

/// The `--redefine-syms` list for an `llvm-nm --print-file-name --format=posix`
/// listing: one "OLD NEW" line per symbol that is not part of the kernel ABI. The ABI
/// is the `sys_*` functions of the kernel's own objects (members named `hermit-*`)
/// and [`EXTRA_EXPORTS`].
pub fn renames(listing: &str) -> Result<String> {
    let mut out = String::new();
    let mut seen = BTreeSet::new();
    let mut exported = 0usize;
    for line in listing.lines() {
        // "ARCHIVE[MEMBER]: SYMBOL TYPE VALUE SIZE"
        let Some((file, rest)) = line.split_once("]: ") else {
            continue;
        };
        let Some(symbol) = rest.split_whitespace().next() else {
            continue;
        };
        if !seen.insert(symbol) {
            continue;
        }
        let member = file.rsplit_once('[').map_or("", |(_, m)| m);
        let own = member.starts_with("hermit-");
        if EXTRA_EXPORTS.contains(&symbol) || (own && symbol.starts_with("sys_")) {
            exported += 1;
            continue;
        }
        let renamed = match symbol.strip_prefix("_ZN") {
            Some(rest) => format!("_ZN6hermit{rest}"),
            None => format!("hermit_{symbol}"),
        };
        out.push_str(symbol);
        out.push(' ');
        out.push_str(&renamed);
        out.push('\n');
    }
    if exported == 0 {
        return Err(Error::Export(
            "no kernel symbols to export: unexpected llvm-nm output".into(),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LISTING: &str = "\
/t/libhermit.a[hermit-abc.o]: sys_open T 10 20
/t/libhermit.a[hermit-abc.o]: _ZN4core3fmt5write17h T 30 5
/t/libhermit.a[hermit-abc.o]: runtime_entry T 40 5
/t/libhermit.a[compiler_builtins-1.o]: memcpy T 0 9
/t/libhermit.a[compiler_builtins-1.o]: sys_not_ours T 0 9
/t/libhermit.a[compiler_builtins-1.o]: memcpy T 0 9
";

    #[test]
    fn keeps_the_abi_and_renames_the_rest() {
        let r = renames(LISTING).unwrap();
        assert_eq!(
            r,
            "_ZN4core3fmt5write17h _ZN6hermit4core3fmt5write17h\n\
             memcpy hermit_memcpy\n\
             sys_not_ours hermit_sys_not_ours\n"
        );
    }

    #[test]
    fn a_listing_without_the_abi_is_an_error() {
        assert!(renames("garbage\n/t/x.a[a.o]: memcpy T 0 1\n").is_err());
    }
}
