//! Reading objects from an image on a [`BlockDevice`].

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use hashbrown::HashMap;

use crate::device::read_vec;
use crate::object::{find_in_tree, parse_tree};
use crate::pack::{
    self, EntryHeader, EntryKind, MAX_ENTRY_HEADER_LEN, PACK_HEADER_LEN, PACK_TRAILER_LEN,
};
use crate::{
    delta, object_id, BlockDevice, Commit, EntryMode, Error, Header, Index, Layout, ObjectId,
    ObjectKind, PackScan, Result, TreeEntry,
};

/// Default byte budget of the delta-base cache.
pub const DEFAULT_CACHE_BYTES: usize = 32 << 20;
/// Default longest delta chain followed (git itself caps `--depth` at 4095).
pub const DEFAULT_MAX_CHAIN: usize = 10_000;

/// A whole object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Object {
    pub kind: ObjectKind,
    pub data: Vec<u8>,
}

/// Delta-base cache counters (for benchmarks).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    pub hits: u64,
    pub misses: u64,
    pub entries: usize,
    pub bytes: usize,
    /// Entries inflated from the device.
    pub inflated: u64,
}

struct Slot {
    kind: ObjectKind,
    data: Vec<u8>,
    stamp: u64,
}

/// Resolved delta bases by PACK offset, least recently used evicted first.
struct BaseCache {
    budget: usize,
    used: usize,
    clock: u64,
    map: HashMap<u64, Slot>,
    lru: BTreeMap<u64, u64>,
    stats: CacheStats,
}

impl BaseCache {
    fn new(budget: usize) -> Self {
        BaseCache {
            budget,
            used: 0,
            clock: 0,
            map: HashMap::new(),
            lru: BTreeMap::new(),
            stats: CacheStats::default(),
        }
    }

    fn get(&mut self, offset: u64) -> Option<(ObjectKind, Vec<u8>)> {
        self.clock += 1;
        let Some(slot) = self.map.get_mut(&offset) else {
            self.stats.misses += 1;
            return None;
        };
        self.lru.remove(&slot.stamp);
        slot.stamp = self.clock;
        self.lru.insert(self.clock, offset);
        self.stats.hits += 1;
        Some((slot.kind, slot.data.clone()))
    }

    fn peek_kind(&self, offset: u64) -> Option<(ObjectKind, u64)> {
        self.map.get(&offset).map(|s| (s.kind, s.data.len() as u64))
    }

    fn insert(&mut self, offset: u64, kind: ObjectKind, data: &[u8]) {
        // One huge base must not flush everything else.
        if self.budget == 0 || data.len() > self.budget / 2 || self.map.contains_key(&offset) {
            return;
        }
        while self.used + data.len() > self.budget {
            let Some((&stamp, &victim)) = self.lru.iter().next() else {
                break;
            };
            self.lru.remove(&stamp);
            if let Some(s) = self.map.remove(&victim) {
                self.used -= s.data.len();
            }
        }
        self.clock += 1;
        self.used += data.len();
        self.lru.insert(self.clock, offset);
        self.map.insert(
            offset,
            Slot {
                kind,
                data: data.to_vec(),
                stamp: self.clock,
            },
        );
    }

    fn clear(&mut self) {
        self.map.clear();
        self.lru.clear();
        self.used = 0;
    }
}

/// What [`Image::verify`] checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VerifyReport {
    pub objects: u64,
    pub deltas: u64,
    pub pack_checksum: [u8; 20],
}

/// An open image: header checked, IDX in memory, objects read on demand.
pub struct Image<D: BlockDevice> {
    dev: D,
    header: Header,
    index: Index,
    /// Entry offsets (PACK-relative), ascending: an entry ends where the next starts.
    offsets: Vec<u64>,
    /// End of the last entry (start of the PACK trailer), PACK-relative.
    data_end: u64,
    cache: BaseCache,
    max_chain: usize,
}

