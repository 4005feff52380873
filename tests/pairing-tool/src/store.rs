//! The data directory: the tool's static key and its one pairing.
//!
//! Invariants: both files are mode 0600 and replaced atomically (temporary file, fsync,
//! rename, fsync of the directory), so a crash leaves the old content or the new, never a mix;
//! a file that other users can read is refused rather than used. The key is created at most
//! once even when two processes start together (the new key is hard-linked into place, which
//! fails if another process won). Secrets are wiped from memory on drop and never printed.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use authenticator_core::link::noise::{KeyPair, PSK_LEN, PUBLIC_KEY_LEN};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// The PC's static P-256 scalar, 32 raw bytes.
pub const KEY_FILE: &str = "pc-static.key";
/// The pairing record, JSON.
pub const PAIRING_FILE: &str = "pairing.json";
/// Format version of [`PAIRING_FILE`].
const PAIRING_VERSION: u32 = 1;

/// Why the data directory could not be used. Messages name files, never their content.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: {source}")]
    Io { path: String, source: io::Error },
    #[error("{path} is readable by other users; run `chmod 600 {path}`")]
    TooOpen { path: String },
    #[error("{path} is damaged: {why}")]
    Damaged { path: String, why: String },
    #[error("cannot make a key: {0}")]
    Random(String),
}

/// What the tool remembers of its paired phone. No `Debug`: it holds the pairing secret.
#[derive(Clone)]
pub struct Pairing {
    pub phone_name: Option<String>,
    /// SEC1 uncompressed.
    pub phone_static: [u8; PUBLIC_KEY_LEN],
    pub pairing_secret: Zeroizing<[u8; PSK_LEN]>,
    /// The relay of the code the phone scanned: the phone waits there for knocks.
    pub relay_url: String,
    /// Unix seconds.
    pub created_at: u64,
}

impl Pairing {
    /// True when `other` reaches the same phone with the same secret over the same relay.
    pub fn same_link(&self, other: &Pairing) -> bool {
        self.phone_static == other.phone_static
            && *self.pairing_secret == *other.pairing_secret
            && self.relay_url == other.relay_url
    }

    /// The phone's name for people, with control characters escaped so a hostile name cannot
    /// forge output lines.
    pub fn display_name(&self) -> String {
        match &self.phone_name {
            Some(name) if !name.trim().is_empty() => printable(name),
            _ => "an unnamed phone".to_owned(),
        }
    }
}

