//! Everything checked against stock git: objects, trees, packs, indexes.

mod common;

use common::*;
use gitfs_format::idx::write_idx;
use gitfs_format::{
    object_id, EntryKind, EntryMode, Error, Header, IdxEntry, Image, Index, Layout, ObjectId,
    ObjectKind,
};

struct Fixture {
    _tmp: TempDir,
    dir: std::path::PathBuf,
    commit: ObjectId,
    tree: ObjectId,
}

fn fixture(commits: usize) -> Fixture {
    let tmp = TempDir::new("repo");
    let dir = tmp.0.clone();
    let commit = make_repo(&dir, commits);
    let tree = ObjectId::from_hex(git(&dir, &["rev-parse", "HEAD^{tree}"]).trim_ascii()).unwrap();
    Fixture {
        _tmp: tmp,
        dir,
        commit,
        tree,
    }
}

fn all_ids(idx: &Index) -> Vec<ObjectId> {
    (0..idx.len() as u32)
        .map(|p| idx.id_at(p).unwrap())
        .collect()
}

/// Depth of the delta chain of each entry.
fn max_depth(img: &mut Image<Vec<u8>>) -> usize {
    let offsets = img.entry_offsets().to_vec();
    let mut best = 0;
    for off in offsets {
        let mut cur = off;
        let mut d = 0;
        loop {
            let (h, _) = img.read_entry(cur).unwrap();
            match h.kind {
                EntryKind::Base(_) => break,
                EntryKind::OfsDelta { base_offset } => cur = base_offset,
                EntryKind::RefDelta { base } => cur = img.offset_of(&base).unwrap(),
            }
            d += 1;
        }
        best = best.max(d);
    }
    best
}

/// Size-checked reads, cold (no cached bases) and warm: `accept` sees git's size, a
/// refusal is TooLarge, an acceptance gives git's bytes.
fn check_size_checked_reads(fx: &Fixture, image: &[u8]) {
    let ids = all_ids(Image::open(image.to_vec()).unwrap().index());
    let expected = cat_all(&fx.dir, &ids);
    for budget in [0, 32 << 20] {
        let mut img = Image::open_with(image.to_vec(), budget).unwrap();
        for (id, _, data) in &expected {
            let want = data.len() as u64;
            let refused = img.read_verified_if(id, |n| n != want);
            assert!(matches!(refused, Err(Error::TooLarge)), "{id}");
            let obj = img.read_verified_if(id, |n| n == want).unwrap();
            assert_eq!(&obj.data, data, "{id}");
        }
    }
}

fn check_every_object(fx: &Fixture, img: &mut Image<Vec<u8>>) {
    let ids = all_ids(img.index());
    let expected = cat_all(&fx.dir, &ids);
    assert_eq!(expected.len(), ids.len());
    for (id, kind, data) in &expected {
        let obj = img.read_verified(id).unwrap();
        assert_eq!(obj.kind.as_str(), kind, "{id}");
        assert_eq!(&obj.data, data, "{id}");
        assert_eq!(
            img.object_size(id).unwrap(),
            (obj.kind, data.len() as u64),
            "{id}"
        );
    }
}

#[test]
fn ofs_delta_pack_reads_like_git() {
    let fx = fixture(60);
    let (pack, idx) = pack_all(&fx.dir, &["--delta-base-offset", "--no-reuse-delta"]);
    let image = make_image(fx.commit, fx.tree, &pack, &idx);
    let mut img = Image::open(image).unwrap();
    assert_eq!(img.header().layout, Layout::Gitfs);
    assert_eq!(img.header().rev, "refs/heads/main");
    let depth = max_depth(&mut img);
    assert!(depth >= 40, "git made only depth {depth} chains");
    let (mut n_ofs, mut n_ref) = (0, 0);
    for &off in &img.entry_offsets().to_vec() {
        match img.read_entry(off).unwrap().0.kind {
            EntryKind::OfsDelta { .. } => n_ofs += 1,
            EntryKind::RefDelta { .. } => n_ref += 1,
            _ => {}
        }
    }
    assert!(n_ofs > 50 && n_ref == 0, "ofs {n_ofs} ref {n_ref}");
    let before = img.cache_stats().inflated;
    check_every_object(&fx, &mut img);
    let report = img.verify().unwrap();
    assert_eq!(report.objects, img.index().len() as u64);
    assert_eq!(&report.pack_checksum[..], &pack[pack.len() - 20..]);
    assert!(report.deltas > 50);
    let stats = img.cache_stats();
    assert!(stats.hits > 0, "{stats:?}");
    let warm_inflates = stats.inflated - before;

    check_size_checked_reads(&fx, &make_image(fx.commit, fx.tree, &pack, &idx));

    // Same answers with no cache at all.
    let mut cold = Image::open_with(make_image(fx.commit, fx.tree, &pack, &idx), 0).unwrap();
    check_every_object(&fx, &mut cold);
    assert_eq!(cold.cache_stats().entries, 0);
    // The cache saves inflating: reading everything took far fewer inflates with it.
    let cold_inflates = cold.cache_stats().inflated;
    assert!(
        warm_inflates * 2 < cold_inflates,
        "{warm_inflates} vs {cold_inflates}"
    );
}