impl<D: BlockDevice> Image<D> {
    pub fn open(dev: D) -> Result<Self> {
        Self::open_with(dev, DEFAULT_CACHE_BYTES)
    }

    /// Opens with a delta-base cache of `cache_bytes` (0 disables it).
    pub fn open_with(mut dev: D, cache_bytes: usize) -> Result<Self> {
        let mut header = Header::read(&mut dev)?;
        let (pack, idx) = (header.pack, header.idx);
        if pack.len < (PACK_HEADER_LEN + PACK_TRAILER_LEN) as u64 {
            return Err(Error::BadPack("PACK section too small"));
        }
        let index = Index::parse(read_vec(&mut dev, idx.offset, idx.len)?)?;
        if header.object_count != index.len() as u64 {
            return Err(Error::BadHeader("object count does not match the IDX"));
        }
        let head = read_vec(&mut dev, pack.offset, PACK_HEADER_LEN as u64)?;
        if pack::parse_pack_header(&head)? as usize != index.len() {
            return Err(Error::BadPack("entry count does not match the IDX"));
        }
        let data_end = pack.len - PACK_TRAILER_LEN as u64;
        let trailer = read_vec(&mut dev, pack.offset + data_end, PACK_TRAILER_LEN as u64)?;
        if trailer[..] != index.pack_checksum()[..] {
            return Err(Error::BadIdx("IDX is for another PACK"));
        }
        let offsets = index.sorted_offsets();
        if offsets.len() != index.len()
            || offsets.windows(2).any(|w| w[0] == w[1])
            || offsets.first().is_some_and(|&o| o < PACK_HEADER_LEN as u64)
            || offsets.last().is_some_and(|&o| o >= data_end)
        {
            return Err(Error::BadIdx(
                "entry offsets outside the PACK or duplicated",
            ));
        }
        let mut image = Image {
            dev,
            header: header.clone(),
            index,
            offsets,
            data_end,
            cache: BaseCache::new(cache_bytes),
            max_chain: DEFAULT_MAX_CHAIN,
        };
        if header.layout == Layout::Docteur {
            header.tree = image.commit()?.tree;
            image.header = header;
        }
        Ok(image)
    }

    pub fn header(&self) -> &Header {
        &self.header
    }

    pub fn index(&self) -> &Index {
        &self.index
    }

    pub fn device_mut(&mut self) -> &mut D {
        &mut self.dev
    }

    pub fn into_device(self) -> D {
        self.dev
    }

    pub fn set_max_chain(&mut self, depth: usize) {
        self.max_chain = depth;
    }

    /// Changes the cache budget (drops cached bases).
    pub fn set_cache_bytes(&mut self, bytes: usize) {
        self.cache.clear();
        self.cache.budget = bytes;
    }

    pub fn cache_stats(&self) -> CacheStats {
        CacheStats {
            entries: self.cache.map.len(),
            bytes: self.cache.used,
            ..self.cache.stats
        }
    }

    /// PACK offset of `id`.
    pub fn offset_of(&self, id: &ObjectId) -> Result<u64> {
        let pos = self.index.lookup(id).ok_or(Error::NotFound(*id))?;
        self.index.offset_at(pos).ok_or(Error::NotFound(*id))
    }

    /// Entry offsets in PACK order.
    pub fn entry_offsets(&self) -> &[u64] {
        &self.offsets
    }

    /// End (exclusive, PACK-relative) of the entry starting at `offset`.
    fn entry_end(&self, offset: u64) -> Result<u64> {
        let i = self
            .offsets
            .binary_search(&offset)
            .map_err(|_| Error::BadPack("no entry at offset"))?;
        Ok(self.offsets.get(i + 1).copied().unwrap_or(self.data_end))
    }

    /// Reads the first `max` raw bytes of the entry at `offset` (all of it if shorter).
    fn raw_entry(&mut self, offset: u64, max: u64) -> Result<Vec<u8>> {
        let end = self.entry_end(offset)?;
        let len = (end - offset).min(max);
        read_vec(&mut self.dev, self.header.pack.offset + offset, len)
    }