/// `text` with every control character escaped (`\n`, `\u{1b}`, ...).
pub fn printable(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PairingFile {
    version: u32,
    phone_name: Option<String>,
    /// Hex.
    phone_static: String,
    /// Hex.
    pairing_secret: String,
    relay_url: String,
    created_at: u64,
}

/// The tool's data directory.
#[derive(Debug, Clone)]
pub struct DataDir {
    path: PathBuf,
}

impl DataDir {
    /// The directory, not created.
    pub fn at(path: &Path) -> Self {
        Self {
            path: path.to_owned(),
        }
    }

    /// The directory, created (mode 0700) if missing.
    pub fn create(path: &Path) -> Result<Self, StoreError> {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(path)
            .map_err(|source| io_error(path, source))?;
        Ok(Self::at(path))
    }

    fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// The static key, made and stored on first use.
    pub fn load_or_create_key(&self) -> Result<KeyPair, StoreError> {
        let path = self.file(KEY_FILE);
        if let Some(key) = self.load_key(&path)? {
            return Ok(key);
        }
        let key = KeyPair::generate().map_err(|e| StoreError::Random(e.to_string()))?;
        let temp = self.write_temp(KEY_FILE, key.scalar_bytes().as_slice())?;
        // A hard link does not replace: if another process stored a key meanwhile, use theirs.
        let linked = fs::hard_link(&temp, &path);
        let _ = fs::remove_file(&temp);
        match linked {
            Ok(()) => {
                self.sync_dir()?;
                Ok(key)
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => self
                .load_key(&path)?
                .ok_or_else(|| damaged(&path, "vanished while being created")),
            Err(source) => Err(io_error(&path, source)),
        }
    }

    fn load_key(&self, path: &Path) -> Result<Option<KeyPair>, StoreError> {
        let Some(bytes) = read_private(path)? else {
            return Ok(None);
        };
        let scalar: &[u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| damaged(path, "not a 32-byte key"))?;
        KeyPair::from_scalar_bytes(scalar)
            .map(Some)
            .map_err(|_| damaged(path, "not a P-256 private key"))
    }

    /// The pairing, if there is one.
    pub fn load_pairing(&self) -> Result<Option<Pairing>, StoreError> {
        let path = self.file(PAIRING_FILE);
        let Some(bytes) = read_private(&path)? else {
            return Ok(None);
        };
        let PairingFile {
            version,
            phone_name,
            phone_static,
            pairing_secret,
            relay_url,
            created_at,
        } = serde_json::from_slice(&bytes)
            .map_err(|e| damaged(&path, &format!("not a pairing record ({e})")))?;
        let secret_hex = Zeroizing::new(pairing_secret);
        if version != PAIRING_VERSION {
            return Err(damaged(
                &path,
                &format!("unknown version {version} (this tool writes {PAIRING_VERSION})"),
            ));
        }
        let phone_static: [u8; PUBLIC_KEY_LEN] = hex_decode(&phone_static)
            .and_then(|b| b.try_into().ok())
            .filter(|k: &[u8; PUBLIC_KEY_LEN]| k[0] == 4)
            .ok_or_else(|| damaged(&path, "phone_static is not a 65-byte SEC1 point"))?;
        let secret = Zeroizing::new(
            hex_decode(&secret_hex).ok_or_else(|| damaged(&path, "pairing_secret is not hex"))?,
        );
        let pairing_secret: [u8; PSK_LEN] = secret
            .as_slice()
            .try_into()
            .map_err(|_| damaged(&path, "pairing_secret is not 32 bytes"))?;
        Ok(Some(Pairing {
            phone_name: phone_name.filter(|n| !n.is_empty()),
            phone_static,
            pairing_secret: Zeroizing::new(pairing_secret),
            relay_url,
            created_at,
        }))
    }

    /// Stores `pairing`, replacing any earlier one.
    pub fn save_pairing(&self, pairing: &Pairing) -> Result<(), StoreError> {
        let file = PairingFile {
            version: PAIRING_VERSION,
            phone_name: pairing.phone_name.clone(),
            phone_static: hex_encode(&pairing.phone_static),
            pairing_secret: hex_encode(pairing.pairing_secret.as_slice()),
            relay_url: pairing.relay_url.clone(),
            created_at: pairing.created_at,
        };
        let json = serde_json::to_vec_pretty(&file)
            .map_err(|e| damaged(&self.file(PAIRING_FILE), &e.to_string()));
        let _wipe = Zeroizing::new(file.pairing_secret);
        let json = Zeroizing::new(json?);
        let temp = self.write_temp(PAIRING_FILE, &json)?;
        let path = self.file(PAIRING_FILE);
        if let Err(source) = fs::rename(&temp, &path) {
            let _ = fs::remove_file(&temp);
            return Err(io_error(&path, source));
        }
        self.sync_dir()
    }

    /// Forgets the pairing. False if there was none.
    pub fn remove_pairing(&self) -> Result<bool, StoreError> {
        let path = self.file(PAIRING_FILE);
        match fs::remove_file(&path) {
            Ok(()) => {
                self.sync_dir()?;
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(source) => Err(io_error(&path, source)),
        }
    }

    /// Writes `bytes` to a new 0600 file beside `name` and syncs it.
    fn write_temp(&self, name: &str, bytes: &[u8]) -> Result<PathBuf, StoreError> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let temp = self.file(&format!(
            ".{name}.tmp-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let result = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temp)
            .and_then(|mut f| {
                f.write_all(bytes)?;
                f.sync_all()
            });
        match result {
            Ok(()) => Ok(temp),
            Err(source) => {
                let _ = fs::remove_file(&temp);
                Err(io_error(&temp, source))
            }
        }
    }

    fn sync_dir(&self) -> Result<(), StoreError> {
        File::open(&self.path)
            .and_then(|d| d.sync_all())
            .map_err(|source| io_error(&self.path, source))
    }
}

/// The content of a private file, `None` if it does not exist.
fn read_private(path: &Path) -> Result<Option<Zeroizing<Vec<u8>>>, StoreError> {
    let metadata = match fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(io_error(path, source)),
    };
    if metadata.permissions().mode() & 0o077 != 0 {
        return Err(StoreError::TooOpen {
            path: path.display().to_string(),
        });
    }
    fs::read(path)
        .map(|b| Some(Zeroizing::new(b)))
        .map_err(|source| io_error(path, source))
}

fn io_error(path: &Path, source: io::Error) -> StoreError {
    StoreError::Io {
        path: path.display().to_string(),
        source,
    }
}

fn damaged(path: &Path, why: &str) -> StoreError {
    StoreError::Damaged {
        path: path.display().to_string(),
        why: why.to_owned(),
    }
}

pub fn hex_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hex_decode(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| {
            text.get(i..i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn pairing() -> Pairing {
        let phone = KeyPair::generate().unwrap();
        Pairing {
            phone_name: Some("Pixel\n7".into()),
            phone_static: *phone.public_key(),
            pairing_secret: Zeroizing::new([7; 32]),
            relay_url: "https://relay.example".into(),
            created_at: 1_700_000_000,
        }
    }

    #[test]
    fn key_is_created_once_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let store = DataDir::create(&dir.path().join("d")).unwrap();
        let a = store.load_or_create_key().unwrap();
        let b = store.load_or_create_key().unwrap();
        assert_eq!(a.public_key(), b.public_key());
        let mode = fs::metadata(store.file(KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let leftovers: Vec<_> = fs::read_dir(&store.path)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers, vec![std::ffi::OsString::from(KEY_FILE)]);
    }

    #[test]
    fn pairing_round_trips_and_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let store = DataDir::create(dir.path()).unwrap();
        assert!(store.load_pairing().unwrap().is_none());
        let p = pairing();
        store.save_pairing(&p).unwrap();
        let back = store.load_pairing().unwrap().unwrap();
        assert!(back.same_link(&p));
        assert_eq!(back.phone_name.as_deref(), Some("Pixel\n7"));
        assert_eq!(back.display_name(), "Pixel\\n7");
        assert_eq!(back.created_at, p.created_at);
        let mode = fs::metadata(store.file(PAIRING_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(store.remove_pairing().unwrap());
        assert!(!store.remove_pairing().unwrap());
        assert!(store.load_pairing().unwrap().is_none());
    }

    #[test]
    fn damaged_or_open_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = DataDir::create(dir.path()).unwrap();
        store.save_pairing(&pairing()).unwrap();
        let path = store.file(PAIRING_FILE);
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            store.load_pairing(),
            Err(StoreError::TooOpen { .. })
        ));
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        fs::write(&path, b"{\"version\": 1}").unwrap();
        let err = store.load_pairing().err().unwrap().to_string();
        assert!(err.contains("is damaged"), "{err}");
        fs::write(store.file(KEY_FILE), [0u8; 32]).unwrap();
        fs::set_permissions(store.file(KEY_FILE), fs::Permissions::from_mode(0o600)).unwrap();
        let err = store.load_or_create_key().err().unwrap().to_string();
        assert!(err.contains("not a P-256 private key"), "{err}");
    }
}
