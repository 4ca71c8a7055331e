//! gitfs behind `std::fs` in plain Hermit apps (crate `gitfs`), booted under QEMU TCG
//! and checked against stock git: the `walk` example against `git ls-tree -r -l`, the
//! `fsprobe` kit for seeks, metadata, errors, refused writes and threads, a corrupt
//! blob, and the `webserver` example serving every file.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use gitfs_qemu::{artifacts, Vm, VmConfig};
use gitfs_tests::assert_gone;

mod common;
use common::{git, git_text, ls_tree, make_image, noise, workspace_bin};

struct Fixture {
    dir: PathBuf,
    repo: PathBuf,
    image: PathBuf,
    commit_time: u64,
}

const BIG: &str = "data/big.bin";

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("std-fs");
        let _ = std::fs::remove_dir_all(&dir);
        let repo = dir.join("repo");
        let w = |p: &str, data: &[u8]| {
            let path = repo.join(p);
            std::fs::create_dir_all(path.parent().unwrap()).expect("mkdir");
            std::fs::write(path, data).expect("write");
        };
        std::fs::create_dir_all(&repo).expect("mkdir");
        git(&repo, &["init", "-q", "-b", "main"]);
        w("README.md", b"# std::fs on gitfs\n");
        w("empty", b"");
        w("docs/read me.md", b"a name with a space\n");
        w(
            "docs/\u{e9}t\u{e9} \u{65e5}\u{672c}.txt",
            b"non-ASCII name\n",
        );
        w("docs/say \"hi\".txt", b"quotes in a name\n");
        w("a/b/c/d/e/f/g/h/deep.txt", b"deep\n");
        w(BIG, &noise(3 << 20, 5));
        for i in 0..8 {
            w(
                &format!("many/f{i}.bin"),
                &noise(150_000 + i * 777, 100 + i as u64),
            );
        }
        w("bin/run.sh", b"#!/bin/sh\necho run\n");
        let link = |target: &str, at: &str| {
            std::os::unix::fs::symlink(target, repo.join(at)).expect("symlink");
        };
        link("docs/read me.md", "link-inside");
        link("a/b", "link-dir");
        link("../../../etc/passwd", "docs/link-outside");
        link("missing", "link-dangling");
        git(&repo, &["add", "-A"]);
        git(&repo, &["update-index", "--chmod=+x", "bin/run.sh"]);
        let sub = "160000,0123456789abcdef0123456789abcdef01234567,sub";
        git(&repo, &["update-index", "--add", "--cacheinfo", sub]);
        git(&repo, &["commit", "-q", "-m", "std fs fixture"]);
        let image = dir.join("fixture.img");
        make_image(&repo, &image, &[]);
        let commit_time = git_text(&repo, &["log", "-1", "--format=%ct"])
            .parse()
            .expect("commit time");
        Fixture {
            dir,
            repo,
            image,
            commit_time,
        }
    })
}

fn app(name: &str) -> PathBuf {
    artifacts::find_or_build_app(&artifacts::repo_root(), name)
        .unwrap_or_else(|e| panic!("building the {name} app: {e}"))
}

fn app_config(name: &str, image: &Path) -> VmConfig {
    let mut c = gitfs_tests::config();
    c.app_args.clear();
    c.disk = Some(image.to_path_buf());
    if let Some(a) = c.artifacts.as_mut() {
        a.kernel = app(name);
    }
    c
}

fn sha1_hex(data: &[u8]) -> String {
    sha1_smol::Sha1::from(data).digest().to_string()
}

fn blob(repo: &Path, path: &str) -> Vec<u8> {
    git(repo, &["cat-file", "blob", &format!("HEAD:{path}")])
}

