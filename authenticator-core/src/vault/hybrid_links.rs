//! Hybrid links: the browsers this phone linked after a QR session (`hybrid::linking`), and
//! the phone's one identity key they know it by.
//!
//! The link id is the row key (the browser sends it in the clear through the tunnel server);
//! the contact id, the browser's name and QR public key are sealed in `metadata`, the link
//! secret in `secrets`, the identity scalar in `hybrid_identity.secrets`, all sealed as every
//! other vault secret (AES-GCM under the vault key, the AAD naming table, column and row).
//! Rows are protected records (`head`): a removed link cannot come back by putting its old
//! row back, an added row is refused. `last_used_at` is a plain display hint.

use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::head::Head;
use super::record_crypto::Field;
use super::{Vault, VaultError};
use crate::secret::SecretBytes;

const TABLE: &str = "hybrid_links";
const IDENTITY_TABLE: &str = "hybrid_identity";
/// The head's key of the identity row.
const IDENTITY_KEY: &str = "hybrid_identity";
/// The prefix of the head's keys for links.
const LINK_PREFIX: &str = "hybrid_links/";

fn link_key(id: &[u8]) -> String {
    format!("{LINK_PREFIX}{}", crate::hex::encode(id))
}

fn what() -> &'static str {
    "linked browser record"
}

const IDENTITY_WHAT: &str = "the phone's linking identity key";

/// How an error names the record of a head key of this file, if it is one.
pub(super) fn what_for_key(key: &str) -> Option<&'static str> {
    if key == IDENTITY_KEY {
        Some(IDENTITY_WHAT)
    } else if key.starts_with(LINK_PREFIX) {
        Some(what())
    } else {
        None
    }
}

/// Opening the vault: checks every link row and the identity row against the head, and adds
/// their keys to `seen` (the caller refuses a head key no row answers).
pub(super) fn check_on_open(
    conn: &rusqlite::Connection,
    head: &Head,
    seen: &mut std::collections::BTreeSet<String>,
) -> Result<(), VaultError> {
    let identity: Option<Vec<u8>> = conn
        .query_row("SELECT secrets FROM hybrid_identity WHERE id = 1", [], |r| r.get(0))
        .optional()?;
    head.check(IDENTITY_KEY, identity.as_deref(), IDENTITY_WHAT)?;
    if identity.is_some() {
        seen.insert(IDENTITY_KEY.to_owned());
    }
    let mut stmt = conn.prepare("SELECT link_id, metadata FROM hybrid_links")?;
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<Vec<(Vec<u8>, Vec<u8>)>, _>>()?;
    for (id, metadata) in &rows {
        check(head, id, Some(metadata))?;
        seen.insert(link_key(id));
    }
    Ok(())
}

/// A linked browser, as the app lists it.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct HybridLink {
    #[serde(with = "serde_bytes")]
    pub link_id: Vec<u8>,
    /// Where the browser reaches the phone (`/cable/contact/{contact id}`).
    #[serde(with = "serde_bytes")]
    pub contact_id: Vec<u8>,
    /// The name the user gave the browser when consenting to the link.
    pub name: String,
    /// The browser's QR identity key (SEC1 compressed), for display and audits.
    #[serde(with = "serde_bytes")]
    pub browser_public_key: Vec<u8>,
    #[serde(skip)]
    pub created_at: u64,
    #[serde(skip)]
    pub last_used_at: u64,
}

impl std::fmt::Debug for HybridLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HybridLink")
            .field("created_at", &self.created_at)
            .field("last_used_at", &self.last_used_at)
            .finish_non_exhaustive()
    }
}

/// A link's secret. Wiped on drop; no `Debug`.
#[derive(Clone, Serialize, Deserialize)]
pub struct HybridLinkSecrets {
    pub link_secret: SecretBytes,
}

/// The identity key's sealed form. Wiped on drop; no `Debug`.
#[derive(Serialize, Deserialize)]
struct IdentitySecrets {
    scalar: SecretBytes,
}

