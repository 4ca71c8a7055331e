//! Commit and tree parsing.

use alloc::vec::Vec;

use crate::{Error, ObjectId, Result};

/// A parsed commit. Headers other than tree/parent/author/committer (gpgsig,
/// encoding, mergetag, ...) are skipped with their continuation lines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Commit {
    pub tree: ObjectId,
    pub parents: Vec<ObjectId>,
    pub author: Vec<u8>,
    pub committer: Vec<u8>,
    pub message: Vec<u8>,
}

fn hex_id(v: &[u8]) -> Result<ObjectId> {
    ObjectId::from_hex(v).ok_or(Error::BadObject("bad object id in commit"))
}

/// The time of a Git signature (`Name <email> 1700000000 +0000`, the value of a commit's
/// `committer` line): Unix seconds, the zone being irrelevant to them.
/// Whether a tree entry's name is one plain path component: not empty, not `.` or
/// `..`, without `/` or NUL. Git never writes another; a tree that holds one would lead
/// a checkout or an export outside its directory.
pub fn is_plain_name(name: &[u8]) -> bool {
    if name.is_empty() || name == b"." || name == b".." {
        return false;
    }
    // Eight bytes at a time: this runs for every entry of every tree at boot.
    let mut words = name.chunks_exact(8);
    for w in &mut words {
        let w = le_word(w);
        if has_zero_byte(w) || has_zero_byte(w ^ (ONES * u64::from(b'/'))) {
            return false;
        }
    }
    !words.remainder().iter().any(|&b| b == b'/' || b == 0)
}

const ONES: u64 = 0x0101_0101_0101_0101;

/// The first eight bytes of `w`, the first one lowest.
fn le_word(w: &[u8]) -> u64 {
    u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]])
}

/// Flags (0x80) the zero bytes of `w`, exact up to and including the lowest one; the
/// result is 0 exactly when `w` has none.
fn zero_bytes(w: u64) -> u64 {
    w.wrapping_sub(ONES) & !w & (ONES << 7)
}

fn has_zero_byte(w: u64) -> bool {
    zero_bytes(w) != 0
}

/// Where the first zero byte of `s` is, eight bytes at a time (the end of every name
/// of every tree entry).
fn find_zero(s: &[u8]) -> Option<usize> {
    let mut at = 0;
    while let Some(w) = s.get(at..at + 8) {
        let z = zero_bytes(le_word(w));
        if z != 0 {
            return Some(at + z.trailing_zeros() as usize / 8);
        }
        at += 8;
    }
    s[at..].iter().position(|&b| b == 0).map(|i| at + i)
}

/// The modes git writes, with the space after, read without parsing digits.
const COMMON_MODES: [(&[u8], u32); 4] = [
    (b"100644 ", 0o100644),
    (b"40000 ", 0o40000),
    (b"100755 ", 0o100755),
    (b"120000 ", 0o120000),
];

pub fn signature_time(sig: &[u8]) -> Option<u64> {
    let after = sig
        .iter()
        .rposition(|&b| b == b'>')
        .map_or(sig, |i| &sig[i + 1..]);
    let secs = after.split(|&b| b == b' ').find(|t| !t.is_empty())?;
    if secs.len() > 19 || !secs.iter().all(u8::is_ascii_digit) {
        return None;
    }
    core::str::from_utf8(secs).ok()?.parse().ok()
}

impl Commit {
    /// The committer's time in Unix seconds.
    pub fn time(&self) -> Option<u64> {
        signature_time(&self.committer)
    }

    pub fn parse(data: &[u8]) -> Result<Commit> {
        let mut tree = None;
        let mut parents = Vec::new();
        let mut author = None;
        let mut committer = None;
        let mut rest = data;
        loop {
            let nl = rest
                .iter()
                .position(|&b| b == b'\n')
                .ok_or(Error::BadObject("commit without message separator"))?;
            let line = &rest[..nl];
            rest = &rest[nl + 1..];
            if line.is_empty() {
                break;
            }
            if line[0] == b' ' {
                continue; // continuation of a multi-line header
            }
            let (key, value) = match line.iter().position(|&b| b == b' ') {
                Some(sp) => (&line[..sp], &line[sp + 1..]),
                None => (line, &line[line.len()..]),
            };
            match key {
                b"tree" if tree.is_none() && parents.is_empty() => tree = Some(hex_id(value)?),
                b"tree" => return Err(Error::BadObject("misplaced tree header")),
                b"parent" => parents.push(hex_id(value)?),
                b"author" if author.is_none() => author = Some(value.to_vec()),
                b"committer" if committer.is_none() => committer = Some(value.to_vec()),
                _ => {}
            }
        }
        Ok(Commit {
            tree: tree.ok_or(Error::BadObject("commit without tree"))?,
            parents,
            author: author.ok_or(Error::BadObject("commit without author"))?,
            committer: committer.ok_or(Error::BadObject("commit without committer"))?,
            message: rest.to_vec(),
        })
    }
}

