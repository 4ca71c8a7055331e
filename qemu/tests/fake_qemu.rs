//! Harness behaviour against a fake QEMU: this test binary re-executes itself as the
//! "QEMU" (GITFS_QEMU points at it), so process handling is tested without a guest.

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use gitfs_qemu::{Artifacts, Error, Exit, Freq, Vm, VmConfig};

const MODE_ENV: &str = "FAKE_QEMU_MODE";

fn main() {
    match std::env::var(MODE_ENV) {
        Ok(mode) => fake(&mode),
        Err(_) => run_tests(),
    }
}

/// Acts like QEMU running the gitfs kernel: Hermit-style echo, log lines, exit codes.
fn fake(mode: &str) {
    let out = std::io::stdout();
    let mut out = out.lock();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let say = |out: &mut std::io::StdoutLock, s: &str| {
        let _ = out.write_all(s.as_bytes());
        let _ = out.flush();
    };
    match mode {
        "loader-error" => {
            say(&mut out, "gitfs-loader: error: module is not an ELF file\n");
            std::process::exit(65);
        }
        "silent" => std::thread::sleep(Duration::from_secs(600)),
        "grandchild" => {
            // A process in QEMU's group that outlives nothing if the group is killed.
            let child = Command::new("sleep").arg("600").spawn();
            let pid = child.map(|c| c.id()).unwrap_or(0);
            say(&mut out, &format!("sleeper {pid}\ngitfs ready fake\n"));
            std::thread::sleep(Duration::from_secs(600));
        }
        "framed" => framed_guest(&mut out),
        _ => {
            say(&mut out, "[0][INFO] fake kernel booting\n");
            say(
                &mut out,
                &format!("gitfs ready fake args={}\n", args.join("|")),
            );
            let stdin = std::io::stdin();
            for line in stdin.lock().split(b'\n') {
                let Ok(line) = line else { break };
                let mut echo = Vec::new();
                for &b in line.iter().chain(b"\n") {
                    echo.extend_from_slice(&[b, 0, 0, 0]);
                }
                let text = String::from_utf8_lossy(&line).into_owned();
                let answer = match text.as_str() {
                    "quit" => "bye".to_string(),
                    "fail" => "failing on request".to_string(),
                    "ping" => "pong".to_string(),
                    t => t
                        .strip_prefix("echo ")
                        .unwrap_or("error: unknown")
                        .to_string(),
                };
                // Echo first, a kernel log line in between, then the answer.
                let _ = out.write_all(&echo);
                say(&mut out, &format!("[0][WARN] log noise\n{answer}\n"));
                match text.as_str() {
                    "quit" => std::process::exit(3),
                    "fail" => std::process::exit(1),
                    _ => {}
                }
            }
        }
    }
}

/// A payload that holds what echo, headers and escapes look like.
fn tricky_payload() -> Vec<u8> {
    let mut p: Vec<u8> = (0..=255u8).collect();
    p.extend_from_slice(b"\n=OK 5\n@get bin\0\0\0\n\0\0\0=END 00000000\n");
    p.extend_from_slice(&[0x08, 0x7f, 0x10, 0x10, 0x48]);
    p
}

