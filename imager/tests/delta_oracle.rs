//! Our delta encoder against git: many edited copies of binary and text files become
//! deltas that `git index-pack --strict` accepts and that read back exactly.

mod common;

use std::ffi::OsStr;

use common::*;

#[test]
fn edited_copies_become_deltas_git_accepts() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("dir");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let mut rng = Xorshift::new(2024);
    let mut bin = rng.bytes(150_000);
    let mut text: Vec<u8> = (0..4000)
        .flat_map(|i| format!("line {} {}\n", i, i % 13).into_bytes())
        .collect();
    for v in 0..60 {
        for data in [&mut bin, &mut text] {
            for _ in 0..1 + rng.next_u64() % 6 {
                let at = (rng.next_u64() as usize) % data.len();
                match rng.next_u64() % 4 {
                    0 => {
                        let n = (rng.next_u64() % 400) as usize;
                        let ins = rng.bytes(n);
                        data.splice(at..at, ins);
                    }
                    1 => {
                        let end = (at + (rng.next_u64() % 3000) as usize).min(data.len());
                        data.drain(at..end);
                    }
                    2 => data[at] ^= 0xff,
                    _ => {
                        // Move a block: copies out of order.
                        let end = (at + (rng.next_u64() % 5000) as usize).min(data.len());
                        let block: Vec<u8> = data.drain(at..end).collect();
                        let to = (rng.next_u64() as usize) % (data.len() + 1);
                        data.splice(to..to, block);
                    }
                }
            }
        }
        std::fs::write(dir.join(format!("v{v:02}.bin")), &bin).expect("write");
        std::fs::write(dir.join(format!("v{v:02}.txt")), &text).expect("write");
    }
    let image = tmp.path().join("d.img");
    let out = imager()
        .args([
            OsStr::new("make"),
            dir.as_os_str(),
            image.as_os_str(),
            OsStr::new("-q"),
        ])
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let info = imager()
        .args([OsStr::new("info"), image.as_os_str(), OsStr::new("--json")])
        .output()
        .expect("run");
    let info: serde_json::Value = serde_json::from_slice(&info.stdout).expect("json");
    assert!(
        info["ofs_deltas"].as_u64().unwrap_or(0) >= 100,
        "deltas: {}",
        info["ofs_deltas"]
    );
    // The image is far smaller than the files: the deltas work.
    let raw = info["object_bytes"].as_u64().expect("bytes");
    assert!(info["image_len"].as_u64().expect("len") * 8 < raw, "{info}");

    let bytes = std::fs::read(&image).expect("read");
    let ((po, pl), (io, il)) = sections(&bytes);
    git(tmp.path(), &["init", "-q", "--bare", "check.git"]);
    let pack = tmp.path().join("x.pack");
    let idx = tmp.path().join("x.idx");
    std::fs::write(&pack, &bytes[po..po + pl]).expect("write");
    let check = tmp.path().join("check.git");
    git(
        &check,
        &[
            "index-pack",
            "--strict",
            "-o",
            idx.to_str().expect("utf-8"),
            pack.to_str().expect("utf-8"),
        ],
    );
    assert!(std::fs::read(&idx).expect("idx") == bytes[io..io + il]);
    // git unpacks every object (resolving our deltas) and agrees on each file.
    let cloned = check.clone();
    let unpack = git_cmd(&cloned)
        .args(["unpack-objects", "-q"])
        .stdin(std::fs::File::open(&pack).expect("open"))
        .status()
        .expect("run");
    assert!(unpack.success());
    for e in std::fs::read_dir(&dir).expect("dir") {
        let e = e.expect("entry");
        let name = e.file_name().into_string().expect("utf-8");
        let want = std::fs::read(e.path()).expect("read");
        let got = imager()
            .args([OsStr::new("cat"), image.as_os_str(), OsStr::new(&name)])
            .output()
            .expect("run");
        assert!(got.status.success());
        assert!(got.stdout == want, "{name} differs");
        let path = e.path();
        let id = git_str(&cloned, &["hash-object", path.to_str().expect("utf-8")]);
        assert!(
            git(&cloned, &["cat-file", "blob", &id]) == want,
            "git's copy of {name}"
        );
    }
    let v = imager()
        .args([OsStr::new("verify"), image.as_os_str()])
        .output()
        .expect("run");
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stderr));
}
