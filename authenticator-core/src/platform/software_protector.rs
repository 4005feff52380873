//! `SoftwareKeyProtector`: a key file on disk standing in for a platform key store.
//!
//! For desktops, the virtual phone and tests only: the wrapping key is an ordinary file (mode
//! 0600), so anyone who can read the data folder can read the vault. It is named for what it
//! is so that nobody ships it by mistake.
//!
//! Invariants: the key file is created only by `wrap` (that is, only when a new vault key is
//! being stored), atomically, and never replaced; `unwrap` with no key file is
//! `PermanentlyLost`, never a new key. Blobs are `version || nonce || AES-256-GCM(secret)` with
//! a fixed AAD, so a blob from another key file is `WrongKey`.
//!
//! The vault's monotonic anchor is kept in `<key file>.anchor` beside the key file, replaced
//! atomically (write a temporary file, flush, rename). It is as safe as the key file: enough to
//! show a vault file restored from a copy while the key folder was left alone.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use zeroize::Zeroizing;

use super::{KeyProtectionInfo, KeyProtector, KeyProtectorError};
use crate::secret::{fill_random, random_array};

const BLOB_VERSION: u8 = 1;
const NONCE_LEN: usize = 12;
const KEY_LEN: usize = 32;
const AAD: &[u8] = b"software-key-protector/v1";

/// Wraps secrets with a key kept in a file. Not hardware backed: for desktops and tests.
pub struct SoftwareKeyProtector {
    key_file: PathBuf,
}

impl SoftwareKeyProtector {
    /// A protector whose key lives at `key_file`. Nothing is read or created until first use.
    pub fn new(key_file: impl Into<PathBuf>) -> Self {
        Self {
            key_file: key_file.into(),
        }
    }

    pub fn key_file(&self) -> &Path {
        &self.key_file
    }

    /// Where the vault's monotonic anchor is kept.
    pub fn anchor_file(&self) -> PathBuf {
        let mut name = self.key_file.as_os_str().to_owned();
        name.push(".anchor");
        PathBuf::from(name)
    }

    fn read_key(&self) -> Result<Option<Zeroizing<Vec<u8>>>, KeyProtectorError> {
        match fs::read(&self.key_file) {
            Ok(bytes) if bytes.len() == KEY_LEN => Ok(Some(Zeroizing::new(bytes))),
            Ok(bytes) => {
                let _wipe = Zeroizing::new(bytes);
                Err(KeyProtectorError::PermanentlyLost {
                    reason: format!(
                        "key file {} is not a {KEY_LEN}-byte key",
                        self.key_file.display()
                    ),
                })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(KeyProtectorError::TemporarilyUnavailable {
                reason: format!("cannot read key file {}: {e}", self.key_file.display()),
            }),
        }
    }

    /// Creates the key file atomically; if another process won the race, uses its key.
    fn create_key(&self) -> Result<Zeroizing<Vec<u8>>, KeyProtectorError> {
        let failed = |what: &str, e: std::io::Error| KeyProtectorError::Failed {
            reason: format!("cannot {what} {}: {e}", self.key_file.display()),
        };
        let mut key = Zeroizing::new(vec![0u8; KEY_LEN]);
        fill_random(&mut key).map_err(|e| KeyProtectorError::Failed {
            reason: e.to_string(),
        })?;
        if let Some(dir) = self.key_file.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir).map_err(|e| failed("create the folder of", e))?;
        }
        let suffix: [u8; 8] = random_array().map_err(|e| KeyProtectorError::Failed {
            reason: e.to_string(),
        })?;
        let tmp = self
            .key_file
            .with_extension(format!("tmp-{}", u64::from_le_bytes(suffix)));
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let written = options.open(&tmp).and_then(|mut f| {
            f.write_all(&key)?;
            f.sync_all()
        });
        if let Err(e) = written {
            let _ = fs::remove_file(&tmp);
            return Err(failed("write", e));
        }
        // A hard link never replaces an existing file: exactly one creator wins.
        let linked = fs::hard_link(&tmp, &self.key_file);
        let _ = fs::remove_file(&tmp);
        match linked {
            Ok(()) => Ok(key),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                self.read_key()?.ok_or_else(|| KeyProtectorError::Failed {
                    reason: format!("key file {} vanished", self.key_file.display()),
                })
            }
            Err(e) => Err(failed("create", e)),
        }
    }
}

fn cipher(key: &[u8]) -> Result<Aes256Gcm, KeyProtectorError> {
    Aes256Gcm::new_from_slice(key).map_err(|_| KeyProtectorError::Failed {
        reason: "key file has the wrong length".into(),
    })
}

/// `version || nonce || AES-256-GCM(secret)` under `key` (also the test kit's protector).
pub(crate) fn seal(key: &[u8], secret: &[u8]) -> Result<Vec<u8>, KeyProtectorError> {
    let nonce: [u8; NONCE_LEN] = random_array().map_err(|e| KeyProtectorError::Failed {
        reason: e.to_string(),
    })?;
    let sealed = cipher(key)?
        .encrypt(
            &Nonce::from(nonce),
            Payload {
                msg: secret,
                aad: AAD,
            },
        )
        .map_err(|_| KeyProtectorError::Failed {
            reason: "encryption failed".into(),
        })?;
    let mut blob = Vec::with_capacity(1 + NONCE_LEN + sealed.len());
    blob.push(BLOB_VERSION);
    blob.extend_from_slice(&nonce);
    blob.extend_from_slice(&sealed);
    Ok(blob)
}

