//! The request loop against stock git: every answer decoded the way the host harness
//! does (through the console's echo and output quirks) and compared with git's own.

use super::*;
use gitfs::fs::Fs;
use gitfs::tree::testimage::{corrupt_image, noise, Entry, Repo};
use gitfs_console::{encode_request, parse_info, parse_records, Client, Decoder, Response};
use gitfs_format::{object_id, ObjectKind};
use gitfs_testkit::console::{echo, output as console_out};

/// The real request loop behind a byte stream, as the host sees it over the Hermit
/// console: each line written is served, and what comes back is its echo, then the
/// output, both through the console's transformations.
struct Loopback<'a> {
    fs: &'a mut Fs<Vec<u8>>,
    line: Vec<u8>,
    wire: std::collections::VecDeque<u8>,
    exits: Vec<ExitRequest>,
}

impl std::io::Write for Loopback<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        for &b in buf {
            self.line.push(b);
            if b == b'\n' {
                let line = std::mem::take(&mut self.line);
                let mut out = Vec::new();
                self.exits.push(serve(self.fs, &line[..], &mut out));
                self.wire.extend(console_out(&echo(&line)));
                self.wire.extend(console_out(&out));
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl std::io::Read for Loopback<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.wire.len());
        for (d, s) in buf.iter_mut().zip(self.wire.drain(..n)) {
            *d = s;
        }
        Ok(n)
    }
}

/// Serves `input` to its end; every response, each complete and undamaged.
fn serve_all(fs: &mut Fs<Vec<u8>>, input: &[u8]) -> Vec<Response> {
    let mut out = Vec::new();
    assert_eq!(serve(fs, input, &mut out), ExitRequest::EndOfInput);
    decode_all(&out, Framing::Escaped)
}

/// Every response in `out`, each complete and undamaged.
fn decode_all(out: &[u8], framing: Framing) -> Vec<Response> {
    let mut d = Decoder::new().with_framing(framing);
    let mut rest = out;
    let mut all = Vec::new();
    while !rest.is_empty() {
        let (n, r) = d.feed(rest);
        rest = &rest[n..];
        all.push(r.expect("complete").expect("well-formed"));
    }
    all
}

/// A framed request through the harness's own client, over the real loop: exactly one
/// response, all bytes used.
fn request(fs: &mut Fs<Vec<u8>>, req: &Request) -> Response {
    let stream = Loopback {
        fs,
        line: Vec::new(),
        wire: Default::default(),
        exits: Vec::new(),
    };
    let mut client = Client::new(stream);
    let resp = client
        .request(req)
        .unwrap_or_else(|e| panic!("{req:?}: {e}"));
    assert!(
        client.take_buffered().is_empty() && client.get_mut().wire.is_empty(),
        "trailing bytes after the response to {req:?}"
    );
    let expect_exit = if *req == Request::Quit {
        ExitRequest::Quit
    } else {
        ExitRequest::EndOfInput
    };
    assert_eq!(client.get_mut().exits, [expect_exit]);
    resp
}

fn ok_payload(resp: Response) -> (Vec<String>, Vec<u8>) {
    match resp {
        Response::Ok { fields, payload } => (fields, payload),
        Response::Err { code, message } => panic!("error {code}: {message}"),
    }
}

fn err_code(resp: Response) -> ErrorCode {
    resp.error_code()
        .unwrap_or_else(|| panic!("expected an error, got {resp:?}"))
}

