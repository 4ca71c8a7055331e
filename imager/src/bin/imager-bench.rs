//! `just bench`: image size, make time and read-all time against stock git (and
//! mksquashfs when installed), on the machine's Python standard library and on a
//! generated tree of 20,000 near-identical pages. Prints a table.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use gitfs_format::object::EntryMode;
use gitfs_format::ObjectId;
use gitfs_imager::inspect::{self, ImageFile};
use gitfs_imager::make::{make, MakeOptions};
use gitfs_imager::progress::Bars;

struct Row {
    corpus: String,
    tool: String,
    bytes: u64,
    make_s: f64,
    read_s: Option<f64>,
}

fn main() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let mut rows = Vec::new();
    let stdlib = python_stdlib(tmp.path())?;
    bench_corpus("python-stdlib", &stdlib, tmp.path(), &mut rows)?;
    let pages = generated_pages(tmp.path())?;
    bench_corpus("pages-20k", &pages, tmp.path(), &mut rows)?;
    print_table(&rows);
    Ok(())
}

fn run(cmd: &mut Command) -> Result<Vec<u8>> {
    let out = cmd.output().with_context(|| format!("run {cmd:?}"))?;
    if !out.status.success() {
        bail!("{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(out.stdout)
}

fn git(dir: &Path) -> Command {
    let mut c = Command::new("git");
    c.current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "bench")
        .env("GIT_AUTHOR_EMAIL", "bench@example.org")
        .env("GIT_COMMITTER_NAME", "bench")
        .env("GIT_COMMITTER_EMAIL", "bench@example.org");
    c
}

/// The Python standard library, without site-packages and __pycache__.
fn python_stdlib(tmp: &Path) -> Result<PathBuf> {
    let out = run(Command::new("python3").args([
        "-c",
        "import sysconfig; print(sysconfig.get_paths()['stdlib'])",
    ]))?;
    let src = PathBuf::from(String::from_utf8(out)?.trim());
    let dst = tmp.join("python-stdlib");
    copy_tree(&src, &dst)?;
    Ok(dst)
}

fn copy_tree(src: &Path, dst: &Path) -> Result<()> {
    std::fs::create_dir_all(dst)?;
    for e in std::fs::read_dir(src)? {
        let e = e?;
        let name = e.file_name();
        if name == "site-packages" || name == "__pycache__" {
            continue;
        }
        let ft = e.file_type()?;
        let to = dst.join(&name);
        if ft.is_dir() {
            copy_tree(&e.path(), &to)?;
        } else if ft.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(e.path())?, &to)?;
        } else if ft.is_file() {
            std::fs::copy(e.path(), &to)?;
        }
    }
    Ok(())
}

/// 20,000 HTML pages built from a few templates with small per-page differences.
fn generated_pages(tmp: &Path) -> Result<PathBuf> {
    let root = tmp.join("pages-20k");
    let mut seed = 0x1234_5678_9abc_def0u64;
    let mut rnd = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let words = [
        "gitfs",
        "pack",
        "delta",
        "hermit",
        "unikernel",
        "tree",
        "blob",
        "commit",
        "image",
        "index",
    ];
    let templates: Vec<String> = (0..8)
        .map(|t| {
            (0..120)
                .map(|l| {
                    format!(
                        "<div class=\"t{t}\">line {l}: {}</div>\n",
                        words[(l * 7 + t) % words.len()]
                    )
                })
                .collect()
        })
        .collect();
    for i in 0..20_000usize {
        let dir = root.join(format!("section{:02}/part{:02}", i % 50, (i / 50) % 20));
        std::fs::create_dir_all(&dir)?;
        let mut page = format!("<html><head><title>Page {i}</title></head><body>\n");
        page.push_str(&templates[i % templates.len()]);
        for _ in 0..(rnd() % 4) {
            page.push_str(&format!(
                "<p>note {} about {}</p>\n",
                rnd() % 100_000,
                words[(rnd() % 10) as usize]
            ));
        }
        page.push_str("</body></html>\n");
        std::fs::write(dir.join(format!("page{i:05}.html")), page)?;
    }
    Ok(root)
}

fn file_size(p: &Path) -> u64 {
    std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
}

