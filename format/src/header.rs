//! The image header (docs/image-format.md), plus detection of docteur images.
//!
//! gitfs layout, all little-endian:
//! `0 magic "GITFSIMG" | 8 version u16 | 10 header_len u16 | 12 flags u32 |
//! 16 commit [20] | 36 tree [20] | 56 object_count u64 | 64 image_len u64 |
//! 72 rev_len u16 | 74 section_count u16 | 76 reserved [4] | 80 sections
//! (kind u32, flags u32, offset u64, length u64)... | rev | SHA-1 of all before [20]`.

use alloc::string::String;
use alloc::vec::Vec;

use crate::device::read_vec;
use crate::{idx, BlockDevice, Error, ObjectId, Result};

pub const MAGIC: &[u8; 8] = b"GITFSIMG";
pub const VERSION: u16 = 1;
/// Sections start on this boundary; the header fits in the first block.
pub const BLOCK: u64 = 4096;
pub const FIXED_LEN: usize = 80;
pub const SECTION_ENTRY_LEN: usize = 24;
pub const MAX_REV_LEN: usize = 1024;
pub const SECTION_PACK: u32 = 1;
pub const SECTION_IDX: u32 = 2;
/// Section flag: a reader that does not know the kind must refuse the image.
pub const SECTION_REQUIRED: u32 = 1;

/// Docteur: commit id [20], IDX offset u64 LE, PACK from here.
const DOCTEUR_PACK_OFFSET: u64 = 28;
/// Docteur pads the PACK to its block size (512 by default) before the IDX; we look
/// for the PACK's trailer this far back from the IDX.
const DOCTEUR_MAX_PADDING: u64 = 64 * 1024;

/// Which writer made the image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    Gitfs,
    Docteur,
}

/// A byte range of the image.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Section {
    pub offset: u64,
    pub len: u64,
}

impl Section {
    pub fn end(&self) -> Option<u64> {
        self.offset.checked_add(self.len)
    }
}

/// One row of the section table, as stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SectionEntry {
    pub kind: u32,
    pub flags: u32,
    pub offset: u64,
    pub len: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    pub version: u16,
    pub commit: ObjectId,
    /// Root tree of `commit` (for docteur images: filled in by `Image::open`).
    pub tree: ObjectId,
    /// The revision the image was made from, as the user named it (may be empty).
    pub rev: String,
    pub object_count: u64,
    /// Total image bytes (the device may be larger: QEMU pads disks).
    pub image_len: u64,
    /// The PACK, from its "PACK" magic to its SHA-1 trailer included.
    pub pack: Section,
    pub idx: Section,
    /// The whole section table (gitfs layout; empty for docteur).
    pub sections: Vec<SectionEntry>,
    pub layout: Layout,
}

pub fn align_up(x: u64) -> Option<u64> {
    x.checked_add(BLOCK - 1).map(|v| v & !(BLOCK - 1))
}

fn le16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}
fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
fn le64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

impl Header {
    /// A gitfs header for a PACK of `pack_len` and an IDX of `idx_len` bytes, laid out
    /// as the imager writes them: header block, PACK at 4096, IDX at the next block
    /// boundary, image padded to a block.
    pub fn new(
        commit: ObjectId,
        tree: ObjectId,
        rev: &str,
        object_count: u64,
        pack_len: u64,
        idx_len: u64,
    ) -> Result<Header> {
        if rev.len() > MAX_REV_LEN {
            return Err(Error::BadHeader("rev name too long"));
        }
        let pack = Section {
            offset: BLOCK,
            len: pack_len,
        };
        let idx_offset = pack.end().and_then(align_up).ok_or(Error::TooLarge)?;
        let idx = Section {
            offset: idx_offset,
            len: idx_len,
        };
        let image_len = idx.end().and_then(align_up).ok_or(Error::TooLarge)?;
        let sections = alloc::vec![
            SectionEntry {
                kind: SECTION_PACK,
                flags: SECTION_REQUIRED,
                offset: pack.offset,
                len: pack.len
            },
            SectionEntry {
                kind: SECTION_IDX,
                flags: SECTION_REQUIRED,
                offset: idx.offset,
                len: idx.len
            },
        ];
        Ok(Header {
            version: VERSION,
            commit,
            tree,
            rev: String::from(rev),
            object_count,
            image_len,
            pack,
            idx,
            sections,
            layout: Layout::Gitfs,
        })
    }