#[test]
fn ref_delta_pack_reads_like_git() {
    let fx = fixture(55);
    // Without --delta-base-offset git writes REF deltas.
    let (pack, idx) = pack_all(&fx.dir, &["--no-reuse-delta"]);
    let mut img = Image::open(make_image(fx.commit, fx.tree, &pack, &idx)).unwrap();
    let mut n_ref = 0;
    for &off in &img.entry_offsets().to_vec() {
        if let EntryKind::RefDelta { .. } = img.read_entry(off).unwrap().0.kind {
            n_ref += 1;
        }
    }
    assert!(n_ref > 50, "only {n_ref} REF deltas");
    assert!(max_depth(&mut img) >= 40);
    check_every_object(&fx, &mut img);
}

#[test]
fn write_idx_reproduces_git_index_pack() {
    let fx = fixture(25);
    for extra in [&["--delta-base-offset"][..], &[][..]] {
        let (pack, idx) = pack_all(&fx.dir, extra);
        let mut img = Image::open(make_image(fx.commit, fx.tree, &pack, &idx)).unwrap();
        img.index().verify_checksum().unwrap();
        // From git's own IDX entries.
        let mut entries: Vec<IdxEntry> = (0..img.index().len() as u32)
            .map(|p| img.index().entry_at(p).unwrap())
            .collect();
        let pack_sum: [u8; 20] = pack[pack.len() - 20..].try_into().unwrap();
        assert_eq!(write_idx(&mut entries, &pack_sum), idx);
        // From a scan of the PACK alone: ids by resolving, CRCs from raw bytes.
        let mut scanned = Vec::new();
        let mut scan = img.scan().unwrap();
        let mut raw = Vec::new();
        for e in &mut scan {
            raw.push(e.unwrap());
        }
        assert_eq!(scan.finish().unwrap(), pack_sum);
        for e in raw {
            let obj = img.read_at_offset(e.offset).unwrap();
            if let EntryKind::Base(k) = e.header.kind {
                assert_eq!(k, obj.kind);
                assert_eq!(e.data, obj.data);
            }
            scanned.push(IdxEntry {
                id: object_id(obj.kind, &obj.data),
                offset: e.offset,
                crc32: e.crc32,
            });
        }
        assert_eq!(write_idx(&mut scanned, &pack_sum), idx);
    }
}

