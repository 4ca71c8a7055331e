//! Git object ids and kinds.

use core::fmt;

/// A SHA-1 Git object id.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ObjectId(pub [u8; 20]);

impl ObjectId {
    pub const LEN: usize = 20;

    /// Parses 40 hex digits (either case).
    pub fn from_hex(hex: &[u8]) -> Option<Self> {
        if hex.len() != 40 {
            return None;
        }
        let mut out = [0u8; 20];
        for (i, pair) in hex.chunks_exact(2).enumerate() {
            out[i] = (hex_val(pair[0])? << 4) | hex_val(pair[1])?;
        }
        Some(ObjectId(out))
    }

    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        <[u8; 20]>::try_from(bytes).ok().map(ObjectId)
    }

    pub fn as_bytes(&self) -> &[u8; 20] {
        &self.0
    }
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

impl fmt::Display for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ObjectId({self})")
    }
}

/// The four Git object kinds, numbered as in PACK entry headers.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash, PartialOrd, Ord)]
pub enum ObjectKind {
    Commit = 1,
    Tree = 2,
    Blob = 3,
    Tag = 4,
}

impl ObjectKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectKind::Commit => "commit",
            ObjectKind::Tree => "tree",
            ObjectKind::Blob => "blob",
            ObjectKind::Tag => "tag",
        }
    }

    /// The PACK entry type code (1..=4).
    pub fn pack_code(self) -> u8 {
        self as u8
    }

    pub fn from_pack_code(code: u8) -> Option<Self> {
        match code {
            1 => Some(ObjectKind::Commit),
            2 => Some(ObjectKind::Tree),
            3 => Some(ObjectKind::Blob),
            4 => Some(ObjectKind::Tag),
            _ => None,
        }
    }
}

/// The Git id of an object: SHA-1 over `"<kind> <len>\0"` followed by the data.
pub fn object_id(kind: ObjectKind, data: &[u8]) -> ObjectId {
    let mut h = sha1_smol::Sha1::new();
    let mut head = [0u8; 32];
    let n = write_header(&mut head, kind, data.len());
    h.update(&head[..n]);
    h.update(data);
    ObjectId(h.digest().bytes())
}

/// Writes the header Git hashes before an object's bytes, `"<kind> <len>\0"`, to
/// `buf`; returns its length. No allocation: ids are taken of every object.
pub fn write_header(buf: &mut [u8; 32], kind: ObjectKind, len: usize) -> usize {
    let name = kind.as_str().as_bytes();
    buf[..name.len()].copy_from_slice(name);
    let mut n = name.len();
    buf[n] = b' ';
    n += 1;
    let mut digits = [0u8; 20];
    let mut d = 0;
    let mut v = len;
    loop {
        digits[d] = b'0' + (v % 10) as u8;
        d += 1;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    for i in (0..d).rev() {
        buf[n] = digits[i];
        n += 1;
    }
    buf[n] = 0;
    n + 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn empty_blob_and_tree_ids_match_git() {
        assert_eq!(
            object_id(ObjectKind::Blob, b"").to_string(),
            "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"
        );
        assert_eq!(
            object_id(ObjectKind::Tree, b"").to_string(),
            "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
        );
    }

    #[test]
    fn hex_round_trip() {
        let id = object_id(ObjectKind::Blob, b"hello\n");
        assert_eq!(ObjectId::from_hex(id.to_string().as_bytes()), Some(id));
        assert_eq!(ObjectId::from_hex(b"zz"), None);
    }
}
