//! Ed25519 identity files decoded once per engine and signed in Rust.
//!
//! libssh2's `userauth_publickey_fromfile` reads and decodes the key file for every
//! connection — twice, and through OpenSSL 3's decoder framework first (a failed PEM attempt
//! before its own OpenSSH parser), which was over half of fleetdeck's CPU per new connection
//! (and, for an encrypted key, a bcrypt KDF per host). Here an OpenSSH-format ed25519 key is
//! decoded (and decrypted) once, and libssh2 is given its public blob and a callback that signs
//! with it. Other key types and formats keep libssh2's own path.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use ed25519_dalek::Signer as _;
use ssh2::Session;

use super::{SshError, Waiter};
use crate::util::lock;

/// Key files larger than this are not OpenSSH ed25519 keys (those are about 400 bytes).
const MAX_KEY_FILE: u64 = 64 * 1024;

/// A decoded ed25519 identity: the public key in SSH wire form and the signing key.
pub struct Ed25519Identity {
    public_blob: Vec<u8>,
    signing: ed25519_dalek::SigningKey,
}

/// What decoding a key file gave.
#[derive(Clone)]
pub enum Decoded {
    /// An ed25519 key, ready to sign.
    Ready(Arc<Ed25519Identity>),
    /// Not an OpenSSH ed25519 key (another type, PEM, unreadable): libssh2's path takes it.
    Other,
    /// Encrypted, and the passphrase given does not open it.
    WrongPassphrase,
}

/// Identity files decoded so far, by path (one engine's; encrypted ones only once opened).
#[derive(Default)]
pub struct KeyCache {
    keys: Mutex<HashMap<PathBuf, Decoded>>,
}

impl KeyCache {
    /// The key at `path` if it was decoded already.
    pub fn ready(&self, path: &Path) -> Option<Arc<Ed25519Identity>> {
        match lock(&self.keys).get(path) {
            Some(Decoded::Ready(id)) => Some(id.clone()),
            _ => None,
        }
    }

    /// The key at `path`, decoded once (with `passphrase` when it is encrypted).
    pub fn decode(&self, path: &Path, passphrase: Option<&str>) -> Decoded {
        if let Some(d @ (Decoded::Ready(_) | Decoded::Other)) = lock(&self.keys).get(path) {
            return d.clone();
        }
        let d = decode_file(path, passphrase);
        if !matches!(d, Decoded::WrongPassphrase) {
            lock(&self.keys).insert(path.to_path_buf(), d.clone());
        }
        d
    }
}

fn decode_file(path: &Path, passphrase: Option<&str>) -> Decoded {
    let Ok(meta) = std::fs::metadata(path) else {
        return Decoded::Other;
    };
    if meta.len() > MAX_KEY_FILE {
        return Decoded::Other;
    }
    let Ok(text) = std::fs::read(path) else {
        return Decoded::Other;
    };
    let Ok(mut key) = ssh_key::PrivateKey::from_openssh(&text) else {
        return Decoded::Other;
    };
    if key.algorithm() != ssh_key::Algorithm::Ed25519 {
        return Decoded::Other;
    }
    if key.is_encrypted() {
        let Some(p) = passphrase else {
            return Decoded::WrongPassphrase;
        };
        match key.decrypt(p) {
            Ok(k) => key = k,
            Err(_) => return Decoded::WrongPassphrase,
        }
    }
    let (Some(pair), Ok(public_blob)) = (key.key_data().ed25519(), key.public_key().to_bytes())
    else {
        return Decoded::Other;
    };
    match ed25519_dalek::SigningKey::try_from(pair) {
        Ok(signing) => Decoded::Ready(Arc::new(Ed25519Identity {
            public_blob,
            signing,
        })),
        Err(_) => Decoded::Other,
    }
}

/// Public key authentication with `id`: libssh2 sends the key, and our callback signs.
pub fn authenticate(
    sess: &Session,
    w: &Waiter<'_>,
    user: &str,
    id: &Ed25519Identity,
) -> Result<(), SshError> {
    let user_c = std::ffi::CString::new(user).map_err(|_| SshError {
        class: crate::contract::ErrorClass::AuthFailed,
        message: "the user name holds a NUL byte".into(),
    })?;
    w.retry(sess, "public key authentication", || {
        let rc = userauth_signed(sess, &user_c, id);
        if rc == 0 {
            Ok(())
        } else {
            Err(ssh2::Error::from_session_error(sess, rc))
        }
    })
}

