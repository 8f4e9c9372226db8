//! Many small files through one tar stream and through the pipelined SFTP lanes: fresh
//! targets, replaced targets (mode kept), the fallback to the lanes, hostile names, and a
//! cancel in the middle, against a real lab sshd.

mod common;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
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

/// Every entry under `root` whose name starts with `.fleetdeck-` (staging dirs, temp files).
fn leftovers(root: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if entry
                .file_name()
                .to_string_lossy()
                .starts_with(".fleetdeck-")
            {
                found.push(path.clone());
            }
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(path);
            }
        }
    }
    found
}

/// `n` small files in nested directories (some at the top), with varied modes and mtimes.
fn write_nested(root: &Path, n: usize, tag: &str) -> Vec<PathBuf> {
    (0..n)
        .map(|i| {
            let rel = match i % 7 {
                0 => PathBuf::from(format!("top{i:03}")),
                k => PathBuf::from(format!("d{}/e{}/f{i:03}.dat", k % 4, i % 3)),
            };
            let path = root.join(&rel);
            fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            fs::write(&path, format!("{tag} {i}\n").repeat(1 + i % 40)).expect("write");
            let mode = [0o644, 0o600, 0o755, 0o640][i % 4];
            fs::set_permissions(&path, fs::Permissions::from_mode(mode)).expect("chmod");
            let when = std::time::UNIX_EPOCH
                + std::time::Duration::from_secs(1_600_000_000 + i as u64 * 3600);
            fs::File::options()
                .write(true)
                .open(&path)
                .and_then(|f| f.set_modified(when))
                .expect("mtime");
            rel
        })
        .collect()
}

fn mode_and_mtime(path: &Path) -> (u32, i64) {
    let md = fs::metadata(path).expect("stat");
    (md.mode() & 0o7777, md.mtime())
}

#[test]
fn tar_tree_lands_like_the_lanes_new_and_replacing() {
    let lab = common::lab(1);
    let src = lab.tmp().join("tree");
    let rel = write_nested(&src, 200, "one");
    let sess = lab.session(0);
    let home = lab.home(0).to_path_buf();
    let as_root = fs::metadata(&home).is_ok_and(|md| md.uid() == 0);
    for keep_perms in [false, true] {
        let spec = |remote: &str, small_files| UploadSpec {
            sources: vec![src.clone()],
            remote: remote.into(),
            recursive: true,
            keep_perms,
            small_files,
            ..UploadSpec::default()
        };
        let (tar, lanes) = (format!("tar{keep_perms}"), format!("lanes{keep_perms}"));
        for round in ["new", "replacing"] {
            if round == "replacing" {
                write_nested(&src, 200, "two");
                for dst in [&tar, &lanes] {
                    let p = home.join(dst).join("tree").join(&rel[3]);
                    fs::set_permissions(&p, fs::Permissions::from_mode(0o600)).expect("chmod");
                    if as_root {
                        let p = home.join(dst).join("tree").join(&rel[4]);
                        std::os::unix::fs::chown(p, Some(4321), Some(4322)).expect("chown");
                    }
                }
            }
            let no = AtomicBool::new(false);
            let t = upload(&sess, &spec(&tar, SmallFiles::Auto), &no, &mut |_, _| {})
                .expect("through tar");
            let l = upload(&sess, &spec(&lanes, SmallFiles::Lanes), &no, &mut |_, _| {})
                .expect("through the lanes");
            assert_eq!((t.files, t.tar_files), (200, 200), "{round}");
            assert_eq!((l.files, l.tar_files), (200, 0), "{round}");
            for p in &rel {
                let (tp, lp) = (
                    home.join(&tar).join("tree").join(p),
                    home.join(&lanes).join("tree").join(p),
                );
                assert_eq!(
                    fs::read(&tp).ok(),
                    fs::read(src.join(p)).ok(),
                    "{round} {p:?}"
                );
                assert_eq!(fs::read(&tp).ok(), fs::read(&lp).ok(), "{round} {p:?}");
                let ((tm, tt), (lm, lt)) = (mode_and_mtime(&tp), mode_and_mtime(&lp));
                assert_eq!(tm, lm, "mode, {round} keep_perms={keep_perms} {p:?}");
                if keep_perms {
                    assert_eq!(tt, lt, "mtime, {round} {p:?}");
                    assert_eq!(tt, mode_and_mtime(&src.join(p)).1, "mtime, {round} {p:?}");
                } else {
                    assert!(
                        (tt - lt).abs() < 120,
                        "mtime is the write time, {round} {p:?}"
                    );
                }
            }
            if round == "replacing" && as_root {
                for dst in [&tar, &lanes] {
                    let md = fs::metadata(home.join(dst).join("tree").join(&rel[4])).expect("stat");
                    let owner = (md.uid(), md.gid());
                    assert_eq!(
                        owner,
                        (4321, 4322),
                        "root keeps a replaced file's owner ({dst})"
                    );
                }
            }
            if round == "replacing" && !keep_perms {
                let kept = mode_and_mtime(&home.join(&tar).join("tree").join(&rel[3])).0;
                assert_eq!(kept, 0o600, "a replaced file keeps its mode");
            }
            let left = leftovers(&home.join(&tar));
            assert!(left.is_empty(), "{left:?}");
        }
    }
}

