//! Builds and links the patched Hermit kernel when the target is Hermit (see
//! `kernel/hermit-build`); host builds (the crate's tests) need nothing.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("hermit") {
        return;
    }
    let features = if std::env::var_os("CARGO_FEATURE_NET").is_some() {
        "pci,acpi,fsgsbase,tcp,dhcpv4"
    } else {
        "pci,acpi,fsgsbase"
    };
    gitfs_hermit_build::main_for_build_script(features);
}