/// Access to the hybrid links and the identity key.
pub struct HybridLinks<'v> {
    vault: &'v Vault,
}

fn check(head: &Head, id: &[u8], metadata: Option<&[u8]>) -> Result<(), VaultError> {
    head.check(&link_key(id), metadata, what())
}

fn to_i64(t: u64) -> i64 {
    i64::try_from(t).unwrap_or(i64::MAX)
}

type Row = (Vec<u8>, Vec<u8>, i64, i64);

impl<'v> HybridLinks<'v> {
    pub(super) fn new(vault: &'v Vault) -> Self {
        Self { vault }
    }

    /// The identity key's scalar, made by `make` and stored on first use (in one IMMEDIATE
    /// transaction: two callers get the same key).
    pub fn identity_or_insert(
        &self,
        make: impl FnOnce() -> Result<SecretBytes, VaultError>,
    ) -> Result<SecretBytes, VaultError> {
        let field = Field::new(IDENTITY_TABLE, "secrets", b"1");
        let cipher = self.vault.cipher();
        let sealed = self.vault.write_protected(|conn, head| {
            let row: Option<Vec<u8>> = conn
                .query_row("SELECT secrets FROM hybrid_identity WHERE id = 1", [], |r| {
                    r.get(0)
                })
                .optional()?;
            head.check(IDENTITY_KEY, row.as_deref(), IDENTITY_WHAT)?;
            if let Some(row) = row {
                return Ok(row);
            }
            let sealed = cipher.seal_cbor(field, &IdentitySecrets { scalar: make()? })?;
            conn.execute(
                "INSERT INTO hybrid_identity (id, secrets) VALUES (1, ?1)",
                [&sealed],
            )?;
            head.put(IDENTITY_KEY, Some(&sealed));
            Ok(sealed)
        })?;
        let identity: IdentitySecrets = cipher.open_cbor(field, &sealed)?;
        Ok(identity.scalar)
    }

    /// The identity key's scalar if one was made.
    #[cfg(any(test, feature = "testkit"))]
    pub fn identity(&self) -> Result<Option<SecretBytes>, VaultError> {
        let field = Field::new(IDENTITY_TABLE, "secrets", b"1");
        let sealed: Option<Vec<u8>> = self.vault.read_verified(|conn, head| {
            let row: Option<Vec<u8>> = conn
                .query_row("SELECT secrets FROM hybrid_identity WHERE id = 1", [], |r| {
                    r.get(0)
                })
                .optional()?;
            head.check(IDENTITY_KEY, row.as_deref(), IDENTITY_WHAT)?;
            Ok(row)
        })?;
        sealed
            .map(|s| {
                self.vault
                    .cipher()
                    .open_cbor::<IdentitySecrets>(field, &s)
                    .map(|i| i.scalar)
            })
            .transpose()
    }

