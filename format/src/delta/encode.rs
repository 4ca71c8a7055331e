//! Delta encoding. PLACEHOLDER: to be written (owned by the imager pipeline work).

/// An index over a base object, reused to delta many targets against it.
pub struct DeltaIndex<'a> {
    base: &'a [u8],
}

impl<'a> DeltaIndex<'a> {
    pub fn new(base: &'a [u8]) -> Self {
        DeltaIndex { base }
    }

    /// A delta turning the base into `target`, if one no longer than `max_len` exists.
    pub fn encode(&self, target: &[u8], max_len: usize) -> Option<alloc::vec::Vec<u8>> {
        let _ = (self.base, target, max_len);
        None
    }
}
