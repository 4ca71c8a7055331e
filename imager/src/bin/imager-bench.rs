//! `just bench`: image size and make time against stock git (and mksquashfs when
//! installed) on real corpora (the Python standard library, the Rust standard
//! library's source, Python's HTML documentation, rustdoc HTML) and on a generated
//! tree of 20,000 near-identical pages. Prints two markdown tables: the figures,
//! and the size and time targets met or missed.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::builder::PossibleValuesParser;
use clap::Parser;
use gitfs_format::object::EntryMode;
use gitfs_format::ObjectId;
use gitfs_imager::inspect::{self, ImageFile};
use gitfs_imager::make::{make, MakeOptions};
use gitfs_imager::pack::PackOptions;
use gitfs_imager::progress::Bars;

/// A corpus: its name and how to put its files into a fresh directory.
struct Corpus {
    name: &'static str,
    synthetic: bool,
    prepare: fn(&Path) -> Result<()>,
}

/// In the order they run; the synthetic one last.
const CORPORA: &[Corpus] = &[
    Corpus {
        name: "python-stdlib",
        synthetic: false,
        prepare: python_stdlib,
    },
    Corpus {
        name: "rust-library",
        synthetic: false,
        prepare: rust_library,
    },
    Corpus {
        name: "python-docs",
        synthetic: false,
        prepare: python_docs,
    },
    Corpus {
        name: "rustdoc",
        synthetic: false,
        prepare: rustdoc,
    },
    Corpus {
        name: "pages-20k",
        synthetic: true,
        prepare: generated_pages,
    },
];

/// The nightly toolchain whose `rust-src` is the rust-library corpus (the justfile's
/// `nightly`); `GITFS_NIGHTLY` overrides it.
const DEFAULT_NIGHTLY: &str = "nightly-2025-03-15";

/// Workspace dependencies documented by `cargo doc` for the rustdoc corpus (each
/// with a single version in Cargo.lock, so `-p NAME` is unambiguous).
const RUSTDOC_CRATES: &[&str] = &["bstr", "jiff", "memchr", "rustls"];

/// Corpora smaller than this are listed but not judged against the targets.
const JUDGED_MIN_BYTES: u64 = 1 << 20;

/// Image size and make time of gitfs images against `git pack-objects` (window 10
/// and 250) and mksquashfs, on real corpora and one synthetic one.
///
/// Corpora: python-stdlib (this machine's Python standard library), rust-library
/// (the pinned nightly's rust-src; GITFS_NIGHTLY names the toolchain), python-docs
/// (Debian's python3-doc HTML), rustdoc (`cargo doc` of a few workspace
/// dependencies, cached in target/bench-rustdoc), pages-20k (synthetic). A corpus
/// that is not available on this machine is skipped with its reason on stderr.
#[derive(Parser)]
#[command(name = "imager-bench")]
struct Args {
    /// Run only these corpora (comma-separated).
    #[arg(long, value_name = "NAME[,NAME..]", value_delimiter = ',',
          value_parser = PossibleValuesParser::new(CORPORA.iter().map(|c| c.name)))]
    only: Vec<String>,
    /// Leave out the slow `git --window=250` and `imager max` runs.
    #[arg(long)]
    skip_max: bool,
    /// Instead of the corpora: peak memory of `imager make` on a generated source of
    /// N copies of the rust-library corpus (each copy's files end in their own line,
    /// so nothing is deduplicated; 100 copies: 3.45 GB, 173,100 files), written under
    /// target/ and removed afterwards.
    #[arg(long, value_name = "COPIES")]
    memory: Option<usize>,
}

