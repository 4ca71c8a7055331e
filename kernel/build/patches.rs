//! Fixes applied to the `hermit-kernel` 0.11.0 source before it is built.
//!
//! Each patch is a list of exact replacements; every `old` text must occur exactly once
//! in its file, so a changed kernel source fails the build loudly instead of being
//! patched wrongly. docs/architecture.md lists the patches and why they exist.

/// One replacement in one file of the kernel crate.
pub struct Edit {
    pub file: &'static str,
    pub old: &'static str,
    pub new: &'static str,
}

/// A named fix.
pub struct Patch {
    pub name: &'static str,
    pub edits: &'static [Edit],
}

/// virtio-net send-queue back-pressure. Unpatched, a full send queue (QEMU drains it
/// more slowly than several bulk TCP streams fill it: 8 concurrent downloads under TCG
/// do it) makes `send_packet` unwrap `NoDescrAvail` and panic the kernel. Patched, the
/// driver counts packets in flight, smoltcp's `transmit` gets `None` while the queue is
/// full (smoltcp retries on a later poll), and a packet that still finds no room (a
/// reply to a received packet, which bypasses `transmit`) is dropped for TCP to resend.
const SEND_QUEUE_BACKPRESSURE: Patch = Patch {
    name: "virtio-net send-queue back-pressure",
    edits: &[
        Edit {
            file: "src/drivers/net/mod.rs",
            old: "\t/// Check if a packet is available\n",
            new: "\t/// Whether a packet can be queued for sending now.\n\
                  \tfn can_send(&mut self) -> bool {\n\
                  \t\ttrue\n\
                  \t}\n\
                  \t/// Check if a packet is available\n",
        },
        Edit {
            file: "src/drivers/net/virtio/mod.rs",
            old: "\tpacket_length: u32,\n}\n",
            new: "\tpacket_length: u32,\n\
                  \t/// Packets handed to the device and not yet returned.\n\
                  \tin_flight: usize,\n}\n",
        },
        Edit {
            file: "src/drivers/net/virtio/mod.rs",
            old: "\t\tSelf { vqs, packet_length }\n",
            new: "\t\tSelf {\n\
                  \t\t\tvqs,\n\
                  \t\t\tpacket_length,\n\
                  \t\t\tin_flight: 0,\n\
                  \t\t}\n",
        },
        Edit {
            file: "src/drivers/net/virtio/mod.rs",
            old: "\t\t\twhile vq.try_recv().is_ok() {}\n\t\t}\n\t}\n",
            new: "\t\t\twhile vq.try_recv().is_ok() {\n\
                  \t\t\t\tself.in_flight = self.in_flight.saturating_sub(1);\n\
                  \t\t\t}\n\
                  \t\t}\n\
                  \t}\n\
                  \n\
                  \t/// Room for one more packet (two descriptors: header and frame).\n\
                  \tfn has_room(&mut self) -> bool {\n\
                  \t\tself.poll();\n\
                  \t\tlet size = self.vqs.first().map_or(0, |vq| usize::from(u16::from(vq.size())));\n\
                  \t\tself.in_flight < size / 2\n\
                  \t}\n",
        },
        Edit {
            file: "src/drivers/net/virtio/mod.rs",
            old: "\t\tself.send_vqs.vqs[0]\n\
                  \t\t\t.dispatch(buff_tkn, false, BufferType::Direct)\n\
                  \t\t\t.unwrap();\n",
            new: "\t\tif self.send_vqs.has_room() {\n\
                  \t\t\tmatch self.send_vqs.vqs[0].dispatch(buff_tkn, false, BufferType::Direct) {\n\
                  \t\t\t\tOk(()) => self.send_vqs.in_flight += 1,\n\
                  \t\t\t\tErr(e) => warn!(\"virtio-net: packet dropped: {e:?}\"),\n\
                  \t\t\t}\n\
                  \t\t} else {\n\
                  \t\t\tdebug!(\"virtio-net: send queue full, packet dropped\");\n\
                  \t\t}\n",
        },
        Edit {
            file: "src/drivers/net/virtio/mod.rs",
            old: "impl NetworkDriver for VirtioNetDriver {\n",
            new: "impl NetworkDriver for VirtioNetDriver {\n\
                  \tfn can_send(&mut self) -> bool {\n\
                  \t\tself.send_vqs.has_room()\n\
                  \t}\n\
                  \n",
        },
        Edit {
            file: "src/executor/device.rs",
            old: "\tfn transmit(&mut self, _timestamp: Instant) -> Option<Self::TxToken<'_>> {\n\
                  \t\tSome(TxToken::new())\n",
            new: "\tfn transmit(&mut self, _timestamp: Instant) -> Option<Self::TxToken<'_>> {\n\
                  \t\tif let Some(driver) = hardware::get_network_driver() {\n\
                  \t\t\tif !driver.lock().can_send() {\n\
                  \t\t\t\treturn None;\n\
                  \t\t\t}\n\
                  \t\t}\n\
                  \t\tSome(TxToken::new())\n",
        },
    ],
};