fn bench_corpus(name: &str, dir: &Path, tmp: &Path, rows: &mut Vec<Row>) -> Result<()> {
    eprintln!("== {name}: committing");
    run(git(dir).args(["init", "-q"]))?;
    run(git(dir).args(["add", "-A"]))?;
    run(git(dir).args(["commit", "-q", "-m", "bench"]))?;

    // git pack-objects over exactly the commit's objects, 2 threads.
    eprintln!("== {name}: git pack-objects");
    let objects = run(git(dir).args(["rev-list", "--objects", "HEAD"]))?;
    let bare = tmp.join(format!("{name}-git.git"));
    run(Command::new("git")
        .args(["init", "-q", "--bare"])
        .arg(&bare))?;
    let base = bare.join("objects/pack/pack");
    let t = Instant::now();
    let mut child = git(dir)
        .args([
            "pack-objects",
            "--window=10",
            "--depth=50",
            "--threads=2",
            "-q",
        ])
        .arg(&base)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    child.stdin.take().context("stdin")?.write_all(&objects)?;
    let out = child.wait_with_output()?;
    let git_make = t.elapsed().as_secs_f64();
    let hash = String::from_utf8(out.stdout)?.trim().to_string();
    let git_bytes = file_size(&bare.join(format!("objects/pack/pack-{hash}.pack")))
        + file_size(&bare.join(format!("objects/pack/pack-{hash}.idx")));

    // imager make from the same repository, same window, depth and threads.
    eprintln!("== {name}: imager make");
    let mut ours = Vec::new();
    for level in [6u8, 9] {
        let image = tmp.join(format!("{name}-{level}.img"));
        let opts = MakeOptions {
            force: true,
            pack: gitfs_imager::pack::PackOptions {
                level,
                ..Default::default()
            },
            ..Default::default()
        };
        let t = Instant::now();
        make(
            dir.to_str().context("utf-8 path")?,
            &image,
            &opts,
            &Bars::new(true),
        )?;
        ours.push((level, image, t.elapsed().as_secs_f64()));
    }

    // Read every file: our library vs git cat-file --batch on git's pack.
    eprintln!("== {name}: read all");
    let (image6, ids) = {
        let (_, image, _) = &ours[0];
        let mut img = inspect::open(image)?;
        let mut ids = Vec::new();
        let tree = img.header().tree;
        collect_blobs(&mut img, tree, &mut ids)?;
        (image.clone(), ids)
    };
    let t = Instant::now();
    let mut img = inspect::open(&image6)?;
    let mut total = 0usize;
    for id in &ids {
        total += img.read(id)?.data.len();
    }
    let our_read = t.elapsed().as_secs_f64();
    let input: String = ids.iter().map(|id| format!("{id}\n")).collect();
    let t = Instant::now();
    let mut child = Command::new("git")
        .current_dir(&bare)
        .args(["cat-file", "--batch"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    let mut stdin = child.stdin.take().context("stdin")?;
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let mut sink = Vec::new();
    child
        .stdout
        .take()
        .context("stdout")?
        .read_to_end(&mut sink)?;
    child.wait()?;
    let _ = writer.join();
    let git_read = t.elapsed().as_secs_f64();
    if sink.len() < total {
        bail!("git cat-file returned less than the files' bytes");
    }

    rows.push(Row {
        corpus: name.into(),
        tool: "git pack-objects (PACK+IDX)".into(),
        bytes: git_bytes,
        make_s: git_make,
        read_s: Some(git_read),
    });
    for (level, image, secs) in &ours {
        rows.push(Row {
            corpus: name.into(),
            tool: format!("imager make --level {level} (image)"),
            bytes: file_size(image),
            make_s: *secs,
            read_s: (*level == 6).then_some(our_read),
        });
    }
    if Command::new("mksquashfs").arg("-version").output().is_ok() {
        for comp in ["gzip", "xz"] {
            let out = tmp.join(format!("{name}.{comp}.sqfs"));
            let t = Instant::now();
            let ok = Command::new("mksquashfs")
                .arg(dir)
                .arg(&out)
                .args([
                    "-comp",
                    comp,
                    "-noappend",
                    "-quiet",
                    "-no-progress",
                    "-processors",
                    "2",
                    "-e",
                    ".git",
                ])
                .stdout(Stdio::null())
                .status()?
                .success();
            if ok {
                rows.push(Row {
                    corpus: name.into(),
                    tool: format!("mksquashfs -comp {comp}"),
                    bytes: file_size(&out),
                    make_s: t.elapsed().as_secs_f64(),
                    read_s: None,
                });
            }
        }
    }
    Ok(())
}

fn collect_blobs(img: &mut ImageFile, tree: ObjectId, out: &mut Vec<ObjectId>) -> Result<()> {
    for e in img.tree(&tree)? {
        match e.kind() {
            Some(EntryMode::Tree) => collect_blobs(img, e.id, out)?,
            Some(EntryMode::File | EntryMode::Executable | EntryMode::Symlink) => out.push(e.id),
            _ => {}
        }
    }
    Ok(())
}

fn print_table(rows: &[Row]) {
    println!(
        "| corpus | tool | size (bytes) | size vs git | make (s) | make vs git | read all (s) | read vs git |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|");
    for r in rows {
        let git = rows
            .iter()
            .find(|g| g.corpus == r.corpus && g.tool.starts_with("git"));
        let (gb, gm, gr) = git
            .map(|g| (g.bytes as f64, g.make_s, g.read_s))
            .unwrap_or((1.0, 1.0, None));
        let read = r
            .read_s
            .map(|s| format!("{s:.3}"))
            .unwrap_or_else(|| "-".into());
        let read_ratio = match (r.read_s, gr) {
            (Some(a), Some(b)) if b > 0.0 => format!("{:.2}x", a / b),
            _ => "-".into(),
        };
        println!(
            "| {} | {} | {} | {:.3}x | {:.2} | {:.2}x | {} | {} |",
            r.corpus,
            r.tool,
            r.bytes,
            r.bytes as f64 / gb,
            r.make_s,
            r.make_s / gm,
            read,
            read_ratio
        );
    }
}
