//! Reading images back: `verify`, `info`, `ls`, `cat`.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use gitfs_format::header::Layout;
use gitfs_format::object::EntryMode;
use gitfs_format::pack::EntryKind;
use gitfs_format::{delta, Commit, Image, ObjectId, ObjectKind};
use serde_json::json;
use thiserror::Error;

use gitfs_format::FileDevice;

/// An image file opened for reading.
pub type ImageFile = Image<FileDevice>;

#[derive(Debug, Error)]
pub enum InspectError {
    #[error("cannot open {path}: {source}")]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a readable image: {source}")]
    NotImage {
        path: PathBuf,
        source: gitfs_format::Error,
    },
    #[error("{0}")]
    Format(#[from] gitfs_format::Error),
    #[error("{what}: {source}")]
    At {
        what: String,
        source: gitfs_format::Error,
    },
    #[error("path not found: {0}")]
    NotFound(String),
    #[error("{0} is a directory")]
    IsDirectory(String),
    #[error("{0} is a submodule (its commit is not in the image)")]
    Submodule(String),
    #[error("{0}")]
    Problem(String),
    #[error("write: {0}")]
    Io(#[from] std::io::Error),
}

fn at(what: impl Into<String>) -> impl FnOnce(gitfs_format::Error) -> InspectError {
    let what = what.into();
    move |source| InspectError::At { what, source }
}

/// Opens and checks the header and IDX of the image at `path`.
pub fn open(path: &Path) -> Result<ImageFile, InspectError> {
    let dev = FileDevice::open(path).map_err(|source| InspectError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    Image::open(dev).map_err(|source| InspectError::NotImage {
        path: path.to_path_buf(),
        source,
    })
}

/// What `verify` found (everything checked out).
#[derive(Clone, Debug)]
pub struct VerifyReport {
    pub commit: ObjectId,
    pub tree: ObjectId,
    pub author: String,
    pub message: String,
    pub objects: usize,
    pub reachable: usize,
    pub pack_checksum: String,
}

impl VerifyReport {
    pub fn to_text(&self) -> String {
        let mut s = format!(
            "commit\t: {}\nauthor\t: {}\nroot\t: {}\n\n",
            self.commit, self.author, self.tree
        );
        for line in self.message.trim_end().lines() {
            s.push_str(&format!("\t{line}\n"));
        }
        s.push_str(&format!(
            "\nok: {} objects, {} reachable from the commit, PACK {}\n",
            self.objects, self.reachable, self.pack_checksum
        ));
        s
    }

    pub fn to_json(&self) -> serde_json::Value {
        json!({
            "ok": true,
            "commit": self.commit.to_string(),
            "tree": self.tree.to_string(),
            "author": self.author,
            "message": self.message,
            "objects": self.objects,
            "reachable": self.reachable,
            "pack_checksum": self.pack_checksum,
        })
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Checks everything: header (checked by `open`), IDX checksum, the PACK entry by
/// entry and its checksum, the IDX against the PACK, every object's SHA-1, and that
/// the commit's whole tree is present. Fails on the first problem.
pub fn verify(img: &mut ImageFile) -> Result<VerifyReport, InspectError> {
    let header = img.header().clone();
    let index_len = img.index().len();
    // The format's own check: IDX, PACK scanned without the IDX, every object's SHA-1.
    let mut kinds: HashMap<ObjectId, ObjectKind> = HashMap::with_capacity(index_len);
    let pack = img
        .verify_with(|id, kind| {
            kinds.insert(id, kind);
        })
        .map_err(at("verify"))?;
    let pack_sum = pack.pack_checksum;
    // The commit and its whole tree.
    let want =
        |kinds: &HashMap<ObjectId, ObjectKind>, id: ObjectId, kind: ObjectKind, what: &str| {
            match kinds.get(&id) {
                Some(&k) if k == kind => Ok(()),
                Some(&k) => Err(InspectError::Problem(format!(
                    "{what} {id} is a {}, not a {}",
                    k.as_str(),
                    kind.as_str()
                ))),
                None => Err(InspectError::Problem(format!("{what} {id} is missing"))),
            }
        };
    want(&kinds, header.commit, ObjectKind::Commit, "commit")?;
    let commit = img.commit().map_err(at("commit"))?;
    if header.layout == Layout::Gitfs && commit.tree != header.tree {
        return Err(InspectError::Problem(format!(
            "header root tree {} is not the commit's tree {}",
            header.tree, commit.tree
        )));
    }
    let mut reachable = 1;
    let mut stack = vec![(commit.tree, String::new())];
    let mut seen = std::collections::HashSet::new();
    want(&kinds, commit.tree, ObjectKind::Tree, "root tree")?;
    while let Some((tree, path)) = stack.pop() {
        if !seen.insert(tree) {
            continue;
        }
        reachable += 1;
        for e in img
            .tree(&tree)
            .map_err(at(format!("tree {tree} ({path}/)")))?
        {
            let name = format!("{path}/{}", String::from_utf8_lossy(&e.name));
            match e.kind() {
                Some(EntryMode::Tree) => {
                    want(&kinds, e.id, ObjectKind::Tree, &format!("tree {name}:"))?;
                    stack.push((e.id, name));
                }
                Some(EntryMode::Submodule) => {}
                Some(_) => {
                    want(&kinds, e.id, ObjectKind::Blob, &format!("blob {name}:"))?;
                    if seen.insert(e.id) {
                        reachable += 1;
                    }
                }
                None => {
                    return Err(InspectError::Problem(format!(
                        "{name}: unknown mode {:o}",
                        e.mode
                    )))
                }
            }
        }
    }
    Ok(VerifyReport {
        commit: header.commit,
        tree: commit.tree,
        author: String::from_utf8_lossy(&commit.author).into_owned(),
        message: String::from_utf8_lossy(&commit.message).into_owned(),
        objects: index_len,
        reachable,
        pack_checksum: hex(&pack_sum),
    })
}

/// Header, layout and content statistics of an image.
#[derive(Clone, Debug)]
pub struct InfoReport {
    pub header: gitfs_format::Header,
    pub device_len: u64,
    /// Objects by kind: (count, bytes inflated).
    pub kinds: [(u64, u64); 4],
    /// Entries stored as deltas (OFS, REF), and the longest chain.
    pub ofs_deltas: u64,
    pub ref_deltas: u64,
    pub max_depth: u64,
    pub commit: Option<Commit>,
}

impl InfoReport {
    fn raw_bytes(&self) -> u64 {
        self.kinds.iter().map(|k| k.1).sum()
    }

    fn ratio(&self) -> f64 {
        self.raw_bytes() as f64 / self.header.image_len.max(1) as f64
    }

    pub fn to_text(&self) -> String {
        let h = &self.header;
        let mut s = String::new();
        s.push_str(&format!(
            "layout    : {}\nversion   : {}\ncommit    : {}\ntree      : {}\nrev       : {}\n",
            layout_name(h.layout),
            h.version,
            h.commit,
            h.tree,
            h.rev
        ));
        s.push_str(&format!(
            "image     : {} bytes (file {} bytes)\n",
            h.image_len, self.device_len
        ));
        s.push_str(&format!(
            "PACK      : offset {} length {}\n",
            h.pack.offset, h.pack.len
        ));
        s.push_str(&format!(
            "IDX       : offset {} length {}\n",
            h.idx.offset, h.idx.len
        ));
        for sec in &h.sections {
            s.push_str(&format!(
                "section   : kind {} flags {:#x} offset {} length {}\n",
                sec.kind, sec.flags, sec.offset, sec.len
            ));
        }
        let total: u64 = self.kinds.iter().map(|k| k.0).sum();
        s.push_str(&format!("objects   : {total}\n"));
        for (i, name) in ["commit", "tree", "blob", "tag"].iter().enumerate() {
            let (n, b) = self.kinds[i];
            if n > 0 {
                s.push_str(&format!("  {name:<7} : {n} ({b} bytes)\n"));
            }
        }
        s.push_str(&format!(
            "deltas    : {} ofs, {} ref, longest chain {}\n",
            self.ofs_deltas, self.ref_deltas, self.max_depth
        ));
        s.push_str(&format!(
            "size      : {} bytes of objects in {} bytes ({:.2}x)\n",
            self.raw_bytes(),
            h.image_len,
            self.ratio()
        ));
        s
    }

    pub fn to_json(&self) -> serde_json::Value {
        let h = &self.header;
        let kinds: serde_json::Map<String, serde_json::Value> = ["commit", "tree", "blob", "tag"]
            .iter()
            .enumerate()
            .map(|(i, n)| {
                (
                    n.to_string(),
                    json!({"count": self.kinds[i].0, "bytes": self.kinds[i].1}),
                )
            })
            .collect();
        json!({
            "layout": layout_name(h.layout),
            "version": h.version,
            "commit": h.commit.to_string(),
            "tree": h.tree.to_string(),
            "rev": h.rev,
            "object_count": h.object_count,
            "image_len": h.image_len,
            "file_len": self.device_len,
            "pack": {"offset": h.pack.offset, "length": h.pack.len},
            "idx": {"offset": h.idx.offset, "length": h.idx.len},
            "sections": h.sections.iter().map(|s| json!({"kind": s.kind, "flags": s.flags, "offset": s.offset, "length": s.len})).collect::<Vec<_>>(),
            "kinds": kinds,
            "ofs_deltas": self.ofs_deltas,
            "ref_deltas": self.ref_deltas,
            "max_depth": self.max_depth,
            "object_bytes": self.raw_bytes(),
            "compression_ratio": self.ratio(),
        })
    }
}

fn layout_name(l: Layout) -> &'static str {
    match l {
        Layout::Gitfs => "gitfs",
        Layout::Docteur => "docteur",
    }
}

/// Collects `InfoReport` by walking the PACK once (no object is resolved).
pub fn info(img: &mut ImageFile) -> Result<InfoReport, InspectError> {
    use gitfs_format::BlockDevice;
    let header = img.header().clone();
    let device_len = img.device_mut().len();
    let offsets_by_id: HashMap<ObjectId, u64> = (0..img.index().len() as u32)
        .filter_map(|p| img.index().entry_at(p).map(|e| (e.id, e.offset)))
        .collect();
    // offset -> (base kind or base offset, inflated size)
    enum Ent {
        Base(ObjectKind),
        Delta(u64),
    }
    let mut ents: HashMap<u64, (Ent, u64)> = HashMap::new();
    let (mut ofs, mut refs) = (0, 0);
    {
        let mut scan = img.scan().map_err(at("PACK"))?;
        for e in scan.by_ref() {
            let e = e.map_err(at("PACK scan"))?;
            let (ent, size) = match e.header.kind {
                EntryKind::Base(k) => (Ent::Base(k), e.header.size),
                EntryKind::OfsDelta { base_offset } => {
                    ofs += 1;
                    (
                        Ent::Delta(base_offset),
                        delta::sizes(&e.data).map_err(at("delta"))?.1,
                    )
                }
                EntryKind::RefDelta { base } => {
                    refs += 1;
                    let off = *offsets_by_id
                        .get(&base)
                        .ok_or(gitfs_format::Error::NotFound(base))?;
                    (
                        Ent::Delta(off),
                        delta::sizes(&e.data).map_err(at("delta"))?.1,
                    )
                }
            };
            ents.insert(e.offset, (ent, size));
        }
    }
    let mut kinds = [(0u64, 0u64); 4];
    let mut max_depth = 0u64;
    for (ent, size) in ents.values() {
        let mut cur = ent;
        let mut depth = 0u64;
        let kind = loop {
            match cur {
                Ent::Base(k) => break *k,
                Ent::Delta(b) => {
                    depth += 1;
                    if depth > ents.len() as u64 {
                        return Err(InspectError::Problem("delta cycle in the PACK".into()));
                    }
                    cur = &ents
                        .get(b)
                        .ok_or(gitfs_format::Error::BadPack("delta base missing"))?
                        .0;
                }
            }
        };
        max_depth = max_depth.max(depth);
        let slot = &mut kinds[kind.pack_code() as usize - 1];
        slot.0 += 1;
        slot.1 += size;
    }
    let commit = img.commit().ok();
    Ok(InfoReport {
        header,
        device_len,
        kinds,
        ofs_deltas: ofs,
        ref_deltas: refs,
        max_depth,
        commit,
    })
}

/// Quotes a path as git does by default (`core.quotePath`): C-style, in double
/// quotes, when it has control characters, `"`, `\` or bytes >= 0x80.
pub fn quote_path(name: &[u8]) -> String {
    let needs = name
        .iter()
        .any(|&c| c < 0x20 || c == b'"' || c == b'\\' || c >= 0x7f);
    if !needs {
        return String::from_utf8_lossy(name).into_owned();
    }
    let mut s = String::from("\"");
    for &c in name {
        match c {
            0x07 => s.push_str("\\a"),
            0x08 => s.push_str("\\b"),
            b'\t' => s.push_str("\\t"),
            b'\n' => s.push_str("\\n"),
            0x0b => s.push_str("\\v"),
            0x0c => s.push_str("\\f"),
            b'\r' => s.push_str("\\r"),
            b'"' => s.push_str("\\\""),
            b'\\' => s.push_str("\\\\"),
            c if !(0x20..0x7f).contains(&c) => s.push_str(&format!("\\{c:03o}")),
            c => s.push(c as char),
        }
    }
    s.push('"');
    s
}

fn kind_name(mode: u32) -> &'static str {
    match EntryMode::from_mode(mode) {
        Some(EntryMode::Tree) => "tree",
        Some(EntryMode::Submodule) => "commit",
        _ => "blob",
    }
}

/// Lists `path` (a directory: its entries; a file: itself) in `git ls-tree` format,
/// recursively with `recursive` (files only, like `git ls-tree -r`), with sizes with `long`.
pub fn ls<W: Write>(
    img: &mut ImageFile,
    path: &str,
    recursive: bool,
    long: bool,
    out: &mut W,
) -> Result<(), InspectError> {
    let clean = path.trim_matches('/');
    let (mode, id) = img
        .lookup(clean.as_bytes())
        .map_err(at(format!("lookup {path}")))?
        .ok_or_else(|| InspectError::NotFound(path.to_string()))?;
    if mode != EntryMode::Tree {
        return print_entry(img, mode.mode(), id, clean.as_bytes(), long, out);
    }
    let prefix = if clean.is_empty() {
        Vec::new()
    } else {
        [clean.as_bytes(), b"/"].concat()
    };
    list_tree(img, id, &prefix, recursive, long, out)
}

fn list_tree<W: Write>(
    img: &mut ImageFile,
    tree: ObjectId,
    prefix: &[u8],
    recursive: bool,
    long: bool,
    out: &mut W,
) -> Result<(), InspectError> {
    let entries = img.tree(&tree).map_err(at(format!("tree {tree}")))?;
    for e in entries {
        let full = [prefix, &e.name[..]].concat();
        if recursive && e.kind() == Some(EntryMode::Tree) {
            let sub = [&full[..], b"/"].concat();
            list_tree(img, e.id, &sub, recursive, long, out)?;
        } else {
            print_entry(img, e.mode, e.id, &full, long, out)?;
        }
    }
    Ok(())
}

fn print_entry<W: Write>(
    img: &mut ImageFile,
    mode: u32,
    id: ObjectId,
    path: &[u8],
    long: bool,
    out: &mut W,
) -> Result<(), InspectError> {
    let kind = kind_name(mode);
    if long {
        let size = if kind == "blob" {
            img.object_size(&id)
                .map_err(at(format!("object {id}")))?
                .1
                .to_string()
        } else {
            "-".to_string()
        };
        writeln!(
            out,
            "{mode:06o} {kind} {id} {size:>7}\t{}",
            quote_path(path)
        )?;
    } else {
        writeln!(out, "{mode:06o} {kind} {id}\t{}", quote_path(path))?;
    }
    Ok(())
}

/// The exact bytes of the file (or symlink target) at `path`.
pub fn cat(img: &mut ImageFile, path: &str) -> Result<Vec<u8>, InspectError> {
    let clean = path.trim_matches('/');
    let (mode, id) = img
        .lookup(clean.as_bytes())
        .map_err(at(format!("lookup {path}")))?
        .ok_or_else(|| InspectError::NotFound(path.to_string()))?;
    match mode {
        EntryMode::Tree => Err(InspectError::IsDirectory(path.to_string())),
        EntryMode::Submodule => Err(InspectError::Submodule(path.to_string())),
        _ => {
            let obj = img.read(&id).map_err(at(format!("{path} ({id})")))?;
            if obj.kind != ObjectKind::Blob {
                return Err(InspectError::Problem(format!("{path}: {id} is not a blob")));
            }
            Ok(obj.data)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::quote_path;

    #[test]
    fn quotes_like_git() {
        assert_eq!(quote_path(b"plain name.txt"), "plain name.txt");
        assert_eq!(quote_path("héllo".as_bytes()), "\"h\\303\\251llo\"");
        assert_eq!(quote_path(b"a\"b\\c\td"), "\"a\\\"b\\\\c\\td\"");
    }
}
