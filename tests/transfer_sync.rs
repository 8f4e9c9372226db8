//! `push --sync` (size + mtime, `--checksum`, `--delete`) and `push --resume` through the
//! transfer core against real lab sshd hosts, and `push --sync` through the binary.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use fleetdeck::ssh::transfer::{upload, SyncOptions, TransferError, TransferReport, UploadSpec};
use rand::RngCore;

const KIB: usize = 1024;

fn up(sess: &ssh2::Session, spec: &UploadSpec) -> Result<TransferReport, TransferError> {
    upload(sess, spec, &AtomicBool::new(false), &mut |_, _| {})
}

fn random_bytes(len: usize) -> Vec<u8> {
    let mut data = vec![0u8; len];
    rand::thread_rng().fill_bytes(&mut data);
    data
}

/// `n` files of 4 KiB in 10 subdirectories of `root`; returns their relative paths.
fn make_tree(root: &Path, n: usize) -> Vec<PathBuf> {
    let mut rel = Vec::new();
    for i in 0..n {
        let path = PathBuf::from(format!("d{}/f{i:04}.dat", i % 10));
        fs::create_dir_all(root.join(path.parent().expect("parent"))).expect("mkdir");
        fs::write(root.join(&path), random_bytes(4 * KIB)).expect("write");
        rel.push(path);
    }
    rel
}

fn sync_spec(src: &Path, remote: &str, checksum: bool, delete: bool) -> UploadSpec {
    UploadSpec {
        sources: vec![src.to_path_buf()],
        remote: remote.into(),
        recursive: true,
        sync: Some(SyncOptions { checksum, delete }),
        ..UploadSpec::default()
    }
}