    /// The header and inflated data of the entry at `offset`: one device read.
    pub fn read_entry(&mut self, offset: u64) -> Result<(EntryHeader, Vec<u8>)> {
        let raw = self.raw_entry(offset, u64::MAX)?;
        self.decode_entry(offset, &raw)
    }

    /// Header and inflated data of a whole raw entry.
    fn decode_entry(&mut self, offset: u64, raw: &[u8]) -> Result<(EntryHeader, Vec<u8>)> {
        let h = pack::parse_entry_header(raw, offset)?;
        let (data, used) = pack::inflate_exact(&raw[h.header_len..], h.size)?;
        if h.header_len + used != raw.len() {
            return Err(Error::BadPack("gap after entry data"));
        }
        self.cache.stats.inflated += 1;
        Ok((h, data))
    }

    fn base_offset(&self, kind: &EntryKind) -> Result<Option<u64>> {
        Ok(match kind {
            EntryKind::Base(_) => None,
            EntryKind::OfsDelta { base_offset } => Some(*base_offset),
            EntryKind::RefDelta { base } => Some(self.offset_of(base)?),
        })
    }

    /// The object whose entry starts at `offset`, resolving delta chains iteratively.
    pub fn read_at_offset(&mut self, offset: u64) -> Result<Object> {
        self.resolve(offset, None)
    }

    /// The object at `offset`; `first` is its entry when the caller has read it.
    fn resolve(
        &mut self,
        offset: u64,
        mut first: Option<(EntryHeader, Vec<u8>)>,
    ) -> Result<Object> {
        // Walk down to a base (or a cached intermediate), keeping the deltas.
        let mut chain: Vec<(u64, Vec<u8>)> = Vec::new();
        let mut cur = offset;
        let (kind, mut data) = loop {
            if let Some(hit) = self.cache.get(cur) {
                break hit;
            }
            let (h, d) = match first.take() {
                Some(entry) => entry,
                None => self.read_entry(cur)?,
            };
            match self.base_offset(&h.kind)? {
                None => match h.kind {
                    EntryKind::Base(k) => break (k, d),
                    _ => return Err(Error::BadPack("unreachable entry kind")),
                },
                Some(base) => {
                    if chain.len() >= self.max_chain {
                        return Err(Error::ChainTooDeep);
                    }
                    chain.push((cur, d));
                    cur = base;
                }
            }
        };
        // Apply upward; every object below the requested one is a delta base: cache it.
        while let Some((off, d)) = chain.pop() {
            self.cache.insert(cur, kind, &data);
            data = delta::apply(&data, &d)?;
            cur = off;
        }
        // The requested object too: git stores newer versions whole and older ones as
        // deltas against them, so what was just read is often the next read's base.
        self.cache.insert(cur, kind, &data);
        Ok(Object { kind, data })
    }

    pub fn read(&mut self, id: &ObjectId) -> Result<Object> {
        let off = self.offset_of(id)?;
        self.read_at_offset(off)
    }

    /// Like [`read`](Self::read), and the object's SHA-1 must be `id`.
    pub fn read_verified(&mut self, id: &ObjectId) -> Result<Object> {
        let obj = self.read(id)?;
        verified(obj, id)
    }