/// Names with every awkward byte; binary data; deltas; all entry kinds.
fn sample_repo() -> Repo {
    let all: Vec<u8> = (0..=255u8).collect();
    let big = noise(700_000, 3);
    let mut big2 = big.clone();
    big2[1000..1100].fill(0x7F);
    let mut text = String::new();
    for i in 0..2000 {
        text.push_str(&format!("line {i} of a text file\n"));
    }
    let entries = vec![
        Entry::file("README.md", b"# sample\n\nhello\n"),
        Entry::file("empty", b""),
        Entry::file("bin/all-bytes", &all),
        Entry::file("bin/big", &big),
        Entry::file("bin/big2", &big2),
        Entry::exec("bin/tool.sh", b"#!/bin/sh\necho tool\n"),
        Entry::file("docs/text.txt", text.as_bytes()),
        Entry::file(
            "docs/text2.txt",
            text.replace("of a", "of another").as_bytes(),
        ),
        Entry::file("docs/deep/er/still/x", b"deep\n"),
        Entry::file("names/sp ace", b"1"),
        Entry::file(&b"names/new\nline"[..], b"2"),
        Entry::file(&b"names/del\x7f bs\x08 esc\x10"[..], b"3"),
        Entry::file("names/pct%41", b"4"),
        Entry::file("names/@at", b"5"),
        Entry::file("names/=OK 1", b"6"),
        Entry::file("names/utf8-\u{e9}", b"7"),
        Entry::file(&b"names/high\xff\xfe"[..], b"8"),
        Entry::file("names/tab\there", b"9"),
        Entry::symlink("link", "docs/text.txt"),
        Entry::symlink("names/dangling", "../nowhere"),
        Entry::submodule("vendor/lib", "0123456789abcdef0123456789abcdef01234567"),
    ];
    Repo::new(&entries).unwrap()
}

/// `git ls-tree -r -t -z HEAD`: (mode, type, id, path).
fn ls_tree_all(repo: &Repo) -> Vec<(u32, String, String, Vec<u8>)> {
    let out = repo
        .git(&["ls-tree", "-r", "-t", "-z", "HEAD"], None)
        .unwrap();
    out.split(|&b| b == 0)
        .filter(|r| !r.is_empty())
        .map(|r| {
            let tab = r.iter().position(|&b| b == b'\t').unwrap();
            let meta = String::from_utf8(r[..tab].to_vec()).unwrap();
            let w: Vec<&str> = meta.split(' ').collect();
            (
                u32::from_str_radix(w[0], 8).unwrap(),
                w[1].to_string(),
                w[2].to_string(),
                r[tab + 1..].to_vec(),
            )
        })
        .collect()
}

fn hex(id: &[u8; 20]) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn every_file_equals_git_cat_file() {
    let repo = sample_repo();
    let mut fs = Fs::open(repo.image().unwrap()).unwrap();
    let mut checked = 0;
    for (mode, ty, id, path) in ls_tree_all(&repo) {
        if ty != "blob" {
            continue;
        }
        let want = repo.git(&["cat-file", "blob", &id], None).unwrap();
        let (fields, payload) = ok_payload(request(&mut fs, &Request::Get(path.clone())));
        assert_eq!(payload, want, "{}", show(&path));
        let kind = kind_of(EntryMode::from_mode(mode).unwrap());
        assert_eq!(fields, [kind.as_str(), &format!("{mode:06o}"), &id]);
        // The check a host makes on its own: the bytes hash to the announced id.
        assert_eq!(object_id(ObjectKind::Blob, &payload).to_string(), id);
        checked += 1;
    }
    assert_eq!(checked, 20);
}

/// mode, kind, size, id, name
type Row = (u32, String, Option<u64>, String, Vec<u8>);

