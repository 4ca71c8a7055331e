//! `imager make`: source -> snapshot -> image.

use std::path::Path;

use gitfs_format::{ObjectId, ObjectKind};
use thiserror::Error;

use crate::image::{write_image, ImageMeta, WriteError};
use crate::pack::{Load, Object, Objects, PackOptions};
use crate::progress::Bars;
use crate::source::{self, Reader, Snapshot, SourceError, SourceOptions};

#[derive(Clone, Debug, Default)]
pub struct MakeOptions {
    pub rev: Option<String>,
    /// Commit date (seconds since the epoch) for directory sources.
    pub date: Option<i64>,
    pub force: bool,
    pub pack: PackOptions,
}

#[derive(Debug, Error)]
pub enum MakeError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Write(#[from] WriteError),
}

/// The one-line summary of a make.
#[derive(Clone, Debug)]
pub struct MakeReport {
    pub commit: ObjectId,
    pub tree: ObjectId,
    pub objects: usize,
    pub deltas: usize,
    pub raw_bytes: u64,
    pub image_len: u64,
}

pub fn make(
    source: &str,
    image: &Path,
    opts: &MakeOptions,
    bars: &Bars,
) -> Result<MakeReport, MakeError> {
    // Fail before the (possibly long) load when the result could not be written.
    if !opts.force && image.symlink_metadata().is_ok() {
        return Err(WriteError::Exists(image.to_path_buf()).into());
    }
    bars.spinner("loading");
    let snap = source::load(
        source,
        &SourceOptions {
            rev: opts.rev.clone(),
            date: opts.date,
        },
    );
    crate::pack::Progress::finish(bars);
    let snap = snap?;
    // The snapshot lists the commit first, so it leads the PACK, as in git's packs.
    debug_assert!(snap.objects.first().map(|o| o.kind) == Some(ObjectKind::Commit));
    let objects: Vec<Object<'_>> = snap
        .objects
        .iter()
        .map(|o| Object {
            id: o.id,
            kind: o.kind,
            size: o.size,
            path: &o.path,
        })
        .collect();
    let s = write_image(
        &objects,
        &SnapshotObjects(&snap),
        &ImageMeta {
            commit: snap.commit,
            tree: snap.tree,
            rev: &snap.rev,
        },
        &opts.pack,
        image,
        opts.force,
        bars,
    )?;
    Ok(MakeReport {
        commit: snap.commit,
        tree: snap.tree,
        objects: s.objects,
        deltas: s.deltas,
        raw_bytes: s.raw_bytes,
        image_len: s.image_len,
    })
}

/// A snapshot's objects, read by the packer's threads.
struct SnapshotObjects<'a>(&'a Snapshot);

impl Objects for SnapshotObjects<'_> {
    fn reader(&self) -> Box<dyn Load + '_> {
        Box::new(self.0.reader())
    }
}

impl Load for Reader<'_> {
    fn load(&mut self, index: usize) -> std::io::Result<Vec<u8>> {
        Reader::load(self, index).map_err(std::io::Error::other)
    }
}