/// The kind of a tree entry, from its mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EntryMode {
    File,
    Executable,
    Symlink,
    Tree,
    /// A gitlink (the id is a commit of another repository).
    Submodule,
}

impl EntryMode {
    /// Classifies a tree mode like git does (any regular-file mode with the owner
    /// exec bit is executable, e.g. old 100664 trees are plain files).
    pub fn from_mode(mode: u32) -> Option<EntryMode> {
        match mode & 0o170000 {
            0o100000 if mode & 0o100 != 0 => Some(EntryMode::Executable),
            0o100000 => Some(EntryMode::File),
            0o120000 => Some(EntryMode::Symlink),
            0o040000 => Some(EntryMode::Tree),
            0o160000 => Some(EntryMode::Submodule),
            _ => None,
        }
    }

    /// The canonical git mode.
    pub fn mode(self) -> u32 {
        match self {
            EntryMode::File => 0o100644,
            EntryMode::Executable => 0o100755,
            EntryMode::Symlink => 0o120000,
            EntryMode::Tree => 0o040000,
            EntryMode::Submodule => 0o160000,
        }
    }
}

/// An owned tree entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TreeEntry {
    pub mode: u32,
    pub name: Vec<u8>,
    pub id: ObjectId,
}

impl TreeEntry {
    pub fn kind(&self) -> Option<EntryMode> {
        EntryMode::from_mode(self.mode)
    }
}

/// A tree entry borrowing the tree's data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TreeEntryRef<'a> {
    pub mode: u32,
    pub name: &'a [u8],
    pub id: ObjectId,
}

impl TreeEntryRef<'_> {
    pub fn kind(&self) -> Option<EntryMode> {
        EntryMode::from_mode(self.mode)
    }

    pub fn to_owned(&self) -> TreeEntry {
        TreeEntry {
            mode: self.mode,
            name: self.name.to_vec(),
            id: self.id,
        }
    }
}

/// Iterates over tree data: `<octal mode> <name>\0<20-byte id>` repeated. After the
/// first error it yields nothing more.
pub struct TreeIter<'a> {
    rest: &'a [u8],
}

impl<'a> TreeIter<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        TreeIter { rest: data }
    }

    fn parse_one(&mut self) -> Result<TreeEntryRef<'a>> {
        let data = self.rest;
        let common = COMMON_MODES
            .iter()
            .find(|(spelled, _)| data.starts_with(spelled));
        let (mode, after) = match common {
            Some(&(spelled, mode)) => (mode, &data[spelled.len()..]),
            None => Self::parse_mode(data)?,
        };
        let nul = find_zero(after).ok_or(Error::BadObject("tree entry without name end"))?;
        let name = &after[..nul];
        if name.is_empty() {
            return Err(Error::BadObject("empty tree entry name"));
        }
        let id_bytes = after
            .get(nul + 1..nul + 21)
            .ok_or(Error::BadObject("truncated tree entry id"))?;
        let id =
            ObjectId::from_slice(id_bytes).ok_or(Error::BadObject("truncated tree entry id"))?;
        self.rest = &after[nul + 21..];
        Ok(TreeEntryRef { mode, name, id })
    }

    /// An entry's octal mode and what follows its space.
    fn parse_mode(data: &'a [u8]) -> Result<(u32, &'a [u8])> {
        let sp = data
            .iter()
            .position(|&b| b == b' ')
            .ok_or(Error::BadObject("tree entry without mode"))?;
        let mode_digits = &data[..sp];
        if mode_digits.is_empty() || mode_digits.len() > 7 {
            return Err(Error::BadObject("bad tree entry mode"));
        }
        let mut mode = 0u32;
        for &d in mode_digits {
            if !(b'0'..=b'7').contains(&d) {
                return Err(Error::BadObject("bad tree entry mode"));
            }
            mode = mode * 8 + u32::from(d - b'0');
        }
        Ok((mode, &data[sp + 1..]))
    }
}

impl<'a> Iterator for TreeIter<'a> {
    type Item = Result<TreeEntryRef<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let r = self.parse_one();
        if r.is_err() {
            self.rest = &[];
        }
        Some(r)
    }
}

/// Parses a whole tree into owned entries.
pub fn parse_tree(data: &[u8]) -> Result<Vec<TreeEntry>> {
    TreeIter::new(data)
        .map(|e| e.map(|e| e.to_owned()))
        .collect()
}