/// Every file below `root`, relative, with its bytes.
fn files_below(root: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).expect("read_dir").flatten() {
            let path = entry.path();
            let ft = entry.file_type().expect("file type");
            if ft.is_dir() {
                stack.push(path);
            } else {
                let rel = path.strip_prefix(root).expect("below root").to_path_buf();
                out.push((rel, fs::read(&path).unwrap_or_default()));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn sync_of_1000_files_sends_only_the_10_changed_on_every_host() {
    let lab = common::lab(4);
    let src = lab.tmp().join("site");
    let rel = make_tree(&src, 1000);
    let spec = sync_spec(&src, "www", false, false);

    let first: Vec<TransferReport> = std::thread::scope(|s| {
        let hosts: Vec<_> = (0..4)
            .map(|i| {
                let (lab, spec) = (&lab, &spec);
                s.spawn(move || up(&lab.session(i), spec).expect("first sync"))
            })
            .collect();
        hosts.into_iter().map(|h| h.join().expect("join")).collect()
    });
    for r in &first {
        assert_eq!((r.files, r.unchanged, r.deleted), (1000, 0, 0), "{r:?}");
    }
    // Ten files change (new bytes, same size, a later mtime).
    let later = SystemTime::now() + Duration::from_secs(5);
    for path in rel.iter().step_by(100) {
        let full = src.join(path);
        fs::write(&full, random_bytes(4 * KIB)).expect("rewrite");
        fs::File::options()
            .write(true)
            .open(&full)
            .and_then(|f| f.set_modified(later))
            .expect("mtime");
    }
    for i in 0..4 {
        let sess = lab.session(i);
        let started = std::time::Instant::now();
        let r = up(&sess, &spec).expect("second sync");
        assert_eq!((r.files, r.unchanged), (10, 990), "host {i}: {r:?}");
        assert_eq!(r.bytes, 10 * 4 * KIB as u64);
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );
        assert!(
            files_below(&lab.home(i).join("www/site")) == files_below(&src),
            "host {i} holds the source tree"
        );
        let again = up(&sess, &spec).expect("third sync");
        assert_eq!(
            (again.files, again.unchanged),
            (0, 1000),
            "nothing sent the second time"
        );
    }
}

#[test]
fn sync_checksum_finds_content_changes_that_keep_size_and_mtime() {
    let lab = common::lab(1);
    let src = lab.tmp().join("tree");
    let rel = make_tree(&src, 30);
    let sess = lab.session(0);
    let r = up(&sess, &sync_spec(&src, "dst", false, false)).expect("first");
    assert_eq!(r.files, 30);
    // Same size, same mtime, other bytes: only --checksum can tell.
    let full = src.join(&rel[7]);
    let mtime = fs::metadata(&full)
        .and_then(|m| m.modified())
        .expect("mtime");
    fs::write(&full, random_bytes(4 * KIB)).expect("rewrite");
    fs::File::options()
        .write(true)
        .open(&full)
        .and_then(|f| f.set_modified(mtime))
        .expect("restore mtime");
    let by_mtime = up(&sess, &sync_spec(&src, "dst", false, false)).expect("mtime sync");
    assert_eq!((by_mtime.files, by_mtime.unchanged), (0, 30));
    let by_hash = up(&sess, &sync_spec(&src, "dst", true, false)).expect("checksum sync");
    assert_eq!((by_hash.files, by_hash.unchanged), (1, 29), "{by_hash:?}");
    assert_eq!(
        fs::read(lab.home(0).join("dst/tree").join(&rel[7])).expect("remote"),
        fs::read(&full).expect("local")
    );
    let again = up(&sess, &sync_spec(&src, "dst", true, false)).expect("checksum again");
    assert_eq!((again.files, again.unchanged), (0, 30));
}

#[test]
fn sync_delete_removes_what_the_source_lacks_and_nothing_else() {
    let lab = common::lab(2);
    let src = lab.tmp().join("conf");
    let rel = make_tree(&src, 20);
    for i in 0..2 {
        let sess = lab.session(i);
        up(&sess, &sync_spec(&src, "etc", false, false)).expect("first");
        let home = lab.home(i);
        let dst = home.join("etc/conf");
        // Extra entries: a file, a nested directory, a symlink to a directory outside (not
        // followed), another push's temp file; and a sibling of the synced directory.
        fs::write(dst.join("d1/stale.conf"), b"old").expect("stale");
        fs::create_dir_all(dst.join("gone/deeper")).expect("dirs");
        fs::write(dst.join("gone/deeper/x"), b"x").expect("x");
        fs::create_dir_all(home.join("outside")).expect("outside");
        fs::write(home.join("outside/keep"), b"keep").expect("keep");
        std::os::unix::fs::symlink(home.join("outside"), dst.join("link")).expect("symlink");
        fs::write(dst.join(".a.fleetdeck-tmp-zzzzzzzz"), b"t").expect("temp");
        fs::write(home.join("etc/sibling"), b"s").expect("sibling");
    }
    fs::remove_file(src.join(&rel[3])).expect("rm local");
    fs::remove_dir_all(src.join("d9")).expect("rm local dir");

    for i in 0..2 {
        let sess = lab.session(i);
        let r = up(&sess, &sync_spec(&src, "etc", false, true)).expect("delete sync");
        let home = lab.home(i);
        let dst = home.join("etc/conf");
        // stale.conf, gone/, link, rel[3], d9/.
        assert_eq!(r.deleted, 5, "{r:?}");
        assert_eq!(r.files, 0);
        assert!(
            r.deleted_paths.iter().any(|p| p.ends_with("/gone")),
            "{r:?}"
        );
        // 20 files less rel[3] and d9's two, plus the other push's temp file.
        let names: Vec<PathBuf> = files_below(&dst).into_iter().map(|(p, _)| p).collect();
        assert_eq!(names.len(), 18, "{names:?}");
        assert!(
            dst.join(".a.fleetdeck-tmp-zzzzzzzz").exists(),
            "temp files left alone"
        );
        assert!(!dst.join("link").exists() && !dst.join("d9").exists());
        assert_eq!(fs::read(home.join("outside/keep")).expect("kept"), b"keep");
        assert!(
            home.join("etc/sibling").exists(),
            "only inside the synced directory"
        );
        let again = up(&sess, &sync_spec(&src, "etc", false, true)).expect("again");
        assert_eq!((again.files, again.deleted), (0, 0));
    }
    // Contents of a directory into the login directory itself: refused before anything.
    let sess = lab.session(0);
    let contents = PathBuf::from(format!("{}/", src.display()));
    let err = up(&sess, &sync_spec(&contents, "~", false, true)).expect_err("refused");
    assert!(err.to_string().contains("refusing --delete"), "{err}");
    assert!(lab.home(0).join("outside/keep").exists());
}

/// Temp files (any marker) in `dir`.
fn temps(dir: &Path) -> Vec<PathBuf> {
    fs::read_dir(dir)
        .expect("read_dir")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().contains(".fleetdeck-tmp-"))
        .collect()
}