/// `--memory`: this process's peak resident memory while it makes an image of a
/// source far larger than that memory. Run in a fresh process, so the peak is the
/// make's (plus the few MB the benchmark itself holds).
fn memory(copies: usize) -> Result<()> {
    std::fs::create_dir_all("target").context("target/")?;
    let tmp = tempfile::tempdir_in("target").context("temporary directory in target/")?;
    let one = tmp.path().join("one");
    rust_library(&one)?;
    let src = tmp.path().join("source");
    eprintln!("== memory: writing {copies} copies");
    for n in 0..copies {
        let tail = format!("\n// copy {n}\n");
        copy_tree(
            &one,
            &src.join(format!("copy{n:03}")),
            Links::Keep,
            tail.as_bytes(),
        )?;
    }
    let (files, bytes) = tree_stats(&src)?;
    let before = peak_rss()?;
    eprintln!("== memory: imager make");
    let image = tmp.path().join("memory.img");
    let t = Instant::now();
    make(
        src.to_str().context("utf-8 path")?,
        &image,
        &MakeOptions::default(),
        &Bars::new(true),
    )?;
    let secs = t.elapsed().as_secs_f64();
    let peak = peak_rss()?;
    let image_len = std::fs::metadata(&image)?.len();
    println!("| source | files | image | make (s) | peak RSS | peak RSS / source |");
    println!("|---:|---:|---:|---:|---:|---:|");
    println!(
        "| {:.2} GB | {files} | {:.1} MB | {secs:.1} | {:.0} MB | {:.3}x |",
        bytes as f64 / 1e9,
        image_len as f64 / 1e6,
        peak as f64 / 1e6,
        peak as f64 / bytes as f64
    );
    eprintln!(
        "(peak before the make, after writing the source: {:.0} MB)",
        before as f64 / 1e6
    );
    Ok(())
}

/// This process's peak resident set (VmHWM), in bytes.
fn peak_rss() -> Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .context("no VmHWM in /proc/self/status")?;
    Ok(kb * 1024)
}

/// Bytes written and seconds taken by one tool on one corpus.
#[derive(Clone, Copy)]
struct Measure {
    bytes: u64,
    secs: f64,
}

impl Measure {
    fn size_vs(&self, peer: &Measure) -> f64 {
        self.bytes as f64 / peer.bytes as f64
    }

    fn time_vs(&self, peer: &Measure) -> f64 {
        self.secs / peer.secs
    }
}

/// Seconds to read every file: our library on the default image, `git cat-file
/// --batch` on git's window-10 pack.
struct ReadAll {
    ours: f64,
    git: f64,
}

