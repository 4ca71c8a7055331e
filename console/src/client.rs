//! A program's side of the framed protocol over any byte stream (feature `std`): send
//! one request line, read until its response. The host harness runs it over the
//! unikernel's serial console; the kernel's tests run it over the real request loop
//! in memory, so both check the server through the same client.

use alloc::vec::Vec;
use core::fmt;
use std::io::{self, Read, Write};

use crate::decode::{DecodeError, Decoder, Response};
use crate::request::{encode_request, Request};
use crate::response::Framing;

/// Why an exchange failed.
#[derive(Debug)]
pub enum ClientError {
    /// The stream's own error (a timeout of the transport among them).
    Io(io::Error),
    /// The stream ended before a whole response.
    Closed,
    /// A response arrived damaged (escape, CRC or trailer check failed): what follows on
    /// the stream cannot be trusted.
    Damaged(DecodeError),
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Io(e) => write!(f, "{e}"),
            ClientError::Closed => f.write_str("the stream ended before a whole response"),
            ClientError::Damaged(e) => write!(f, "damaged response: {e}"),
        }
    }
}

impl std::error::Error for ClientError {}

impl From<io::Error> for ClientError {
    fn from(e: io::Error) -> Self {
        ClientError::Io(e)
    }
}

/// Requests and responses over `S`. Bytes read past a response stay buffered for the
/// next one ([`Client::take_buffered`] hands them back).
pub struct Client<S> {
    stream: S,
    buf: Vec<u8>,
    max_payload: u64,
    framing: Framing,
}

impl<S: Read + Write> Client<S> {
    pub fn new(stream: S) -> Self {
        Client {
            stream,
            buf: Vec::new(),
            max_payload: u64::MAX,
            framing: Framing::Escaped,
        }
    }

    /// Responses framed as `framing` (the stream's: [`Framing::Escaped`] on the serial
    /// console, [`Framing::Raw`] on a channel that carries bytes unchanged).
    pub fn with_framing(mut self, framing: Framing) -> Self {
        self.framing = framing;
        self
    }

    /// Refuses a response announcing more payload than `max` bytes.
    pub fn with_max_payload(mut self, max: u64) -> Self {
        self.max_payload = max;
        self
    }

    pub fn get_mut(&mut self) -> &mut S {
        &mut self.stream
    }

    /// Bytes read past the last response, given back to the caller.
    pub fn take_buffered(&mut self) -> Vec<u8> {
        core::mem::take(&mut self.buf)
    }

    /// Sends `req` and returns its response (error responses included).
    pub fn request(&mut self, req: &Request) -> Result<Response, ClientError> {
        self.exchange(&encode_request(req))
    }

    /// Sends `line` (a whole request line, newline included) and reads its response.
    pub fn exchange(&mut self, line: &[u8]) -> Result<Response, ClientError> {
        self.send(line)?;
        self.receive()
    }

    /// Sends a request line without waiting: on a channel without echo, requests may be
    /// pipelined, and [`Client::receive`] then returns their responses in order.
    pub fn send(&mut self, line: &[u8]) -> Result<(), ClientError> {
        self.stream.write_all(line)?;
        self.stream.flush()?;
        Ok(())
    }

    /// Reads the next response.
    pub fn receive(&mut self) -> Result<Response, ClientError> {
        let mut decoder = Decoder::new()
            .with_max_payload(self.max_payload)
            .with_framing(self.framing);
        let mut chunk = alloc::vec![0u8; 64 * 1024];
        loop {
            if !self.buf.is_empty() {
                let (used, step) = decoder.feed(&self.buf);
                self.buf.drain(..used);
                match step {
                    Some(Ok(resp)) => return Ok(resp),
                    Some(Err(e)) => return Err(ClientError::Damaged(e)),
                    None => {}
                }
            }
            let n = match self.stream.read(&mut chunk) {
                Ok(0) => return Err(ClientError::Closed),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            };
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}
