//! ssh:// and scp-like sources against a private `sshd` on 127.0.0.1 (host key,
//! client key and config generated here). Own test binary: it sets
//! GIT_SSH_COMMAND for the process. Skips, saying why, without openssh-server.

mod common;
mod source_support;

use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use gitfs_imager::source::{load, SourceError, SourceOptions};
use source_support::{assert_matches_git, fixture_repo, git};

const SSHD: &str = "/usr/sbin/sshd";

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn keygen(path: &Path) {
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(path)
        .stdin(Stdio::null())
        .status()
        .expect("ssh-keygen");
    assert!(status.success());
}

#[test]
fn ssh_fetch_matches_git() {
    if !Path::new(SSHD).exists() {
        println!("skipped: {SSHD} is not installed (apt package openssh-server)");
        return;
    }
    // sshd refuses to start without its privilege separation directory.
    if std::fs::create_dir_all("/run/sshd").is_err() {
        println!("skipped: cannot create /run/sshd (sshd needs it; run as root)");
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let t = tmp.path();
    let work = t.join("work");
    std::fs::create_dir(&work).expect("mkdir");
    fixture_repo(&work);
    let bare = t.join("repo.git");
    git(t, ["clone", "-q", "--bare", "work", "repo.git"]);

    keygen(&t.join("host_key"));
    keygen(&t.join("client_key"));
    std::fs::copy(t.join("client_key.pub"), t.join("authorized_keys")).expect("authorized_keys");
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let config = format!(
        "Port {port}\nListenAddress 127.0.0.1\nHostKey {t}/host_key\nPidFile {t}/sshd.pid\n\
         AuthorizedKeysFile {t}/authorized_keys\nStrictModes no\nUsePAM no\n\
         PasswordAuthentication no\nKbdInteractiveAuthentication no\n\
         PubkeyAuthentication yes\nPermitRootLogin prohibit-password\n",
        t = t.display()
    );
    std::fs::write(t.join("sshd_config"), config).expect("config");
    let child = Command::new(SSHD)
        .args(["-D", "-e", "-f"])
        .arg(t.join("sshd_config"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn sshd");
    let _server = Server(child);
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "sshd did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    let user = String::from_utf8(Command::new("id").arg("-un").output().expect("id").stdout)
        .expect("utf-8 user")
        .trim()
        .to_string();
    // -p also serves the scp-like form, which has no port of its own.
    std::env::set_var(
        "GIT_SSH_COMMAND",
        format!(
            "ssh -p {port} -i {}/client_key -o IdentitiesOnly=yes -o BatchMode=yes \
             -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR",
            t.display()
        ),
    );
    let opts = |rev: Option<&str>| SourceOptions {
        rev: rev.map(str::to_string),
        date: None,
    };
    let ssh_url = format!("ssh://{user}@127.0.0.1:{port}{}", bare.display());
    let scp_like = format!("{user}@127.0.0.1:{}", bare.display());
    for (url, rev) in [
        (&ssh_url, None),
        (&ssh_url, Some("v1.0")),
        (&scp_like, Some("main")),
    ] {
        let snap = load(url, &opts(rev)).unwrap_or_else(|e| panic!("{url} {rev:?}: {e}"));
        assert_matches_git(&bare, rev.unwrap_or("HEAD"), &snap);
    }
    let missing = format!("ssh://{user}@127.0.0.1:{port}{}/missing.git", t.display());
    let e = load(&missing, &opts(None)).expect_err("missing repository");
    assert!(matches!(e, SourceError::Remote { .. }), "{e:?}");
    assert!(!e.to_string().contains('\n'), "{e}");
    println!("missing repository over ssh: {e}");
    let mut cur: Option<&dyn std::error::Error> = std::error::Error::source(&e);
    while let Some(c) = cur {
        println!("  caused by: {c}");
        cur = c.source();
    }
}