/// Like the real kernel's framed face: Hermit echo, log noise, escaped payloads.
fn framed_guest(out: &mut std::io::StdoutLock) {
    use gitfs_console::{err_header, ok_header, parse_line, ErrorCode, Framer, Request};
    let frame = |payload: &[u8], fields: &[&str]| {
        let mut v = ok_header(payload.len() as u64, fields).into_bytes();
        let mut f = Framer::new(payload.len() as u64);
        f.chunk(payload, &mut v);
        v.extend_from_slice(&f.finish().expect("framer"));
        v
    };
    let _ = out.write_all(b"gitfs ready commit=abc files=1\n");
    let _ = out.flush();
    let stdin = std::io::stdin();
    for line in stdin.lock().split(b'\n') {
        let Ok(line) = line else { break };
        let mut reply: Vec<u8> = Vec::new();
        for &b in line.iter().chain(b"\n") {
            reply.extend_from_slice(&[b, 0, 0, 0]);
        }
        reply.extend_from_slice(b"[0][WARN] log noise =OK 3\n");
        let payload = tricky_payload();
        let id = gitfs_qemu::blob_id(&payload);
        let quit = matches!(parse_line(&line), Some((_, Ok(Request::Quit))));
        match parse_line(&line).map(|(_, r)| r) {
            Some(Ok(Request::Get(p))) if p == b"bin" => {
                reply.extend(frame(&payload, &["file", "100644", &id]))
            }
            Some(Ok(Request::Get(p))) if p == b"badid" => {
                reply.extend(frame(b"x", &["file", "100644", &id]))
            }
            Some(Ok(Request::Get(p))) if p == b"damaged" => {
                // An unescaped DEL, as the console turns it into three bytes.
                reply.extend_from_slice(b"=OK 3\na\x08 \x08b\n=END 00000000\n");
            }
            Some(Ok(Request::Range { offset, len, path })) if path == b"bin" => {
                let end = (offset + len).min(payload.len() as u64) as usize;
                let size = payload.len().to_string();
                reply.extend(frame(&payload[offset as usize..end], &[&size, &id]))
            }
            Some(Ok(Request::Ls(_))) => {
                let rec = format!("100644 file {} {id} b%20in\n", payload.len());
                reply.extend(frame(rec.as_bytes(), &["1"]))
            }
            Some(Ok(Request::Ping | Request::Quit)) => reply.extend(frame(b"", &[])),
            _ => {
                reply.extend_from_slice(err_header(ErrorCode::NotFound, "no such path").as_bytes())
            }
        }
        let _ = out.write_all(&reply);
        let _ = out.flush();
        if quit {
            std::process::exit(3);
        }
    }
}

fn session_against_fake() {
    use gitfs_qemu::{Error, Session};
    let mut s = Session::boot(&config("framed")).expect("boot");
    assert_eq!(s.ready().num("files"), Some(1));
    let payload = tricky_payload();
    for _ in 0..3 {
        assert_eq!(s.get("bin").expect("get"), payload);
        assert_eq!(s.range("bin", 250, 10).expect("range"), payload[250..260]);
        s.ping().expect("ping");
    }
    let ls = s.ls("/").expect("ls");
    assert_eq!((ls.len(), ls[0].name.as_slice()), (1, b"b in".as_slice()));
    assert!(matches!(s.get("nope"), Err(Error::Remote { ref code, .. }) if code == "not-found"));
    assert!(matches!(s.get("badid"), Err(Error::IdMismatch { .. })));
    assert_eq!(s.quit().expect("quit"), Exit::Success);
    // A damaged transfer poisons the session; quitting then kills QEMU.
    let mut s = Session::boot(&config("framed")).expect("boot");
    assert!(matches!(s.get("damaged"), Err(Error::Damaged(_))));
    assert!(matches!(s.ping(), Err(Error::Poisoned)));
    let pid = s.pid();
    assert!(matches!(s.quit().expect("quit"), Exit::Signal(_)));
    assert!(gone(pid));
}

fn config(mode: &str) -> VmConfig {
    // SAFETY of set_var: the tests below run one after another on this thread.
    std::env::set_var(MODE_ENV, mode);
    let me = std::env::current_exe().expect("current exe");
    VmConfig {
        artifacts: Some(Artifacts {
            loader: PathBuf::from("/fake/loader"),
            kernel: PathBuf::from("/fake/kernel"),
        }),
        qemu: me,
        freq: Freq::Mhz(1234),
        app_args: vec!["a b".into()],
        boot_timeout: Duration::from_secs(10),
        request_timeout: Duration::from_secs(10),
        stop_timeout: Duration::from_secs(10),
        ..VmConfig::default()
    }
}

