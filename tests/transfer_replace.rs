//! Replacing large files: the old file is linked aside before the rename and freed in the
//! background, so the push does not wait for the server to free it; the result is the same
//! as a plain atomic rename (other links to the old file keep the old bytes, no temp left).

mod common;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use fleetdeck::ssh::transfer::{upload, UploadSpec};
use rand::RngCore;

fn temps(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .expect("read_dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".fleetdeck-tmp-"))
        .collect()
}

#[test]
fn a_large_replaced_file_is_freed_off_the_push_and_nothing_is_left() {
    let lab = common::lab(1);
    let mut old = vec![0u8; 24 * 1024 * 1024];
    rand::thread_rng().fill_bytes(&mut old);
    let mut new = old.clone();
    new[0] ^= 1;
    new[old.len() - 1] ^= 1;
    let src = lab.tmp().join("image.bin");
    let spec = UploadSpec {
        sources: vec![src.clone()],
        remote: "img/".into(),
        ..UploadSpec::default()
    };
    let dir = lab.home(0).join("img");
    fs::write(&src, &old).expect("old");
    let sess = lab.session(0);
    upload(&sess, &spec, &AtomicBool::new(false), &mut |_, _| {}).expect("first");
    // Someone else's link to the old file keeps the old bytes, as with a plain rename.
    fs::hard_link(dir.join("image.bin"), dir.join("kept.bin")).expect("link");
    let old_inode = fs::metadata(dir.join("image.bin")).expect("stat").ino();

    fs::write(&src, &new).expect("new");
    upload(&sess, &spec, &AtomicBool::new(false), &mut |_, _| {}).expect("replace");
    assert!(
        fs::read(dir.join("image.bin")).expect("target") == new,
        "new bytes in place"
    );
    assert_ne!(
        fs::metadata(dir.join("image.bin")).expect("stat").ino(),
        old_inode
    );
    assert!(
        fs::read(dir.join("kept.bin")).expect("kept") == old,
        "old bytes kept"
    );
    // The aside link goes away in the background.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !temps(&dir).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(temps(&dir).is_empty(), "{:?}", temps(&dir));
    assert_eq!(fs::metadata(dir.join("kept.bin")).expect("kept").nlink(), 1);
}
