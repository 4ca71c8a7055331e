//! Object ordering for the delta search, as git's pack-objects does it.

use super::Object;

/// git's `pack_name_hash`: a sortable number from the last 16 non-space bytes of a
/// path, weighted towards the end, so files with the same name or suffix sort together.
pub fn name_hash(path: &[u8]) -> u32 {
    let mut hash = 0u32;
    for &c in path {
        if matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c) {
            continue;
        }
        hash = (hash >> 2).wrapping_add((c as u32) << 24);
    }
    hash
}

/// Indices of `objects` in delta-search order: kind, name hash and size, all
/// descending (git's `type_size_sort`), ties broken by input position so the order
/// only depends on the input.
pub fn search_order(objects: &[Object<'_>]) -> Vec<usize> {
    let keys: Vec<(u8, u32, u64)> = objects
        .iter()
        .map(|o| (o.kind.pack_code(), name_hash(o.path), o.size))
        .collect();
    let mut order: Vec<usize> = (0..objects.len()).collect();
    order.sort_by(|&a, &b| {
        let (ka, kb) = (keys[a], keys[b]);
        kb.0.cmp(&ka.0)
            .then(kb.1.cmp(&ka.1))
            .then(kb.2.cmp(&ka.2))
            .then(a.cmp(&b))
    });
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffix_dominates_hash() {
        // Values computed with git's formula by hand: only the last bytes matter much,
        // so the same file name in two directories sorts together.
        assert_eq!(name_hash(b"dir1/file.c"), 0x7706_c680);
        assert_eq!(name_hash(b"dir2/file.c"), 0x7706_ca80);
        assert_eq!(name_hash(b"x.c"), 0x7600_0000);
        assert_eq!(name_hash(b""), 0);
        assert_eq!(name_hash(b"a b"), name_hash(b"ab"));
    }
}
