//! Many small files through one tar stream and through the pipelined SFTP lanes: fresh
//! targets, replaced targets (mode kept), the fallback to the lanes, hostile names, and a
//! cancel in the middle, against a real lab sshd.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use fleetdeck::ssh::transfer::{upload, SmallFiles, TransferError, UploadSpec};

/// `n` small files (1–9 KiB, content tagged with `tag`) in 5 subdirectories.
fn write_tree(root: &Path, n: usize, tag: &str) -> Vec<PathBuf> {
    (0..n)
        .map(|i| {
            let rel = PathBuf::from(format!("s{}/n{i:03}.txt", i % 5));
            fs::create_dir_all(root.join(rel.parent().expect("parent"))).expect("mkdir");
            let body = format!("{tag} {i}\n").repeat(100 * (1 + i % 9));
            fs::write(root.join(&rel), body).expect("write");
            rel
        })
        .collect()
}

fn temp_files(root: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.to_string_lossy().contains(".fleetdeck-tmp-") {
                found.push(path);
            }
        }
    }
    found
}

#[test]
fn small_files_fresh_and_replaced_through_tar() {
    let lab = common::lab(1);
    let src = lab.tmp().join("tree");
    let rel = write_tree(&src, 300, "one");
    let spec = UploadSpec {
        sources: vec![src.clone()],
        remote: "dst".into(),
        recursive: true,
        ..UploadSpec::default()
    };
    let sess = lab.session(0);
    let r = upload(&sess, &spec, &AtomicBool::new(false), &mut |_, _| {}).expect("fresh");
    assert_eq!(r.files, 300);
    assert_eq!(
        r.tar_files, 300,
        "the small files went through one tar stream"
    );
    let dst = lab.home(0).join("dst/tree");
    for p in &rel {
        assert_eq!(
            fs::read(dst.join(p)).ok(),
            fs::read(src.join(p)).ok(),
            "{p:?}"
        );
    }
    // A replaced file keeps the mode it had on the host.
    fs::set_permissions(dst.join(&rel[5]), fs::Permissions::from_mode(0o600)).expect("chmod");
    write_tree(&src, 300, "two");
    let r = upload(&sess, &spec, &AtomicBool::new(false), &mut |_, _| {}).expect("replace");
    assert_eq!(r.files, 300);
    for p in &rel {
        assert_eq!(
            fs::read(dst.join(p)).ok(),
            fs::read(src.join(p)).ok(),
            "{p:?}"
        );
    }
    let mode = fs::metadata(dst.join(&rel[5]))
        .expect("stat")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert!(temp_files(&dst).is_empty(), "{:?}", temp_files(&dst));
    // The session is still usable in blocking mode afterwards.
    let again = upload(&sess, &spec, &AtomicBool::new(false), &mut |_, _| {}).expect("again");
    assert_eq!(again.files, 300);
}

#[test]
fn cancel_in_the_lanes_leaves_whole_files_and_no_temp() {
    let lab = common::lab(1);
    let src = lab.tmp().join("tree");
    let rel = write_tree(&src, 400, "old");
    let spec = UploadSpec {
        sources: vec![src.clone()],
        remote: "dst".into(),
        recursive: true,
        small_files: SmallFiles::Lanes,
        ..UploadSpec::default()
    };
    let sess = lab.session(0);
    upload(&sess, &spec, &AtomicBool::new(false), &mut |_, _| {}).expect("first");
    write_tree(&src, 400, "new");
    let cancel = AtomicBool::new(false);
    let err = upload(&sess, &spec, &cancel, &mut |done, total| {
        if done * 3 >= total && total > 0 {
            cancel.store(true, Ordering::Relaxed);
        }
    })
    .expect_err("cancelled");
    assert!(matches!(err, TransferError::Cancelled), "{err}");
    let dst = lab.home(0).join("dst/tree");
    assert!(temp_files(&dst).is_empty(), "{:?}", temp_files(&dst));
    let (mut new, mut old) = (0, 0);
    for (i, p) in rel.iter().enumerate() {
        let text = fs::read_to_string(dst.join(p)).expect("a whole file");
        let n = 100 * (1 + i % 9);
        if text == format!("new {i}\n").repeat(n) {
            new += 1;
        } else {
            assert_eq!(text, format!("old {i}\n").repeat(n), "{p:?} is whole");
            old += 1;
        }
    }
    assert!(new > 0 && old > 0, "cancelled midway: {new} new, {old} old");
}
