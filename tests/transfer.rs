//! The transfer core (`fleetdeck::ssh::transfer`) against real lab sshd hosts, each with its own
//! home. Sessions are opened directly here (tcp + handshake + the lab's client key), the way the
//! engine's workers hold them: blocking, with a timeout, one thread per host.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use fleetdeck::engine::ErrorClass;
use fleetdeck::ssh::transfer::{
    download, download_with_limits, upload, DownloadSpec, Naming, Overwrite, PullLimits,
    TransferError, TransferReport, UploadSpec,
};
use rand::RngCore;
use sha2::{Digest, Sha256};

use common::TestLab;

const MB: usize = 1024 * 1024;

fn random_file(path: &Path, len: usize) {
    let mut data = vec![0u8; len];
    rand::thread_rng().fill_bytes(&mut data);
    fs::write(path, &data).expect("write random file");
}

fn sha256_file(path: &Path) -> String {
    let mut f = fs::File::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    let mut h = Sha256::new();
    std::io::copy(&mut f, &mut h).expect("hash");
    hex::encode(h.finalize())
}

fn no_progress() -> impl FnMut(u64, u64) {
    |_, _| {}
}

fn up(lab: &TestLab, i: usize, spec: &UploadSpec) -> Result<TransferReport, TransferError> {
    let sess = lab.session(i);
    upload(&sess, spec, &AtomicBool::new(false), &mut no_progress())
}

fn down(lab: &TestLab, i: usize, spec: &DownloadSpec) -> Result<TransferReport, TransferError> {
    let sess = lab.session(i);
    download(
        &sess,
        &lab.hosts()[i].name,
        spec,
        &AtomicBool::new(false),
        &mut no_progress(),
    )
}

/// Files under `root` whose name carries the temp marker.
fn temp_files(root: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(path.clone());
            }
            if entry
                .file_name()
                .to_string_lossy()
                .contains(".fleetdeck-tmp-")
            {
                found.push(path);
            }
        }
    }
    found
}

/// Relative path → (mode, sha256 or "dir") for every entry under `root`, never following links.
fn tree(root: &Path) -> BTreeMap<PathBuf, (u32, String)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).expect("read dir").flatten() {
            let path = entry.path();
            let md = fs::symlink_metadata(&path).expect("lstat");
            let rel = path.strip_prefix(root).expect("under root").to_path_buf();
            if md.is_dir() {
                out.insert(rel, (md.mode() & 0o7777, "dir".into()));
                stack.push(path);
            } else if md.file_type().is_symlink() {
                out.insert(rel, (0, "symlink".into()));
            } else {
                out.insert(rel, (md.mode() & 0o7777, sha256_file(&path)));
            }
        }
    }
    out
}

#[test]
fn ten_hosts_50mb_sent_and_fetched_back_with_equal_sha256() {
    let lab = common::lab(10);
    let src = lab.tmp().join("big.bin");
    random_file(&src, 50 * MB);
    let want = sha256_file(&src);
    let dest = lab.tmp().join("fetched");
    let started = Instant::now();
    std::thread::scope(|s| {
        for i in 0..10 {
            let (lab, src, dest, want) = (&lab, &src, &dest, &want);
            s.spawn(move || {
                let sess = lab.session(i);
                let cancel = AtomicBool::new(false);
                let mut last = (0, 0);
                let spec = UploadSpec {
                    sources: vec![src.clone()],
                    remote: "incoming/big.bin".into(),
                    verify: true,
                    ..UploadSpec::default()
                };
                let report =
                    upload(&sess, &spec, &cancel, &mut |d, t| last = (d, t)).expect("upload");
                assert_eq!(
                    last,
                    (50 * MB as u64, 50 * MB as u64),
                    "progress reaches the total"
                );
                assert_eq!((report.files, report.bytes), (1, 50 * MB as u64));
                assert_eq!(report.sha256.as_deref(), Some(want.as_str()));
                assert_eq!(report.verified, Some(true), "lab hosts have sha256sum");
                assert_eq!(&sha256_file(&lab.home(i).join("incoming/big.bin")), want);

                let spec = DownloadSpec {
                    remote: "incoming/big.bin".into(),
                    dest: dest.clone(),
                    verify: true,
                    ..DownloadSpec::default()
                };
                let host = &lab.hosts()[i].name;
                let report =
                    download(&sess, host, &spec, &cancel, &mut no_progress()).expect("download");
                assert_eq!((report.files, report.bytes), (1, 50 * MB as u64));
                assert_eq!(report.verified, Some(true));
                assert_eq!(report.sha256.as_deref(), Some(want.as_str()));
                assert_eq!(&sha256_file(&dest.join(host).join("big.bin")), want);
            });
        }
    });
    eprintln!(
        "10 x 50 MB up and back: {:.1}s",
        started.elapsed().as_secs_f64()
    );
    assert!(temp_files(&dest).is_empty());
    for i in 0..10 {
        assert!(temp_files(lab.home(i)).is_empty());
    }
}

