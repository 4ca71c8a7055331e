//! Writing an image file: header block, PACK, IDX, each on a 4096-byte boundary.

use std::fs::File;
use std::io::{self, BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use gitfs_format::header::BLOCK;
use gitfs_format::{Header, IdxEntry, ObjectId};
use thiserror::Error;

use crate::pack::{self, Object, Objects, PackError, PackOptions, Progress, Scratch};

#[derive(Debug, Error)]
pub enum WriteError {
    #[error("{0} exists (use --force to overwrite)")]
    Exists(PathBuf),
    #[error("cannot write {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("too many objects for one PACK ({0})")]
    TooManyObjects(usize),
    #[error("image header: {0}")]
    Header(gitfs_format::Error),
    /// Packing failed: an object could not be read from the source (a file that
    /// changed or vanished, a corrupt repository), or the scratch file failed.
    #[error("{0}")]
    Pack(#[source] PackError),
}

/// What the header names: the commit, its root tree and the revision asked for.
#[derive(Clone, Copy, Debug)]
pub struct ImageMeta<'a> {
    pub commit: ObjectId,
    pub tree: ObjectId,
    pub rev: &'a str,
}

/// What `write_image` produced.
#[derive(Clone, Debug)]
pub struct ImageSummary {
    pub objects: usize,
    pub deltas: usize,
    /// Sum of the object sizes (uncompressed, undeltified).
    pub raw_bytes: u64,
    pub pack_len: u64,
    pub idx_len: u64,
    pub image_len: u64,
}

/// Packs `objects` (the commit first; bytes from `source`) and writes the image to
/// `dest` through a temporary file in the same directory, renamed into place at the
/// end. Compressed entries wait in an unnamed scratch file there too (a temporary
/// directory may be memory), so memory does not grow with the repository.
pub fn write_image(
    objects: &[Object<'_>],
    source: &dyn Objects,
    meta: &ImageMeta<'_>,
    opts: &PackOptions,
    dest: &Path,
    force: bool,
    progress: &dyn Progress,
) -> Result<ImageSummary, WriteError> {
    if u32::try_from(objects.len()).is_err() {
        return Err(WriteError::TooManyObjects(objects.len()));
    }
    if !force && dest.symlink_metadata().is_ok() {
        return Err(WriteError::Exists(dest.to_path_buf()));
    }
    let io_err = |source: io::Error| WriteError::Io {
        path: dest.to_path_buf(),
        source,
    };
    let dir = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    // A failed write of the image names the image; anything else is the packer's.
    let pack_err = |e: PackError| match e {
        PackError::Write(e) => io_err(e),
        e => WriteError::Pack(e),
    };
    let scratch = Scratch::new(tempfile::tempfile_in(&dir).map_err(io_err)?);
    let plan =
        pack::plan_and_compress(objects, source, opts, &scratch, progress).map_err(pack_err)?;
    let order = pack::write_order(objects, &plan);

    let mut tmp = tempfile::Builder::new()
        .prefix(".imager-")
        .suffix(".tmp")
        .tempfile_in(&dir)
        .map_err(io_err)?;
    let mut w = BufWriter::with_capacity(1 << 20, tmp.as_file_mut());
    w.write_all(&[0u8; BLOCK as usize]).map_err(io_err)?;
    let summary =
        pack::write_pack(objects, &plan, &order, &scratch, &mut w, progress).map_err(pack_err)?;
    drop(scratch);
    let mut entries: Vec<IdxEntry> = summary
        .entries
        .iter()
        .map(|&(id, offset, crc32)| IdxEntry { id, offset, crc32 })
        .collect();
    let idx = gitfs_format::idx::write_idx(&mut entries, &summary.checksum);
    let header = Header::new(
        meta.commit,
        meta.tree,
        meta.rev,
        objects.len() as u64,
        summary.len,
        idx.len() as u64,
    )
    .map_err(WriteError::Header)?;
    pad(&mut w, BLOCK + summary.len, header.idx.offset).map_err(io_err)?;
    w.write_all(&idx).map_err(io_err)?;
    pad(
        &mut w,
        header.idx.offset + idx.len() as u64,
        header.image_len,
    )
    .map_err(io_err)?;
    w.flush().map_err(io_err)?;
    drop(w);
    let file: &mut File = tmp.as_file_mut();
    file.seek(SeekFrom::Start(0)).map_err(io_err)?;
    file.write_all(&header.encode()).map_err(io_err)?;
    file.sync_all().map_err(io_err)?;
    if force {
        tmp.persist(dest).map_err(|e| io_err(e.error))?;
    } else {
        // Refuses to replace a file that appeared meanwhile.
        tmp.persist_noclobber(dest).map_err(|e| {
            if e.error.kind() == io::ErrorKind::AlreadyExists {
                WriteError::Exists(dest.to_path_buf())
            } else {
                io_err(e.error)
            }
        })?;
    }
    Ok(ImageSummary {
        objects: objects.len(),
        deltas: summary.deltas,
        raw_bytes: objects.iter().map(|o| o.size).sum(),
        pack_len: summary.len,
        idx_len: idx.len() as u64,
        image_len: header.image_len,
    })
}

fn pad<W: Write>(w: &mut W, from: u64, to: u64) -> io::Result<()> {
    let zeros = [0u8; BLOCK as usize];
    let mut n = to.saturating_sub(from);
    while n > 0 {
        let k = n.min(BLOCK) as usize;
        w.write_all(&zeros[..k])?;
        n -= k as u64;
    }
    Ok(())
}