    /// Length of the encoded gitfs header.
    pub fn encoded_len(&self) -> usize {
        FIXED_LEN + SECTION_ENTRY_LEN * self.sections.len() + self.rev.len() + 20
    }

    /// The gitfs header bytes (`encoded_len()` of them; pad to [`BLOCK`] on disk).
    /// Writes `sections` verbatim; `pack` and `idx` must be among them.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&(self.encoded_len() as u16).to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&self.commit.0);
        out.extend_from_slice(&self.tree.0);
        out.extend_from_slice(&self.object_count.to_le_bytes());
        out.extend_from_slice(&self.image_len.to_le_bytes());
        out.extend_from_slice(&(self.rev.len() as u16).to_le_bytes());
        out.extend_from_slice(&(self.sections.len() as u16).to_le_bytes());
        out.extend_from_slice(&[0u8; 4]);
        for s in &self.sections {
            out.extend_from_slice(&s.kind.to_le_bytes());
            out.extend_from_slice(&s.flags.to_le_bytes());
            out.extend_from_slice(&s.offset.to_le_bytes());
            out.extend_from_slice(&s.len.to_le_bytes());
        }
        out.extend_from_slice(self.rev.as_bytes());
        let sum = sha1_smol::Sha1::from(&out[..]).digest().bytes();
        out.extend_from_slice(&sum);
        out
    }

    /// The whole image in memory: this header, `pack` and `idx` at their sections'
    /// offsets, zero padding up to `image_len`. (The imager writes the same layout to a
    /// file as it packs.) `pack` and `idx` must have the lengths the header was made
    /// for.
    pub fn assemble(&self, pack: &[u8], idx: &[u8]) -> Vec<u8> {
        let mut img = self.encode();
        img.resize(self.pack.offset as usize, 0);
        img.extend_from_slice(pack);
        img.resize(self.idx.offset as usize, 0);
        img.extend_from_slice(idx);
        img.resize(self.image_len as usize, 0);
        img
    }

    /// Decodes a header from the first bytes of a device of `device_len` bytes
    /// (pass the first [`BLOCK`] bytes, or all of a smaller device).
    ///
    /// For a docteur image the PACK and IDX lengths are not in the header: they come
    /// back as 0 and [`Header::read`] fills them in from the IDX.
    pub fn decode(first: &[u8], device_len: u64) -> Result<Header> {
        if first.len() >= 8 && &first[..8] == MAGIC {
            return Self::decode_gitfs(first, device_len);
        }
        if first.len() >= 32 && &first[28..32] == b"PACK" {
            return Self::decode_docteur(first, device_len);
        }
        if first.len() < 32 && MAGIC.starts_with(&first[..first.len().min(8)]) {
            return Err(Error::Truncated);
        }
        Err(Error::BadMagic)
    }

    fn decode_gitfs(first: &[u8], device_len: u64) -> Result<Header> {
        if first.len() < FIXED_LEN {
            return Err(Error::Truncated);
        }
        let version = le16(first, 8);
        if version != VERSION {
            return Err(Error::UnsupportedVersion(version));
        }
        let header_len = le16(first, 10) as usize;
        let rev_len = le16(first, 72) as usize;
        let section_count = le16(first, 74) as usize;
        let expect = FIXED_LEN + SECTION_ENTRY_LEN * section_count + rev_len + 20;
        if header_len != expect || header_len as u64 > BLOCK {
            return Err(Error::BadHeader("bad header length"));
        }
        if first.len() < header_len {
            return Err(Error::Truncated);
        }
        let body = &first[..header_len - 20];
        if sha1_smol::Sha1::from(body).digest().bytes()[..] != first[header_len - 20..header_len] {
            return Err(Error::HeaderChecksum);
        }
        if le32(first, 12) != 0 {
            return Err(Error::BadHeader("unknown flags"));
        }
        if first[76..80] != [0u8; 4] {
            return Err(Error::BadHeader("reserved bytes not zero"));
        }
        if rev_len > MAX_REV_LEN {
            return Err(Error::BadHeader("rev name too long"));
        }
        let image_len = le64(first, 64);
        if image_len & (BLOCK - 1) != 0 || image_len < BLOCK {
            return Err(Error::BadHeader("image length not a multiple of 4096"));
        }
        if image_len > device_len {
            return Err(Error::Truncated);
        }
        let mut sections = Vec::with_capacity(section_count);
        let (mut pack, mut idx) = (None, None);
        for i in 0..section_count {
            let at = FIXED_LEN + SECTION_ENTRY_LEN * i;
            let s = SectionEntry {
                kind: le32(first, at),
                flags: le32(first, at + 4),
                offset: le64(first, at + 8),
                len: le64(first, at + 16),
            };
            let sec = Section {
                offset: s.offset,
                len: s.len,
            };
            if s.offset & (BLOCK - 1) != 0 || s.offset < BLOCK {
                return Err(Error::BadHeader("section not on a 4096-byte boundary"));
            }
            if sec.end().is_none_or(|e| e > image_len) {
                return Err(Error::BadHeader("section outside the image"));
            }
            let slot = match s.kind {
                SECTION_PACK => &mut pack,
                SECTION_IDX => &mut idx,
                k if s.flags & SECTION_REQUIRED != 0 => return Err(Error::UnsupportedSection(k)),
                _ => {
                    sections.push(s);
                    continue;
                }
            };
            if slot.replace(sec).is_some() {
                return Err(Error::BadHeader("duplicate section"));
            }
            sections.push(s);
        }
        let pack = pack.ok_or(Error::BadHeader("no PACK section"))?;
        let idx = idx.ok_or(Error::BadHeader("no IDX section"))?;
        // Both ends are checked above, so these additions cannot overflow.
        if pack.offset < idx.offset + idx.len && idx.offset < pack.offset + pack.len {
            return Err(Error::BadHeader("PACK and IDX overlap"));
        }
        let rev_at = FIXED_LEN + SECTION_ENTRY_LEN * section_count;
        let rev = core::str::from_utf8(&first[rev_at..rev_at + rev_len])
            .map_err(|_| Error::BadHeader("rev name not UTF-8"))?;
        Ok(Header {
            version,
            commit: ObjectId::from_slice(&first[16..36]).ok_or(Error::Truncated)?,
            tree: ObjectId::from_slice(&first[36..56]).ok_or(Error::Truncated)?,
            rev: String::from(rev),
            object_count: le64(first, 56),
            image_len,
            pack,
            idx,
            sections,
            layout: Layout::Gitfs,
        })
    }

    fn decode_docteur(first: &[u8], device_len: u64) -> Result<Header> {
        let idx_offset = le64(first, 20);
        if idx_offset < DOCTEUR_PACK_OFFSET + 32 || idx_offset >= device_len {
            return Err(Error::BadHeader("docteur IDX offset out of range"));
        }
        if let Some(m) = usize::try_from(idx_offset)
            .ok()
            .and_then(|o| first.get(o..o + 4))
        {
            if m != idx::IDX_MAGIC {
                return Err(Error::BadMagic);
            }
        }
        Ok(Header {
            version: 0,
            commit: ObjectId::from_slice(&first[..20]).ok_or(Error::Truncated)?,
            tree: ObjectId::default(),
            rev: String::new(),
            object_count: 0,
            image_len: device_len,
            pack: Section {
                offset: DOCTEUR_PACK_OFFSET,
                len: 0,
            },
            idx: Section {
                offset: idx_offset,
                len: 0,
            },
            sections: Vec::new(),
            layout: Layout::Docteur,
        })
    }

    /// Reads and checks the header of an image on `dev` (for docteur images also
    /// measures the PACK and IDX).
    pub fn read<D: BlockDevice + ?Sized>(dev: &mut D) -> Result<Header> {
        let n = dev.len().min(BLOCK);
        let first = read_vec(dev, 0, n)?;
        let mut h = Header::decode(&first, dev.len())?;
        if h.layout == Layout::Docteur {
            complete_docteur(dev, &mut h)?;
        }
        Ok(h)
    }
}