/// 500 files over 3 levels of directories, modes varied, one read-only directory.
fn make_tree(root: &Path) {
    let modes = [0o600, 0o640, 0o644, 0o700, 0o755, 0o750, 0o444, 0o604];
    let mut n = 0;
    for a in 0..5 {
        for b in 0..10 {
            let dir = root.join(format!("d{a}")).join(format!("e{b}"));
            fs::create_dir_all(&dir).expect("mkdir");
            for c in 0..10 {
                let path = dir.join(format!("f{c}.txt"));
                let mut f = fs::File::create(&path).expect("create");
                writeln!(f, "file {a}/{b}/{c}: {}", "x".repeat(n % 300)).expect("write");
                fs::set_permissions(&path, fs::Permissions::from_mode(modes[n % modes.len()]))
                    .expect("chmod");
                n += 1;
            }
        }
    }
    assert_eq!(n, 500);
    fs::set_permissions(root.join("d1"), fs::Permissions::from_mode(0o750)).expect("chmod");
    fs::set_permissions(root.join("d2/e3"), fs::Permissions::from_mode(0o555)).expect("chmod");
}

#[test]
fn tree_of_500_files_both_ways_keeps_modes() {
    let lab = common::lab(1);
    let src = lab.tmp().join("site");
    make_tree(&src);
    let want = tree(&src);

    let spec = UploadSpec {
        sources: vec![src.clone()],
        remote: "www".into(),
        recursive: true,
        keep_perms: true,
        ..UploadSpec::default()
    };
    let started = Instant::now();
    let report = up(&lab, 0, &spec).expect("upload tree");
    eprintln!("500 files up: {:.2}s", started.elapsed().as_secs_f64());
    assert_eq!(report.files, 500);
    let remote_root = lab.home(0).join("www/site");
    assert_eq!(
        tree(&remote_root),
        want,
        "remote tree equals the local one, modes included"
    );
    let src_mtime = fs::metadata(src.join("d0/e0/f0.txt"))
        .expect("stat")
        .mtime();
    let dst_mtime = fs::metadata(remote_root.join("d0/e0/f0.txt"))
        .expect("stat")
        .mtime();
    assert_eq!(src_mtime, dst_mtime, "mtime kept");

    let dest = lab.tmp().join("back");
    let spec = DownloadSpec {
        remote: "www/site".into(),
        dest: dest.clone(),
        recursive: true,
        keep_perms: true,
        ..DownloadSpec::default()
    };
    let started = Instant::now();
    let report = down(&lab, 0, &spec).expect("download tree");
    eprintln!("500 files down: {:.2}s", started.elapsed().as_secs_f64());
    assert_eq!(report.files, 500);
    assert!(
        report.refused.is_empty() && report.skipped.is_empty(),
        "{report:?}"
    );
    let host = &lab.hosts()[0].name;
    assert_eq!(
        tree(&dest.join(host).join("site")),
        want,
        "fetched tree equals the original"
    );

    // Without keep_perms, fetched files are private (0600, dirs 0700).
    let dest2 = lab.tmp().join("private");
    let spec = DownloadSpec {
        remote: "www/site".into(),
        dest: dest2.clone(),
        recursive: true,
        ..DownloadSpec::default()
    };
    down(&lab, 0, &spec).expect("download tree");
    for (rel, (mode, kind)) in tree(&dest2.join(host)) {
        let expected = if kind == "dir" { 0o700 } else { 0o600 };
        assert_eq!(mode, expected, "{}", rel.display());
    }
    // Make the read-only directories writable again so the temp dirs can be removed.
    for root in [&src, &remote_root, &dest.join(host).join("site")] {
        fs::set_permissions(root.join("d2/e3"), fs::Permissions::from_mode(0o755)).expect("chmod");
    }
}