fn gone(pid: u32) -> bool {
    // Zombies of the sleeper are reaped by init once the fake is gone; give it a moment.
    for _ in 0..100 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = stat
            .rfind(')')
            .and_then(|i| stat[i + 1..].split_whitespace().next());
        if matches!(state, None | Some("Z")) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

fn conversation() {
    let mut vm = Vm::boot(&config("ok")).expect("boot");
    let ready = vm.ready_line().expect("ready").to_string();
    assert!(ready.contains("-append|-freq 1234 -- 'a b'"), "{ready}");
    assert_eq!(vm.request("ping").expect("ping"), "pong");
    assert_eq!(vm.request("echo a\0b").expect("echo"), "a\0b");
    for i in 0..20 {
        vm.send(&format!("echo {i}")).expect("send");
    }
    for i in 0..20 {
        assert_eq!(vm.read_response().expect("answer"), i.to_string());
    }
    let pid = vm.pid();
    assert_eq!(vm.stop().expect("stop"), Exit::Success);
    assert!(gone(pid));
    // `quit` already answered: stop() must not fail on the closed pipe.
    let mut vm = Vm::boot(&config("ok")).expect("boot");
    assert_eq!(vm.request("quit").expect("quit"), "bye");
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(vm.stop().expect("stop after quit"), Exit::Success);
}

fn failure_codes() {
    let mut vm = Vm::boot(&config("ok")).expect("boot");
    assert_eq!(vm.request("fail").expect("fail"), "failing on request");
    assert_eq!(
        vm.wait_exit(Duration::from_secs(10)).expect("exit"),
        Exit::AppFailure
    );
    match Vm::boot(&config("loader-error")) {
        Err(Error::ExitedEarly {
            exit, transcript, ..
        }) => {
            assert_eq!(exit, Exit::LoaderFailure);
            assert!(transcript.contains("gitfs-loader: error: module"));
        }
        other => panic!("expected a loader failure, got {:?}", other.err()),
    }
}

fn timeouts_and_group_kill() {
    let mut cfg = config("silent");
    cfg.boot_timeout = Duration::from_millis(300);
    match Vm::boot(&cfg) {
        Err(Error::BootTimeout { .. }) => {}
        other => panic!("expected a boot timeout, got {:?}", other.err()),
    }
    let vm = Vm::boot(&config("grandchild")).expect("boot");
    let transcript = vm.transcript();
    let sleeper: u32 = transcript
        .lines()
        .find_map(|l| l.strip_prefix("sleeper "))
        .and_then(|p| p.parse().ok())
        .expect("sleeper pid");
    assert!(sleeper > 0 && !gone_now(sleeper));
    let pid = vm.pid();
    drop(vm);
    assert!(gone(pid), "fake QEMU survived");
    assert!(gone(sleeper), "a process of QEMU's group survived");
}

fn gone_now(pid: u32) -> bool {
    !std::path::Path::new(&format!("/proc/{pid}")).exists()
}

fn missing_qemu() {
    let mut cfg = config("ok");
    cfg.qemu = PathBuf::from("/nonexistent/qemu-system-x86_64");
    match Vm::boot(&cfg) {
        Err(Error::QemuSpawn { .. }) => {}
        other => panic!("expected a spawn error, got {:?}", other.err()),
    }
}

fn run_tests() {
    let tests: [(&str, fn()); 5] = [
        ("conversation", conversation),
        ("session_against_fake", session_against_fake),
        ("failure_codes", failure_codes),
        ("timeouts_and_group_kill", timeouts_and_group_kill),
        ("missing_qemu", missing_qemu),
    ];
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    for (name, test) in tests {
        if !filter.is_empty() && !filter.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        print!("test {name} ... ");
        let _ = std::io::stdout().flush();
        test();
        println!("ok");
    }
}