#[test]
fn lookup_matches_ls_tree() {
    let fx = fixture(12);
    let (pack, idx) = pack_all(&fx.dir, &["--delta-base-offset"]);
    let mut img = Image::open(make_image(fx.commit, fx.tree, &pack, &idx)).unwrap();
    let commit = img.commit().unwrap();
    assert_eq!(commit.tree, fx.tree);
    assert_eq!(commit.message, b"commit 11\n");
    assert_eq!(commit.parents.len(), 1);
    assert_eq!(img.lookup(b"").unwrap(), Some((EntryMode::Tree, fx.tree)));
    assert_eq!(img.lookup(b"/").unwrap(), Some((EntryMode::Tree, fx.tree)));
    let listing = String::from_utf8(git(&fx.dir, &["ls-tree", "-r", "-t", "HEAD"])).unwrap();
    let mut seen = std::collections::HashSet::new();
    for line in listing.lines() {
        let (meta, path) = line.split_once('\t').unwrap();
        let f: Vec<&str> = meta.split(' ').collect();
        let mode = u32::from_str_radix(f[0], 8).unwrap();
        let id = ObjectId::from_hex(f[2].as_bytes()).unwrap();
        let got = img.lookup(path.as_bytes()).unwrap().unwrap();
        assert_eq!(got, (EntryMode::from_mode(mode).unwrap(), id), "{path}");
        assert_eq!(
            img.lookup(format!("/{path}/").as_bytes()).unwrap().unwrap(),
            got
        );
        seen.insert(got.0);
    }
    for m in [
        EntryMode::File,
        EntryMode::Executable,
        EntryMode::Symlink,
        EntryMode::Tree,
    ] {
        assert!(seen.contains(&m), "{m:?} not covered");
    }
    assert_eq!(img.lookup(b"nope").unwrap(), None);
    assert_eq!(img.lookup(b"growing.txt/x").unwrap(), None);
    assert_eq!(img.lookup(b"src/deep/nope").unwrap(), None);
    let root = img.tree(&fx.tree).unwrap();
    assert!(root
        .iter()
        .any(|e| e.name == b"run.sh" && e.mode == 0o100755));
    let absent = object_id(ObjectKind::Blob, b"not in the repo");
    assert_eq!(img.read(&absent), Err(Error::NotFound(absent)));
}

#[test]
fn docteur_layout_is_detected() {
    let fx = fixture(8);
    let (pack, idx) = pack_all(&fx.dir, &["--delta-base-offset"]);
    for block in [512u64, 4096] {
        let image = make_docteur_image(fx.commit, &pack, &idx, block);
        let h = Header::read(&mut image.clone()).unwrap();
        assert_eq!(h.layout, Layout::Docteur);
        assert_eq!(h.pack.offset, 28);
        assert_eq!(h.pack.len, pack.len() as u64);
        assert_eq!(h.idx.len, idx.len() as u64);
        let mut img = Image::open(image).unwrap();
        assert_eq!(img.header().tree, fx.tree);
        assert_eq!(img.header().rev, "");
        check_every_object(&fx, &mut img);
        img.verify().unwrap();
    }
    // A "PACK" at 28 without an IDX where the offset says is not an image.
    let mut bad = make_docteur_image(fx.commit, &pack, &idx, 512);
    let off = u64::from_le_bytes(bad[20..28].try_into().unwrap()) as usize;
    bad[off] = 0;
    assert!(Image::open(bad).is_err());
}

#[test]
fn truncated_and_corrupted_images_fail_cleanly() {
    let fx = fixture(15);
    let (pack, idx) = pack_all(&fx.dir, &["--delta-base-offset"]);
    let good = make_image(fx.commit, fx.tree, &pack, &idx);
    let ids = all_ids(&Index::parse(idx.clone()).unwrap());
    for cut in [
        0,
        10,
        100,
        4095,
        4096,
        4100,
        good.len() / 2,
        good.len() - 4096,
        good.len() - 1,
    ] {
        assert!(Image::open(good[..cut].to_vec()).is_err(), "cut {cut}");
    }
    // Flip bytes all over the PACK: reads may fail, never panic, never lie.
    let step = (pack.len() / 150).max(1);
    let mut failures = 0;
    for at in (12..pack.len() - 20).step_by(step) {
        let mut bad = good.clone();
        bad[4096 + at] ^= 0x5a;
        let Ok(mut img) = Image::open(bad) else {
            continue;
        };
        for id in &ids {
            match img.read_verified(id) {
                Ok(obj) => assert_eq!(object_id(obj.kind, &obj.data), *id),
                Err(_) => failures += 1,
            }
        }
        if let Ok(mut scan) = img.scan() {
            let ok = scan.all(|e| e.is_ok());
            assert!(!ok || scan.finish().is_err(), "scan missed a flip at {at}");
        }
        assert!(img.verify().is_err(), "verify missed a flip at {at}");
    }
    assert!(failures > 0);
    // Flips in the IDX: open fails or reads fail or objects still verify.
    for at in (0..idx.len()).step_by((idx.len() / 200).max(1)) {
        let mut bad = good.clone();
        let h = Header::decode(&good[..4096], good.len() as u64).unwrap();
        bad[h.idx.offset as usize + at] ^= 0x21;
        if let Ok(mut img) = Image::open(bad) {
            for id in ids.iter().take(40) {
                if let Ok(obj) = img.read_verified(id) {
                    assert_eq!(object_id(obj.kind, &obj.data), *id);
                }
            }
        }
    }
}

