//! The multiboot command line: `LOADER_PATH [loader.log] [KERNEL_ARGS] [-- APP_ARGS]`.
//! `loader.log` is the loader's own switch and is removed before the line reaches the
//! kernel; `-freq MHZ` stays for the kernel and also becomes `/hermit,tsc` in the FDT.

use core::fmt;

pub const MAX_LEN: usize = 4096;
/// Loader-only word that turns on loader messages.
const LOG_SWITCH: &str = "loader.log";

#[derive(Debug, PartialEq, Eq)]
pub enum CmdlineError {
    TooLong(usize),
    NotUtf8,
    UnclosedQuote,
    MissingFreq,
    BadFreq,
}

impl fmt::Display for CmdlineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLong(n) => write!(f, "command line too long ({n} bytes, at most {MAX_LEN})"),
            Self::NotUtf8 => write!(f, "command line is not UTF-8"),
            Self::UnclosedQuote => write!(f, "command line has an unclosed quote"),
            Self::MissingFreq => write!(f, "-freq needs a value in MHz"),
            Self::BadFreq => write!(
                f,
                "-freq value must be a whole number of MHz from 1 to 65535"
            ),
        }
    }
}

/// What the loader takes from the command line.
#[derive(Debug, PartialEq, Eq)]
pub struct Options {
    pub verbose: bool,
    pub freq_mhz: Option<u16>,
    /// Length of the kernel's command line, written back into the caller's buffer.
    pub kernel_len: usize,
}

/// One shell-style word: byte span in the line, and whether it was quoted or escaped.
struct Word {
    start: usize,
    end: usize,
    plain: bool,
}

/// Splits like the kernel's `shell_words::split` does closely enough to find our
/// words; an unclosed quote is rejected here because the kernel would panic on it.
fn next_word(line: &[u8], mut i: usize) -> Result<Option<(Word, usize)>, CmdlineError> {
    while i < line.len() && line[i].is_ascii_whitespace() {
        i += 1;
    }
    if i == line.len() {
        return Ok(None);
    }
    let start = i;
    let mut plain = true;
    while i < line.len() && !line[i].is_ascii_whitespace() {
        match line[i] {
            b'\'' => {
                plain = false;
                i += 1;
                while i < line.len() && line[i] != b'\'' {
                    i += 1;
                }
                if i == line.len() {
                    return Err(CmdlineError::UnclosedQuote);
                }
            }
            b'"' => {
                plain = false;
                i += 1;
                while i < line.len() && line[i] != b'"' {
                    if line[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
                if i >= line.len() {
                    return Err(CmdlineError::UnclosedQuote);
                }
            }
            b'\\' => {
                plain = false;
                i += 1;
            }
            _ => {}
        }
        i += 1;
    }
    let end = i.min(line.len());
    Ok(Some((Word { start, end, plain }, end)))
}

/// Parses `buf[..len]` and rewrites it in place into the kernel's command line.
pub fn parse(buf: &mut [u8], len: usize) -> Result<Options, CmdlineError> {
    let mut opts = Options {
        verbose: false,
        freq_mhz: None,
        kernel_len: len,
    };
    core::str::from_utf8(&buf[..len]).map_err(|_| CmdlineError::NotUtf8)?;
    let mut pos = 0;
    let mut after_dashes = false;
    let mut expect_freq = false;
    let mut remove: Option<(usize, usize)> = None;
    while let Some((w, next)) = next_word(&buf[..len], pos)? {
        pos = next;
        let text = &buf[w.start..w.end];
        if expect_freq {
            expect_freq = false;
            let s = core::str::from_utf8(text).map_err(|_| CmdlineError::BadFreq)?;
            let mhz: u16 = s.parse().map_err(|_| CmdlineError::BadFreq)?;
            if mhz == 0 || !w.plain {
                return Err(CmdlineError::BadFreq);
            }
            opts.freq_mhz = Some(mhz);
            continue;
        }
        if after_dashes || !w.plain {
            continue;
        }
        match text {
            b"--" => after_dashes = true,
            b"-freq" => expect_freq = true,
            t if t == LOG_SWITCH.as_bytes() => {
                opts.verbose = true;
                // Remember the last one; repeated switches are removed one per pass below.
                remove = Some((w.start, w.end));
            }
            _ => {}
        }
    }
    if expect_freq {
        return Err(CmdlineError::MissingFreq);
    }
    let mut len = len;
    while let Some((start, end)) = remove.take() {
        buf.copy_within(end..len, start);
        len -= end - start;
        // Look for another occurrence before `--`.
        let mut pos = 0;
        while let Some((w, next)) = next_word(&buf[..len], pos)? {
            pos = next;
            let text = &buf[w.start..w.end];
            if text == b"--" {
                break;
            }
            if w.plain && text == LOG_SWITCH.as_bytes() {
                remove = Some((w.start, w.end));
                break;
            }
        }
    }
    opts.kernel_len = len;
    Ok(opts)
}