#[test]
fn listings_equal_git_ls_tree() {
    let repo = sample_repo();
    let mut fs = Fs::open(repo.image().unwrap()).unwrap();
    let head_tree = repo.git_text(&["rev-parse", "HEAD^{tree}"]).unwrap();
    let mut dirs = vec![(Vec::new(), head_tree.trim().to_string())];
    dirs.extend(
        ls_tree_all(&repo)
            .into_iter()
            .filter(|e| e.1 == "tree")
            .map(|e| (e.3, e.2)),
    );
    for (dir, tree_id) in dirs {
        let (fields, payload) = ok_payload(request(&mut fs, &Request::Ls(dir.clone())));
        let got = parse_records(&payload).unwrap();
        let out = repo.git(&["ls-tree", "-z", "-l", &tree_id], None).unwrap();
        let mut want: Vec<Row> = out
            .split(|&b| b == 0)
            .filter(|r| !r.is_empty())
            .map(|r| {
                let tab = r.iter().position(|&b| b == b'\t').unwrap();
                let meta = String::from_utf8(r[..tab].to_vec()).unwrap();
                let w: Vec<&str> = meta.split_whitespace().collect();
                let mode = u32::from_str_radix(w[0], 8).unwrap();
                let kind = kind_of(EntryMode::from_mode(mode).unwrap())
                    .as_str()
                    .to_string();
                (
                    mode,
                    kind,
                    w[3].parse().ok(),
                    w[2].to_string(),
                    r[tab + 1..].to_vec(),
                )
            })
            .collect();
        want.sort_by(|a, b| a.4.cmp(&b.4));
        let got: Vec<_> = got
            .into_iter()
            .map(|r| {
                (
                    r.mode,
                    r.kind.as_str().to_string(),
                    r.size,
                    hex(&r.id),
                    r.name,
                )
            })
            .collect();
        assert_eq!(got, want, "directory {}", show(&dir));
        assert_eq!(fields, [want.len().to_string()]);
    }
}

#[test]
fn ranges_stat_digest_info() {
    let repo = sample_repo();
    let mut fs = Fs::open(repo.image().unwrap()).unwrap();
    let big = repo
        .git(&["cat-file", "blob", "HEAD:bin/big2"], None)
        .unwrap();
    let id = repo.git_text(&["rev-parse", "HEAD:bin/big2"]).unwrap();
    let n = big.len() as u64;
    for (off, len) in [
        (0, 1),
        (999, 200),
        (n - 10, 100),
        (n, 0),
        (n, 5),
        (12345, 65536 * 3),
    ] {
        let req = Request::Range {
            offset: off,
            len,
            path: b"bin/big2".to_vec(),
        };
        let (fields, payload) = ok_payload(request(&mut fs, &req));
        let end = (off + len).min(n) as usize;
        assert_eq!(payload, &big[off as usize..end], "{off}+{len}");
        assert_eq!(fields, [n.to_string(), id.trim().to_string()]);
    }
    let past = Request::Range {
        offset: n + 1,
        len: 1,
        path: b"bin/big2".to_vec(),
    };
    assert_eq!(err_code(request(&mut fs, &past)), ErrorCode::BadRange);

    let (_, payload) = ok_payload(request(&mut fs, &Request::Stat(b"bin/tool.sh".to_vec())));
    let rec = parse_records(&payload).unwrap().remove(0);
    assert_eq!(
        (rec.mode, rec.kind, rec.size),
        (0o100755, Kind::Exec, Some(20))
    );
    assert_eq!(rec.name, b"bin/tool.sh");
    let (_, payload) = ok_payload(request(&mut fs, &Request::Stat(b"vendor/lib".to_vec())));
    let rec = parse_records(&payload).unwrap().remove(0);
    assert_eq!((rec.kind, rec.size), (Kind::Submodule, None));
    assert_eq!(hex(&rec.id), "0123456789abcdef0123456789abcdef01234567");

    let (fields, payload) = ok_payload(request(&mut fs, &Request::Digest(b"docs/".to_vec())));
    assert_eq!(fields, ["dir"]);
    let want = repo.git_text(&["rev-parse", "HEAD:docs"]).unwrap();
    assert_eq!(String::from_utf8(payload).unwrap(), want.trim());

    fs.set_boot_figures(gitfs::fs::BootFigures {
        boot_ms: Some(1234),
        tree_ms: Some(5),
        heap_bytes: None,
    });
    let (_, payload) = ok_payload(request(&mut fs, &Request::Info));
    let info = parse_info(&payload);
    let get = |k: &str| info.iter().find(|(a, _)| a == k).map(|(_, v)| v.clone());
    let commit = repo.git_text(&["rev-parse", "HEAD"]).unwrap();
    assert_eq!(get("commit").as_deref(), Some(commit.trim()));
    assert_eq!(get("files").as_deref(), Some("18"));
    assert_eq!(get("symlinks").as_deref(), Some("2"));
    assert_eq!(get("submodules").as_deref(), Some("1"));
    let git_dirs = ls_tree_all(&repo).iter().filter(|e| e.1 == "tree").count();
    assert_eq!(get("dirs"), Some(git_dirs.to_string()));
    assert_eq!(get("boot_ms").as_deref(), Some("1234"));
    assert_eq!(get("heap_bytes"), None);
    let objects = repo
        .git_text(&["rev-list", "--objects", "--no-walk", "HEAD"])
        .unwrap()
        .lines()
        .count();
    assert_eq!(get("objects"), Some(objects.to_string()));

    let ready = ready_line(&fs, 42, 1000);
    assert_eq!(
        ready,
        format!(
            "gitfs ready commit={} objects={objects} files=18 dirs={git_dirs} boot_ms=42 tree_bytes={} heap_bytes=1000",
            commit.trim(),
            fs.tree().heap_bytes()
        )
    );
}