#[test]
fn chain_limit_is_enforced() {
    let fx = fixture(30);
    let (pack, idx) = pack_all(&fx.dir, &["--delta-base-offset", "--no-reuse-delta"]);
    let mut img = Image::open_with(make_image(fx.commit, fx.tree, &pack, &idx), 0).unwrap();
    img.set_max_chain(3);
    let ids = all_ids(img.index());
    let too_deep = ids
        .iter()
        .filter(|id| img.read(id) == Err(Error::ChainTooDeep))
        .count();
    assert!(too_deep > 0);
}

#[test]
fn large_offset_table_matches_git() {
    let fx = fixture(20);
    let (pack, idx) = pack_all(&fx.dir, &["--delta-base-offset"]);
    let tmp = TempDir::new("idx");
    let pack_path = tmp.0.join("x.pack");
    std::fs::write(&pack_path, &pack).unwrap();
    let pack_sum: [u8; 20] = pack[pack.len() - 20..].try_into().unwrap();
    let mut entries: Vec<IdxEntry> = {
        let i = Index::parse(idx.clone()).unwrap();
        (0..i.len() as u32)
            .map(|p| i.entry_at(p).unwrap())
            .collect()
    };
    for limit in [0x1000u64, 0x100] {
        let idx_path = tmp.0.join(format!("x{limit}.idx"));
        git(
            &tmp.0,
            &[
                "index-pack",
                &format!("--index-version=2,{limit:#x}"),
                "-o",
                idx_path.to_str().unwrap(),
                pack_path.to_str().unwrap(),
            ],
        );
        let git_idx = std::fs::read(&idx_path).unwrap();
        let ours = gitfs_format::idx::write_idx_with_limit(&mut entries, &pack_sum, limit);
        assert_eq!(ours, git_idx, "limit {limit:#x}");
        assert!(ours.len() > idx.len(), "no large offsets written");
        // The reader follows the 8-byte table.
        let mut img = Image::open(make_image(fx.commit, fx.tree, &pack, &git_idx)).unwrap();
        check_every_object(&fx, &mut img);
    }
}

/// Writes seed inputs for the fuzz targets into `format/fuzz/corpus/` (run on demand:
/// `cargo test -p gitfs-format --test git_oracle -- --ignored write_fuzz_seeds`).
#[test]
#[ignore]
fn write_fuzz_seeds() {
    let fx = fixture(6);
    let (pack, idx) = pack_all(&fx.dir, &["--delta-base-offset"]);
    let image = make_image(fx.commit, fx.tree, &pack, &idx);
    let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    let write = |target: &str, name: &str, data: &[u8]| {
        let d = corpus.join(target);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join(name), data).unwrap();
    };
    write("image", "gitfs", &image);
    write(
        "image",
        "docteur",
        &make_docteur_image(fx.commit, &pack, &idx, 512),
    );
    write("header", "gitfs", &image[..4096]);
    write("pack_entry", "pack", &pack);
    let mut img = Image::open(image).unwrap();
    for &off in img.entry_offsets().to_vec().iter().take(30) {
        let (h, data) = img.read_entry(off).unwrap();
        if !matches!(h.kind, EntryKind::Base(_)) {
            let EntryKind::OfsDelta { base_offset } = h.kind else {
                continue;
            };
            let base = img.read_at_offset(base_offset).unwrap().data;
            let mut input = vec![(base.len() / 4).min(255) as u8];
            input.extend_from_slice(&base[..(base.len() / 4).min(255) * 4]);
            input.extend_from_slice(&data);
            write("delta", &format!("d{off}"), &input);
        }
    }
    let tree = img.read(&fx.tree).unwrap().data;
    write("tree", "root", &tree);
    write("tree", "commit", &img.read(&fx.commit).unwrap().data);
}