#[allow(unsafe_code)]
fn userauth_signed(sess: &Session, user: &std::ffi::CStr, id: &Ed25519Identity) -> i32 {
    let mut abstract_ptr = std::ptr::from_ref(id).cast_mut().cast::<libc::c_void>();
    let raw = sess.raw();
    let raw_ptr = std::ptr::from_ref(&*raw).cast_mut();
    // SAFETY: the session pointer comes from its guard, held for the call; `user` and the
    // blob outlive it; the callback reads `id` only during this call (libssh2 calls it
    // synchronously) and returns a malloc'd signature, which libssh2 frees with free().
    unsafe {
        libssh2_userauth_publickey(
            raw_ptr,
            user.as_ptr(),
            id.public_blob.as_ptr(),
            id.public_blob.len(),
            sign_callback,
            &raw mut abstract_ptr,
        )
    }
}

#[allow(unsafe_code)]
extern "C" {
    fn libssh2_userauth_publickey(
        session: *mut libssh2_sys::LIBSSH2_SESSION,
        username: *const libc::c_char,
        pubkeydata: *const libc::c_uchar,
        pubkeydata_len: libc::size_t,
        sign_callback: SignCallback,
        abstract_: *mut *mut libc::c_void,
    ) -> libc::c_int;
}

type SignCallback = extern "C" fn(
    *mut libssh2_sys::LIBSSH2_SESSION,
    *mut *mut libc::c_uchar,
    *mut libc::size_t,
    *const libc::c_uchar,
    libc::size_t,
    *mut *mut libc::c_void,
) -> libc::c_int;

#[allow(unsafe_code)]
extern "C" fn sign_callback(
    _session: *mut libssh2_sys::LIBSSH2_SESSION,
    sig: *mut *mut libc::c_uchar,
    sig_len: *mut libc::size_t,
    data: *const libc::c_uchar,
    data_len: libc::size_t,
    abstract_: *mut *mut libc::c_void,
) -> libc::c_int {
    if sig.is_null() || sig_len.is_null() || data.is_null() || abstract_.is_null() {
        return -1;
    }
    // SAFETY: `abstract_` points at the `&Ed25519Identity` passed by `userauth_signed`, alive
    // for its call; `data` holds `data_len` bytes (libssh2's buffer to sign).
    let (id, msg) = unsafe {
        (
            &*(*abstract_).cast::<Ed25519Identity>(),
            std::slice::from_raw_parts(data, data_len),
        )
    };
    let signature = id.signing.sign(msg).to_bytes();
    // SAFETY: libssh2 frees the signature with its default allocator (free()).
    unsafe {
        let out = libc::malloc(signature.len()).cast::<libc::c_uchar>();
        if out.is_null() {
            return -1;
        }
        std::ptr::copy_nonoverlapping(signature.as_ptr(), out, signature.len());
        *sig = out;
        *sig_len = signature.len();
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keygen(dir: &Path, name: &str, kind: &str, pass: &str) -> PathBuf {
        let path = dir.join(name);
        let ok = std::process::Command::new("ssh-keygen")
            .args(["-q", "-t", kind, "-N", pass, "-C", "t", "-f"])
            .arg(&path)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "ssh-keygen -t {kind}");
        path
    }

    #[test]
    fn decodes_ed25519_once_and_leaves_other_keys_to_libssh2() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = KeyCache::default();
        let ed = keygen(dir.path(), "ed", "ed25519", "");
        let Decoded::Ready(id) = cache.decode(&ed, None) else {
            panic!("an unencrypted ed25519 key decodes");
        };
        let public = std::fs::read_to_string(ed.with_extension("pub")).expect("pub");
        let b64 = public.split_whitespace().nth(1).expect("blob");
        use base64::Engine as _;
        let blob = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .expect("base64");
        assert_eq!(id.public_blob, blob, "the public blob is the .pub file's");
        // Decoded once: the file may go, the cache still has it.
        std::fs::remove_file(&ed).expect("rm");
        assert!(matches!(cache.decode(&ed, None), Decoded::Ready(_)));

        let ecdsa = keygen(dir.path(), "ec", "ecdsa", "");
        assert!(matches!(cache.decode(&ecdsa, None), Decoded::Other));
        assert!(matches!(
            cache.decode(&dir.path().join("missing"), None),
            Decoded::Other
        ));
    }

    #[test]
    fn an_encrypted_key_opens_only_with_its_passphrase() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = KeyCache::default();
        let ed = keygen(dir.path(), "ed", "ed25519", "s3cret");
        assert!(matches!(cache.decode(&ed, None), Decoded::WrongPassphrase));
        assert!(matches!(
            cache.decode(&ed, Some("wrong")),
            Decoded::WrongPassphrase
        ));
        assert!(matches!(
            cache.decode(&ed, Some("s3cret")),
            Decoded::Ready(_)
        ));
    }
}
