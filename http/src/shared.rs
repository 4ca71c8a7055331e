//! One tree served to many connections: each connection gets a handle that locks the
//! tree per call and copies what it reads into its own buffer.

use std::sync::{Arc, Mutex, MutexGuard};

use crate::content::{Content, ContentError, DirEntry, Node};

/// A per-connection handle on a shared [`Content`]. Clone it for each connection.
pub struct Shared<C> {
    inner: Arc<Mutex<C>>,
    /// The last read, owned here because the lock is released before returning.
    buf: Vec<u8>,
    last_modified: u64,
}

impl<C> Clone for Shared<C> {
    fn clone(&self) -> Self {
        Shared {
            inner: Arc::clone(&self.inner),
            buf: Vec::new(),
            last_modified: self.last_modified,
        }
    }
}

impl<C: Content> Shared<C> {
    pub fn new(content: C) -> Self {
        let last_modified = content.last_modified();
        Shared {
            inner: Arc::new(Mutex::new(content)),
            buf: Vec::new(),
            last_modified,
        }
    }

    /// The shared content (for other users, such as a console).
    pub fn inner(&self) -> &Arc<Mutex<C>> {
        &self.inner
    }

    pub fn lock(&self) -> MutexGuard<'_, C> {
        // A panic while holding the lock cannot leave a read-only tree half-changed.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl<C: Content> Content for Shared<C> {
    fn stat(&mut self, path: &[u8]) -> Result<Node, ContentError> {
        self.lock().stat(path)
    }

    fn list(&mut self, path: &[u8]) -> Result<Vec<DirEntry>, ContentError> {
        self.lock().list(path)
    }

    fn read(&mut self, path: &[u8], offset: u64, max: usize) -> Result<&[u8], ContentError> {
        self.buf.clear();
        let mut guard = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let data = guard.read(path, offset, max)?;
        self.buf.extend_from_slice(data);
        drop(guard);
        Ok(&self.buf)
    }

    fn blob(&mut self, path: &[u8]) -> Option<Result<Arc<[u8]>, ContentError>> {
        self.lock().blob(path)
    }

    fn last_modified(&self) -> u64 {
        self.last_modified
    }

    fn log(&mut self, line: &str) {
        self.lock().log(line);
    }
}
