//! SHA-1 for the host: Git object ids and the PACK checksum. The same function as
//! `gitfs_format::object_id` (which stays portable for the unikernel), through the
//! `sha1` crate, which uses the CPU's SHA extensions when present.

use gitfs_format::{ObjectId, ObjectKind};
use sha1::{Digest, Sha1};

/// The Git id of an object: SHA-1 over `"<kind> <len>\0"` followed by the data.
pub fn object_id(kind: ObjectKind, data: &[u8]) -> ObjectId {
    let mut h = Sha1::new();
    let mut head = [0u8; 32];
    let n = gitfs_format::write_header(&mut head, kind, data.len());
    h.update(&head[..n]);
    h.update(data);
    ObjectId::from_slice(&h.finalize()).unwrap_or_else(|| unreachable!("SHA-1 is 20 bytes"))
}

/// A running SHA-1 (the PACK trailer).
#[derive(Default)]
pub struct Hasher(Sha1);

impl Hasher {
    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }

    pub fn digest(self) -> [u8; 20] {
        self.0.finalize().into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_ids_as_the_portable_reader() {
        let data: Vec<u8> = (0..200_000u32).map(|i| (i * 31 + i / 7) as u8).collect();
        for kind in [
            ObjectKind::Blob,
            ObjectKind::Tree,
            ObjectKind::Commit,
            ObjectKind::Tag,
        ] {
            for len in [0, 1, 55, 56, 64, 1000, 200_000] {
                assert_eq!(
                    object_id(kind, &data[..len]),
                    gitfs_format::object_id(kind, &data[..len])
                );
            }
        }
        // Git's id of the empty blob.
        assert_eq!(
            object_id(ObjectKind::Blob, b"").to_string(),
            "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"
        );
        let mut h = Hasher::default();
        h.update(b"ab");
        h.update(b"c");
        assert_eq!(h.digest(), sha1_smol::Sha1::from(b"abc").digest().bytes());
    }
}