/// The secret `seal` put in `blob`; `WrongKey` for a blob of another key or a damaged one.
pub(crate) fn open(key: &[u8], blob: &[u8]) -> Result<Vec<u8>, KeyProtectorError> {
    let (version, rest) = blob.split_first().ok_or(KeyProtectorError::WrongKey)?;
    if *version != BLOB_VERSION || rest.len() < NONCE_LEN {
        return Err(KeyProtectorError::WrongKey);
    }
    let (nonce, sealed) = rest.split_at(NONCE_LEN);
    let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| KeyProtectorError::WrongKey)?;
    cipher(key)?
        .decrypt(
            &Nonce::from(nonce),
            Payload {
                msg: sealed,
                aad: AAD,
            },
        )
        .map_err(|_| KeyProtectorError::WrongKey)
}

impl KeyProtector for SoftwareKeyProtector {
    fn wrap(&self, secret: Vec<u8>) -> Result<Vec<u8>, KeyProtectorError> {
        let secret = Zeroizing::new(secret);
        let key = match self.read_key()? {
            Some(key) => key,
            None => self.create_key()?,
        };
        seal(&key, &secret)
    }

    fn unwrap(&self, blob: Vec<u8>) -> Result<Vec<u8>, KeyProtectorError> {
        let key = self
            .read_key()?
            .ok_or_else(|| KeyProtectorError::PermanentlyLost {
                reason: format!("key file {} is missing", self.key_file.display()),
            })?;
        open(&key, &blob)
    }

    fn info(&self) -> Result<KeyProtectionInfo, KeyProtectorError> {
        Ok(KeyProtectionInfo {
            hardware_backed: false,
            kind: "software-key-file".into(),
        })
    }

    fn load_anchor(&self) -> Result<Option<Vec<u8>>, KeyProtectorError> {
        match fs::read(self.anchor_file()) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(KeyProtectorError::TemporarilyUnavailable {
                reason: format!("cannot read anchor file: {e}"),
            }),
        }
    }

    fn store_anchor(&self, anchor: Vec<u8>) -> Result<bool, KeyProtectorError> {
        let target = self.anchor_file();
        let suffix: [u8; 8] = random_array().map_err(|e| KeyProtectorError::Failed {
            reason: e.to_string(),
        })?;
        let mut tmp = target.as_os_str().to_owned();
        tmp.push(format!(".tmp-{}", u64::from_le_bytes(suffix)));
        let tmp = PathBuf::from(tmp);
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let written = options
            .open(&tmp)
            .and_then(|mut f| {
                f.write_all(&anchor)?;
                f.sync_all()
            })
            .and_then(|()| fs::rename(&tmp, &target));
        if let Err(e) = written {
            let _ = fs::remove_file(&tmp);
            return Err(KeyProtectorError::Failed {
                reason: format!("cannot write anchor file {}: {e}", target.display()),
            });
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_then_unwrap_returns_the_secret_and_creates_a_private_key_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = SoftwareKeyProtector::new(dir.path().join("keys/device.key"));
        let blob = p.wrap(b"vault key bytes".to_vec()).unwrap();
        assert!(!blob.windows(15).any(|w| w == b"vault key bytes"));
        assert_eq!(p.unwrap(blob).unwrap(), b"vault key bytes");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(p.key_file()).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn another_key_file_is_wrong_key_and_a_missing_one_is_lost() {
        let dir = tempfile::tempdir().unwrap();
        let a = SoftwareKeyProtector::new(dir.path().join("a.key"));
        let b = SoftwareKeyProtector::new(dir.path().join("b.key"));
        let blob = a.wrap(vec![7; 32]).unwrap();
        b.wrap(vec![1]).unwrap();
        assert_eq!(b.unwrap(blob.clone()), Err(KeyProtectorError::WrongKey));
        let c = SoftwareKeyProtector::new(dir.path().join("missing.key"));
        assert!(matches!(
            c.unwrap(blob),
            Err(KeyProtectorError::PermanentlyLost { .. })
        ));
        assert!(!c.key_file().exists(), "unwrap must never create a key");
    }

    #[test]
    fn the_anchor_is_kept_beside_the_key_file_and_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let p = SoftwareKeyProtector::new(dir.path().join("device.key"));
        assert_eq!(p.load_anchor(), Ok(None));
        assert_eq!(p.store_anchor(b"one".to_vec()), Ok(true));
        assert_eq!(p.store_anchor(b"two".to_vec()), Ok(true));
        assert_eq!(p.load_anchor(), Ok(Some(b"two".to_vec())));
        assert_eq!(p.anchor_file(), dir.path().join("device.key.anchor"));
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "no temporary file left behind");
    }

    #[test]
    fn a_truncated_key_file_is_reported_not_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        fs::write(&path, b"short").unwrap();
        let p = SoftwareKeyProtector::new(&path);
        assert!(matches!(
            p.wrap(vec![1]),
            Err(KeyProtectorError::PermanentlyLost { .. })
        ));
        assert_eq!(fs::read(&path).unwrap(), b"short");
    }
}
