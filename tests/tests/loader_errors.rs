//! The loader's error paths: a clear message on the console and QEMU rc 65, in time.

use std::path::PathBuf;
use std::time::Duration;

use gitfs_qemu::{Artifacts, Error, Exit, Vm, VmConfig};
use gitfs_tests::{assert_gone, config, images, scratch};

fn with_module(module: PathBuf) -> VmConfig {
    let real = images();
    VmConfig {
        artifacts: Some(Artifacts {
            loader: real.loader,
            kernel: module,
        }),
        ..config()
    }
}

/// Boots `module` as the app and expects a loader failure; returns the console text.
fn loader_fails(module: PathBuf) -> String {
    loader_fails_with(&with_module(module))
}

fn loader_fails_with(cfg: &VmConfig) -> String {
    let mut vm = Vm::spawn(cfg).expect("spawn");
    let pid = vm.pid();
    let exit = vm
        .wait_exit(Duration::from_secs(60))
        .expect("QEMU exits in time");
    let transcript = vm.transcript();
    assert_eq!(exit, Exit::LoaderFailure, "console: {transcript}");
    assert!(
        transcript.contains("gitfs-loader: error:"),
        "no loader error line in: {transcript:?}"
    );
    assert!(!transcript.contains("gitfs ready"));
    drop(vm);
    assert_gone(pid);
    transcript
}

#[test]
fn text_file_as_module() {
    let dir = scratch("text-module");
    let path = dir.join("notes.txt");
    std::fs::write(&path, "this is not an ELF file\n".repeat(100)).expect("write");
    let console = loader_fails(path);
    println!("{console}");
}

#[test]
fn truncated_elf_as_module() {
    let real = std::fs::read(images().kernel).expect("read kernel");
    let dir = scratch("truncated");
    for keep in [100, real.len() / 2] {
        let path = dir.join(format!("kernel-{keep}"));
        std::fs::write(&path, &real[..keep]).expect("write");
        let console = loader_fails(path);
        println!("{keep} bytes: {console}");
    }
}

#[test]
fn elf32_as_module() {
    // The loader itself is a 32-bit ELF, not a Hermit app.
    let console = loader_fails(images().loader);
    println!("{console}");
}

#[test]
fn boot_reports_loader_failure_as_early_exit() {
    let dir = scratch("early-exit");
    let path = dir.join("empty.bin");
    std::fs::write(&path, [0u8; 64]).expect("write");
    match Vm::boot(&with_module(path)) {
        Err(Error::ExitedEarly {
            exit: Exit::LoaderFailure,
            transcript,
            ..
        }) => assert!(transcript.contains("gitfs-loader: error:"), "{transcript}"),
        Err(e) => panic!("expected a loader failure, got {e}"),
        Ok(_) => panic!("a zero-filled module booted"),
    }
}

#[test]
fn too_little_memory() {
    let mut cfg = config();
    cfg.memory = "24M".into();
    let console = loader_fails_with(&cfg);
    println!("{console}");
}