#[test]
fn resume_continues_a_cancelled_push_and_restarts_a_corrupted_one() {
    let lab = common::lab(1);
    let data = random_bytes(40 * 1024 * KIB);
    let src = lab.tmp().join("big.bin");
    fs::write(&src, &data).expect("src");
    let spec = UploadSpec {
        sources: vec![src.clone()],
        remote: "dst/".into(),
        resume: true,
        verify: true,
        ..UploadSpec::default()
    };
    let dst_dir = lab.home(0).join("dst");
    let cancel_halfway = |spec: &UploadSpec| {
        let cancel = AtomicBool::new(false);
        let err = upload(&lab.session(0), spec, &cancel, &mut |done, total| {
            if done * 2 >= total {
                cancel.store(true, Ordering::Relaxed);
            }
        })
        .expect_err("cancelled");
        assert!(matches!(err, TransferError::Cancelled), "{err}");
    };
    cancel_halfway(&spec);
    assert!(!dst_dir.join("big.bin").exists(), "nothing in place");
    let partial = temps(&dst_dir);
    assert_eq!(partial.len(), 1, "the partial copy is kept: {partial:?}");
    let kept = fs::metadata(&partial[0]).expect("partial").len();
    assert!(kept > 0 && kept < data.len() as u64, "{kept}");

    let r = up(&lab.session(0), &spec).expect("resumed");
    assert_eq!(r.resumed_bytes, kept, "{r:?}");
    assert_eq!(r.verified, Some(true));
    assert_eq!(fs::read(dst_dir.join("big.bin")).expect("target"), data);
    assert!(temps(&dst_dir).is_empty(), "no temp file left");

    // A partial copy whose bytes differ from the source is not trusted: sent whole again.
    fs::remove_file(dst_dir.join("big.bin")).expect("rm target");
    cancel_halfway(&spec);
    let partial = temps(&dst_dir);
    assert_eq!(partial.len(), 1);
    let mut bytes = fs::read(&partial[0]).expect("partial");
    bytes[100] ^= 0xff;
    fs::write(&partial[0], &bytes).expect("corrupt");
    let r = up(&lab.session(0), &spec).expect("restarted");
    assert_eq!(r.resumed_bytes, 0, "{r:?}");
    assert_eq!(fs::read(dst_dir.join("big.bin")).expect("target"), data);
    assert!(temps(&dst_dir).is_empty());

    // Without --resume a cancelled push leaves no partial copy.
    let plain = UploadSpec {
        resume: false,
        ..spec.clone()
    };
    cancel_halfway(&plain);
    assert!(temps(&dst_dir).is_empty());
}

#[test]
fn push_sync_through_the_binary_reports_sent_skipped_deleted_per_host() {
    let lab = common::lab(3);
    let tmp = lab.tmp();
    let inv = lab.inventory_path();
    let src = tmp.join("app");
    let rel = make_tree(&src, 50);
    let push = |extra: &[&str]| {
        let mut cmd = common::fleetdeck(tmp);
        cmd.arg("-i")
            .arg(&inv)
            .args(["push", "all", "-r", "--sync"])
            .args(extra)
            .arg(&src)
            .arg("srv/");
        cmd.output().expect("run fleetdeck")
    };
    let out = push(&[]);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.matches("sent 50 files").count(), 3, "{stdout}");

    fs::remove_file(src.join(&rel[0])).expect("rm");
    let later = SystemTime::now() + Duration::from_secs(5);
    let changed = src.join(&rel[1]);
    fs::write(&changed, b"new").expect("change");
    fs::File::options()
        .write(true)
        .open(&changed)
        .and_then(|f| f.set_modified(later))
        .expect("mtime");
    let out = push(&["--delete"]);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    for h in lab.hosts() {
        let line = stdout
            .lines()
            .find(|l| l.starts_with(h.name.as_str()))
            .unwrap_or_else(|| panic!("{} in {stdout}", h.name));
        assert!(
            line.contains("sent 1 file (3 B)")
                && line.contains("skipped 48 unchanged")
                && line.contains("deleted 1"),
            "{line}"
        );
    }
    for i in 0..3 {
        let home = lab.home(i);
        assert!(!home.join("srv/app").join(&rel[0]).exists());
        assert_eq!(
            fs::read(home.join("srv/app").join(&rel[1])).expect("sent"),
            b"new"
        );
    }
    let oplog = fs::read_to_string(tmp.join("state/oplog.jsonl")).expect("oplog");
    let last = oplog
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .rfind(|v| v.get("transfer").is_some_and(|t| !t.is_null()))
        .expect("a transfer record");
    assert_eq!(last["transfer"]["unchanged"], 48, "{last}");
    assert_eq!(last["transfer"]["deleted"], 1, "{last}");

    // --checksum and --delete need --sync; bad input is refused before any connection.
    let out = common::fleetdeck(tmp)
        .arg("-i")
        .arg(&inv)
        .args(["push", "all", "-r", "--delete"])
        .arg(&src)
        .arg("srv/")
        .output()
        .expect("run");
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
