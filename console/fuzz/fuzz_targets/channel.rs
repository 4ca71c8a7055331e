//! The virtio channel's framing on any bytes: the raw-payload decoder always makes
//! progress and never panics; raw frames of any payloads, pipelined and cut anywhere,
//! decode to exactly those payloads in order; credit bytes are taken out of any input
//! and counted exactly.
#![no_main]

use gitfs_console::flow::{Credit, CREDIT, CREDIT_UNIT};
use gitfs_console::{ok_header, Decoder, Framer, Framing, Response};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&split, stream)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(split).max(1);

    // Any bytes: progress, no panic.
    let mut d = Decoder::new().with_framing(Framing::Raw);
    for piece in stream.chunks(chunk) {
        let mut rest = piece;
        while !rest.is_empty() {
            let (used, _) = d.feed(rest);
            assert!(used > 0 && used <= rest.len(), "no progress");
            rest = &rest[used..];
        }
    }

    // The input cut into payloads, framed raw, pipelined, fed back in `chunk` pieces.
    let payloads: Vec<&[u8]> = stream.split(|&b| b == 0xA5).collect();
    let mut wire = Vec::new();
    for p in &payloads {
        wire.extend(ok_header(p.len() as u64, &["x"]).into_bytes());
        let mut f = Framer::with_framing(p.len() as u64, Framing::Raw);
        f.chunk(p, &mut wire);
        wire.extend(f.finish().expect("whole payload"));
    }
    let mut d = Decoder::new().with_framing(Framing::Raw);
    let mut got = Vec::new();
    for piece in wire.chunks(chunk) {
        let mut rest = piece;
        while !rest.is_empty() {
            let (used, r) = d.feed(rest);
            rest = &rest[used..];
            if let Some(r) = r {
                match r.expect("a frame we made") {
                    Response::Ok { payload, .. } => got.push(payload),
                    other => panic!("{other:?}"),
                }
            }
        }
    }
    assert_eq!(got.len(), payloads.len());
    assert!(got.iter().zip(&payloads).all(|(a, b)| a == b));

    // Credit: every CREDIT byte counted, every other byte kept in order.
    let mut input = stream.to_vec();
    let mut c = Credit::default();
    let kept = c.take_from(&mut input);
    let want: Vec<u8> = stream.iter().copied().filter(|&b| b != CREDIT).collect();
    assert_eq!(&input[..kept], &want[..]);
    assert_eq!(c.available(), (stream.len() - kept) * CREDIT_UNIT);
});
