//! The virtio-console channel under QEMU TCG: pipelined requests answered in order and
//! equal to git, a serial-console request answered while a large transfer runs on the
//! channel, the choice of transport (auto, serial, virtio) and the fallback to COM1,
//! no QEMU left behind.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use gitfs_console::{Client, Framing, Request, Response};
use gitfs_qemu::channel::{Backend, ChannelStream};
use gitfs_qemu::session::CHANNEL_READY_WORD;
use gitfs_qemu::{blob_id, Error, Exit, Session, Transport, Vm};
use gitfs_tests::assert_gone;

mod common;
use common::{boot_on, disk_config, git, git_text, ls_tree, make_image, noise, show, write_file};

struct Fixture {
    repo: PathBuf,
    image: PathBuf,
}

const BIG: &str = "big/sixteen-mib.bin";

/// Text, binary, empty, executable, symlink, non-ASCII names and a 16 MiB file.
fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("channel");
        let _ = std::fs::remove_dir_all(&dir);
        let repo = dir.join("repo");
        let w = |rel: &str, data: &[u8]| write_file(&repo, rel, data);
        w("README.md", b"# channel\n");
        w("empty", b"");
        let every_byte: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
        w("bin/every-byte.bin", &every_byte);
        w("docs/read me.md", b"spaces\n");
        w("docs/\u{e9}t\u{e9} \u{2603}.txt", b"non-ASCII\n");
        for i in 0..150 {
            w(
                &format!("many/f{i:03}.txt"),
                format!("file {i}\n").repeat(i).as_bytes(),
            );
        }
        let mut big = noise(8 << 20, 11);
        big.extend(b"0123456789abcdef".iter().cycle().take(8 << 20));
        w(BIG, &big);
        std::os::unix::fs::symlink("README.md", repo.join("link")).expect("symlink");
        git(&repo, &["init", "-q", "-b", "main"]);
        git(&repo, &["add", "-A"]);
        git(&repo, &["commit", "-q", "-m", "channel"]);
        let image = dir.join("channel.img");
        make_image(&repo, &image, &[]);
        Fixture { repo, image }
    })
}

fn finish(s: Session) {
    let pid = s.pid();
    assert_eq!(s.quit().expect("quit"), Exit::Success);
    assert_gone(pid);
}

#[test]
fn pipelined_gets_equal_git_in_order() {
    pipelined_gets_on(Backend::Socket);
}

#[test]
fn pipelined_gets_equal_git_in_order_over_fifos() {
    pipelined_gets_on(Backend::Pipe);
}

fn pipelined_gets_on(backend: Backend) {
    let f = fixture();
    let mut config = disk_config(&f.image);
    config.channel = Some(backend);
    let mut s = Session::boot_with(&config, Transport::Virtio).expect("boot");
    assert_eq!(s.transport(), Transport::Virtio);
    assert!(
        s.ready().line.contains(CHANNEL_READY_WORD),
        "{}",
        s.ready().line
    );
    // Every blob (symlinks give their target), the big one among them, then paths that
    // fail, all in one pipelined batch.
    let blobs: Vec<_> = ls_tree(&f.repo, "HEAD", &["-r"]);
    let mut paths: Vec<Vec<u8>> = blobs.iter().map(|e| e.name.clone()).collect();
    paths.push(b"nope".to_vec());
    paths.push(b"docs".to_vec());
    paths.push(b"../x".to_vec());
    paths.push(b"README.md".to_vec());
    let mut seen = Vec::new();
    s.get_each(&paths, |i, got| {
        seen.push(i);
        let what = show(&paths[i]);
        match (i.checked_sub(blobs.len()), got) {
            (None, Ok(b)) => {
                let e = &blobs[i];
                assert_eq!((b.mode, &b.id), (e.mode, &e.id), "{what}");
                assert!(
                    b.data == git(&f.repo, &["cat-file", "blob", &e.id]),
                    "{what}: bytes differ from git"
                );
            }
            (Some(0), Err(e)) => assert_eq!(e.remote_code(), Some("not-found"), "{e}"),
            (Some(1), Err(e)) => assert_eq!(e.remote_code(), Some("is-a-directory"), "{e}"),
            (Some(2), Err(e)) => assert_eq!(e.remote_code(), Some("bad-path"), "{e}"),
            (Some(3), Ok(b)) => assert_eq!(b.data, b"# channel\n"),
            (_, other) => panic!("{what}: unexpected {other:?}"),
        }
        Ok::<(), Error>(())
    })
    .expect("pipelined gets");
    assert_eq!(
        seen,
        (0..paths.len()).collect::<Vec<_>>(),
        "responses in order"
    );
    // Listings pipelined too, then plain requests on the same channel.
    let dirs = [&b""[..], b"docs", b"many", b"README.md"];
    let mut counts = Vec::new();
    s.ls_each(&dirs, |_, r| {
        counts.push(
            r.map(|v| v.len())
                .map_err(|e| e.remote_code().map(str::to_string)),
        );
        Ok::<(), Error>(())
    })
    .expect("pipelined ls");
    assert_eq!(
        counts,
        [
            Ok(7),
            Ok(2),
            Ok(150),
            Err(Some("not-a-directory".to_string()))
        ]
    );
    let head = git_text(&f.repo, &["rev-parse", "HEAD"]);
    let info = s.info().expect("info");
    assert!(
        info.iter().any(|(k, v)| k == "commit" && *v == head),
        "{info:?}"
    );
    // A failing callback stops the batch but leaves the channel in step.
    let r = s.get_each(&paths, |i, _| {
        if i == 2 {
            Err(Error::Protocol("stop here".into()))
        } else {
            Ok(())
        }
    });
    assert!(matches!(r, Err(Error::Protocol(_))), "{r:?}");
    assert_eq!(
        s.get("README.md").expect("get after a stopped batch"),
        b"# channel\n"
    );
    finish(s);
}

