//! Damaged images: refused at boot with a clear error and a failed exit, or (a bad blob
//! the boot never reads) answered with an error response; never wrong bytes, never a hang.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use gitfs_format::{Image, ObjectId};
use gitfs_qemu::{Error, Exit, Vm};
use gitfs_tests::assert_gone;

mod common;
use common::{boot, disk_config, git, git_text, make_image, noise};

struct Fixture {
    dir: PathBuf,
    repo: PathBuf,
    image: Vec<u8>,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("serve-corrupt");
        let _ = std::fs::remove_dir_all(&dir);
        let repo = dir.join("repo");
        std::fs::create_dir_all(repo.join("docs")).expect("mkdir");
        git(&repo, &["init", "-q", "-b", "main"]);
        std::fs::write(repo.join("README.md"), b"# corrupt me\n").expect("write");
        std::fs::write(repo.join("docs/a.txt"), b"a text file\n".repeat(50)).expect("write");
        // Random bytes: stored as one base object that nothing else depends on.
        std::fs::write(repo.join("victim.bin"), noise(64 * 1024, 99)).expect("write");
        git(&repo, &["add", "-A"]);
        git(&repo, &["commit", "-q", "-m", "c"]);
        let img = dir.join("good.img");
        make_image(&repo, &img, &[]);
        let image = std::fs::read(&img).expect("read image");
        Fixture { dir, repo, image }
    })
}

/// Writes a variant of the image and returns its path.
fn variant(name: &str, bytes: &[u8]) -> PathBuf {
    let p = fixture().dir.join(format!("{name}.img"));
    std::fs::write(&p, bytes).expect("write variant");
    p
}

/// Boots `image` and expects the kernel to refuse it: a `gitfs error:` line and a
/// failed exit, in time. Returns the error line.
fn refused(image: &Path) -> String {
    let mut vm = Vm::spawn(&disk_config(image)).expect("spawn");
    let pid = vm.pid();
    let err = vm.wait_ready().map(str::to_string);
    let line = match err {
        Err(Error::ExitedEarly {
            exit, transcript, ..
        }) => {
            assert_eq!(exit, Exit::AppFailure, "{transcript}");
            transcript
                .lines()
                .find(|l| l.contains("gitfs error:"))
                .unwrap_or_else(|| panic!("no `gitfs error:` line in {transcript:?}"))
                .to_string()
        }
        other => panic!(
            "{}: expected a refusal at boot, got {other:?}",
            image.display()
        ),
    };
    drop(vm);
    assert_gone(pid);
    line
}

/// PACK-absolute range of the entry holding `id` in the image file.
fn entry_span(image: &[u8], id: &str) -> (usize, usize) {
    let img = Image::open(image.to_vec()).expect("open image");
    let oid = ObjectId::from_hex(id.as_bytes()).expect("id");
    let off = img.offset_of(&oid).expect("offset");
    let offsets = img.entry_offsets();
    let i = offsets.binary_search(&off).expect("entry");
    let end = offsets
        .get(i + 1)
        .copied()
        .unwrap_or(img.header().pack.len - 20);
    let base = img.header().pack.offset;
    ((base + off) as usize, (base + end) as usize)
}

#[test]
fn damaged_header_is_refused() {
    let f = fixture();
    let mut bad = f.image.clone();
    bad[0] ^= 0x20;
    let line = refused(&variant("magic", &bad));
    assert!(line.contains("magic"), "{line}");
    // Anywhere else in the fixed header: the header checksum (or a field check) catches it.
    for at in [9usize, 12, 30, 50, 70] {
        let mut bad = f.image.clone();
        bad[at] ^= 0x01;
        refused(&variant(&format!("header-{at}"), &bad));
    }
}

#[test]
fn truncated_image_is_refused() {
    let f = fixture();
    for keep in [f.image.len() / 2, f.image.len() - 1000, 100] {
        let line = refused(&variant(&format!("trunc-{keep}"), &f.image[..keep]));
        assert!(!line.trim_end().ends_with("gitfs error:"), "{line}");
    }
    // No disk at all (and no --no-disk): refused too.
    let mut c = gitfs_tests::config();
    c.app_args.clear();
    let mut vm = Vm::spawn(&c).expect("spawn");
    match vm.wait_ready() {
        Err(Error::ExitedEarly {
            exit, transcript, ..
        }) => {
            assert_eq!(exit, Exit::AppFailure);
            assert!(transcript.contains("gitfs error: no disk"), "{transcript}");
        }
        other => panic!("booted without a disk: {other:?}"),
    }
}

