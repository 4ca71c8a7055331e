//! The shipped patches against the real kernel source that cargo pins for the `gitfs`
//! crate (the same lookup its build script does).

use std::fs;
use std::path::Path;

use gitfs_hermit_build::{locate, patch, patch_dir};

#[test]
fn every_patch_applies_to_the_pinned_kernel_source() {
    let gitfs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../gitfs");
    let manifest = locate::kernel_manifest(&gitfs).expect("cargo metadata finds hermit-kernel");
    let src = manifest.parent().unwrap();
    assert!(src.join("src/fs/mem.rs").is_file(), "{}", src.display());

    let set = patch::PatchSet::load(&patch_dir()).unwrap();
    let names: Vec<&str> = set.patches.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names.len(), 7, "{names:?}");
    assert!(names.windows(2).all(|w| w[0] < w[1]));

    let dest = std::env::temp_dir().join(format!("gitfs-kernel-src-{}", std::process::id()));
    patch::patched_copy(src, &dest, &set).unwrap();
    let appfs = fs::read_to_string(dest.join("src/fs/appfs.rs")).unwrap();
    assert!(appfs.contains("pub unsafe extern \"C\" fn sys_mount_appfs"));
    let lseek = fs::read_to_string(dest.join("src/syscalls/mod.rs")).unwrap();
    assert!(!lseek.contains(".to_str().unwrap()"));
    let allocator = fs::read_to_string(dest.join("src/mm/allocator.rs")).unwrap();
    assert!(!allocator.contains("CachePadded<u8>"));
    assert!(fs::read_to_string(dest.join("Cargo.toml"))
        .unwrap()
        .ends_with("\n[workspace]\n"));
    // Applying the set again fails: 05 creates a file that now exists.
    assert!(set.apply_in(&dest).is_err());
    fs::remove_dir_all(&dest).unwrap();
}