#[test]
fn errors_are_answered_and_serving_goes_on() {
    let repo = sample_repo();
    let mut fs = Fs::open(repo.image().unwrap()).unwrap();
    let get = |p: &[u8]| Request::Get(p.to_vec());
    for (req, code) in [
        (get(b"nope"), ErrorCode::NotFound),
        (get(b"docs/nope/x"), ErrorCode::NotFound),
        (get(b"docs"), ErrorCode::IsADirectory),
        (get(b""), ErrorCode::IsADirectory),
        (get(b"README.md/x"), ErrorCode::NotADirectory),
        (Request::Ls(b"README.md".to_vec()), ErrorCode::NotADirectory),
        (get(b"docs/../README.md"), ErrorCode::BadPath),
        (get(b"docs//text.txt"), ErrorCode::BadPath),
        (get(b"./README.md"), ErrorCode::BadPath),
        (get(b"README.md\0"), ErrorCode::BadPath),
        (get(b"vendor/lib"), ErrorCode::Unsupported),
    ] {
        assert_eq!(err_code(request(&mut fs, &req)), code, "{req:?}");
    }
    // Malformed and overlong lines, then a request that must still work.
    let mut long = b"@get ".to_vec();
    long.resize(5000, b'a');
    long.push(b'\n');
    let mut input = Vec::new();
    for line in [
        &b"@frobnicate x\n"[..],
        b"@range 1 x f\n",
        b"@get a%zz\n",
        &long,
        b"@get README.md\n",
    ] {
        input.extend_from_slice(line);
    }
    let mut codes = Vec::new();
    for r in serve_all(&mut fs, &input) {
        codes.push(r.error_code());
        if let Response::Ok { payload, .. } = r {
            assert_eq!(payload, b"# sample\n\nhello\n");
        }
    }
    assert_eq!(
        codes,
        [
            Some(ErrorCode::BadRequest),
            Some(ErrorCode::BadRequest),
            Some(ErrorCode::BadRequest),
            Some(ErrorCode::TooLong),
            None
        ]
    );
    // A human's overlong line gets a human error.
    let mut out = Vec::new();
    let mut long = vec![b'x'; 10_000];
    long.extend_from_slice(b"\nping\n");
    serve(&mut fs, &long[..], &mut out);
    let text = String::from_utf8(out).unwrap();
    assert_eq!(
        text,
        format!("error: {}\npong\n", ParseError::TooLong(10_000))
    );
}

