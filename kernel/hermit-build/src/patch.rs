//! The kernel patches: unified diffs (`--- a/PATH`, `+++ b/PATH`, hunks), one or more
//! files each, with free text before the first file as the description. New files
//! come from `--- /dev/null`. Applied with `diffy`; a hunk whose context is not in
//! the file fails the build, so a changed kernel source is never patched wrongly.

use std::fs;
use std::path::{Component, Path, PathBuf};

use crate::error::io;
use crate::{Error, Result};

/// One file's part of a patch.
#[derive(Debug, Clone)]
pub struct FileDiff {
    /// Relative to the crate root, `/`-separated.
    pub path: String,
    /// Whether the file is created (`--- /dev/null`).
    pub new_file: bool,
    /// The `---`/`+++` lines and the hunks.
    pub diff: String,
}

/// One `.patch` file.
#[derive(Debug, Clone)]
pub struct Patch {
    pub name: String,
    pub text: String,
    pub files: Vec<FileDiff>,
}

impl Patch {
    pub fn parse(name: &str, text: &str) -> Result<Self> {
        let err = |why: String| Error::Patch {
            patch: name.to_string(),
            why,
        };
        let lines: Vec<&str> = text.split_inclusive('\n').collect();
        let starts: Vec<usize> = (0..lines.len().saturating_sub(1))
            .filter(|&i| lines[i].starts_with("--- ") && lines[i + 1].starts_with("+++ "))
            .collect();
        if starts.is_empty() {
            return Err(err("no `--- a/PATH` / `+++ b/PATH` file header".into()));
        }
        let mut files = Vec::new();
        for (k, &start) in starts.iter().enumerate() {
            let end = starts.get(k + 1).copied().unwrap_or(lines.len());
            let old = lines[start][4..].trim_end();
            let new = lines[start + 1][4..].trim_end();
            let path = new
                .strip_prefix("b/")
                .ok_or_else(|| err(format!("`+++ {new}`: expected `+++ b/PATH`")))?;
            let new_file = old == "/dev/null";
            if !new_file && old.strip_prefix("a/") != Some(path) {
                return Err(err(format!("`--- {old}` and `+++ {new}` name different files")));
            }
            let safe = Path::new(path)
                .components()
                .all(|c| matches!(c, Component::Normal(_)));
            if path.is_empty() || !safe {
                return Err(err(format!("{path:?}: not a relative path inside the crate")));
            }
            let diff: String = lines[start..end].concat();
            // Parse now, so a malformed patch fails before anything is copied.
            diffy::Patch::from_str(&diff).map_err(|e| err(format!("{path}: {e}")))?;
            files.push(FileDiff {
                path: path.to_string(),
                new_file,
                diff,
            });
        }
        Ok(Self {
            name: name.to_string(),
            text: text.to_string(),
            files,
        })
    }

    /// Applies this patch's part for `file` to `base`.
    pub fn apply_to(&self, file: &FileDiff, base: &str) -> Result<String> {
        let diff = diffy::Patch::from_str(&file.diff).map_err(|e| self.error(file, e))?;
        diffy::apply(base, &diff).map_err(|e| Error::Patch {
            patch: self.name.clone(),
            why: format!(
                "{}: {e}: its context is not in the file (was the kernel source changed?)",
                file.path
            ),
        })
    }

    fn error(&self, file: &FileDiff, e: impl std::fmt::Display) -> Error {
        Error::Patch {
            patch: self.name.clone(),
            why: format!("{}: {e}", file.path),
        }
    }

    /// Applies every file of this patch under `root`.
    pub fn apply_in(&self, root: &Path) -> Result<()> {
        for file in &self.files {
            let path = root.join(&file.path);
            let base = if file.new_file {
                if path.exists() {
                    return Err(self.error(file, "creates a file that already exists"));
                }
                String::new()
            } else {
                io(&path, fs::read_to_string(&path))?
            };
            let patched = self.apply_to(file, &base)?;
            if let Some(dir) = path.parent() {
                io(dir, fs::create_dir_all(dir))?;
            }
            io(&path, fs::write(&path, patched))?;
        }
        Ok(())
    }
}

/// The patches of a folder, in file-name order.
#[derive(Debug, Clone)]
pub struct PatchSet {
    dir: PathBuf,
    pub patches: Vec<Patch>,
}

impl PatchSet {
    /// Every `*.patch` in `dir`.
    pub fn load(dir: &Path) -> Result<Self> {
        let mut names = Vec::new();
        for entry in io(dir, fs::read_dir(dir))? {
            let name = io(dir, entry)?.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.ends_with(".patch") {
                names.push(name.to_string());
            }
        }
        names.sort();
        let mut patches = Vec::new();
        for name in names {
            let path = dir.join(&name);
            patches.push(Patch::parse(&name, &io(&path, fs::read_to_string(&path))?)?);
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            patches,
        })
    }

    pub fn files(&self) -> Vec<PathBuf> {
        self.patches.iter().map(|p| self.dir.join(&p.name)).collect()
    }

    /// Identifies the patch set in a cache stamp (FNV-1a: stable across toolchains).
    pub fn digest(&self) -> u64 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for p in &self.patches {
            for b in p.name.bytes().chain([0xff]).chain(p.text.bytes()).chain([0xff]) {
                h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
            }
        }
        h
    }

    pub fn apply_in(&self, root: &Path) -> Result<()> {
        self.patches.iter().try_for_each(|p| p.apply_in(root))
    }
}

/// A fresh copy of the crate at `src` in `dest` with every patch applied, made a
/// workspace of its own (it lives inside the caller's).
pub fn patched_copy(src: &Path, dest: &Path, patches: &PatchSet) -> Result<PathBuf> {
    if dest.exists() {
        io(dest, fs::remove_dir_all(dest))?;
    }
    copy_tree(src, dest)?;
    patches.apply_in(dest)?;
    let manifest = dest.join("Cargo.toml");
    let mut text = io(&manifest, fs::read_to_string(&manifest))?;
    text.push_str("\n[workspace]\n");
    io(&manifest, fs::write(&manifest, text))?;
    Ok(manifest)
}

fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    io(to, fs::create_dir_all(to))?;
    for entry in io(from, fs::read_dir(from))? {
        let entry = io(from, entry)?;
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        if io(&src, entry.file_type())?.is_dir() {
            copy_tree(&src, &dst)?;
        } else {
            io(&src, fs::copy(&src, &dst))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
