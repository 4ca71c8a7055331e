//! The ELF OS/ABI byte of the archive's objects.

use crate::{Error, Result};

const MAGIC: &[u8] = b"!<arch>\n";
const HEADER: usize = 60;
/// `ELFOSABI_STANDALONE`, which Hermit's linker expects.
pub const STANDALONE: u8 = 255;

/// Sets byte 7 (EI_OSABI) of every ELF member of a System V `ar` archive to
/// [`STANDALONE`]; no other byte changes. Returns how many members were ELF.
pub fn set_standalone(ar: &mut [u8]) -> Result<usize> {
    if !ar.starts_with(MAGIC) {
        return Err(Error::Archive("not an ar archive".into()));
    }
    let mut pos = MAGIC.len();
    let mut patched = 0;
    while pos < ar.len() {
        let header = ar
            .get(pos..pos + HEADER)
            .ok_or_else(|| Error::Archive(format!("truncated member header at {pos}")))?;
        if &header[58..60] != b"`\n" {
            return Err(Error::Archive(format!("bad member header at {pos}")));
        }
        let size: usize = std::str::from_utf8(&header[48..58])
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .ok_or_else(|| Error::Archive(format!("bad member size at {pos}")))?;
        let data = pos + HEADER;
        let end = data
            .checked_add(size)
            .filter(|&e| e <= ar.len())
            .ok_or_else(|| Error::Archive(format!("truncated member at {pos}")))?;
        if size > 7 && ar[data..end].starts_with(b"\x7fELF") {
            ar[data + 7] = STANDALONE;
            patched += 1;
        }
        pos = end + (size & 1); // members are 2-byte aligned
    }
    if patched == 0 {
        return Err(Error::Archive("no ELF members".into()));
    }
    Ok(patched)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(name: &str, data: &[u8]) -> Vec<u8> {
        let mut m = format!("{name:<16}{:<12}{:<6}{:<6}{:<8}{:<10}`\n", 0, 0, 0, 644, data.len())
            .into_bytes();
        assert_eq!(m.len(), HEADER);
        m.extend_from_slice(data);
        if data.len() % 2 == 1 {
            m.push(b'\n');
        }
        m
    }

    #[test]
    fn patches_only_elf_members_at_byte_7() {
        let elf = b"\x7fELF\x02\x01\x01\x00rest-of-object";
        let odd = b"\x7fELF\x02\x01\x01\x00odd";
        let mut ar = MAGIC.to_vec();
        ar.extend(member("/", b"symbol table"));
        ar.extend(member("a.o/", elf));
        ar.extend(member("b.o/", odd));
        let before = ar.clone();
        assert_eq!(set_standalone(&mut ar).unwrap(), 2);
        let changed: Vec<usize> = (0..ar.len()).filter(|&i| ar[i] != before[i]).collect();
        assert_eq!(changed.len(), 2);
        for i in changed {
            assert_eq!(ar[i], STANDALONE);
            assert_eq!(&ar[i - 7..i - 3], b"\x7fELF");
        }
    }

    #[test]
    fn malformed_archives_are_errors() {
        assert!(set_standalone(&mut b"not an archive".to_vec()).is_err());
        let mut ar = MAGIC.to_vec();
        ar.extend(member("a.o/", b"\x7fELF\x02\x01\x01\x00x"));
        ar.truncate(ar.len() - 4);
        assert!(set_standalone(&mut ar).is_err());
        let mut ar = MAGIC.to_vec();
        ar.extend(member("a.txt/", b"plain text"));
        assert!(set_standalone(&mut ar).is_err());
    }
}
