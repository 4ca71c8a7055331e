//! Test helpers: build Git repositories with stock `git` and wrap packs into images.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use std::sync::atomic::{AtomicU32, Ordering};

use gitfs_format::{Header, ObjectId};

pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicU32 = AtomicU32::new(0);
        let p = std::env::temp_dir().join(format!(
            "gitfs-format-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn git(dir: &Path, args: &[&str]) -> Vec<u8> {
    gitfs_testkit::git::run(dir, args)
}

pub fn git_in(dir: &Path, args: &[&str], input: Option<&[u8]>) -> Vec<u8> {
    gitfs_testkit::git::try_run(dir, args, input).unwrap_or_else(|e| panic!("{e}"))
}

fn lcg(seed: &mut u64) -> u64 {
    *seed = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    *seed >> 33
}

/// A repository with history that makes git produce long delta chains: a file grown
/// over `commits` commits, near-identical files, binaries, an executable, a symlink and
/// nested directories.
pub fn make_repo(dir: &Path, commits: usize) -> ObjectId {
    git(dir, &["init", "-q", "-b", "main"]);
    let mut seed = 42u64;
    std::fs::create_dir_all(dir.join("src/deep/er")).unwrap();
    let mut log = String::new();
    // A file where each commit rewrites two random lines: each version is closest to
    // its neighbours, so git chains them (depth up to --depth).
    let mut lines: Vec<String> = (0..300)
        .map(|i| format!("{i} {:016x}\n", lcg(&mut seed)))
        .collect();
    for c in 0..commits {
        for _ in 0..2 {
            let i = (lcg(&mut seed) % lines.len() as u64) as usize;
            lines[i] = format!("{i} {:016x} changed in {c}\n", lcg(&mut seed));
        }
        std::fs::write(dir.join("mutating.txt"), lines.concat()).unwrap();
        log.push_str(&format!(
            "line {c}: the quick brown fox jumps over the lazy dog {}\n",
            c * 7
        ));
        std::fs::write(dir.join("growing.txt"), &log).unwrap();
        // Near-identical files: same body, different first line.
        for k in 0..3 {
            std::fs::write(
                dir.join(format!("src/near{k}.txt")),
                format!("variant {k} {c}\n{log}"),
            )
            .unwrap();
        }
        if c % 10 == 0 {
            let bin: Vec<u8> = (0..20_000).map(|_| lcg(&mut seed) as u8).collect();
            std::fs::write(dir.join(format!("src/deep/er/blob{c}.bin")), bin).unwrap();
        }
        if c == 1 {
            std::fs::write(dir.join("run.sh"), "#!/bin/sh\necho hi\n").unwrap();
            let mut p = std::fs::metadata(dir.join("run.sh")).unwrap().permissions();
            std::os::unix::fs::PermissionsExt::set_mode(&mut p, 0o755);
            std::fs::set_permissions(dir.join("run.sh"), p).unwrap();
            std::os::unix::fs::symlink("growing.txt", dir.join("link")).unwrap();
            std::fs::write(dir.join("empty"), "").unwrap();
        }
        git(dir, &["add", "-A"]);
        git(dir, &["commit", "-q", "-m", &format!("commit {c}")]);
    }
    let head = git(dir, &["rev-parse", "HEAD"]);
    ObjectId::from_hex(head.trim_ascii()).unwrap()
}

/// Runs `git pack-objects` over all objects; returns (pack bytes, idx bytes).
pub fn pack_all(dir: &Path, extra: &[&str]) -> (Vec<u8>, Vec<u8>) {
    let objects = git(dir, &["rev-list", "--objects", "--all"]);
    let out = dir.join("out");
    std::fs::create_dir_all(&out).unwrap();
    let base = out.join("p");
    let mut args = vec!["pack-objects", "-q", "--window=50", "--depth=50"];
    args.extend_from_slice(extra);
    let base_s = base.to_str().unwrap().to_string();
    args.push(&base_s);
    let sha = git_in(dir, &args, Some(&objects));
    let sha = String::from_utf8(sha).unwrap();
    let sha = sha.trim();
    let pack = std::fs::read(format!("{base_s}-{sha}.pack")).unwrap();
    let idx = std::fs::read(format!("{base_s}-{sha}.idx")).unwrap();
    (pack, idx)
}

fn pad(v: &mut Vec<u8>, to: u64) {
    v.resize(to as usize, 0);
}

/// Our image layout around a PACK and IDX.
pub fn make_image(commit: ObjectId, tree: ObjectId, pack: &[u8], idx: &[u8]) -> Vec<u8> {
    let count = u32::from_be_bytes(pack[8..12].try_into().unwrap());
    let h = Header::new(
        commit,
        tree,
        "refs/heads/main",
        count.into(),
        pack.len() as u64,
        idx.len() as u64,
    )
    .unwrap();
    h.assemble(pack, idx)
}

/// docteur's layout: commit id, IDX offset (u64 LE), PACK, zero padding to the block
/// size (always at least one byte), IDX, padding.
pub fn make_docteur_image(commit: ObjectId, pack: &[u8], idx: &[u8], block: u64) -> Vec<u8> {
    let mut img = commit.0.to_vec();
    let top = 28 + pack.len() as u64;
    let idx_offset = top + (block - top % block);
    img.extend_from_slice(&idx_offset.to_le_bytes());
    img.extend_from_slice(pack);
    pad(&mut img, idx_offset);
    img.extend_from_slice(idx);
    let top = img.len() as u64;
    pad(&mut img, top + (block - top % block));
    img
}

/// All objects as `git cat-file --batch` prints them: (id, type, data).
pub fn cat_all(dir: &Path, ids: &[ObjectId]) -> Vec<(ObjectId, String, Vec<u8>)> {
    let input: String = ids.iter().map(|id| format!("{id}\n")).collect();
    let out = git_in(dir, &["cat-file", "--batch"], Some(input.as_bytes()));
    let mut res = Vec::new();
    let mut rest = &out[..];
    while !rest.is_empty() {
        let nl = rest.iter().position(|&b| b == b'\n').unwrap();
        let line = std::str::from_utf8(&rest[..nl]).unwrap();
        let parts: Vec<&str> = line.split(' ').collect();
        let size: usize = parts[2].parse().unwrap();
        let data = rest[nl + 1..nl + 1 + size].to_vec();
        res.push((
            ObjectId::from_hex(parts[0].as_bytes()).unwrap(),
            parts[1].to_string(),
            data,
        ));
        rest = &rest[nl + 1 + size + 1..];
    }
    res
}