#[test]
fn damaged_tree_is_refused_at_boot() {
    let f = fixture();
    let tree = git_text(&f.repo, &["rev-parse", "HEAD^{tree}"]);
    let docs = git_text(&f.repo, &["rev-parse", "HEAD:docs"]);
    for (name, id) in [("root-tree", tree), ("docs-tree", docs)] {
        let (start, end) = entry_span(&f.image, &id);
        let mut bad = f.image.clone();
        bad[(start + end) / 2] ^= 0x55;
        refused(&variant(name, &bad));
    }
}

#[test]
fn damaged_blob_gives_an_error_never_wrong_bytes() {
    let f = fixture();
    let id = git_text(&f.repo, &["rev-parse", "HEAD:victim.bin"]);
    let good = git(&f.repo, &["cat-file", "blob", &id]);
    let (start, end) = entry_span(&f.image, &id);
    let readme = git(&f.repo, &["cat-file", "blob", "HEAD:README.md"]);
    // The middle of the zlib stream and a run of bytes: an error. Only zlib's Adler-32
    // trailer is not checked by the reader (the blob's id guards the content), so a
    // damaged trailer still gives exactly git's bytes, verified.
    for (k, (at, len)) in [((start + end) / 2, 1), (end - 4, 4), (start + 200, 7)]
        .into_iter()
        .enumerate()
    {
        let trailer_only = k == 1;
        let mut bad = f.image.clone();
        for b in &mut bad[at..at + len] {
            *b ^= 0xA5;
        }
        let mut s = boot(&variant(&format!("blob-{k}"), &bad));
        for _ in 0..2 {
            match s.get("victim.bin") {
                Ok(data) if trailer_only => assert!(data == good, "trailer flip: wrong bytes"),
                Err(Error::Remote { code, .. }) => assert_eq!(code, "corrupt", "flip {k}"),
                Ok(data) => panic!(
                    "flip {k}: got {} bytes, same as git: {}",
                    data.len(),
                    data == good
                ),
                Err(e) => panic!("flip {k}: {e}"),
            }
            match s.range("victim.bin", 10, 10) {
                Ok(data) if trailer_only => assert!(data == good[10..20], "trailer flip"),
                Err(Error::Remote { code, .. }) => assert_eq!(code, "corrupt", "flip {k}"),
                other => panic!("flip {k}: range gave {other:?}"),
            }
        }
        // Everything else is still served.
        assert_eq!(s.get("README.md").expect("README.md"), readme);
        assert_eq!(s.digest("victim.bin").expect("digest").1, id);
        let pid = s.pid();
        assert_eq!(s.quit().expect("quit"), Exit::Success);
        assert_gone(pid);
    }
}

#[test]
fn damaged_idx_is_refused_or_never_serves_wrong_bytes() {
    let f = fixture();
    let img = Image::open(f.image.clone()).expect("open");
    let idx = img.header().idx;
    // Inside the table of object ids (after the 8-byte header and the 1 KiB fan-out).
    let at = (idx.offset + 8 + 1024 + 3) as usize;
    let mut bad = f.image.clone();
    bad[at] ^= 0x10;
    let path = variant("idx", &bad);
    let mut s = match gitfs_qemu::Session::boot(&disk_config(&path)) {
        Ok(s) => s,
        Err(Error::ExitedEarly { exit, .. }) => {
            assert_eq!(exit, Exit::AppFailure);
            return;
        }
        Err(e) => panic!("{e}"),
    };
    for e in common::ls_tree(&f.repo, "HEAD", &["-r"]) {
        let want = git(&f.repo, &["cat-file", "blob", &e.id]);
        match s.get(&e.name) {
            Ok(data) => assert!(data == want, "wrong bytes for {}", common::show(&e.name)),
            Err(Error::Remote { .. }) => {}
            Err(err) => panic!("{err}"),
        }
    }
    let pid = s.pid();
    assert_eq!(s.quit().expect("quit"), Exit::Success);
    assert_gone(pid);
}