#[test]
fn walk_prints_what_git_ls_tree_prints() {
    let f = fixture();
    let out = Command::new(workspace_bin("gitfs-qemu", "gitfs-qemu"))
        .args(["app", "walk", "--disk"])
        .arg(&f.image)
        .output()
        .expect("running gitfs-qemu app walk");
    common::succeeded(&out, "walk");
    let want = git(
        &f.repo,
        &["-c", "core.quotePath=false", "ls-tree", "-r", "-l", "HEAD"],
    );
    let want: Vec<&[u8]> = want
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty() && !l.starts_with(b"160000 "))
        .collect();
    let got: Vec<&[u8]> = out
        .stdout
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    let show = |v: &[&[u8]]| {
        v.iter()
            .map(|l| String::from_utf8_lossy(l).into_owned())
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(show(&got), show(&want));
    assert_eq!(got.len(), 20, "16 files and 4 links");
}

/// One probe boot for the read-side checks (a boot costs seconds under TCG).
#[test]
fn std_fs_reads_seeks_metadata_and_errors() {
    let f = fixture();
    let before = std::fs::read(&f.image).expect("image");
    let mut vm = Vm::boot(&app_config("fsprobe", &f.image)).expect("booting fsprobe");
    let pid = vm.pid();
    let mut ask = |req: &str| vm.request(req).unwrap_or_else(|e| panic!("{req}: {e}"));

    // Every file and link target through fs::read, against git's blobs.
    for e in ls_tree(&f.repo, "HEAD", &["-r"]) {
        let path = String::from_utf8(e.name.clone()).expect("UTF-8 names");
        match e.mode {
            0o160000 => {
                // An empty directory, which std's Hermit backend cannot list (it turns
                // getdents64's 0 into "os error 0"): the probe, like `walk`, reads that
                // as empty.
                assert_eq!(ask(&format!("ls\t{path}")), "ok ", "submodule: empty dir");
                let s = ask(&format!("stat\t{path}"));
                assert!(s.starts_with("ok dir 40755 "), "{path}: {s}");
            }
            0o120000 => {
                let target = String::from_utf8(blob(&f.repo, &path)).unwrap();
                assert_eq!(ask(&format!("readlink\t{path}")), format!("ok {target}"));
                let l = ask(&format!("lstat\t{path}"));
                assert!(l.starts_with("ok symlink 120777 "), "{path}: {l}");
            }
            mode => {
                let data = blob(&f.repo, &path);
                let got = ask(&format!("read\t{path}"));
                assert_eq!(
                    got,
                    format!("ok {} {}", data.len(), sha1_hex(&data)),
                    "{path}"
                );
                let perm = if mode == 0o100755 { "100755" } else { "100644" };
                let want = format!("ok file {perm} {} {} false", data.len(), f.commit_time);
                assert_eq!(ask(&format!("stat\t{path}")), want, "{path}");
                assert_eq!(ask(&format!("fstat\t{path}")), want, "{path}");
            }
        }
    }

    // Seeks from the start, the current position and the end, then reads.
    let big = blob(&f.repo, BIG);
    let n = big.len() as i64;
    let mut rng = gitfs_testkit::Xorshift::new(0x9e37_79b9_7f4a_7c15);
    let mut ops = Vec::new();
    let mut want = vec!["ok".to_string()];
    let mut pos: i64 = 0;
    for i in 0..60 {
        let x = rng.next_u64();
        let len = (x % 70_000) as i64;
        let (op, target) = match i % 3 {
            0 => {
                let off = ((x >> 20) % (n as u64 + 100)) as i64;
                (format!("s{off}:{len}"), off)
            }
            1 => {
                let back = ((x >> 24) % 50_000) as i64;
                let off = -back.min(pos);
                (format!("c{off}:{len}"), pos + off)
            }
            _ => {
                let off = -(((x >> 28) % (n as u64)) as i64);
                (format!("e{off}:{len}"), n + off)
            }
        };
        let start = target.clamp(0, n) as usize;
        let end = (target + len).clamp(0, n) as usize;
        let got = &big[start.min(end)..end];
        want.push(format!("{target}:{}:{}", got.len(), sha1_hex(got)));
        pos = target + got.len() as i64;
        ops.push(op);
    }
    assert_eq!(
        ask(&format!("seek\t{BIG}\t{}", ops.join(","))),
        want.join(" ")
    );

    // Directories, links and existence.
    assert_eq!(ask("ls\tlink-dir"), "ok d:c");
    let root = ask("ls\t");
    for entry in [
        "f:README.md",
        "d:docs",
        "l:link-inside",
        "l:link-dir",
        "d:sub",
        "f:empty",
    ] {
        assert!(
            root.split(['\t', ' ']).any(|e| e == entry),
            "{entry} in {root}"
        );
    }
    assert_eq!(ask("read\tlink-inside"), ask("read\tdocs/read me.md"));
    assert_eq!(
        ask("read\tlink-dir/c/d/e/f/g/h/deep.txt"),
        ask("read\ta/b/c/d/e/f/g/h/deep.txt")
    );
    let d = ask("stat\tlink-dir");
    assert!(d.starts_with("ok dir 40755 "), "{d}");
    assert!(ask("stat\t").starts_with("ok dir 40755 "));
    assert_eq!(ask("exists\tREADME.md"), "ok true");
    assert_eq!(ask("exists\tnope"), "ok false");
    assert_eq!(ask("exists\tlink-dangling"), "ok false");

    // Errors, each with its kind.
    assert_eq!(ask("read\tnope"), "err NotFound 2");
    assert_eq!(ask("read\tdocs/link-outside"), "err NotFound 2");
    assert_eq!(ask("read\tlink-dangling"), "err NotFound 2");
    assert_eq!(ask("read\tdocs"), "err IsADirectory 21");
    assert_eq!(ask("read\tREADME.md/x"), "err NotADirectory 20");
    assert_eq!(ask("ls\tREADME.md"), "err NotADirectory 20");
    assert_eq!(ask("stat\t../etc"), "err NotFound 2");
    // Paths as POSIX spells them: empty components and `.` are nothing, a file
    // followed by `/` is not a directory.
    assert_eq!(
        ask("read\t.//docs/./read me.md"),
        ask("read\tdocs/read me.md")
    );
    assert!(ask("stat\tdocs/").starts_with("ok dir 40755 "));
    assert_eq!(ask("read\tREADME.md/"), "err NotADirectory 20");

    // Nothing changes the image; the rest of the VFS keeps working.
    let w = ask("writes\tdocs/read me.md");
    for (call, want) in [
        ("create", "ReadOnlyFilesystem/30"),
        ("create_new", "ReadOnlyFilesystem/30"),
        ("write", "ReadOnlyFilesystem/30"),
        ("append", "ReadOnlyFilesystem/30"),
        ("truncate", "ReadOnlyFilesystem/30"),
        // Writing to a descriptor opened for reading: EBADF, as on Linux.
        ("write_all", "Uncategorized/9"),
        ("remove_file", "ReadOnlyFilesystem/30"),
        ("create_dir", "ReadOnlyFilesystem/30"),
        ("remove_dir", "ReadOnlyFilesystem/30"),
        // std's Hermit backend answers these itself, without asking the kernel.
        ("set_len", "InvalidInput/22"),
        ("rename", "Unsupported/0"),
    ] {
        assert!(w.contains(&format!(" {call}={want}")), "{call}: {w}");
    }
    let data = blob(&f.repo, "docs/read me.md");
    assert_eq!(
        ask("read\tdocs/read me.md"),
        format!("ok {} {}", data.len(), sha1_hex(&data))
    );
    assert_eq!(ask("exists\tdocs/probe-new-file"), "ok false");
    assert_eq!(ask("tmp"), "ok kept true");

    // Eight threads reading eight files at once.
    let files: Vec<String> = (0..8).map(|i| format!("many/f{i}.bin")).collect();
    let want: Vec<String> = files.iter().map(|p| sha1_hex(&blob(&f.repo, p))).collect();
    let got = ask(&format!("threads\t8\t3\t{}", files.join("\t")));
    assert_eq!(got, format!("ok {}", want.join(" ")));
    // Four threads reading one descriptor: its position is shared, so their chunks
    // tile the file, each range once (the app matches them against `fs::read`,
    // checked against git above).
    assert_eq!(
        ask(&format!("shared\t4\t4099\t{BIG}")),
        format!("ok chunks={} bytes={}", big.len().div_ceil(4099), big.len())
    );

    assert_eq!(vm.stop().expect("stop"), gitfs_qemu::Exit::Success);
    assert_gone(pid);
    assert_eq!(
        std::fs::read(&f.image).expect("image"),
        before,
        "the image changed"
    );
}