struct CorpusResult {
    name: &'static str,
    synthetic: bool,
    files: usize,
    input_bytes: u64,
    git_w10: Measure,
    default: Measure,
    /// `git --window=250` and `imager max`, unless `--skip-max`.
    max: Option<(Measure, Measure)>,
    squashfs: Vec<(&'static str, Measure)>,
    read: ReadAll,
}

fn main() -> Result<()> {
    let args = Args::parse();
    if let Some(copies) = args.memory {
        return memory(copies);
    }
    let mut results = Vec::new();
    let mut failed = Vec::new();
    for corpus in CORPORA {
        if !args.only.is_empty() && !args.only.iter().any(|n| n == corpus.name) {
            continue;
        }
        let tmp = tempfile::tempdir().context("temporary directory")?;
        let dir = tmp.path().join(corpus.name);
        eprintln!("== {}: preparing", corpus.name);
        if let Err(e) = (corpus.prepare)(&dir) {
            eprintln!("== {}: skipped ({e:#})", corpus.name);
            continue;
        }
        match bench_corpus(corpus, &dir, tmp.path(), args.skip_max) {
            Ok(r) => results.push(r),
            Err(e) => {
                eprintln!("== {}: failed ({e:#})", corpus.name);
                failed.push(corpus.name);
            }
        }
    }
    print_table(&results);
    println!();
    print_targets(&results);
    if !failed.is_empty() {
        bail!("corpora failed: {}", failed.join(", "));
    }
    Ok(())
}

fn run(cmd: &mut Command) -> Result<Vec<u8>> {
    let out = cmd.output().with_context(|| format!("run {cmd:?}"))?;
    if !out.status.success() {
        bail!("{cmd:?} failed: {}", stderr_head(&out.stderr));
    }
    Ok(out.stdout)
}

/// The first paragraph of a tool's stderr (at most 4 lines): its message without
/// the backtrace some tools print after it.
fn stderr_head(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let lines: Vec<&str> = text
        .trim()
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .take(4)
        .collect();
    lines.join("\n")
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

// ---- corpora ----

/// The Python standard library, without site-packages and __pycache__.
fn python_stdlib(dst: &Path) -> Result<()> {
    let out = run(Command::new("python3").args([
        "-c",
        "import sysconfig; print(sysconfig.get_paths()['stdlib'])",
    ]))
    .context("python3 not available")?;
    let src = PathBuf::from(String::from_utf8(out)?.trim());
    copy_tree(&src, dst, Links::Keep, b"")
}

/// The source of Rust's standard library shipped with the pinned nightly (rust-src).
fn rust_library(dst: &Path) -> Result<()> {
    let toolchain = std::env::var("GITFS_NIGHTLY").unwrap_or_else(|_| DEFAULT_NIGHTLY.into());
    let out = run(Command::new("rustc")
        .arg(format!("+{toolchain}"))
        .args(["--print", "sysroot"]))
    .with_context(|| format!("toolchain {toolchain} not available (run `just setup`)"))?;
    let sysroot = PathBuf::from(String::from_utf8(out)?.trim());
    let src = sysroot.join("lib/rustlib/src/rust/library");
    if !src.is_dir() {
        bail!(
            "no {}: rust-src of {toolchain} is not installed (run `just setup`)",
            src.display()
        );
    }
    copy_tree(&src, dst, Links::Keep, b"")
}

/// Python's HTML documentation (Sphinx output) from Debian's python3-doc; its
/// symlinks into /usr/share/javascript are copied as the files they point to.
fn python_docs(dst: &Path) -> Result<()> {
    let src = python_docs_dir()?;
    copy_tree(&src, dst, Links::Follow, b"")
}

/// The newest `/usr/share/doc/python3*/html` with the library reference in it.
fn python_docs_dir() -> Result<PathBuf> {
    let missing =
        "no /usr/share/doc/python3*/html: python3-doc is not installed (run `just setup`)";
    let mut found = Vec::new();
    for e in std::fs::read_dir("/usr/share/doc").context(missing)? {
        let e = e?;
        let html = e.path().join("html");
        if e.file_name().to_string_lossy().starts_with("python3")
            && html.join("library/index.html").is_file()
        {
            found.push(html.canonicalize()?);
        }
    }
    // python3.9 < python3.11: compare the minor version, not the text.
    let minor = |p: &PathBuf| -> u32 {
        let dir = p.parent().and_then(|d| d.file_name()).unwrap_or_default();
        let dir = dir.to_string_lossy();
        let digits: String = dir
            .strip_prefix("python3.")
            .unwrap_or("")
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        digits.parse().unwrap_or(0)
    };
    found.sort_by_key(|p| (minor(p), p.clone()));
    found.pop().context(missing)
}

/// HTML generated by rustdoc for a few workspace dependencies. Built once into
/// target/bench-rustdoc; later runs reuse it.
fn rustdoc(dst: &Path) -> Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .context("workspace root")?;
    let target = root.join("target/bench-rustdoc");
    let doc = target.join("doc");
    let built = RUSTDOC_CRATES
        .iter()
        .all(|c| doc.join(c).join("index.html").is_file());
    if !built {
        eprintln!("== rustdoc: cargo doc (first run only)");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.current_dir(root)
            .args(["doc", "--locked", "--no-deps"])
            .arg("--target-dir")
            .arg(&target);
        for c in RUSTDOC_CRATES {
            cmd.args(["-p", c]);
        }
        run(&mut cmd).context("cargo doc")?;
    }
    copy_tree(&doc, dst, Links::Keep, b"")
}

/// 20,000 HTML pages built from a few templates with small per-page differences.
fn generated_pages(root: &Path) -> Result<()> {
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
    Ok(())
}

/// What `copy_tree` does with a symlink.
#[derive(Clone, Copy)]
enum Links {
    /// Copy the link itself.
    Keep,
    /// Copy what it points to (`cp -rL`).
    Follow,
}

/// Copies `src` into `dst`, leaving out `.git`, `__pycache__` and `site-packages`;
/// `tail` is appended to every regular file (so copies of one tree differ).
fn copy_tree(src: &Path, dst: &Path, links: Links, tail: &[u8]) -> Result<()> {
    std::fs::create_dir_all(dst).with_context(|| format!("create {}", dst.display()))?;
    let entries = std::fs::read_dir(src).with_context(|| format!("read {}", src.display()))?;
    for e in entries {
        let e = e?;
        let name = e.file_name();
        if name == ".git" || name == "site-packages" || name == "__pycache__" {
            continue;
        }
        let from = e.path();
        let to = dst.join(&name);
        let mut ft = e.file_type()?;
        if ft.is_symlink() {
            if let Links::Follow = links {
                ft = std::fs::metadata(&from)
                    .with_context(|| format!("follow {}", from.display()))?
                    .file_type();
            }
        }
        if ft.is_dir() {
            copy_tree(&from, &to, links, tail)?;
        } else if ft.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&from)?, &to)?;
        } else if ft.is_file() && tail.is_empty() {
            std::fs::copy(&from, &to).with_context(|| format!("copy {}", from.display()))?;
        } else if ft.is_file() {
            let mut data = std::fs::read(&from)?;
            data.extend_from_slice(tail);
            std::fs::write(&to, &data).with_context(|| format!("write {}", to.display()))?;
        }
    }
    Ok(())
}