#[test]
fn host_without_tar_falls_back_to_the_lanes() {
    let lab = common::lab(1);
    let src = lab.tmp().join("tree");
    let rel = write_tree(&src, 40, "x");
    let spec = UploadSpec {
        sources: vec![src.clone()],
        remote: "dst".into(),
        recursive: true,
        small_files: SmallFiles::TarMissing,
        ..UploadSpec::default()
    };
    let sess = lab.session(0);
    let no = AtomicBool::new(false);
    let r = upload(&sess, &spec, &no, &mut |_, _| {}).expect("through the lanes");
    assert_eq!((r.files, r.tar_files), (40, 0));
    let dst = lab.home(0).join("dst/tree");
    for p in &rel {
        assert_eq!(
            fs::read(dst.join(p)).ok(),
            fs::read(src.join(p)).ok(),
            "{p:?}"
        );
    }
    assert!(leftovers(&lab.home(0).join("dst")).is_empty());
    // The session stays good for the next push, which takes tar again.
    let again = UploadSpec {
        small_files: SmallFiles::Auto,
        ..spec
    };
    let r = upload(&sess, &again, &no, &mut |_, _| {}).expect("through tar");
    assert_eq!((r.files, r.tar_files), (40, 40));
}

#[test]
fn hostile_names_land_verbatim_through_tar() {
    let lab = common::lab(1);
    let src = lab.tmp().join("tree");
    let dir = "d i r 'q' $(touch PWNED) `touch PWNED2`";
    let names = [
        "a b.txt",
        "it's.txt",
        "$(touch PWNED3)",
        "q\"uo`te`",
        "-rf",
        "semi;colon&amp|pipe",
        "star*?[x]",
        "tab\tname",
        ".hidden",
    ];
    let mut rel = Vec::new();
    for (i, name) in names.iter().enumerate() {
        for p in [PathBuf::from(name), PathBuf::from(dir).join(name)] {
            fs::create_dir_all(src.join(&p).parent().expect("parent")).expect("mkdir");
            fs::write(src.join(&p), format!("{i} {name}\n")).expect("write");
            rel.push(p);
        }
    }
    let spec = UploadSpec {
        sources: vec![src.clone()],
        remote: "it's $(x) dst".into(),
        recursive: true,
        ..UploadSpec::default()
    };
    let sess = lab.session(0);
    let r = upload(&sess, &spec, &AtomicBool::new(false), &mut |_, _| {}).expect("push");
    assert_eq!((r.files, r.tar_files), (rel.len() as u64, rel.len() as u64));
    let dst = lab.home(0).join("it's $(x) dst/tree");
    for p in &rel {
        assert_eq!(
            fs::read(dst.join(p)).ok(),
            fs::read(src.join(p)).ok(),
            "{p:?}"
        );
    }
    for pwned in ["PWNED", "PWNED2", "PWNED3"] {
        assert!(!lab.home(0).join(pwned).exists(), "{pwned} was run");
    }
    assert!(leftovers(lab.home(0)).is_empty());
}

#[test]
fn cancel_in_the_tar_stream_places_nothing_and_leaves_no_staging() {
    let lab = common::lab(1);
    let src = lab.tmp().join("tree");
    let rel = write_tree(&src, 400, "old");
    let spec = UploadSpec {
        sources: vec![src.clone()],
        remote: "dst".into(),
        recursive: true,
        ..UploadSpec::default()
    };
    let sess = lab.session(0);
    let first = upload(&sess, &spec, &AtomicBool::new(false), &mut |_, _| {}).expect("first");
    assert_eq!(first.tar_files, 400);
    write_tree(&src, 400, "new");
    let cancel = AtomicBool::new(false);
    let err = upload(&sess, &spec, &cancel, &mut |done, total| {
        if done * 3 >= total && total > 0 {
            cancel.store(true, Ordering::Relaxed);
        }
    })
    .expect_err("cancelled");
    assert!(matches!(err, TransferError::Cancelled), "{err}");
    let root = lab.home(0).join("dst");
    let left = leftovers(&root);
    assert!(left.is_empty(), "{left:?}");
    for (i, p) in rel.iter().enumerate() {
        let text = fs::read_to_string(root.join("tree").join(p)).expect("a whole file");
        let n = 100 * (1 + i % 9);
        assert_eq!(text, format!("old {i}\n").repeat(n), "{p:?} untouched");
    }
    // The session is still good: the next push places everything.
    let r = upload(&sess, &spec, &AtomicBool::new(false), &mut |_, _| {}).expect("again");
    assert_eq!(r.tar_files, 400);
}