#[test]
fn killed_host_fails_without_leaving_temp_or_touching_the_old_target() {
    let lab = common::lab(3);
    let src = lab.tmp().join("new.bin");
    random_file(&src, 40 * MB);
    let want = sha256_file(&src);
    for i in 0..3 {
        fs::write(lab.home(i).join("data.bin"), b"old contents\n").expect("old target");
    }
    let results: Vec<Result<TransferReport, TransferError>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..3)
            .map(|i| {
                let (lab, src) = (&lab, &src);
                s.spawn(move || {
                    let sess = lab.session(i);
                    let spec = UploadSpec {
                        sources: vec![src.clone()],
                        remote: "data.bin".into(),
                        ..UploadSpec::default()
                    };
                    let mut killed = false;
                    upload(&sess, &spec, &AtomicBool::new(false), &mut |done, total| {
                        if i == 1 && !killed && done >= total / 2 {
                            killed = true;
                            lab.kill_host(1);
                        }
                    })
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect()
    });
    for i in [0, 2] {
        let report = results[i].as_ref().expect("other hosts complete");
        assert_eq!(report.files, 1);
        assert_eq!(sha256_file(&lab.home(i).join("data.bin")), want);
    }
    let err = results[1].as_ref().expect_err("killed host fails");
    assert_eq!(err.class(), ErrorClass::Protocol, "{err}");
    assert!(err.session_broken());
    assert_eq!(
        fs::read(lab.home(1).join("data.bin")).expect("old target"),
        b"old contents\n"
    );
    // The janitor removes the temp file once the connection is gone (asynchronously).
    let killed_at = Instant::now();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !temp_files(lab.home(1)).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        temp_files(lab.home(1)),
        Vec::<PathBuf>::new(),
        "no temp file left on the killed host"
    );
    eprintln!("temp file gone {:?} after the failure", killed_at.elapsed());
    let names: Vec<_> = fs::read_dir(lab.home(1))
        .expect("ls")
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(
        names.iter().all(|n| n != "new.bin"),
        "no partial file under another name: {names:?}"
    );
}

#[test]
fn cancel_removes_the_temp_file_and_keeps_the_target() {
    let lab = common::lab(1);
    let src = lab.tmp().join("new.bin");
    random_file(&src, 20 * MB);
    fs::write(lab.home(0).join("data.bin"), b"old\n").expect("old target");
    let sess = lab.session(0);
    let cancel = AtomicBool::new(false);
    let spec = UploadSpec {
        sources: vec![src.clone()],
        remote: "data.bin".into(),
        ..UploadSpec::default()
    };
    let err = upload(&sess, &spec, &cancel, &mut |done, total| {
        if done >= total / 3 {
            cancel.store(true, Ordering::Relaxed);
        }
    })
    .expect_err("cancelled");
    assert_eq!(err.class(), ErrorClass::Cancelled);
    assert_eq!(
        fs::read(lab.home(0).join("data.bin")).expect("target"),
        b"old\n"
    );
    assert!(
        temp_files(lab.home(0)).is_empty(),
        "temp removed in-band on cancel"
    );

    // The same session still works afterwards, and a download cancel leaves nothing behind.
    let dest = lab.tmp().join("dest");
    fs::write(lab.home(0).join("data.bin"), vec![7u8; 20 * MB]).expect("big target");
    let cancel = AtomicBool::new(false);
    let spec = DownloadSpec {
        remote: "data.bin".into(),
        dest: dest.clone(),
        ..DownloadSpec::default()
    };
    let err = download(&sess, "h", &spec, &cancel, &mut |done, _| {
        if done > 0 {
            cancel.store(true, Ordering::Relaxed);
        }
    })
    .expect_err("cancelled");
    assert_eq!(err.class(), ErrorClass::Cancelled);
    assert!(!dest.join("h/data.bin").exists());
    assert!(temp_files(&dest).is_empty());
}

