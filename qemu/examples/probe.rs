use gitfs_console::Request;
use gitfs_qemu::{Session, VmConfig};
use std::time::Instant;
fn main() {
    let img = std::env::args().nth(1).unwrap();
    let c = VmConfig { disk: Some(img.into()), ..VmConfig::default() };
    let mut s = Session::boot(&c).unwrap();
    let mut t = |name: &str, line: &[u8], s: &mut Session| {
        let mut v = Vec::new();
        for _ in 0..30 { let t0 = Instant::now(); let _ = s.raw(line).unwrap(); v.push(t0.elapsed().as_secs_f64()*1e3); }
        v.sort_by(f64::total_cmp);
        println!("{name:40} p50 {:.2} ms", v[15]);
    };
    t("@ping", b"@ping", &mut s);
    t("@help", b"@help", &mut s);
    t("@info", b"@info", &mut s);
    t("@ping + 22 spaces", b"@ping                      ", &mut s);
    t("@pinX 22 (bad-request)", b"@pinXXXXXXXXXXXXXXXXXXXXXXX", &mut s);
    t("@digest small/s00/f0003.bin", b"@digest small/s00/f0003.bin", &mut s);
    t("@digest x (not found)", b"@digest x", &mut s);
    t("@digest small/s00/f0003.bix (nf)", b"@digest small/s00/f0003.bix", &mut s);
    let _ = Request::Ping;
    s.quit().unwrap();
}