#[test]
fn serial_console_answers_while_a_large_transfer_runs() {
    let f = fixture();
    let want = git(&f.repo, &["cat-file", "blob", &format!("HEAD:{BIG}")]);
    let mut config = disk_config(&f.image);
    config.channel = Some(Backend::Socket);
    let mut vm = Vm::boot(&config).expect("boot");
    let pid = vm.pid();
    let stream = vm.connect_channel().expect("channel");
    let reader = std::thread::spawn(move || {
        let stream = ChannelStream::new(stream, Duration::from_secs(60)).expect("stream");
        let mut client = Client::new(stream).with_framing(Framing::Raw);
        let mut spans = Vec::new();
        // Several rounds so the transfers span many console round trips.
        for _ in 0..4 {
            let start = Instant::now();
            let resp = client
                .request(&Request::Get(BIG.as_bytes().to_vec()))
                .expect("big get");
            spans.push((start, Instant::now()));
            let Response::Ok { payload, .. } = resp else {
                panic!("big get: {resp:?}");
            };
            assert_eq!(
                blob_id(&payload),
                blob_id(&want),
                "big file over the channel"
            );
        }
        spans
    });
    // Meanwhile, a person's requests on COM1.
    let mut answered = Vec::new();
    while !reader.is_finished() {
        assert_eq!(vm.request("ping").expect("ping on COM1"), "pong");
        answered.push(Instant::now());
    }
    let spans = reader.join().expect("reader thread");
    let during = answered
        .iter()
        .filter(|t| spans.iter().any(|(a, b)| a < *t && *t < b))
        .count();
    assert!(
        during >= 2,
        "only {during} of {} console answers came while the channel was transferring",
        answered.len()
    );
    assert_eq!(vm.stop().expect("stop"), Exit::Success);
    assert_gone(pid);
}

#[test]
fn transports_auto_serial_virtio_and_the_fallback() {
    let f = fixture();
    let readme = b"# channel\n";
    // auto: the channel, since this kernel serves it.
    let mut s = boot_on(&f.image, Transport::Auto);
    assert_eq!(s.transport(), Transport::Virtio);
    assert_eq!(s.get("README.md").expect("get"), readme);
    finish(s);
    // serial: no device attached, the kernel says nothing of a channel, COM1 serves.
    let mut s = boot_on(&f.image, Transport::Serial);
    assert_eq!(s.transport(), Transport::Serial);
    assert!(!s.ready().line.contains("channel="), "{}", s.ready().line);
    assert_eq!(s.get("README.md").expect("get"), readme);
    let every = s.get("bin/every-byte.bin").expect("get binary on COM1");
    assert_eq!(every.len(), 70_000);
    finish(s);
    // A kernel that does not serve the channel (the diagnostic console, no image): auto
    // falls back to COM1, virtio refuses with a clear error.
    let mut config = gitfs_tests::config();
    config.channel = Some(Backend::Socket);
    let s = Session::boot_with(&config, Transport::Auto).expect("auto boot");
    assert_eq!(s.transport(), Transport::Serial);
    let pid = s.pid();
    drop(s);
    assert_gone(pid);
    match Session::boot_with(&config, Transport::Virtio) {
        Err(Error::NoChannel(why)) => assert!(why.contains(CHANNEL_READY_WORD), "{why}"),
        Err(e) => panic!("expected NoChannel, got {e}"),
        Ok(_) => panic!("virtio was required and accepted without a channel"),
    }
}
