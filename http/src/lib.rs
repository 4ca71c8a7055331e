//! HTTP/1.1 static file server logic for gitfs: GET and HEAD over a read-only tree
//! ([`Content`]), keep-alive, conditional and range requests, directory listings.
//! Transport-agnostic: the unikernel passes its TCP streams to [`handle_connection`];
//! tests drive [`respond`] with bytes. See `docs/http.md`.

mod conn;
mod content;
mod date;
pub mod mem;
mod mime;
mod path;
mod request;
mod respond;
mod shared;

pub use conn::{close_gracefully, handle_connection, respond, ConnStats, Duplex};
pub use content::{Content, ContentError, DirEntry, Kind, Node};
pub use date::{format_http_date, parse_http_date};
/// Re-exported: the commit time behind `Last-Modified`.
pub use gitfs_format::signature_time;
pub use mime::content_type;
pub use respond::MAX_SYMLINK_HOPS;
pub use shared::Shared;

/// Bounds on what one client can make the server hold or do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Request line, without its CRLF (longer: 414).
    pub max_request_line: usize,
    /// Header lines (more: 431).
    pub max_headers: usize,
    /// Header section after the request line (larger: 431).
    pub max_header_bytes: usize,
    /// Largest body write, and largest read asked of [`Content::read`].
    pub chunk: usize,
    /// Requests on one connection; the last is answered with `Connection: close`.
    pub max_requests: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_request_line: 8 * 1024,
            max_headers: 64,
            max_header_bytes: 16 * 1024,
            chunk: 64 * 1024,
            max_requests: 10_000,
        }
    }
}