/// Finds the IDX length (from its tables) and the PACK end (its SHA-1 trailer, which
/// the IDX repeats, followed only by zero padding up to the IDX).
fn complete_docteur<D: BlockDevice + ?Sized>(dev: &mut D, h: &mut Header) -> Result<()> {
    let off = h.idx.offset;
    let avail = dev.len() - off;
    let head = read_vec(dev, off, avail.min(idx::MIN_IDX_LEN as u64))?;
    if head.get(..4) != Some(&idx::IDX_MAGIC[..]) {
        return Err(Error::BadMagic);
    }
    let need = idx::min_measure_len(&head)? as u64;
    if need > avail {
        return Err(Error::Truncated);
    }
    let tables = read_vec(dev, off, need)?;
    let len = idx::measure(&tables)?;
    if len > avail {
        return Err(Error::Truncated);
    }
    let n = u32::from_be_bytes([head[1028], head[1029], head[1030], head[1031]]);
    let sum = read_vec(dev, off + len - 40, 20)?;
    let window_start = off
        .saturating_sub(DOCTEUR_MAX_PADDING + 20)
        .max(h.pack.offset);
    let window = read_vec(dev, window_start, off - window_start)?;
    let mut end = None;
    let mut i = window.len();
    while i >= 20 {
        if window[i - 20..i] == sum[..] {
            end = Some(i);
            break;
        }
        if window[i - 1] != 0 {
            break;
        }
        i -= 1;
    }
    let end = end.ok_or(Error::BadPack("PACK trailer not found before the IDX"))?;
    h.pack.len = window_start + end as u64 - h.pack.offset;
    h.idx.len = len;
    h.object_count = u64::from(n);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{object_id, ObjectKind};

    fn sample() -> Header {
        let c = object_id(ObjectKind::Commit, b"c");
        let t = object_id(ObjectKind::Tree, b"");
        Header::new(c, t, "refs/heads/main", 42, 10_000, 2_000).unwrap()
    }

    #[test]
    fn encode_decode_round_trip() {
        let h = sample();
        assert_eq!(
            h.pack,
            Section {
                offset: 4096,
                len: 10_000
            }
        );
        assert_eq!(
            h.idx,
            Section {
                offset: 16384,
                len: 2_000
            }
        );
        assert_eq!(h.image_len, 20480);
        let bytes = h.encode();
        assert_eq!(bytes.len(), h.encoded_len());
        assert_eq!(Header::decode(&bytes, h.image_len).unwrap(), h);
        assert_eq!(
            Header::decode(&bytes, h.image_len - 1),
            Err(Error::Truncated)
        );
    }

    #[test]
    fn every_corruption_is_an_error() {
        let h = sample();
        let bytes = h.encode();
        for i in 0..bytes.len() {
            for bit in [0x01u8, 0x80] {
                let mut bad = bytes.clone();
                bad[i] ^= bit;
                assert!(Header::decode(&bad, 1 << 40).is_err(), "byte {i}");
            }
        }
        for cut in 0..bytes.len() {
            assert!(Header::decode(&bytes[..cut], 1 << 40).is_err(), "cut {cut}");
        }
    }

    fn with_sum(mut b: Vec<u8>) -> Vec<u8> {
        let n = b.len() - 20;
        let s = sha1_smol::Sha1::from(&b[..n]).digest().bytes();
        b[n..].copy_from_slice(&s);
        b
    }

    #[test]
    fn sections_rules() {
        let mut h = sample();
        h.sections.push(SectionEntry {
            kind: 99,
            flags: 0,
            offset: 4096,
            len: 0,
        });
        let d = Header::decode(&h.encode(), 1 << 20).unwrap();
        assert_eq!(d.sections.len(), 3);
        h.sections[2].flags = SECTION_REQUIRED;
        assert_eq!(
            Header::decode(&h.encode(), 1 << 20),
            Err(Error::UnsupportedSection(99))
        );
        let mut h = sample();
        h.sections[1].offset = 4097;
        assert!(Header::decode(&h.encode(), 1 << 20).is_err());
        let mut h = sample();
        h.sections[1].offset = 4096;
        assert!(Header::decode(&h.encode(), 1 << 20).is_err());
        let mut h = sample();
        h.sections.pop();
        assert!(Header::decode(&h.encode(), 1 << 20).is_err());
        let mut h = sample();
        h.sections[1].len = u64::MAX;
        assert!(Header::decode(&h.encode(), 1 << 20).is_err());
        let mut b = sample().encode();
        b[8] = 2;
        assert_eq!(
            Header::decode(&with_sum(b), 1 << 20),
            Err(Error::UnsupportedVersion(2))
        );
        assert!(Header::new(h.commit, h.tree, &"x".repeat(1025), 0, 0, 0).is_err());
        assert_eq!(Header::decode(b"NOTANIMAGE", 1 << 20), Err(Error::BadMagic));
        assert_eq!(Header::decode(b"GITFS", 1 << 20), Err(Error::Truncated));
    }
}
