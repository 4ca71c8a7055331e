//! The real loader + kernel under QEMU TCG: boot, console round trips, stops.

use std::time::Duration;

use gitfs_qemu::{Error, Exit, Vm};
use gitfs_tests::{assert_gone, config};

fn boot() -> Vm {
    match Vm::boot(&config()) {
        Ok(vm) => vm,
        Err(e) => panic!("boot failed: {e}"),
    }
}

/// Printable text that is not a repetition, so a dropped or reordered byte shows.
fn text(len: usize, seed: u64) -> String {
    let mut x = gitfs_testkit::Xorshift::new(seed);
    // Printable ASCII without spaces at the ends mattering: '!'..='~'.
    (0..len)
        .map(|_| char::from(b'!' + (x.next_u64() % 94) as u8))
        .collect()
}

#[test]
fn boots_to_ready_line() {
    let vm = boot();
    let pid = vm.pid();
    let ready = vm.ready_line().unwrap_or_default().to_string();
    assert!(ready.starts_with("gitfs ready version="), "{ready:?}");
    assert!(ready.contains(" boot_ms="), "{ready:?}");
    assert!(ready.contains("disk=none"), "{ready:?}");
    assert!(vm.boot_time().is_some());
    assert_eq!(vm.stop().expect("stop"), Exit::Success);
    assert_gone(pid);
}

#[test]
fn ping_round_trip() {
    let mut vm = boot();
    let pid = vm.pid();
    assert_eq!(vm.request("ping").expect("ping"), "pong");
    assert_eq!(vm.request("ping").expect("ping again"), "pong");
    assert_eq!(vm.stop().expect("stop"), Exit::Success);
    assert_gone(pid);
}

#[test]
fn echo_of_a_4_kib_line_is_intact() {
    let mut vm = boot();
    let pid = vm.pid();
    let payload = text(4096, 1);
    let back = vm.request(&format!("echo {payload}")).expect("echo");
    assert_eq!(back.len(), payload.len());
    assert_eq!(back, payload);
    assert_eq!(vm.stop().expect("stop"), Exit::Success);
    assert_gone(pid);
}

#[test]
fn burst_of_100_lines_answered_in_order() {
    let mut vm = boot();
    let pid = vm.pid();
    let lines: Vec<String> = (0..100u64)
        .map(|i| format!("{i}:{}", text(20 + (i as usize * 13) % 90, i)))
        .collect();
    // All requests go out before any answer is read.
    for l in &lines {
        vm.send(&format!("echo {l}")).expect("send");
    }
    for (i, l) in lines.iter().enumerate() {
        let got = vm.read_response().expect("response");
        assert_eq!(&got, l, "answer {i}");
    }
    assert_eq!(vm.request("ping").expect("ping after burst"), "pong");
    assert_eq!(vm.stop().expect("stop"), Exit::Success);
    assert_gone(pid);
}

#[test]
fn bad_request_answers_error_and_service_goes_on() {
    let mut vm = boot();
    let pid = vm.pid();
    let answer = vm.request("frobnicate").expect("answer");
    assert!(answer.starts_with("error: "), "{answer:?}");
    assert_eq!(vm.request("ping").expect("ping"), "pong");
    assert_eq!(vm.stop().expect("stop"), Exit::Success);
    assert_gone(pid);
}

#[test]
fn quit_is_success() {
    let mut vm = boot();
    let pid = vm.pid();
    assert_eq!(vm.request("quit").expect("quit"), "bye");
    assert_eq!(
        vm.wait_exit(Duration::from_secs(60)).expect("exit"),
        Exit::Success
    );
    assert_gone(pid);
}

#[test]
fn fail_is_app_failure() {
    let mut vm = boot();
    let pid = vm.pid();
    assert_eq!(vm.request("fail").expect("fail"), "failing on request");
    assert_eq!(
        vm.wait_exit(Duration::from_secs(60)).expect("exit"),
        Exit::AppFailure
    );
    // stop() on an exited VM reports the same status without sending anything.
    assert_eq!(vm.stop().expect("stop"), Exit::AppFailure);
    assert_gone(pid);
}

#[test]
fn drop_kills_a_running_vm() {
    let vm = boot();
    let pid = vm.pid();
    drop(vm);
    assert_gone(pid);
}

#[test]
fn boot_timeout_kills_qemu() {
    let mut cfg = config();
    // A TCG boot takes hundreds of milliseconds: this always times out.
    cfg.boot_timeout = Duration::from_millis(30);
    let mut vm = Vm::spawn(&cfg).expect("spawn");
    let pid = vm.pid();
    match vm.wait_ready() {
        Err(Error::BootTimeout { .. }) => {}
        other => panic!("expected a boot timeout, got {other:?}"),
    }
    // Killed right away, before the Vm is dropped.
    assert_gone(pid);
}

#[test]
fn exit_timeout_kills_qemu() {
    let mut vm = boot();
    let pid = vm.pid();
    match vm.wait_exit(Duration::from_millis(200)) {
        Err(Error::Timeout { .. }) => {}
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert_gone(pid);
}

#[test]
fn disk_is_attached_read_only() {
    let dir = gitfs_tests::scratch("disk");
    let path = dir.join("disk.img");
    let bytes: Vec<u8> = text(64 * 1024, 7).into_bytes();
    std::fs::write(&path, &bytes).expect("write image");
    let mut cfg = config();
    // A raw disk, not an image: the diagnostic console reads it without parsing.
    cfg.app_args = vec!["--diag".into()];
    cfg.disk = Some(path.clone());
    let mut vm = Vm::boot(&cfg).expect("boot with disk");
    let pid = vm.pid();
    let ready = vm.ready_line().unwrap_or_default().to_string();
    assert!(ready.contains("disk_bytes=65536"), "{ready}");
    assert_eq!(vm.request("blkinfo").expect("blkinfo"), "disk bytes=65536");
    let (off, len) = (4096 + 7, 100);
    let hex: String = bytes[off..off + len]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(
        vm.request(&format!("blkhex {off} {len}")).expect("blkhex"),
        format!("blkhex offset={off} len={len} hex={hex}")
    );
    assert_eq!(vm.stop().expect("stop"), Exit::Success);
    assert_gone(pid);
    // Read-only: the image is unchanged.
    assert_eq!(std::fs::read(&path).expect("reread"), bytes);
}