    /// Like [`read_verified`](Self::read_verified), but `accept` is asked with the
    /// object's size before memory of that size is taken; a refusal is
    /// [`Error::TooLarge`]. A small entry is read from the device once, size and data
    /// together.
    pub fn read_verified_if(
        &mut self,
        id: &ObjectId,
        accept: impl FnOnce(u64) -> bool,
    ) -> Result<Object> {
        // Entries up to this many bytes are read whole to learn the size; a larger one
        // gets a header read first, so a refused object costs no large allocation.
        const WHOLE: u64 = 64 * 1024;
        let off = self.offset_of(id)?;
        let first = if let Some((_, len)) = self.cache.peek_kind(off) {
            if !accept(len) {
                return Err(Error::TooLarge);
            }
            None
        } else {
            let whole = self.entry_end(off)? - off <= WHOLE;
            let raw = self.raw_entry(off, if whole { u64::MAX } else { 4096 })?;
            let h = pack::parse_entry_header(&raw, off)?;
            let size = match h.kind {
                EntryKind::Base(_) => h.size,
                _ => self.delta_result_size(off, &raw, &h)?,
            };
            if !accept(size) {
                return Err(Error::TooLarge);
            }
            if whole {
                Some(self.decode_entry(off, &raw)?)
            } else {
                None
            }
        };
        let obj = self.resolve(off, first)?;
        verified(obj, id)
    }

    /// Kind and size of an object, inflating only entry headers and the first bytes of
    /// a delta (small reads, no chain resolution).
    pub fn object_size(&mut self, id: &ObjectId) -> Result<(ObjectKind, u64)> {
        let mut cur = self.offset_of(id)?;
        let mut size = None;
        for _ in 0..=self.max_chain {
            if let Some((kind, len)) = self.cache.peek_kind(cur) {
                return Ok((kind, size.unwrap_or(len)));
            }
            let want = if size.is_none() {
                4096
            } else {
                MAX_ENTRY_HEADER_LEN as u64
            };
            let raw = self.raw_entry(cur, want)?;
            let h = pack::parse_entry_header(&raw, cur)?;
            let base = match h.kind {
                EntryKind::Base(k) => return Ok((k, size.unwrap_or(h.size))),
                other => self.base_offset(&other)?,
            };
            if size.is_none() {
                size = Some(self.delta_result_size(cur, &raw, &h)?);
            }
            cur = base.ok_or(Error::BadPack("delta without base"))?;
        }
        Err(Error::ChainTooDeep)
    }

    /// Size of an object without its kind: one small read even for a deep delta (for
    /// callers that know the kind from a tree entry).
    pub fn size_of(&mut self, id: &ObjectId) -> Result<u64> {
        let off = self.offset_of(id)?;
        if let Some((_, len)) = self.cache.peek_kind(off) {
            return Ok(len);
        }
        let raw = self.raw_entry(off, 4096)?;
        let h = pack::parse_entry_header(&raw, off)?;
        match h.kind {
            EntryKind::Base(_) => Ok(h.size),
            _ => self.delta_result_size(off, &raw, &h),
        }
    }

    fn delta_result_size(&mut self, offset: u64, raw: &[u8], h: &EntryHeader) -> Result<u64> {
        let z = raw.get(h.header_len..).ok_or(Error::Truncated)?;
        let prefix = pack::inflate_prefix(z, 20)?;
        if let Ok((_, result)) = delta::sizes(&prefix) {
            return Ok(result);
        }
        // The size varints did not fit in the first bytes read: inflate the delta.
        let (_, d) = self.read_entry(offset)?;
        Ok(delta::sizes(&d)?.1)
    }

    /// The image's commit.
    pub fn commit(&mut self) -> Result<Commit> {
        let id = self.header.commit;
        let obj = self.read(&id)?;
        if obj.kind != ObjectKind::Commit {
            return Err(Error::BadObject("image commit is not a commit"));
        }
        Commit::parse(&obj.data)
    }

    /// The entries of tree `id`.
    pub fn tree(&mut self, id: &ObjectId) -> Result<Vec<TreeEntry>> {
        let obj = self.read(id)?;
        if obj.kind != ObjectKind::Tree {
            return Err(Error::BadObject("not a tree"));
        }
        parse_tree(&obj.data)
    }

