//! Test repositories and images (feature `images`, host only): Git repositories made
//! with stock `git` (`fast-import`, so any byte can be in a name) and gitfs images made
//! from them with `git pack-objects` + `git index-pack`, independently of the imager.

use std::fmt::Write as _;
use std::format;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::string::{String, ToString};
use std::sync::atomic::{AtomicU64, Ordering};
use std::vec::Vec;

use gitfs_format::{Header, ObjectId};

/// One path of a generated commit.
pub struct Entry {
    pub path: Vec<u8>,
    /// Git mode: 100644, 100755, 120000 or 160000.
    pub mode: u32,
    /// Content (the target for a symlink, 40 hex digits for a submodule).
    pub data: Vec<u8>,
}

impl Entry {
    pub fn file(path: impl AsRef<[u8]>, data: &[u8]) -> Entry {
        Self::new(path, 0o100644, data)
    }
    pub fn exec(path: impl AsRef<[u8]>, data: &[u8]) -> Entry {
        Self::new(path, 0o100755, data)
    }
    pub fn symlink(path: impl AsRef<[u8]>, target: &str) -> Entry {
        Self::new(path, 0o120000, target.as_bytes())
    }
    pub fn submodule(path: impl AsRef<[u8]>, commit_hex: &str) -> Entry {
        Self::new(path, 0o160000, commit_hex.as_bytes())
    }
    fn new(path: impl AsRef<[u8]>, mode: u32, data: &[u8]) -> Entry {
        Entry {
            path: path.as_ref().to_vec(),
            mode,
            data: data.to_vec(),
        }
    }
}

/// A bare repository in a temporary directory, removed on drop.
pub struct Repo {
    dir: PathBuf,
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// C-style quoting as `git fast-import` reads it.
fn quote(path: &[u8]) -> String {
    let mut s = String::from("\"");
    for &b in path {
        match b {
            b'"' => s.push_str("\\\""),
            b'\\' => s.push_str("\\\\"),
            0x20..=0x7E => s.push(b as char),
            _ => {
                let _ = write!(s, "\\{b:03o}");
            }
        }
    }
    s.push('"');
    s
}

impl Repo {
    /// A repository whose `HEAD` is one commit holding exactly `entries`.
    pub fn new(entries: &[Entry]) -> Result<Repo, String> {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!(
            "gitfs-kernel-repo-{}-{n}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0)
        ));
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let repo = Repo { dir };
        repo.git(&["init", "-q", "--bare"], None)?;
        let mut stream = Vec::new();
        stream.extend_from_slice(
            b"commit refs/heads/main\ncommitter T <t@example.org> 1700000000 +0000\ndata 5\ntest\n",
        );
        for e in entries {
            let path = quote(&e.path);
            if e.mode == 0o160000 {
                let hex = String::from_utf8_lossy(&e.data);
                stream.extend_from_slice(format!("M 160000 {hex} {path}\n").as_bytes());
            } else {
                stream.extend_from_slice(
                    format!("M {:o} inline {path}\ndata {}\n", e.mode, e.data.len()).as_bytes(),
                );
                stream.extend_from_slice(&e.data);
                stream.push(b'\n');
            }
        }
        stream.extend_from_slice(b"\n");
        repo.git(&["fast-import", "--quiet"], Some(&stream))?;
        repo.git(&["symbolic-ref", "HEAD", "refs/heads/main"], None)?;
        Ok(repo)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Runs git in the repository; stdout on success.
    pub fn git(&self, args: &[&str], stdin: Option<&[u8]>) -> Result<Vec<u8>, String> {
        crate::git::try_run(&self.dir, args, stdin)
    }

    pub fn git_text(&self, args: &[&str]) -> Result<String, String> {
        self.git(args, None)
            .map(|o| String::from_utf8_lossy(&o).into_owned())
    }

    /// A gitfs image of `HEAD`.
    pub fn image(&self) -> Result<Vec<u8>, String> {
        self.image_with(None, &[])
    }