    pub fn insert(&self, record: &HybridLink, secrets: &HybridLinkSecrets) -> Result<(), VaultError> {
        let cipher = self.vault.cipher();
        let id = &record.link_id;
        let metadata = cipher.seal_cbor(Field::new(TABLE, "metadata", id), record)?;
        let sealed = cipher.seal_cbor(Field::new(TABLE, "secrets", id), secrets)?;
        self.vault.write_protected(|conn, head| {
            check(head, id, None)?;
            conn.execute(
                "INSERT INTO hybrid_links (link_id, created_at, last_used_at, metadata, secrets)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    id,
                    to_i64(record.created_at),
                    to_i64(record.last_used_at),
                    metadata,
                    sealed
                ],
            )?;
            head.put(&link_key(id), Some(&metadata));
            Ok(())
        })
    }

    fn decode(&self, (id, sealed, created, used): Row) -> Result<HybridLink, VaultError> {
        let mut record: HybridLink = self
            .vault
            .cipher()
            .open_cbor(Field::new(TABLE, "metadata", &id), &sealed)?;
        record.created_at = u64::try_from(created).unwrap_or(0);
        record.last_used_at = u64::try_from(used).unwrap_or(0);
        Ok(record)
    }

    /// Linked browsers, most recently used first.
    pub fn list(&self) -> Result<Vec<HybridLink>, VaultError> {
        let rows = self.vault.read_verified(|conn, head| {
            let rows = conn
                .prepare_cached(
                    "SELECT link_id, metadata, created_at, last_used_at FROM hybrid_links
                     ORDER BY last_used_at DESC, link_id",
                )?
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
                .collect::<Result<Vec<Row>, _>>()?;
            for (id, metadata, _, _) in &rows {
                check(head, id, Some(metadata))?;
            }
            let known = head
                .records
                .keys()
                .filter(|k| k.starts_with(LINK_PREFIX))
                .count();
            if known != rows.len() {
                return Err(VaultError::Tampered {
                    what: format!("{} was deleted", what()),
                });
            }
            Ok(rows)
        })?;
        rows.into_iter().map(|row| self.decode(row)).collect()
    }

    /// The link and its secret, if the link id is known.
    pub fn get(
        &self,
        link_id: &[u8],
    ) -> Result<Option<(HybridLink, HybridLinkSecrets)>, VaultError> {
        let row: Option<(Row, Vec<u8>)> = self.vault.read_verified(|conn, head| {
            let row: Option<(Row, Vec<u8>)> = conn
                .query_row(
                    "SELECT metadata, created_at, last_used_at, secrets FROM hybrid_links
                     WHERE link_id = ?1",
                    [link_id],
                    |r| Ok(((link_id.to_vec(), r.get(0)?, r.get(1)?, r.get(2)?), r.get(3)?)),
                )
                .optional()?;
            check(head, link_id, row.as_ref().map(|r| r.0.1.as_slice()))?;
            Ok(row)
        })?;
        let Some((row, sealed)) = row else {
            return Ok(None);
        };
        let secrets: HybridLinkSecrets = self
            .vault
            .cipher()
            .open_cbor(Field::new(TABLE, "secrets", link_id), &sealed)?;
        Ok(Some((self.decode(row)?, secrets)))
    }

    /// Records that the link was used at `at`; false if it does not exist.
    pub fn touch(&self, link_id: &[u8], at: u64) -> Result<bool, VaultError> {
        self.vault.read(|conn| {
            Ok(conn.execute(
                "UPDATE hybrid_links SET last_used_at = max(last_used_at, ?1) WHERE link_id = ?2",
                params![to_i64(at), link_id],
            )? > 0)
        })
    }

    /// Forgets a linked browser (its row and secret are deleted); false if it was not linked.
    pub fn remove(&self, link_id: &[u8]) -> Result<bool, VaultError> {
        self.vault.write_protected(|conn, head| {
            let metadata: Option<Vec<u8>> = conn
                .query_row(
                    "SELECT metadata FROM hybrid_links WHERE link_id = ?1",
                    [link_id],
                    |r| r.get(0),
                )
                .optional()?;
            check(head, link_id, metadata.as_deref())?;
            head.put(&link_key(link_id), None);
            Ok(conn.execute("DELETE FROM hybrid_links WHERE link_id = ?1", [link_id])? > 0)
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    //! What someone who can write the vault's file can do to links: nothing but be refused.
    use super::*;
    use crate::testkit::TestProtector;

    fn link(id: u8) -> (HybridLink, HybridLinkSecrets) {
        (
            HybridLink {
                link_id: vec![id; 8],
                contact_id: vec![0xC0; 16],
                name: "Work laptop".into(),
                browser_public_key: vec![0x02; 33],
                created_at: 10,
                last_used_at: 10,
            },
            HybridLinkSecrets {
                link_secret: SecretBytes::new(vec![0x5E; 32]),
            },
        )
    }

    fn raw(path: &std::path::Path, sql: &str) {
        rusqlite::Connection::open(path)
            .unwrap()
            .execute_batch(sql)
            .unwrap();
    }

    fn tampered(result: Result<Vault, VaultError>) -> String {
        match result {
            Err(VaultError::Tampered { what }) => what,
            Err(other) => panic!("expected Tampered, got {other}"),
            Ok(_) => panic!("expected Tampered, the vault opened"),
        }
    }

    #[test]
    fn links_and_the_identity_survive_reopening_and_never_show_in_debug() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.db");
        let protector = TestProtector::sealing();
        let vault = Vault::open(&path, &protector).unwrap();
        let (record, secrets) = link(1);
        vault.hybrid_links().insert(&record, &secrets).unwrap();
        let identity = vault
            .hybrid_links()
            .identity_or_insert(|| Ok(SecretBytes::new(vec![0x11; 32])))
            .unwrap();
        // A second call keeps the first key.
        let again = vault
            .hybrid_links()
            .identity_or_insert(|| Ok(SecretBytes::new(vec![0x22; 32])))
            .unwrap();
        assert!(identity == again);
        drop(vault);
        let vault = Vault::open(&path, &protector).unwrap();
        let (read, read_secrets) = vault.hybrid_links().get(&[1; 8]).unwrap().unwrap();
        assert_eq!(read, record);
        assert_eq!(read_secrets.link_secret.expose(), &[0x5E; 32]);
        assert_eq!(vault.hybrid_links().identity().unwrap().unwrap().expose(), &[0x11; 32]);
        let shown = format!("{read:?}");
        assert!(!shown.contains("Work laptop") && !shown.contains("192"), "{shown}");
        // Nothing identifying is stored in the clear: the name is not in the file.
        let bytes = std::fs::read(&path).unwrap();
        assert!(!bytes.windows(11).any(|w| w == b"Work laptop"));
    }

    #[test]
    fn a_removed_link_put_back_from_an_old_copy_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.db");
        let protector = TestProtector::sealing();
        let vault = Vault::open(&path, &protector).unwrap();
        let (record, secrets) = link(1);
        vault.hybrid_links().insert(&record, &secrets).unwrap();
        drop(vault);
        raw(&path, "CREATE TABLE saved AS SELECT * FROM hybrid_links;");
        let vault = Vault::open(&path, &protector).unwrap();
        assert!(vault.hybrid_links().remove(&[1; 8]).unwrap());
        assert!(!vault.hybrid_links().remove(&[1; 8]).unwrap());
        drop(vault);
        raw(&path, "INSERT INTO hybrid_links SELECT * FROM saved; DROP TABLE saved;");
        assert_eq!(
            tampered(Vault::open(&path, &protector)),
            "linked browser record was added from outside the app"
        );
    }

    #[test]
    fn a_deleted_link_or_identity_row_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.db");
        let protector = TestProtector::sealing();
        let vault = Vault::open(&path, &protector).unwrap();
        let (record, secrets) = link(1);
        vault.hybrid_links().insert(&record, &secrets).unwrap();
        vault
            .hybrid_links()
            .identity_or_insert(|| Ok(SecretBytes::new(vec![0x11; 32])))
            .unwrap();
        drop(vault);
        raw(&path, "CREATE TABLE saved AS SELECT * FROM hybrid_identity; DELETE FROM hybrid_identity;");
        assert_eq!(
            tampered(Vault::open(&path, &protector)),
            "the phone's linking identity key was deleted"
        );
        raw(&path, "INSERT INTO hybrid_identity SELECT * FROM saved; DELETE FROM hybrid_links;");
        assert_eq!(
            tampered(Vault::open(&path, &protector)),
            "linked browser record was deleted"
        );
    }

    #[test]
    fn a_link_row_moved_to_another_link_id_does_not_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.db");
        let protector = TestProtector::sealing();
        let vault = Vault::open(&path, &protector).unwrap();
        let (record, secrets) = link(1);
        vault.hybrid_links().insert(&record, &secrets).unwrap();
        drop(vault);
        // The sealed fields name their row: under another id they are foreign.
        raw(&path, "UPDATE hybrid_links SET link_id = x'0202020202020202';");
        assert!(matches!(
            Vault::open(&path, &protector),
            Err(VaultError::Tampered { .. })
        ));
    }
}