#[test]
fn a_corrupt_blob_is_an_error_never_bytes() {
    let f = fixture();
    let dir = f.dir.join("corrupt");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let victim = noise(40_000, 77);
    std::fs::write(dir.join("victim.bin"), &victim).expect("write");
    std::fs::write(dir.join("ok.txt"), b"fine\n").expect("write");
    let image = f.dir.join("corrupt.img");
    make_image(&dir, &image, &["--level", "0"]);
    let mut bytes = std::fs::read(&image).expect("image");
    let at = bytes
        .windows(64)
        .position(|w| w == &victim[1000..1064])
        .expect("victim stored verbatim at level 0");
    bytes[at + 10] ^= 0x55;
    std::fs::write(&image, &bytes).expect("write image");
    let mut vm = Vm::boot(&app_config("fsprobe", &image)).expect("boot");
    let pid = vm.pid();
    // The crate says on stderr what is corrupt, then the app sees EIO.
    let said = vm.request("read\tvictim.bin").unwrap();
    assert!(
        said.starts_with("gitfs: victim.bin: corrupt image: "),
        "{said}"
    );
    let answer = vm.console().read_line(Duration::from_secs(60)).unwrap();
    assert_eq!(answer, "err InvalidData 5");
    assert_eq!(
        vm.request("read\tok.txt").unwrap(),
        format!("ok 5 {}", sha1_hex(b"fine\n"))
    );
    assert_eq!(vm.stop().expect("stop"), gitfs_qemu::Exit::Success);
    assert_gone(pid);
}