/// Files (and symlinks) and their bytes under `dir`, leaving out `.git`.
fn tree_stats(dir: &Path) -> Result<(usize, u64)> {
    let (mut files, mut bytes) = (0, 0);
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        if e.file_name() == ".git" {
            continue;
        }
        let meta = e.path().symlink_metadata()?;
        if meta.is_dir() {
            let (f, b) = tree_stats(&e.path())?;
            files += f;
            bytes += b;
        } else {
            files += 1;
            bytes += meta.len();
        }
    }
    Ok((files, bytes))
}

// ---- measurements ----

fn file_size(p: &Path) -> Result<u64> {
    Ok(std::fs::metadata(p)
        .with_context(|| format!("stat {}", p.display()))?
        .len())
}

fn bench_corpus(corpus: &Corpus, dir: &Path, tmp: &Path, skip_max: bool) -> Result<CorpusResult> {
    let name = corpus.name;
    let (files, input_bytes) = tree_stats(dir)?;
    eprintln!(
        "== {name}: committing {files} files, {:.1} MB",
        input_bytes as f64 / 1e6
    );
    run(git(dir).args(["init", "-q"]))?;
    run(git(dir).args(["add", "-A"]))?;
    run(git(dir).args(["commit", "-q", "-m", "bench"]))?;
    let objects = run(git(dir).args(["rev-list", "--objects", "HEAD"]))?;

    // git's window-10 pack goes into a bare repository, for `git cat-file` below.
    let bare = tmp.join("git.git");
    run(Command::new("git")
        .args(["init", "-q", "--bare"])
        .arg(&bare))?;
    eprintln!("== {name}: git pack-objects --window=10");
    let git_w10 = git_pack(dir, &objects, &bare.join("objects/pack/pack"), 10)?;
    eprintln!("== {name}: imager make (default)");
    let image = tmp.join("default.img");
    let default = imager_make(dir, &image, PackOptions::default())?;

    let max = if skip_max {
        None
    } else {
        eprintln!("== {name}: git pack-objects --window=250");
        let git_w250 = git_pack(dir, &objects, &tmp.join("w250/pack"), 250)?;
        eprintln!("== {name}: imager make (max)");
        let max = imager_make(dir, &tmp.join("max.img"), PackOptions::max())?;
        Some((git_w250, max))
    };

    let mut squashfs = Vec::new();
    if Command::new("mksquashfs").arg("-version").output().is_ok() {
        for comp in ["gzip", "xz"] {
            eprintln!("== {name}: mksquashfs -comp {comp}");
            let out = tmp.join(format!("{comp}.sqfs"));
            squashfs.push((comp, mksquashfs(dir, &out, comp)?));
        }
    } else {
        eprintln!("== {name}: no mksquashfs (apt-get install squashfs-tools)");
    }

    eprintln!("== {name}: read all");
    let read = read_all(&image, &bare)?;
    Ok(CorpusResult {
        name,
        synthetic: corpus.synthetic,
        files,
        input_bytes,
        git_w10,
        default,
        max,
        squashfs,
        read,
    })
}

