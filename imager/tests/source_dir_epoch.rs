//! SOURCE_DATE_EPOCH for directory commits. Its own test binary: it sets the
//! process environment, which other tests in the same process would read.

use gitfs_imager::source::{load, SourceError, SourceOptions};

#[test]
fn source_date_epoch_sets_the_commit_time_unless_a_date_is_given() {
    let tmp = tempfile::tempdir().expect("tempdir");
    std::fs::write(tmp.path().join("f"), b"x\n").expect("write");
    let src = tmp.path().to_str().expect("path");
    let text = |date: Option<i64>| -> Result<String, SourceError> {
        let snap = load(src, &SourceOptions { rev: None, date })?;
        Ok(String::from_utf8(snap.data(0).expect("commit bytes")).expect("utf-8"))
    };

    std::env::remove_var("SOURCE_DATE_EPOCH");
    assert!(text(None).expect("no epoch").contains(" 0 +0000\n"));

    std::env::set_var("SOURCE_DATE_EPOCH", "1600000000");
    assert!(text(None).expect("epoch").contains(" 1600000000 +0000\n"));
    assert!(text(Some(42)).expect("explicit").contains(" 42 +0000\n"));

    std::env::set_var("SOURCE_DATE_EPOCH", "yesterday");
    let e = text(None).expect_err("bad epoch");
    assert!(matches!(e, SourceError::BadDate(_)), "{e:?}");
    std::env::remove_var("SOURCE_DATE_EPOCH");
}