/// Clears the immutable flag it set, even when the test fails.
struct Immutable(PathBuf);

impl Immutable {
    fn set(path: &Path) -> Option<Immutable> {
        let ok = std::process::Command::new("chattr")
            .arg("+i")
            .arg(path)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Immutable(path.to_path_buf()))
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        let _ = std::process::Command::new("chattr")
            .arg("-i")
            .arg(&self.0)
            .status();
    }
}

#[test]
fn a_failure_while_placing_is_an_error_with_the_hosts_message() {
    let lab = common::lab(1);
    let src = lab.tmp().join("tree");
    let rel = write_tree(&src, 40, "old");
    let spec = UploadSpec {
        sources: vec![src.clone()],
        remote: "dst".into(),
        recursive: true,
        ..UploadSpec::default()
    };
    let sess = lab.session(0);
    let no = AtomicBool::new(false);
    upload(&sess, &spec, &no, &mut |_, _| {}).expect("first");
    let dst = lab.home(0).join("dst/tree");
    // An immutable directory refuses renames into it, even to root (the lab's user).
    let Some(guard) = Immutable::set(&dst.join("s3")) else {
        eprintln!("skipped: chattr +i is refused here (needs root and ext4-like attributes)");
        return;
    };
    write_tree(&src, 40, "new");
    let err = upload(&sess, &spec, &no, &mut |_, _| {}).expect_err("s3 is immutable");
    let text = err.to_string();
    assert!(
        matches!(&err, TransferError::Remote { what, .. } if what.contains("in place")),
        "{text}"
    );
    eprintln!("the error: {text}");
    assert!(text.contains("not permitted"), "the host's message: {text}");
    assert!(!text.chars().any(char::is_control), "{text:?}");
    drop(guard);
    let left = leftovers(&lab.home(0).join("dst"));
    assert!(left.is_empty(), "{left:?}");
    for (i, p) in rel.iter().enumerate() {
        let text = fs::read_to_string(dst.join(p)).expect("a whole file");
        let n = 100 * (1 + i % 9);
        // Directories are placed in order; placing stops at the first that fails.
        let tag = if p.starts_with("s3") || p.starts_with("s4") {
            "old"
        } else {
            "new"
        };
        assert_eq!(text, format!("{tag} {i}\n").repeat(n), "{p:?}");
    }
}

#[test]
fn a_connection_lost_mid_stream_places_nothing_and_the_host_removes_its_staging() {
    let lab = common::lab(1);
    let src = lab.tmp().join("tree");
    let rel = write_tree(&src, 400, "old");
    let spec = UploadSpec {
        sources: vec![src.clone()],
        remote: "dst".into(),
        recursive: true,
        ..UploadSpec::default()
    };
    let sess = lab.session(0);
    upload(&sess, &spec, &AtomicBool::new(false), &mut |_, _| {}).expect("first");
    write_tree(&src, 400, "new");
    let fd = std::os::fd::AsRawFd::as_raw_fd(&sess);
    let mut cut = false;
    let err = upload(&sess, &spec, &AtomicBool::new(false), &mut |done, total| {
        if !cut && done * 2 >= total && total > 0 {
            // The connection drops under the push (as a network failure would).
            #[allow(unsafe_code)]
            // SAFETY: shutting down a socket this test owns; libssh2 then sees it closed.
            unsafe {
                libc::shutdown(fd, libc::SHUT_RDWR);
            }
            cut = true;
        }
    })
    .expect_err("the connection is gone");
    assert!(cut, "{err}");
    assert!(err.session_broken(), "{err}");
    let root = lab.home(0).join("dst");
    // sshd notices the lost connection; the script's stdin ends, its trap removes staging.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !leftovers(&root).is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let left = leftovers(&root);
    assert!(left.is_empty(), "{left:?}");
    for (i, p) in rel.iter().enumerate() {
        let text = fs::read_to_string(root.join("tree").join(p)).expect("a whole file");
        let n = 100 * (1 + i % 9);
        assert_eq!(text, format!("old {i}\n").repeat(n), "{p:?} untouched");
    }
}