/// `git pack-objects` over exactly the commit's objects, recompressing every one
/// (`--no-reuse-object`), depth 50, 2 threads; writes `BASE-HASH.{pack,idx}`.
fn git_pack(dir: &Path, objects: &[u8], base: &Path, window: usize) -> Result<Measure> {
    if let Some(parent) = base.parent() {
        std::fs::create_dir_all(parent).with_context(|| format!("create {}", parent.display()))?;
    }
    let t = Instant::now();
    let mut child = git(dir)
        .arg("pack-objects")
        .arg(format!("--window={window}"))
        .args(["--depth=50", "--threads=2", "--no-reuse-object", "-q"])
        .arg(base)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("run git pack-objects")?;
    let mut stdin = child.stdin.take().context("stdin")?;
    let input = objects.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output()?;
    writer
        .join()
        .map_err(|_| anyhow::anyhow!("stdin writer panicked"))?
        .context("write to git pack-objects")?;
    let secs = t.elapsed().as_secs_f64();
    if !out.status.success() {
        bail!(
            "git pack-objects --window={window} failed: {}",
            stderr_head(&out.stderr)
        );
    }
    let hash = String::from_utf8(out.stdout)?.trim().to_string();
    let base = base.to_str().context("utf-8 path")?;
    let bytes = file_size(Path::new(&format!("{base}-{hash}.pack")))?
        + file_size(Path::new(&format!("{base}-{hash}.idx")))?;
    Ok(Measure { bytes, secs })
}

/// `imager make` from the corpus's repository with these pack options.
fn imager_make(dir: &Path, image: &Path, pack: PackOptions) -> Result<Measure> {
    let opts = MakeOptions {
        force: true,
        pack,
        ..Default::default()
    };
    let t = Instant::now();
    make(
        dir.to_str().context("utf-8 path")?,
        image,
        &opts,
        &Bars::new(true),
    )
    .with_context(|| format!("imager make {}", dir.display()))?;
    let secs = t.elapsed().as_secs_f64();
    Ok(Measure {
        bytes: file_size(image)?,
        secs,
    })
}

/// mksquashfs of the corpus's files (not `.git`), 2 processors.
fn mksquashfs(dir: &Path, out: &Path, comp: &str) -> Result<Measure> {
    let t = Instant::now();
    run(Command::new("mksquashfs").arg(dir).arg(out).args([
        "-comp",
        comp,
        "-noappend",
        "-quiet",
        "-no-progress",
        "-processors",
        "2",
        "-e",
        ".git",
    ]))?;
    let secs = t.elapsed().as_secs_f64();
    Ok(Measure {
        bytes: file_size(out)?,
        secs,
    })
}