    /// Resolves a slash-separated path from the root tree ("" or "/" is the root).
    /// `Ok(None)` when a component is missing or a non-final one is not a directory.
    pub fn lookup(&mut self, path: &[u8]) -> Result<Option<(EntryMode, ObjectId)>> {
        let mut cur = (EntryMode::Tree, self.header.tree);
        for comp in path.split(|&b| b == b'/').filter(|c| !c.is_empty()) {
            if cur.0 != EntryMode::Tree {
                return Ok(None);
            }
            let obj = self.read(&cur.1)?;
            if obj.kind != ObjectKind::Tree {
                return Err(Error::BadObject("not a tree"));
            }
            let Some(e) = find_in_tree(&obj.data, comp)? else {
                return Ok(None);
            };
            cur = (
                e.kind()
                    .ok_or(Error::BadObject("unknown tree entry mode"))?,
                e.id,
            );
        }
        Ok(Some(cur))
    }

    /// Checks everything: the IDX's own SHA-1, the PACK scanned on its own (entry layout, zlib streams,
    /// trailer SHA-1) must match the header's count and the IDX (entry count, offsets,
    /// CRC32s, PACK checksum), every object must hash to its id, and the header's commit
    /// and tree must agree.
    pub fn verify(&mut self) -> Result<VerifyReport> {
        self.verify_with(|_, _| {})
    }

    /// [`verify`](Self::verify), telling `each` the id and kind of every object checked.
    pub fn verify_with(
        &mut self,
        mut each: impl FnMut(ObjectId, ObjectKind),
    ) -> Result<VerifyReport> {
        self.index.verify_checksum()?;
        let n = self.index.len();
        let mut by_offset: Vec<(u64, u32)> = (0..n as u32)
            .map(|p| {
                Ok((
                    self.index
                        .offset_at(p)
                        .ok_or(Error::BadIdx("bad position"))?,
                    p,
                ))
            })
            .collect::<Result<_>>()?;
        by_offset.sort_unstable();
        let mut scan = PackScan::new(&mut self.dev, self.header.pack)?;
        if u64::from(PackScan::count(&scan)) != self.header.object_count {
            return Err(Error::BadHeader("object count differs from the PACK's"));
        }
        let mut seen = 0usize;
        let mut deltas = 0u64;
        for e in &mut scan {
            let e = e?;
            let &(off, pos) = by_offset
                .get(seen)
                .ok_or(Error::BadIdx("PACK has more entries than the IDX"))?;
            if off != e.offset {
                return Err(Error::BadIdx("entry offsets differ from the PACK"));
            }
            if self.index.crc_at(pos) != Some(e.crc32) {
                return Err(Error::BadPack("entry CRC32 differs from the IDX"));
            }
            if !matches!(e.header.kind, EntryKind::Base(_)) {
                deltas += 1;
            }
            seen += 1;
        }
        if seen != n {
            return Err(Error::BadIdx("IDX has more entries than the PACK"));
        }
        let pack_checksum = scan.finish()?;
        if self.index.pack_checksum() != pack_checksum {
            return Err(Error::BadIdx("IDX names another PACK checksum"));
        }
        // PACK order keeps delta chains warm in the cache.
        for &(off, pos) in &by_offset {
            let obj = self.read_at_offset(off)?;
            let id = self.index.id_at(pos).ok_or(Error::BadIdx("bad position"))?;
            let obj = verified(obj, &id)?;
            each(id, obj.kind);
        }
        if self.commit()?.tree != self.header.tree {
            return Err(Error::BadHeader("tree is not the commit's tree"));
        }
        Ok(VerifyReport {
            objects: n as u64,
            deltas,
            pack_checksum,
        })
    }

    /// Walks the PACK entry by entry, independently of the IDX.
    pub fn scan(&mut self) -> Result<PackScan<'_, D>> {
        PackScan::new(&mut self.dev, self.header.pack)
    }
}

/// `obj` if its SHA-1 is `id`.
fn verified(obj: Object, id: &ObjectId) -> Result<Object> {
    if object_id(obj.kind, &obj.data) != *id {
        return Err(Error::Corrupt(*id));
    }
    Ok(obj)
}