#[test]
fn verify_catches_a_remote_file_changed_during_the_fetch() {
    let lab = common::lab(1);
    let path = lab.home(0).join("live.db");
    fs::write(&path, vec![b'a'; 8 * MB]).expect("remote file");
    let dest = lab.tmp().join("dest");
    let sess = lab.session(0);
    let spec = DownloadSpec {
        remote: "live.db".into(),
        dest: dest.clone(),
        verify: true,
        ..DownloadSpec::default()
    };
    let mut changed = false;
    let err = download(
        &sess,
        "h",
        &spec,
        &AtomicBool::new(false),
        &mut |done, _| {
            if !changed && done > 0 {
                changed = true;
                // Rewrite bytes already fetched: the size stays, the content differs.
                let f = fs::OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .expect("open");
                std::os::unix::fs::FileExt::write_all_at(&f, b"CHANGED", 0).expect("rewrite");
            }
        },
    )
    .expect_err("verification fails");
    assert!(matches!(err, TransferError::Mismatch { .. }), "{err}");
    assert_eq!(err.class(), ErrorClass::Transfer);
    assert!(err.to_string().contains("live.db"), "{err}");
    assert!(
        !dest.join("h/live.db").exists(),
        "an unverified copy is not put in place"
    );
    assert!(temp_files(&dest).is_empty());
}

#[test]
fn overwrite_policies() {
    let lab = common::lab(1);
    let home = lab.home(0);
    let src = lab.tmp().join("conf");
    fs::write(&src, b"new\n").expect("src");
    let hour_ago = std::time::SystemTime::now() - Duration::from_secs(3600);
    fs::File::options()
        .write(true)
        .open(&src)
        .expect("open")
        .set_modified(hour_ago)
        .expect("mtime");
    fs::write(home.join("conf"), b"old\n").expect("target");
    fs::set_permissions(home.join("conf"), fs::Permissions::from_mode(0o640)).expect("chmod");
    let spec = |overwrite| UploadSpec {
        sources: vec![src.clone()],
        remote: "conf".into(),
        overwrite,
        ..UploadSpec::default()
    };

    let report = up(&lab, 0, &spec(Overwrite::Never)).expect("never");
    assert_eq!(report.files, 0);
    assert_eq!(report.skipped.len(), 1);
    assert!(
        report.skipped[0].contains("exists (overwrite=never)"),
        "{:?}",
        report.skipped
    );
    assert_eq!(fs::read(home.join("conf")).expect("read"), b"old\n");

    // always: replaced through rename over the old file (a new inode), mode of the old kept.
    let old_ino = fs::metadata(home.join("conf")).expect("stat").ino();
    let report = up(&lab, 0, &spec(Overwrite::Always)).expect("always");
    assert_eq!(report.files, 1);
    let md = fs::metadata(home.join("conf")).expect("stat");
    assert_eq!(fs::read(home.join("conf")).expect("read"), b"new\n");
    assert_ne!(md.ino(), old_ino, "atomic replace by rename");
    assert_eq!(md.mode() & 0o7777, 0o640, "existing target's mode kept");

    // if-different: sends (mtime differs after the plain send), then skips once equal.
    let report = up(&lab, 0, &spec(Overwrite::IfDifferent)).expect("if-different");
    assert_eq!(report.files, 1, "{report:?}");
    let report = up(&lab, 0, &spec(Overwrite::IfDifferent)).expect("if-different again");
    assert_eq!(report.files, 0);
    assert!(
        report.skipped[0].contains("unchanged"),
        "{:?}",
        report.skipped
    );
    fs::write(&src, b"newer\n").expect("src");
    let report = up(&lab, 0, &spec(Overwrite::IfDifferent)).expect("changed");
    assert_eq!(report.files, 1);
    assert_eq!(fs::read(home.join("conf")).expect("read"), b"newer\n");
}