/// Reads every file: our library on `image` vs `git cat-file --batch` on `bare`.
fn read_all(image: &Path, bare: &Path) -> Result<ReadAll> {
    let ids = {
        let mut img = inspect::open(image)?;
        let mut ids = Vec::new();
        let tree = img.header().tree;
        collect_blobs(&mut img, tree, &mut ids)?;
        ids
    };
    let t = Instant::now();
    let mut img = inspect::open(image)?;
    let mut total = 0usize;
    for id in &ids {
        total += img.read(id)?.data.len();
    }
    let ours = t.elapsed().as_secs_f64();

    let input: String = ids.iter().map(|id| format!("{id}\n")).collect();
    let t = Instant::now();
    let mut child = Command::new("git")
        .current_dir(bare)
        .args(["cat-file", "--batch"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .context("run git cat-file")?;
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
    let git = t.elapsed().as_secs_f64();
    if sink.len() < total {
        bail!("git cat-file returned less than the files' bytes");
    }
    Ok(ReadAll { ours, git })
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

// ---- tables ----

/// One line of the figures table.
struct Line {
    tool: String,
    m: Measure,
    peer: Option<(&'static str, Measure)>,
    read: Option<(f64, Option<f64>)>,
}

fn lines(r: &CorpusResult) -> Vec<Line> {
    let w10 = Some(("git w10", r.git_w10));
    let mut v = vec![
        Line {
            tool: "git w10 (PACK+IDX)".into(),
            m: r.git_w10,
            peer: None,
            read: Some((r.read.git, None)),
        },
        Line {
            tool: "imager default".into(),
            m: r.default,
            peer: w10,
            read: Some((r.read.ours, Some(r.read.git))),
        },
    ];
    if let Some((w250, max)) = r.max {
        v.push(Line {
            tool: "git w250 (PACK+IDX)".into(),
            m: w250,
            peer: w10,
            read: None,
        });
        v.push(Line {
            tool: "imager max".into(),
            m: max,
            peer: Some(("git w250", w250)),
            read: None,
        });
    }
    for (comp, m) in &r.squashfs {
        v.push(Line {
            tool: format!("mksquashfs -comp {comp}"),
            m: *m,
            peer: w10,
            read: None,
        });
    }
    v
}

fn label(r: &CorpusResult) -> String {
    let synthetic = if r.synthetic { ", synthetic" } else { "" };
    format!(
        "{} ({} files, {:.1} MB{synthetic})",
        r.name,
        r.files,
        r.input_bytes as f64 / 1e6
    )
}

fn print_table(results: &[CorpusResult]) {
    println!(
        "| corpus | tool | size (bytes) | size vs peer | make (s) | make vs peer | peer | read all (s) | read vs git |"
    );
    println!("|---|---|---:|---:|---:|---:|---|---:|---:|");
    for r in results {
        for (i, l) in lines(r).iter().enumerate() {
            let corpus = if i == 0 { label(r) } else { r.name.to_string() };
            let (size_vs, time_vs, peer) = match &l.peer {
                Some((name, p)) => (
                    format!("{:.3}x", l.m.size_vs(p)),
                    format!("{:.2}x", l.m.time_vs(p)),
                    name.to_string(),
                ),
                None => ("-".into(), "-".into(), "-".into()),
            };
            let (read, read_vs) = match l.read {
                Some((s, Some(g))) => (format!("{s:.3}"), format!("{:.2}x", s / g)),
                Some((s, None)) => (format!("{s:.3}"), "-".into()),
                None => ("-".into(), "-".into()),
            };
            println!(
                "| {corpus} | {} | {} | {size_vs} | {:.2} | {time_vs} | {peer} | {read} | {read_vs} |",
                l.tool, l.m.bytes, l.m.secs
            );
        }
    }
}

/// `0.953x met` when `ratio <= target`, else `missed`.
fn judge(ratio: f64, target: f64) -> String {
    let verdict = if ratio <= target { "met" } else { "missed" };
    format!("{ratio:.3}x {verdict}")
}

fn print_targets(results: &[CorpusResult]) {
    println!("targets");
    println!();
    println!(
        "| corpus | default/git w10 size (<= 0.98) | default/git w10 time (<= 1.0) | max/git w250 size (<= 1.0) | max/git w250 time (<= 2.0) |"
    );
    println!("|---|---:|---:|---:|---:|");
    for r in results {
        if r.input_bytes < JUDGED_MIN_BYTES {
            println!("| {} | not judged (under 1 MB) | - | - | - |", label(r));
            continue;
        }
        let (max_size, max_time) = match &r.max {
            Some((w250, max)) => (judge(max.size_vs(w250), 1.0), judge(max.time_vs(w250), 2.0)),
            None => ("-".into(), "-".into()),
        };
        println!(
            "| {} | {} | {} | {max_size} | {max_time} |",
            label(r),
            judge(r.default.size_vs(&r.git_w10), 0.98),
            judge(r.default.time_vs(&r.git_w10), 1.0),
        );
    }
}
