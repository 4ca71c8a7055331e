//! Images made from plain directories: a small varied one and one of 20,000 files,
//! checked against stock git's tree of the same directory (`git add -A; git write-tree`)
//! and against the files on disk.

use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;

use gitfs_qemu::session::EntryKind;
use gitfs_qemu::Exit;
use gitfs_tests::assert_gone;

mod common;
use common::{
    boot, check_listing, hex, kind_of, ls_tree, make_image, noise, oracle_tree, show, write_file,
};

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("mkdir");
    dir
}

#[test]
fn plain_directory_served_like_git_tree() {
    let dir = scratch("serve-dir");
    let src = dir.join("src");
    write_file(&src, "index.html", b"<h1>hello</h1>\n");
    write_file(&src, "empty.txt", b"");
    write_file(&src, "assets/logo.bin", &noise(200_000, 3));
    write_file(
        &src,
        "assets/all-bytes",
        &(0..=255u8).rev().cycle().take(10_000).collect::<Vec<_>>(),
    );
    write_file(&src, "scripts/run.sh", b"#!/bin/sh\nexit 0\n");
    std::fs::set_permissions(
        src.join("scripts/run.sh"),
        std::fs::Permissions::from_mode(0o755),
    )
    .expect("chmod");
    write_file(&src, "données/été.txt", "accents\n".as_bytes());
    write_file(&src, "a b/c d.txt", b"spaces\n");
    symlink("../index.html", src.join("scripts/index-link")).expect("symlink");
    let image = dir.join("dir.img");
    make_image(&src, &image, &["--date", "2024-05-01T12:00:00Z"]);
    let (oracle, tree) = oracle_tree(&src, &dir.join("oracle"));

    let mut s = boot(&image);
    assert_eq!(
        s.digest("").expect("digest /"),
        (EntryKind::Dir, tree.clone())
    );
    let info = s.info().expect("info");
    assert!(
        info.iter().any(|(k, v)| k == "tree" && *v == tree),
        "{info:?}"
    );
    for e in ls_tree(&oracle, &tree, &["-r", "-t"]) {
        let what = show(&e.name);
        let st = s
            .stat(&e.name)
            .unwrap_or_else(|err| panic!("stat {what}: {err}"));
        assert_eq!(
            (st.mode, st.kind, hex(&st.id), st.size),
            (e.mode, kind_of(&e), e.id.clone(), e.size),
            "stat {what}"
        );
        match kind_of(&e) {
            EntryKind::Dir => check_listing(&mut s, &oracle, &tree, &e.name),
            EntryKind::Symlink => {
                let target = std::fs::read_link(src.join(&what)).expect("readlink");
                assert_eq!(
                    s.get(&e.name).expect("get link"),
                    target.as_os_str().as_encoded_bytes()
                );
            }
            _ => {
                let b = s
                    .get_blob(&e.name)
                    .unwrap_or_else(|err| panic!("get {what}: {err}"));
                assert_eq!((b.mode, &b.id), (e.mode, &e.id), "{what}");
                assert!(
                    b.data == std::fs::read(src.join(&what)).expect("read"),
                    "bytes of {what}"
                );
            }
        }
    }
    check_listing(&mut s, &oracle, &tree, b"");
    let pid = s.pid();
    assert_eq!(s.quit().expect("quit"), Exit::Success);
    assert_gone(pid);
}

const MANY: usize = 20_000;

fn many_path(i: usize) -> String {
    format!("dir{:03}/sub{}/file-{i:05}.txt", i / 100, i % 3)
}

#[test]
fn twenty_thousand_files_boot_and_serve() {
    let dir = scratch("serve-many");
    let src = dir.join("src");
    for i in 0..MANY {
        write_file(
            &src,
            many_path(i),
            format!("content of file {i}\n")
                .repeat(1 + i % 5)
                .as_bytes(),
        );
    }
    let image = dir.join("many.img");
    make_image(&src, &image, &[]);
    let (oracle, tree) = oracle_tree(&src, &dir.join("oracle"));

    let mut s = boot(&image);
    assert_eq!(
        s.ready().num("files"),
        Some(MANY as u64),
        "{}",
        s.ready().line
    );
    assert_eq!(s.ready().num("dirs"), Some(200 + 600), "{}", s.ready().line);
    // The root tree id covers every name, mode and blob id below it.
    assert_eq!(s.digest("/").expect("digest /").1, tree);
    for i in (0..MANY).step_by(97) {
        let p = many_path(i);
        assert!(
            s.get(&p).unwrap_or_else(|e| panic!("get {p}: {e}"))
                == std::fs::read(src.join(&p)).expect("read"),
            "bytes of {p}"
        );
    }
    for d in [b"".as_slice(), b"dir000", b"dir123/sub2", b"dir199/sub0"] {
        check_listing(&mut s, &oracle, &tree, d);
    }
    let pid = s.pid();
    assert_eq!(s.quit().expect("quit"), Exit::Success);
    assert_gone(pid);
}