#[test]
fn upload_mapping_and_bad_requests() {
    let lab = common::lab(1);
    let home = lab.home(0);
    let a = lab.tmp().join("a.txt");
    let b = lab.tmp().join("b.txt");
    fs::write(&a, b"a").expect("a");
    fs::write(&b, b"b").expect("b");
    let dir = lab.tmp().join("pkg");
    fs::create_dir_all(dir.join("sub")).expect("mkdir");
    fs::write(dir.join("sub/x"), b"x").expect("x");

    // Several files go into a directory created as needed; absolute paths work too.
    let abs = home.join("deep/er");
    let spec = UploadSpec {
        sources: vec![a.clone(), b.clone()],
        remote: abs.display().to_string(),
        ..UploadSpec::default()
    };
    assert_eq!(up(&lab, 0, &spec).expect("two files").files, 2);
    assert_eq!(fs::read(abs.join("b.txt")).expect("b"), b"b");
    // One file to an existing directory lands inside it; to `~/`-paths under the home.
    let spec = UploadSpec {
        sources: vec![a.clone()],
        remote: "~/deep".into(),
        ..UploadSpec::default()
    };
    up(&lab, 0, &spec).expect("into dir");
    assert_eq!(fs::read(home.join("deep/a.txt")).expect("a"), b"a");
    // A directory goes to REMOTE/NAME, its contents only with a trailing slash; twice is the same.
    for _ in 0..2 {
        let spec = UploadSpec {
            sources: vec![dir.clone()],
            remote: "r1".into(),
            recursive: true,
            ..UploadSpec::default()
        };
        up(&lab, 0, &spec).expect("dir");
    }
    assert_eq!(fs::read(home.join("r1/pkg/sub/x")).expect("x"), b"x");
    assert!(!home.join("r1/pkg/pkg").exists());
    let mut contents = dir.clone().into_os_string();
    contents.push("/");
    let spec = UploadSpec {
        sources: vec![contents.into()],
        remote: "r2".into(),
        recursive: true,
        ..UploadSpec::default()
    };
    up(&lab, 0, &spec).expect("contents");
    assert_eq!(fs::read(home.join("r2/sub/x")).expect("x"), b"x");

    // Empty files go both ways.
    let empty = lab.tmp().join("empty");
    fs::write(&empty, b"").expect("empty");
    let spec = UploadSpec {
        sources: vec![empty.clone()],
        remote: "e/".into(),
        verify: true,
        ..UploadSpec::default()
    };
    assert_eq!(up(&lab, 0, &spec).expect("empty up").verified, Some(true));
    assert_eq!(fs::read(home.join("e/empty")).expect("empty"), b"");
    let spec = DownloadSpec {
        remote: "e/empty".into(),
        dest: lab.tmp().join("e-back"),
        verify: true,
        ..DownloadSpec::default()
    };
    assert_eq!(down(&lab, 0, &spec).expect("empty down").files, 1);
    let host = &lab.hosts()[0].name;
    assert_eq!(
        fs::read(lab.tmp().join("e-back").join(host).join("empty")).expect("e"),
        b""
    );

    let spec = UploadSpec {
        sources: vec![dir.clone()],
        remote: "r3".into(),
        ..UploadSpec::default()
    };
    let err = up(&lab, 0, &spec).expect_err("directory without recursive");
    assert!(err.to_string().contains("--recursive"), "{err}");
    assert_eq!(err.class(), ErrorClass::Transfer);
    let spec = UploadSpec {
        sources: vec![lab.tmp().join("missing")],
        remote: "x".into(),
        ..UploadSpec::default()
    };
    let err = up(&lab, 0, &spec).expect_err("missing source");
    assert!(err.to_string().contains("missing"), "{err}");
    let spec = UploadSpec {
        sources: vec![a.clone(), b.clone()],
        remote: "deep/a.txt".into(),
        ..UploadSpec::default()
    };
    let err = up(&lab, 0, &spec).expect_err("several files onto a file");
    assert!(err.to_string().contains("not a directory"), "{err}");
    // Permission denied remotely names the path.
    fs::create_dir(home.join("locked")).expect("mkdir");
    fs::set_permissions(home.join("locked"), fs::Permissions::from_mode(0o500)).expect("chmod");
    let spec = UploadSpec {
        sources: vec![a.clone()],
        remote: "locked/a.txt".into(),
        ..UploadSpec::default()
    };
    let result = up(&lab, 0, &spec);
    fs::set_permissions(home.join("locked"), fs::Permissions::from_mode(0o700)).expect("chmod");
    if nix::unistd::geteuid().is_root() {
        // root ignores directory modes: the send simply works.
        result.expect("root may write anywhere");
    } else {
        let err = result.expect_err("denied");
        assert!(err.to_string().contains("permission denied"), "{err}");
    }
    assert!(temp_files(home).is_empty());
}