#[test]
fn the_webserver_example_serves_every_file() {
    let f = fixture();
    let mut config = app_config("webserver", &f.image);
    let port = gitfs_qemu::http::free_port().expect("free port");
    config.http_port = Some(port);
    let mut vm = Vm::spawn(&config).expect("spawn webserver");
    let pid = vm.pid();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let line = vm
            .console()
            .read_line(deadline.saturating_duration_since(Instant::now()))
            .unwrap_or_else(|e| panic!("waiting for the listener: {e}: {}", vm.transcript()));
        if line.starts_with("webserver listening on 8080") {
            break;
        }
    }
    let get = |path: &str| -> (u16, Vec<u8>) {
        let url = format!("http://127.0.0.1:{port}/{}", encode(path));
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        let resp = agent
            .get(&url)
            .call()
            .unwrap_or_else(|e| panic!("GET {url}: {e}"));
        let status = resp.status().as_u16();
        let mut body = Vec::new();
        resp.into_body()
            .into_reader()
            .read_to_end(&mut body)
            .expect("body");
        (status, body)
    };
    for e in ls_tree(&f.repo, "HEAD", &["-r"]) {
        let path = String::from_utf8(e.name.clone()).unwrap();
        match e.mode {
            0o160000 => {}
            0o120000 if path.contains("outside") || path.contains("dangling") => {
                assert_eq!(get(&path).0, 404, "{path}");
            }
            0o120000 => {}
            _ => assert_eq!(get(&path), (200, blob(&f.repo, &path)), "{path}"),
        }
    }
    assert_eq!(get("link-inside"), (200, blob(&f.repo, "docs/read me.md")));
    assert_eq!(get("nope.html").0, 404);
    drop(vm);
    assert_gone(pid);
}

/// Percent-encodes a path for a URL (every byte but unreserved ones and `/`).
fn encode(path: &str) -> String {
    let mut s = String::new();
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            s.push(b as char);
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    s
}
