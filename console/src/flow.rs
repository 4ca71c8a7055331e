//! Flow control on the virtio channel.
//!
//! QEMU's `virtconsole` port drops guest output that its chardev cannot take at once
//! (its socket or pipe is non-blocking and a console port is never throttled), so a
//! guest writing faster than the host reads loses bytes. The guest therefore sends only
//! what the host has made room for: the host grants credit by sending [`CREDIT`] bytes,
//! each worth [`CREDIT_UNIT`] bytes of guest output, first a window's worth and then as
//! it reads. Request lines never hold the byte [`CREDIT`] (a control character), so the
//! guest takes credit out of its input before the request parser sees it.

/// The byte that grants credit (ASCII ACK).
pub const CREDIT: u8 = 0x06;
/// Bytes of guest output one [`CREDIT`] byte allows.
pub const CREDIT_UNIT: usize = 4096;

/// The guest's side: credit received and not yet spent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Credit {
    available: usize,
}

impl Credit {
    /// Takes the credit bytes out of `input` (the rest moves to its front, in order) and
    /// returns how many data bytes are left.
    pub fn take_from(&mut self, input: &mut [u8]) -> usize {
        let mut kept = 0;
        for i in 0..input.len() {
            let b = input[i];
            if b == CREDIT {
                self.available = self.available.saturating_add(CREDIT_UNIT);
            } else {
                input[kept] = b;
                kept += 1;
            }
        }
        kept
    }

    /// Output bytes the guest may send now.
    pub fn available(&self) -> usize {
        self.available
    }

    /// Records `n` bytes sent (never more than [`Credit::available`]).
    pub fn spend(&mut self, n: usize) {
        self.available = self.available.saturating_sub(n);
    }
}

/// The host's side: how much credit to send back as it reads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Grant {
    read: usize,
}

impl Grant {
    /// Credit bytes that grant a window of `window` bytes (at least one unit).
    pub fn initial(window: usize) -> usize {
        (window / CREDIT_UNIT).max(1)
    }

    /// Records `n` bytes read from the guest; returns the credit bytes to send now (one
    /// per whole unit read since the last grant).
    pub fn consumed(&mut self, n: usize) -> usize {
        self.read += n;
        let units = self.read / CREDIT_UNIT;
        self.read %= CREDIT_UNIT;
        units
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credit_bytes_leave_the_input_and_add_up() {
        let mut c = Credit::default();
        let mut input = *b"\x06@get a\x06\n\x06";
        let n = c.take_from(&mut input);
        assert_eq!(&input[..n], b"@get a\n");
        assert_eq!(c.available(), 3 * CREDIT_UNIT);
        c.spend(CREDIT_UNIT + 1);
        assert_eq!(c.available(), 2 * CREDIT_UNIT - 1);
        c.spend(usize::MAX);
        assert_eq!(c.available(), 0);
        assert_eq!(Credit::default().take_from(&mut []), 0);
    }

    #[test]
    fn the_host_returns_what_it_read() {
        // Guest and host in lock step: whatever the read sizes, the guest never has more
        // than the window outstanding, and once the host has read everything the guest
        // holds all the window but the unit the host keeps back at most.
        let window = 16 * CREDIT_UNIT;
        let mut guest = Credit::default();
        let mut wire = alloc::vec![CREDIT; Grant::initial(window)];
        let mut host = Grant::default();
        let (mut sent, mut outstanding) = (0usize, 0usize);
        let mut sizes = [1usize, 4095, 7000, 65536, 3, 12000].iter().cycle();
        while sent < 10 << 20 {
            assert_eq!(guest.take_from(&mut wire), 0, "only credit on the wire");
            wire.clear();
            let out = guest.available().min(70_000);
            guest.spend(out);
            sent += out;
            outstanding += out;
            assert!(outstanding <= window, "{outstanding} bytes in flight");
            let read = outstanding.min(*sizes.next().expect("cycle"));
            outstanding -= read;
            wire.extend(core::iter::repeat_n(CREDIT, host.consumed(read)));
            if outstanding == 0 {
                let mut probe = wire.clone();
                let mut g = guest;
                g.take_from(&mut probe);
                assert!(g.available() > window - CREDIT_UNIT, "credit lost");
            }
        }
        assert_eq!(Grant::initial(100), 1);
    }
}