#[test]
fn hostile_remote_tree_writes_nothing_outside_dest() {
    let lab = common::lab(1);
    let home = lab.home(0);
    let evil = home.join("evil");
    fs::create_dir_all(evil.join("sub")).expect("mkdir");
    fs::write(evil.join("ok.txt"), b"fine").expect("file");
    fs::write(evil.join("sub/inner.txt"), b"inner").expect("file");
    let outside = lab.tmp().join("outside");
    fs::create_dir_all(&outside).expect("outside dir");
    std::os::unix::fs::symlink("/etc", evil.join("etc")).expect("symlink");
    std::os::unix::fs::symlink("/etc/passwd", evil.join("passwd")).expect("symlink");
    std::os::unix::fs::symlink(&outside, evil.join("sub/out")).expect("symlink");
    std::os::unix::fs::symlink("../../..", evil.join("sub/up")).expect("symlink");
    std::os::unix::fs::symlink("inner.txt", evil.join("sub/same")).expect("symlink");
    std::os::unix::fs::symlink("../ok.txt", evil.join("sub/sibling")).expect("symlink");
    fs::write(evil.join("esc\u{1b}[31mred"), b"name with an escape").expect("file");

    let dest = lab.tmp().join("dest");
    let spec = DownloadSpec {
        remote: "evil".into(),
        dest: dest.clone(),
        recursive: true,
        ..DownloadSpec::default()
    };
    let report = down(&lab, 0, &spec).expect("fetch hostile tree");
    let host = &lab.hosts()[0].name;
    let got = tree(&dest);
    assert!(
        got.values().all(|(_, kind)| kind != "symlink"),
        "no symlink created locally: {got:?}"
    );
    let files: Vec<_> = got
        .iter()
        .filter(|(_, (_, k))| k != "dir")
        .map(|(p, _)| p.clone())
        .collect();
    let base = PathBuf::from(host).join("evil");
    assert_eq!(
        files,
        vec![
            base.join("esc\u{1b}[31mred"),
            base.join("ok.txt"),
            base.join("sub/inner.txt")
        ],
        "only the regular files"
    );
    assert_eq!(report.files, 3);
    let refused = report.refused.join("\n");
    for name in ["evil/etc", "evil/passwd", "sub/out", "sub/up"] {
        assert!(refused.contains(name), "{name} refused: {refused}");
    }
    assert!(
        !refused.contains("same") && !refused.contains("sibling"),
        "{refused}"
    );
    let skipped = report.skipped.join("\n");
    assert!(
        skipped.contains("sub/same") && skipped.contains("sub/sibling"),
        "{skipped}"
    );
    assert!(
        !refused.contains('\u{1b}') && !skipped.contains('\u{1b}'),
        "messages escape control characters"
    );
    assert!(
        fs::read_dir(&outside).expect("ls").next().is_none(),
        "nothing written outside"
    );

    // A glob over the same directory: links to files the pattern names are read (their bytes
    // land in DEST), links to directories are refused.
    let dest2 = lab.tmp().join("dest2");
    let spec = DownloadSpec {
        remote: "evil/*".into(),
        dest: dest2.clone(),
        naming: Naming::Suffix,
        ..DownloadSpec::default()
    };
    let report = down(&lab, 0, &spec).expect("glob");
    assert!(dest2.join(format!("ok.txt.{host}")).is_file());
    assert!(dest2.join(format!("passwd.{host}")).is_file(), "{report:?}");
    assert!(
        report.refused.iter().any(|r| r.contains("evil/etc")),
        "{report:?}"
    );
    assert!(
        report
            .skipped
            .iter()
            .any(|r| r.contains("evil/sub") && r.contains("--recursive")),
        "{report:?}"
    );
    assert!(tree(&dest2).values().all(|(_, kind)| kind != "symlink"));

    // A planted symlink in DEST where the host directory goes is refused, not followed.
    let dest3 = lab.tmp().join("dest3");
    fs::create_dir_all(&dest3).expect("mkdir");
    std::os::unix::fs::symlink(&outside, dest3.join(host)).expect("planted link");
    let spec = DownloadSpec {
        remote: "evil/ok.txt".into(),
        dest: dest3.clone(),
        ..DownloadSpec::default()
    };
    let err = down(&lab, 0, &spec).expect_err("planted symlink refused");
    assert!(err.to_string().contains("not a directory"), "{err}");
    assert!(
        fs::read_dir(&outside).expect("ls").next().is_none(),
        "nothing written outside"
    );

    // Missing paths and empty globs fail with the path named.
    let spec = DownloadSpec {
        remote: "nope/*.log".into(),
        dest: dest.clone(),
        ..DownloadSpec::default()
    };
    let err = down(&lab, 0, &spec).expect_err("missing dir");
    assert!(err.to_string().contains("nope"), "{err}");
    let spec = DownloadSpec {
        remote: "evil/*.log".into(),
        dest: dest.clone(),
        ..DownloadSpec::default()
    };
    let err = down(&lab, 0, &spec).expect_err("no match");
    assert!(err.to_string().contains("no match"), "{err}");
    let spec = DownloadSpec {
        remote: "evil".into(),
        dest: dest.clone(),
        ..DownloadSpec::default()
    };
    let err = down(&lab, 0, &spec).expect_err("dir without recursive");
    assert!(err.to_string().contains("--recursive"), "{err}");
}

