//! `imager`: make, verify and inspect gitfs images.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use gitfs_imager::inspect;
use gitfs_imager::make::{make, MakeOptions};
use gitfs_imager::pack::PackOptions;
use gitfs_imager::progress::Bars;

#[derive(Parser)]
#[command(
    name = "imager",
    version,
    about = "Make, verify and inspect gitfs disk images",
    long_about = "Turns a Git commit (or a plain directory) into one gitfs disk image: a small \
header, then a standard Git PACK v2 and its IDX v2, which a Hermit unikernel serves as a \
read-only file system. The same tool checks images and looks inside them.",
    after_help = "Examples:
  imager make . site.img                      # HEAD of the repository in the current directory
  imager make ~/src/app app.img --rev v1.2    # a tag of a local repository
  imager make https://example.org/repo.git r.img --rev main
  imager make ./public site.img --date 2024-01-01T00:00:00Z   # a plain directory
  imager verify site.img
  imager info site.img --json
  imager ls site.img -r
  imager cat site.img docs/index.html > index.html"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Make an image from a Git repository (local or remote) or a plain directory.
    #[command(
        after_help = "SOURCE is a local repository (path or file://), a remote (https://, http://, \
ssh://, user@host:path, git://) fetched shallowly for just REV, or a plain directory.
The image holds the commit and exactly the objects of its tree. Same source and options
give a byte-identical image.

Examples:
  imager make . out.img
  imager make ../repo out.img --rev HEAD~3 --max
  imager make ./dir out.img --date 2024-05-01T12:00:00+02:00 --force"
    )]
    Make {
        /// Git repository, remote URL or directory.
        source: String,
        /// Image file to write (written to a temporary file, then renamed).
        image: PathBuf,
        /// Revision: branch, tag, commit id, HEAD~3, ... (default HEAD).
        #[arg(long)]
        rev: Option<String>,
        /// Commit date for a directory source, RFC 3339 (default SOURCE_DATE_EPOCH, else the epoch).
        #[arg(long, value_name = "RFC3339")]
        date: Option<String>,
        /// Delta search window: how many similar objects each object is compared with
        /// [default: 16; with --max: 250].
        #[arg(long, value_name = "N")]
        window: Option<usize>,
        /// Longest delta chain.
        #[arg(long, default_value_t = 50, value_name = "N")]
        depth: usize,
        /// Compression level, 0 (stored) to 12 (smallest): 10-12 are 2-4% smaller than 8 and take
        /// 2-5x the time [default: 8; with --max: 11].
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u8).range(0..=12))]
        level: Option<u8>,
        /// The smallest image, for releases: --window 250 --level 11, and the delta search
        /// split less between threads (at most about 2x git's `--window=250` time; window
        /// and level can still be set).
        #[arg(long)]
        max: bool,
        /// Overwrite IMAGE if it exists.
        #[arg(long, short)]
        force: bool,
        /// No progress bars and no summary.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Check an image fully: header, PACK checksum, every object, the IDX, the tree.
    #[command(
        after_help = "Exits non-zero with a message naming the first problem found.\n\nExample:\n  imager verify site.img"
    )]
    Verify {
        image: PathBuf,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show the header, section layout, object counts and sizes.
    #[command(after_help = "Example:\n  imager info site.img --json")]
    Info {
        image: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// List a directory of the image (the root by default).
    #[command(
        after_help = "With -r the output has the format of `git ls-tree -r`:\n  <mode> <type> <id>\\t<path>\n\nExamples:\n  imager ls site.img\n  imager ls site.img docs -l\n  imager ls site.img -r"
    )]
    Ls {
        image: PathBuf,
        /// Directory (or file) inside the image.
        path: Option<String>,
        /// Recurse into subdirectories (lists files, like `git ls-tree -r`).
        #[arg(short)]
        r: bool,
        /// Also show object sizes.
        #[arg(short)]
        l: bool,
    },
    /// Write a file's exact bytes to stdout (a symlink prints its target).
    #[command(after_help = "Example:\n  imager cat site.img src/main.rs > main.rs")]
    Cat { image: PathBuf, path: String },
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "imager: {}", one_line(&e));
            ExitCode::FAILURE
        }
    }
}

/// The chain of causes joined on one line, skipping a cause whose text the message
/// already holds (library errors often name their source in their own Display).
fn one_line(e: &anyhow::Error) -> String {
    let mut msg = String::new();
    for cause in e.chain() {
        let text = cause.to_string().replace('\n', " ");
        if !msg.contains(&text) {
            if !msg.is_empty() {
                msg.push_str(": ");
            }
            msg.push_str(&text);
        }
    }
    msg
}

fn run(cli: Cli) -> Result<()> {
    match cli.cmd {
        Cmd::Make {
            source,
            image,
            rev,
            date,
            window,
            depth,
            level,
            max,
            force,
            quiet,
        } => {
            let preset = if max {
                PackOptions::max()
            } else {
                PackOptions::default()
            };
            let window = window.unwrap_or(preset.window);
            let level = level.unwrap_or(preset.level);
            let date = match date {
                Some(d) => Some(gitfs_imager::date::parse_rfc3339(&d).with_context(|| {
                    format!("--date {d:?} is not an RFC 3339 date (like 2024-01-31T12:00:00Z)")
                })?),
                None => None,
            };
            if depth == 0 && window > 0 {
                bail!("--depth must be at least 1 (use --window 0 for no deltas)");
            }
            let opts = MakeOptions {
                rev,
                date,
                force,
                pack: PackOptions {
                    window,
                    depth,
                    level,
                    ..preset
                },
            };
            let bars = Bars::new(quiet);
            let start = std::time::Instant::now();
            let r = make(&source, &image, &opts, &bars)?;
            if !quiet {
                eprintln!(
                    "{}: {} objects ({} deltas), commit {}, tree {}, {} -> {} bytes ({:.2}x) in {:.2}s",
                    image.display(),
                    r.objects,
                    r.deltas,
                    r.commit,
                    r.tree,
                    r.raw_bytes,
                    r.image_len,
                    r.raw_bytes as f64 / r.image_len.max(1) as f64,
                    start.elapsed().as_secs_f64()
                );
            }
            Ok(())
        }
        Cmd::Verify { image, json } => {
            let mut img = inspect::open(&image)?;
            let r = inspect::verify(&mut img)
                .with_context(|| format!("{}: verify failed", image.display()))?;
            report(json, r.to_json(), r.to_text())
        }
        Cmd::Info { image, json } => {
            let mut img = inspect::open(&image)?;
            let r = inspect::info(&mut img).with_context(|| format!("{}", image.display()))?;
            report(json, r.to_json(), r.to_text())
        }
        Cmd::Ls { image, path, r, l } => {
            let mut img = inspect::open(&image)?;
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            inspect::ls(&mut img, path.as_deref().unwrap_or(""), r, l, &mut out)?;
            out.flush()?;
            Ok(())
        }
        Cmd::Cat { image, path } => {
            let mut img = inspect::open(&image)?;
            let data = inspect::cat(&mut img, &path)?;
            let mut out = std::io::stdout().lock();
            out.write_all(&data)?;
            out.flush()?;
            Ok(())
        }
    }
}

/// A report on stdout: pretty JSON, or its text form.
fn report(json: bool, value: serde_json::Value, text: String) -> Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(&value)?)?;
    } else {
        write!(out, "{text}")?;
    }
    Ok(())
}