#[test]
fn quit_stops_the_loop() {
    let repo = Repo::new(&[Entry::file("a", b"1")]).unwrap();
    let mut fs = Fs::open(repo.image().unwrap()).unwrap();
    ok_payload(request(&mut fs, &Request::Quit));
    let mut out = Vec::new();
    let exit = serve(&mut fs, &b"@ping\r\n@quit\n@ping\n"[..], &mut out);
    assert_eq!(exit, ExitRequest::Quit);
    let mut d = Decoder::new();
    let (n, first) = d.feed(&out);
    let (m, second) = d.feed(&out[n..]);
    assert!(matches!(first, Some(Ok(Response::Ok { .. }))));
    assert!(matches!(second, Some(Ok(Response::Ok { .. }))));
    assert_eq!(n + m, out.len(), "nothing answered after quit");
}

#[test]
fn human_face() {
    let repo = sample_repo();
    let mut fs = Fs::open(repo.image().unwrap()).unwrap();
    let mut out = Vec::new();
    let input = b"help\nls\ncat README.md\ncat names/sp ace\ncat bin/big\nstat link\ncat nope\nls docs/../x\ninfo\nquit\nls\n";
    assert_eq!(serve(&mut fs, &input[..], &mut out), ExitRequest::Quit);
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with(HELP), "{text}");
    let after_help = &text[HELP.len()..];
    let ls_root: Vec<&str> = after_help.lines().take(9).collect();
    assert_eq!(
        ls_root[0],
        format!("{:06o} {:<9} {:>10}  README.md", 0o100644, "file", 16)
    );
    assert!(
        ls_root.iter().any(|l| l.ends_with(" -  bin/")),
        "{ls_root:?}"
    );
    assert_eq!(ls_root[7], "(7 entries)");
    assert!(
        text.contains("# sample\n\nhello\n1\n"),
        "cat output, then a newline-less file"
    );
    assert!(text.contains("(bin/big: binary, 700000 bytes;"));
    let link_id = repo.git_text(&["rev-parse", "HEAD:link"]).unwrap();
    assert!(text.contains(&format!(
        "path: link\nkind: symlink\nmode: 120000\nsize: 13\nid:   {}",
        link_id.trim()
    )));
    assert!(text.contains("error: nope: no such file or directory\n"));
    assert!(text.contains("error: docs/../x: bad path: '.' or '..' in path\n"));
    assert!(text.contains("\nfiles: 18\n"));
    assert!(text.ends_with("bye\n"), "nothing after quit");
}

#[test]
fn corrupt_blob_is_an_error_response() {
    let mut fs = Fs::open(corrupt_image("m").unwrap()).unwrap();
    assert_eq!(
        err_code(request(&mut fs, &Request::Get(b"m".to_vec()))),
        ErrorCode::Corrupt
    );
    let (_, payload) = ok_payload(request(&mut fs, &Request::Get(b"ok".to_vec())));
    assert_eq!(payload, b"fine");
}