fn down_limited(
    lab: &TestLab,
    spec: &DownloadSpec,
    limits: PullLimits,
) -> Result<TransferReport, TransferError> {
    let sess = lab.session(0);
    download_with_limits(
        &sess,
        &lab.hosts()[0].name,
        spec,
        limits,
        &AtomicBool::new(false),
        &mut no_progress(),
    )
}

/// A server's listing is bounded: a tree deeper than the limit (65 levels against the
/// default 64) and a directory with more entries than the limit fail with the limit named,
/// before anything is written; within the limits the same trees arrive whole.
#[test]
fn pull_limits_on_depth_and_entries_write_nothing() {
    let lab = common::lab(1);
    let home = lab.home(0);
    let mut deep = home.join("deep");
    for _ in 0..65 {
        deep.push("d");
    }
    fs::create_dir_all(&deep).expect("deep tree");
    fs::write(deep.join("bottom.txt"), b"bottom").expect("file");
    fs::write(home.join("deep/top.txt"), b"top").expect("file");
    let wide = home.join("wide");
    fs::create_dir_all(wide.join("sub")).expect("wide dir");
    for i in 0..41 {
        fs::write(wide.join(format!("f{i:02}")), b"x").expect("file");
    }
    fs::write(wide.join("sub/inner"), b"y").expect("file");
    let spec = |remote: &str, dest: &Path| DownloadSpec {
        remote: remote.into(),
        dest: dest.to_path_buf(),
        recursive: true,
        ..DownloadSpec::default()
    };

    let dest = lab.tmp().join("dest-deep");
    let err = down(&lab, 0, &spec("deep", &dest)).expect_err("deeper than the default limit");
    let msg = err.to_string();
    assert!(msg.contains("nested more than 64 deep"), "{msg}");
    assert!(msg.contains("nothing was written"), "{msg}");
    assert!(!dest.exists(), "nothing written: {:?}", tree(&dest));
    let limits = PullLimits {
        max_depth: 66,
        ..PullLimits::default()
    };
    let report = down_limited(&lab, &spec("deep", &dest), limits).expect("within the limit");
    assert_eq!(report.files, 2);

    let dest = lab.tmp().join("dest-wide");
    let small = PullLimits {
        max_dir_entries: 40,
        ..PullLimits::default()
    };
    let err = down_limited(&lab, &spec("wide", &dest), small).expect_err("too many entries");
    let msg = err.to_string();
    assert!(
        msg.contains("more than 40 entries in one directory"),
        "{msg}"
    );
    assert!(!dest.exists(), "nothing written: {:?}", tree(&dest));
    // The whole fetch is bounded too: 42 + 1 entries against 42.
    let total = PullLimits {
        max_entries: 42,
        ..PullLimits::default()
    };
    let err = down_limited(&lab, &spec("wide", &dest), total).expect_err("too many in all");
    assert!(
        err.to_string()
            .contains("more than 42 entries in the whole fetch"),
        "{err}"
    );
    assert!(!dest.exists());
    let fits = PullLimits {
        max_dir_entries: 42,
        max_entries: 43,
        ..PullLimits::default()
    };
    let report = down_limited(&lab, &spec("wide", &dest), fits).expect("within the limits");
    assert_eq!(report.files, 42);
    // A cancelled listing stops with "cancelled", nothing written.
    let sess = lab.session(0);
    let dest = lab.tmp().join("dest-cancel");
    let err = download(
        &sess,
        &lab.hosts()[0].name,
        &spec("wide", &dest),
        &AtomicBool::new(true),
        &mut no_progress(),
    )
    .expect_err("cancelled");
    assert!(matches!(err, TransferError::Cancelled), "{err}");
    assert!(!dest.exists());
}

