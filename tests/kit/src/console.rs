//! What the Hermit 0.11 serial console does to the bytes of a session, for tests that
//! check a decoder against it (`qemu/src/console.rs` undoes the same on the host).

use alloc::vec::Vec;

/// Output: the UART driver sends 0x08 and 0x7F as `08 20 08`.
pub fn output(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    for &b in bytes {
        if b == 0x08 || b == 0x7F {
            out.extend_from_slice(&[0x08, 0x20, 0x08]);
        } else {
            out.push(b);
        }
    }
    out
}

/// The echo of input: each byte (CR as LF) followed by three NULs.
pub fn echo(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len() * 4);
    for &b in input {
        out.push(if b == b'\r' { b'\n' } else { b });
        out.extend_from_slice(&[0, 0, 0]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erase_bytes_expand_and_echo_pads() {
        assert_eq!(output(b"a\x08b\x7f"), b"a\x08 \x08b\x08 \x08");
        assert_eq!(echo(b"x\r"), b"x\0\0\0\n\0\0\0");
    }
}