/// A bounded close. Unpatched, dropping a TCP socket waits, with no limit, until the
/// peer has acknowledged our FIN and sent its own: a client that keeps a connection
/// open after `Connection: close` (or vanishes) would hold the serving thread forever.
/// Patched, the wait ends after 30 s and the socket is removed (the peer, if still
/// there, later gets a reset). 30 s lets a slow reader take the last 64 KiB.
const BOUNDED_CLOSE: Patch = Patch {
    name: "bounded TCP close",
    edits: &[Edit {
        file: "src/fd/socket/tcp.rs",
        old: "\t\tlet _ = block_on(self.close(), None);\n",
        new: "\t\tlet _ = block_on(self.close(), Some(core::time::Duration::from_secs(30)));\n",
    }],
};

/// Timed waits that end. `block_on` computes a wake-up time as an absolute wall-clock
/// value and hands it to a futex wait that takes a relative one, so a blocked call with
/// a timeout (poll(2), the bounded close above) sleeps for decades instead. Patched,
/// the wait gets the time left.
const TIMED_WAIT: Patch = Patch {
    name: "relative block_on timeout",
    edits: &[
        Edit {
            file: "src/executor/mod.rs",
            old: "\t\t\t\t);\n\t\t\t\tlet wakeup_time =\n\t\t\t\t\ttimeout.map(|duration| start + u64::try_from(duration.as_micros()).unwrap());\n",
            new: "\t\t\t\t);\n\t\t\t\tlet wakeup_time = timeout.map(|duration| {\n\t\t\t\t\t(start + u64::try_from(duration.as_micros()).unwrap()).saturating_sub(now)\n\t\t\t\t});\n",
        },
        Edit {
            file: "src/executor/mod.rs",
            old: "\t\t\tif backoff.is_completed() {\n\t\t\t\tlet wakeup_time =\n\t\t\t\t\ttimeout.map(|duration| start + u64::try_from(duration.as_micros()).unwrap());\n",
            new: "\t\t\tif backoff.is_completed() {\n\t\t\t\tlet wakeup_time = timeout.map(|duration| {\n\t\t\t\t\t(start + u64::try_from(duration.as_micros()).unwrap()).saturating_sub(now)\n\t\t\t\t});\n",
        },
    ],
};

/// Fair accept. `accept` hands out the lowest-numbered pending connection, and a new
/// connection lands in the lowest free socket, so while clients keep connecting, one
/// that landed in a high-numbered socket waits: measured 0.3-1.5 s for about 1% of
/// connections with 8 clients opening a connection per request.
/// Patched, each search starts after the connection accepted last (round robin), so a
/// pending connection is handed out within one turn of the backlog.
const FAIR_ACCEPT: Patch = Patch {
    name: "round-robin accept",
    edits: &[
        Edit {
            file: "src/fd/socket/tcp.rs",
            old: "\tis_listen: bool,\n\t// FIXME",
            new: "\tis_listen: bool,\n\t/// The connection `accept` handed out last: the next search starts after it.\n\tlast_accept: Option<Handle>,\n\t// FIXME",
        },
        Edit {
            file: "src/fd/socket/tcp.rs",
            old: "\t\t\tis_listen: false,\n\t\t\tdomain,\n",
            new: "\t\t\tis_listen: false,\n\t\t\tlast_accept: None,\n\t\t\tdomain,\n",
        },
        Edit {
            file: "src/fd/socket/tcp.rs",
            old: "\t\t\tis_listen: false,\n\t\t\tdomain: self.domain,\n",
            new: "\t\t\tis_listen: false,\n\t\t\tlast_accept: None,\n\t\t\tdomain: self.domain,\n",
        },
        Edit {
            file: "src/fd/socket/tcp.rs",
            old: "\t\t\tfor handle in self.handle.iter() {\n\t\t\t\tlet s = nic.get_mut_socket::<tcp::Socket<'_>>(*handle);\n\n\t\t\t\tif s.is_active() {",
            new: "\t\t\tlet last = self.last_accept;\n\t\t\tlet after = self.handle.iter().filter(|h| Some(**h) > last);\n\t\t\tfor handle in after.chain(self.handle.iter().filter(|h| Some(**h) <= last)) {\n\t\t\t\tlet s = nic.get_mut_socket::<tcp::Socket<'_>>(*handle);\n\n\t\t\t\tif s.is_active() {",
        },
        Edit {
            file: "src/fd/socket/tcp.rs",
            old: "\t\t\tif let Some(handle) = socket_handle {\n\t\t\t\tself.handle.remove(&handle);\n",
            new: "\t\t\tif let Some(handle) = socket_handle {\n\t\t\t\tself.handle.remove(&handle);\n\t\t\t\tself.last_accept = Some(handle);\n",
        },
    ],
};

/// Every patch, in the order applied.
pub const PATCHES: &[Patch] = &[
    SEND_QUEUE_BACKPRESSURE,
    BOUNDED_CLOSE,
    TIMED_WAIT,
    FAIR_ACCEPT,
];