/// Finds `name` in tree data (linear: tree order is not plain byte order for
/// directories, and trees are small).
pub fn find_in_tree<'a>(data: &'a [u8], name: &[u8]) -> Result<Option<TreeEntryRef<'a>>> {
    for e in TreeIter::new(data) {
        let e = e?;
        if e.name == name {
            return Ok(Some(e));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_names_pass() {
        for ok in [
            &b"a"[..],
            b"read me.md",
            b"\xc3\xa9t\xc3\xa9",
            b"..a",
            b".hidden",
            b"\xff",
        ] {
            assert!(is_plain_name(ok), "{ok:?}");
        }
        for bad in [&b""[..], b".", b"..", b"../x", b"a/b", b"/etc", b"a\0b"] {
            assert!(!is_plain_name(bad), "{bad:?}");
        }
    }
    use alloc::vec;

    /// The word-at-a-time scans against the plain byte loops they replace, with the
    /// byte looked for at every position of names of every length up to 40.
    #[test]
    fn word_scans_match_byte_loops() {
        let plain = |n: &[u8]| {
            !n.is_empty() && n != b"." && n != b".." && !n.iter().any(|&b| b == b'/' || b == 0)
        };
        for len in 0..40 {
            for at in 0..=len {
                for (put, fill) in [
                    (0u8, b'a'),
                    (b'/', b'z'),
                    (0, 0xff),
                    (b'/', 0x01),
                    (0x80, 0x2e),
                ] {
                    let mut name = vec![fill; len];
                    if at < len {
                        name[at] = put;
                    }
                    assert_eq!(is_plain_name(&name), plain(&name), "{name:?}");
                    let zero = name.iter().position(|&b| b == 0);
                    assert_eq!(find_zero(&name), zero, "{name:?}");
                    // A second zero after the first must not move the answer.
                    name.push(0);
                    assert_eq!(find_zero(&name), zero.or(Some(len)), "{name:?}");
                }
            }
        }
    }

    #[test]
    fn uncommon_modes_parse_as_digits() {
        for (spelled, mode) in [("100664", 0o100664), ("040000", 0o40000), ("644", 0o644)] {
            let mut t = spelled.as_bytes().to_vec();
            t.extend_from_slice(b" name\0");
            t.extend_from_slice(&[9; 20]);
            let e = parse_tree(&t).unwrap();
            assert_eq!(
                (e[0].mode, &e[0].name[..]),
                (mode, &b"name"[..]),
                "{spelled}"
            );
        }
    }

    #[test]
    fn commit_with_extra_headers() {
        let data = b"tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n\
parent e69de29bb2d1d6434b8b29ae775ad8c2e48c5391\n\
parent 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n\
author A <a@x> 1 +0000\n\
committer C <c@x> 2 +0000\n\
encoding ISO-8859-1\n\
gpgsig -----BEGIN PGP SIGNATURE-----\n \n abc\n -----END PGP SIGNATURE-----\n\
\n\
msg\n\nbody\n";
        let c = Commit::parse(data).unwrap();
        assert_eq!(
            c.tree,
            ObjectId::from_hex(b"4b825dc642cb6eb9a060e54bf8d69288fbee4904").unwrap()
        );
        assert_eq!(c.parents.len(), 2);
        assert_eq!(c.author, b"A <a@x> 1 +0000");
        assert_eq!(c.committer, b"C <c@x> 2 +0000");
        assert_eq!(c.message, b"msg\n\nbody\n");
    }

    #[test]
    fn bad_commits() {
        for d in [
            &b""[..],
            b"tree zz\n\n",
            b"author a\ncommitter c\n\n",
            b"tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\nauthor a\ncommitter c",
            b"tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\ncommitter c\n\n",
        ] {
            assert!(Commit::parse(d).is_err());
        }
    }

    #[test]
    fn tree_entries() {
        let mut t = Vec::new();
        let mut ends = vec![0];
        for (mode, name, b) in [
            ("100644", "a", 1u8),
            ("100755", "b", 2),
            ("120000", "l", 3),
            ("40000", "d", 4),
            ("160000", "s", 5),
        ] {
            t.extend_from_slice(mode.as_bytes());
            t.push(b' ');
            t.extend_from_slice(name.as_bytes());
            t.push(0);
            t.extend_from_slice(&[b; 20]);
            ends.push(t.len());
        }
        let es = parse_tree(&t).unwrap();
        let kinds: Vec<_> = es.iter().map(|e| e.kind().unwrap()).collect();
        assert_eq!(
            kinds,
            vec![
                EntryMode::File,
                EntryMode::Executable,
                EntryMode::Symlink,
                EntryMode::Tree,
                EntryMode::Submodule
            ]
        );
        assert_eq!(
            find_in_tree(&t, b"d").unwrap().unwrap().id,
            ObjectId([4; 20])
        );
        assert_eq!(find_in_tree(&t, b"zz").unwrap(), None);
        assert_eq!(EntryMode::from_mode(0o100664), Some(EntryMode::File));
        assert_eq!(EntryMode::from_mode(0o644), None);
        for cut in 1..t.len() {
            if parse_tree(&t[..cut]).is_ok() {
                assert!(ends.contains(&cut), "cut {cut}");
            }
        }
        assert!(parse_tree(b"10x644 a\0aaaaaaaaaaaaaaaaaaaa").is_err());
        assert!(parse_tree(b"100644 \0aaaaaaaaaaaaaaaaaaaa").is_err());
        assert!(parse_tree(b"77777777 a\0aaaaaaaaaaaaaaaaaaaa").is_err());
    }
}