/// Images made by the project's imager, when it has been built: served like git.
#[test]
fn imager_images_serve_like_git() {
    let imager = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/debug/imager");
    if !imager.exists() {
        eprintln!("skipped: {} not built", imager.display());
        return;
    }
    let repo = sample_repo();
    let img_path = repo.dir().join("imager.img");
    let out = std::process::Command::new(&imager)
        .args(["make", "-q", "-f"])
        .arg(repo.dir())
        .arg(&img_path)
        .output()
        .unwrap();
    if !out.status.success() {
        eprintln!(
            "skipped: imager failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        return;
    }
    let dev = gitfs::blockdev::FileDevice::open(&img_path).unwrap();
    let mut fs = Fs::open(dev).unwrap();
    let mut n = 0;
    for (_, ty, id, path) in ls_tree_all(&repo) {
        if ty == "blob" {
            let want = repo.git(&["cat-file", "blob", &id], None).unwrap();
            assert_eq!(fs.get(&path).unwrap().data, &want[..], "{}", show(&path));
            n += 1;
        }
    }
    assert_eq!(n, 20);
}

/// Random framed lines (real and made-up paths, odd arguments): each gets exactly one
/// well-formed response and the loop never stops early.
#[test]
fn random_requests_each_get_one_response() {
    let repo = sample_repo();
    let mut fs = Fs::open(repo.image().unwrap()).unwrap();
    let words = [
        "get",
        "ls",
        "stat",
        "digest",
        "range 0 10",
        "range 5 x",
        "info",
        "nope",
        "get a b",
    ];
    let paths: [&[u8]; 8] = [
        b"",
        b"/",
        b"docs",
        b"docs/text.txt",
        b"a/../b",
        b"link",
        b"vendor/lib",
        b"x//y",
    ];
    let mut rng = noise(4000, 99).into_iter();
    let mut input = Vec::new();
    let mut lines = 0;
    while let (Some(a), Some(b), Some(c)) = (rng.next(), rng.next(), rng.next()) {
        let mut path = paths[b as usize % paths.len()].to_vec();
        if c % 4 == 0 {
            path.push(c);
        }
        let mut line = format!("@{} ", words[a as usize % words.len()]).into_bytes();
        let mut enc = String::new();
        gitfs_console::pct_encode(&path, &mut enc);
        line.extend_from_slice(enc.as_bytes());
        line.push(b'\n');
        input.extend_from_slice(&line);
        lines += 1;
    }
    assert_eq!(serve_all(&mut fs, &input).len(), lines);
}

/// The virtio channel's way: every request through `answer_shared` over a locked `Fs`,
/// payloads raw, all requests pipelined in one input; the responses, decoded in order
/// by a raw decoder, equal git's bytes, errors included.
#[test]
fn pipelined_raw_answers_through_the_shared_lock_equal_git() {
    use std::sync::Mutex;
    let repo = sample_repo();
    let fs = Mutex::new(Fs::open(repo.image().unwrap()).unwrap());
    let blobs: Vec<_> = ls_tree_all(&repo)
        .into_iter()
        .filter(|(_, ty, _, _)| ty == "blob")
        .collect();
    let mut input = Vec::new();
    for (_, _, _, path) in &blobs {
        input.extend(encode_request(&Request::Get(path.clone())));
        input.extend(encode_request(&Request::Stat(path.clone())));
    }
    input.extend(encode_request(&Request::Get(b"nope".to_vec())));
    input.extend(encode_request(&Request::Get(b"docs".to_vec())));
    input.extend(encode_request(&Request::Ls(b"names".to_vec())));
    let mut out = Vec::new();
    let lent = |f: &mut dyn FnMut(&mut Fs<Vec<u8>>)| f(&mut fs.lock().unwrap());
    let exit = serve_with(&input[..], &mut out, |line, out| {
        answer_shared(&lent, line, Framing::Raw, out)
    });
    assert_eq!(exit, ExitRequest::EndOfInput);
    let all = decode_all(&out, Framing::Raw);
    assert_eq!(all.len(), 2 * blobs.len() + 3);
    let mut all = all.into_iter();
    for (mode, _, id, path) in &blobs {
        let want = repo.git(&["cat-file", "blob", id], None).unwrap();
        let (fields, payload) = ok_payload(all.next().unwrap());
        assert!(payload == want, "{}", show(path));
        assert_eq!(fields[1..], [format!("{mode:06o}"), id.clone()]);
        let (_, stat) = ok_payload(all.next().unwrap());
        assert_eq!(parse_records(&stat).unwrap()[0].name, *path);
    }
    assert_eq!(err_code(all.next().unwrap()), ErrorCode::NotFound);
    assert_eq!(err_code(all.next().unwrap()), ErrorCode::IsADirectory);
    let (_, names) = ok_payload(all.next().unwrap());
    assert_eq!(parse_records(&names).unwrap().len(), 10);
    // Raw payloads hold the bytes the serial console would have escaped.
    assert!(out.contains(&0x7F) && out.contains(&0x08));
}