    /// An image whose PACK lacks the objects `missing` (hex ids).
    pub fn image_without(&self, missing: &[&str]) -> Result<Vec<u8>, String> {
        self.image_with(None, missing)
    }

    /// An image of `HEAD`, with zlib `level` (None: git's default), leaving out `missing`.
    pub fn image_with(&self, level: Option<u32>, missing: &[&str]) -> Result<Vec<u8>, String> {
        image_of(&self.dir, level, missing)
    }
}

/// A gitfs image of `HEAD` of the repository at `dir`, made with git alone (so it holds
/// whatever git stores, names the imager would refuse included), with zlib `level`
/// (None: git's default), leaving out the objects `missing` (hex ids).
pub fn image_of(dir: &Path, level: Option<u32>, missing: &[&str]) -> Result<Vec<u8>, String> {
    let git = |args: &[&str], input: Option<&[u8]>| crate::git::try_run(dir, args, input);
    let hex = |args: &[&str]| {
        let out = git(args, None)?;
        let s = String::from_utf8_lossy(&out);
        ObjectId::from_hex(s.trim().as_bytes()).ok_or(format!("bad id {:?}", s.trim()))
    };
    let commit = hex(&["rev-parse", "HEAD^{commit}"])?;
    let tree = hex(&["rev-parse", "HEAD^{tree}"])?;
    let list = git(&["rev-list", "--objects", "--no-walk", "HEAD"], None)?;
    let mut wanted = Vec::new();
    let mut count = 0u64;
    for line in list.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        if missing.iter().any(|m| line.starts_with(m.as_bytes())) {
            continue;
        }
        wanted.extend_from_slice(line);
        wanted.push(b'\n');
        count += 1;
    }
    let level = level.map(|l| format!("pack.compression={l}"));
    let mut args = Vec::new();
    if let Some(l) = &level {
        args.extend(["-c", l.as_str()]);
    }
    args.extend(["pack-objects", "-q", "--stdout", "--delta-base-offset"]);
    let pack = git(&args, Some(&wanted))?;
    let pack_path = dir.join("image-build.pack");
    let idx_path = dir.join("image-build.idx");
    std::fs::write(&pack_path, &pack).map_err(|e| e.to_string())?;
    let (idx_arg, pack_arg) = (idx_path.to_string_lossy(), pack_path.to_string_lossy());
    git(&["index-pack", "-o", &idx_arg, &pack_arg], None)?;
    let idx = std::fs::read(&idx_path).map_err(|e| e.to_string())?;
    let _ = std::fs::remove_file(&pack_path);
    let _ = std::fs::remove_file(&idx_path);
    let header = Header::new(
        commit,
        tree,
        "HEAD",
        count,
        pack.len() as u64,
        idx.len() as u64,
    )
    .map_err(|e| e.to_string())?;
    Ok(header.assemble(&pack, &idx))
}

impl Drop for Repo {
    fn drop(&mut self) {
        if self
            .dir
            .as_os_str()
            .as_bytes()
            .starts_with(std::env::temp_dir().as_os_str().as_bytes())
        {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// The content of [`corrupt_image`]'s damaged file.
pub const CORRUPT_MARKER: &[u8] = b"MARKER-0123456789-MARKER";

/// An image with a file `name` whose stored bytes (kept uncompressed, so they still
/// inflate) have one bit flipped, and a file `ok` holding `fine`: reading `name` must
/// fail its SHA-1 check and never give bytes; `ok` still reads.
pub fn corrupt_image(name: &str) -> Result<Vec<u8>, String> {
    let marker = CORRUPT_MARKER.repeat(10);
    let repo = Repo::new(&[Entry::file(name, &marker), Entry::file("ok", b"fine")])?;
    let mut img = repo.image_with(Some(0), &[])?;
    let at = img
        .windows(marker.len())
        .position(|w| w == &marker[..])
        .ok_or("marker not stored verbatim")?;
    img[at + 5] ^= 0x20;
    Ok(img)
}

/// Deterministic pseudo-random bytes for test file contents.
pub use crate::noise;