/// Pull destinations: hosts whose names differ only in `/` vs `_` land in different
/// directories, and a symlink planted below DEST (not only as its last component) is refused,
/// never followed.
#[test]
fn pull_destinations_are_injective_and_never_follow_symlinks() {
    let lab = common::lab(1);
    let home = lab.home(0);
    fs::create_dir_all(home.join("t/a/b")).expect("tree");
    fs::write(home.join("t/a/b/f.txt"), b"one").expect("file");
    let dest = lab.tmp().join("dest");
    let sess = lab.session(0);
    let spec = DownloadSpec {
        remote: "t".into(),
        dest: dest.clone(),
        recursive: true,
        ..DownloadSpec::default()
    };
    let cancel = AtomicBool::new(false);
    for host in ["a/b", "a_b"] {
        download(&sess, host, &spec, &cancel, &mut no_progress()).expect("fetch");
    }
    let mut dirs: Vec<String> = fs::read_dir(&dest)
        .expect("ls dest")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    dirs.sort();
    assert_eq!(dirs, ["a%2Fb", "a_b"]);

    // With --naming suffix, `a.b` from host `c` and `a` from host `b.c` stay apart.
    fs::create_dir_all(home.join("s")).expect("dir");
    fs::write(home.join("s/a.b"), b"from c").expect("file");
    fs::write(home.join("s/a"), b"from b.c").expect("file");
    let suffixed = lab.tmp().join("suffixed");
    for (host, remote) in [("c", "s/a.b"), ("b.c", "s/a")] {
        let spec = DownloadSpec {
            remote: remote.into(),
            dest: suffixed.clone(),
            naming: Naming::Suffix,
            ..DownloadSpec::default()
        };
        download(&sess, host, &spec, &cancel, &mut no_progress()).expect("fetch");
    }
    assert_eq!(fs::read(suffixed.join("a.b.c")).expect("read"), b"from c");
    assert_eq!(
        fs::read(suffixed.join("a.b%2Ec")).expect("read"),
        b"from b.c"
    );

    // A symlink planted two levels below DEST/<host>: refused, nothing written outside.
    let outside = lab.tmp().join("outside");
    fs::create_dir_all(&outside).expect("outside");
    let host_dir = dest.join("planted");
    fs::create_dir_all(host_dir.join("t")).expect("host dir");
    std::os::unix::fs::symlink(&outside, host_dir.join("t/a")).expect("planted link");
    let err = download(&sess, "planted", &spec, &cancel, &mut no_progress())
        .expect_err("planted symlink refused");
    assert!(err.to_string().contains("not a directory"), "{err}");
    assert!(
        fs::read_dir(&outside).expect("ls").next().is_none(),
        "nothing written outside"
    );
}

#[test]
fn glob_fetch_with_host_suffix_from_several_hosts() {
    let lab = common::lab(2);
    for i in 0..2 {
        let logs = lab.home(i).join("logs");
        fs::create_dir_all(&logs).expect("mkdir");
        fs::write(logs.join("a.log"), format!("a from {i}\n")).expect("log");
        fs::write(logs.join("b.log"), format!("b from {i}\n")).expect("log");
        fs::write(logs.join("c.txt"), b"not a log").expect("txt");
        fs::write(logs.join(".hidden.log"), b"hidden").expect("hidden");
    }
    let dest = lab.tmp().join("logs");
    for i in 0..2 {
        let spec = DownloadSpec {
            remote: "~/logs/*.log".into(),
            dest: dest.clone(),
            naming: Naming::Suffix,
            ..DownloadSpec::default()
        };
        let report = down(&lab, i, &spec).expect("glob");
        assert_eq!(report.files, 2);
    }
    let mut names: Vec<String> = fs::read_dir(&dest)
        .expect("ls")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let (h0, h1) = (&lab.hosts()[0].name, &lab.hosts()[1].name);
    let mut want = vec![
        format!("a.log.{h0}"),
        format!("a.log.{h1}"),
        format!("b.log.{h0}"),
        format!("b.log.{h1}"),
    ];
    want.sort();
    assert_eq!(names, want);
    assert_eq!(
        fs::read_to_string(dest.join(format!("b.log.{h1}"))).expect("read"),
        "b from 1\n"
    );
}
