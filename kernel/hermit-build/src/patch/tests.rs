use super::*;

const TWO_FILES: &str = "\
Describes the fix.
* a bullet that is not a diff line

--- a/src/a.rs
+++ b/src/a.rs
@@ -1,3 +1,4 @@
 fn a() {
+\tnew();
 \told();
 }
--- /dev/null
+++ b/src/dir/new.rs
@@ -0,0 +1,2 @@
+// new
+fn n() {}
";

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "gitfs-hermit-build-{name}-{}",
        std::process::id()
    ));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(dir.join("src")).unwrap();
    dir
}

#[test]
fn parses_files_and_skips_the_description() {
    let p = Patch::parse("01-x.patch", TWO_FILES).unwrap();
    let paths: Vec<_> = p.files.iter().map(|f| (f.path.as_str(), f.new_file)).collect();
    assert_eq!(paths, [("src/a.rs", false), ("src/dir/new.rs", true)]);
    assert!(p.files[0].diff.starts_with("--- a/src/a.rs\n"));
    assert!(p.files[0].diff.ends_with(" }\n"));
}

#[test]
fn applies_edits_and_creates_files() {
    let root = scratch("apply");
    fs::write(root.join("src/a.rs"), "fn a() {\n\told();\n}\n").unwrap();
    Patch::parse("p", TWO_FILES).unwrap().apply_in(&root).unwrap();
    assert_eq!(
        fs::read_to_string(root.join("src/a.rs")).unwrap(),
        "fn a() {\n\tnew();\n\told();\n}\n"
    );
    assert_eq!(
        fs::read_to_string(root.join("src/dir/new.rs")).unwrap(),
        "// new\nfn n() {}\n"
    );
    fs::remove_dir_all(root).unwrap();
}

#[test]
fn changed_context_fails_and_names_the_file() {
    let p = Patch::parse("02-y.patch", TWO_FILES).unwrap();
    let e = p
        .apply_to(&p.files[0], "fn a() {\n\tsomething_else();\n}\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("02-y.patch") && e.contains("src/a.rs"), "{e}");
}

#[test]
fn creating_an_existing_file_fails() {
    let root = scratch("exists");
    fs::write(root.join("src/a.rs"), "fn a() {\n\told();\n}\n").unwrap();
    fs::create_dir_all(root.join("src/dir")).unwrap();
    fs::write(root.join("src/dir/new.rs"), "x").unwrap();
    let e = Patch::parse("p", TWO_FILES).unwrap().apply_in(&root).unwrap_err();
    assert!(e.to_string().contains("already exists"), "{e}");
    fs::remove_dir_all(root).unwrap();
}

#[test]
fn bad_headers_are_refused() {
    for bad in [
        "no diff at all\n",
        "--- a/x\n+++ b/y\n@@ -1 +1 @@\n-a\n+b\n",
        "--- a/../x\n+++ b/../x\n@@ -1 +1 @@\n-a\n+b\n",
        "--- a/x\n+++ x\n@@ -1 +1 @@\n-a\n+b\n",
    ] {
        assert!(Patch::parse("p", bad).is_err(), "accepted {bad:?}");
    }
}

#[test]
fn the_digest_changes_with_any_byte() {
    let set = |text: &str| PatchSet {
        dir: PathBuf::new(),
        patches: vec![Patch::parse("p", text).unwrap()],
    };
    let a = set(TWO_FILES).digest();
    assert_eq!(a, set(TWO_FILES).digest());
    assert_ne!(a, set(&TWO_FILES.replacen("Describes", "describes", 1)).digest());
}
