//! Time since the machine started.

#[repr(C)]
struct Timespec {
    tv_sec: i64,
    tv_nsec: i32,
}

/// Hermit's `CLOCK_MONOTONIC`: the TSC divided by the CPU frequency, so it counts from
/// the (virtual) CPU's reset, i.e. it includes firmware, loader and kernel boot.
const CLOCK_MONOTONIC: i32 = 4;

extern "C" {
    fn sys_clock_gettime(clock_id: i32, tp: *mut Timespec) -> i32;
}

/// Milliseconds since the virtual CPU was reset (accurate when the kernel knows the
/// CPU frequency: pass `-freq MHZ` under TCG).
pub fn uptime_ms() -> Option<u64> {
    let mut ts = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: the kernel writes one timespec through the valid pointer.
    let rc = unsafe { sys_clock_gettime(CLOCK_MONOTONIC, &mut ts) };
    if rc != 0 || ts.tv_sec < 0 {
        return None;
    }
    Some(ts.tv_sec as u64 * 1000 + (ts.tv_nsec.max(0) as u64) / 1_000_000)
}
