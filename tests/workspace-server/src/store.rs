//! The emulator's durable part in SQLite: users (with their directory fields), SCIM groups
//! and settings (the SCIM bearer token). `serve --db FILE` keeps them in a file, so a restart
//! loses no user or group; without `--db` the database lives in memory.
//!
//! Write-through: `State` keeps its in-memory lists as the working copy and calls `save_*` /
//! `delete_*` after every change, inside the same lock, so the file never lags the answers
//! given. Assignments, grants and the outbox are not stored (a restarted emulator's users
//! have no key; the admin assigns again). Rows keep insertion order through `seq`.
//!
//! Whoever can write the file can add, change or remove users and replace the SCIM token;
//! the emulator trusts its own file (it is a test double on loopback).

use rusqlite::{Connection, OptionalExtension, params};

use crate::error::ApiError;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS users (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    email TEXT NOT NULL,
    display_name TEXT NOT NULL,
    groups TEXT NOT NULL,
    source TEXT NOT NULL,
    external_id TEXT,
    user_name TEXT NOT NULL,
    given_name TEXT,
    family_name TEXT,
    formatted TEXT,
    email_type TEXT,
    email_primary INTEGER,
    active INTEGER NOT NULL,
    created_ms INTEGER NOT NULL,
    modified_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS scim_groups (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    external_id TEXT,
    members TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    modified_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS settings (name TEXT PRIMARY KEY, value TEXT NOT NULL);
";

/// A user's stored fields (`state::User` without its key pointer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRow {
    pub id: String,
    pub email: String,
    pub display_name: String,
    pub groups: Vec<String>,
    /// `admin`, `csv` or `scim`: how the user came in (or was last claimed).
    pub source: String,
    pub external_id: Option<String>,
    pub user_name: String,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    /// `name.formatted` as the directory sent it.
    pub formatted: Option<String>,
    /// The email's `type` as the directory sent it (Entra: `work`).
    pub email_type: Option<String>,
    /// The email's `primary` as the directory sent it.
    pub email_primary: Option<bool>,
    pub active: bool,
    pub created_ms: u64,
    pub modified_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRow {
    pub id: String,
    pub display_name: String,
    pub external_id: Option<String>,
    /// User ids, in the order they were added.
    pub members: Vec<String>,
    pub created_ms: u64,
    pub modified_ms: u64,
}

pub struct Store {
    conn: Connection,
}

fn db_error(e: rusqlite::Error) -> ApiError {
    ApiError::internal(format!("user database: {e}"))
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn list(json: &str) -> Vec<String> {
    serde_json::from_str(json).unwrap_or_default()
}

fn text(items: &[String]) -> String {
    serde_json::Value::from(items.to_vec()).to_string()
}

impl Store {
    /// Opens (creating if needed) the database at `path`, or an in-memory one.
    pub fn open(path: Option<&std::path::Path>) -> Result<Self, ApiError> {
        let conn = match path {
            Some(p) => Connection::open(p),
            None => Connection::open_in_memory(),
        }
        .map_err(db_error)?;
        conn.execute_batch(SCHEMA).map_err(db_error)?;
        Ok(Self { conn })
    }

    pub fn users(&self) -> Result<Vec<UserRow>, ApiError> {
        let mut statement = self
            .conn
            .prepare(
                "SELECT id, email, display_name, groups, source, external_id, user_name, \
                 given_name, family_name, active, created_ms, modified_ms, formatted, email_type, \
                 email_primary FROM users ORDER BY seq",
            )
            .map_err(db_error)?;
        let rows = statement
            .query_map([], |r| {
                Ok(UserRow {
                    id: r.get(0)?,
                    email: r.get(1)?,
                    display_name: r.get(2)?,
                    groups: list(&r.get::<_, String>(3)?),
                    source: r.get(4)?,
                    external_id: r.get(5)?,
                    user_name: r.get(6)?,
                    given_name: r.get(7)?,
                    family_name: r.get(8)?,
                    active: r.get(9)?,
                    created_ms: u64::try_from(r.get::<_, i64>(10)?).unwrap_or(0),
                    modified_ms: u64::try_from(r.get::<_, i64>(11)?).unwrap_or(0),
                    formatted: r.get(12)?,
                    email_type: r.get(13)?,
                    email_primary: r.get(14)?,
                })
            })
            .map_err(db_error)?;
        rows.collect::<Result<_, _>>().map_err(db_error)
    }

    pub fn save_user(&self, user: &UserRow) -> Result<(), ApiError> {
        self.conn
            .execute(
                "INSERT INTO users (id, email, display_name, groups, source, external_id, \
                 user_name, given_name, family_name, active, created_ms, modified_ms, formatted, \
                 email_type, email_primary) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15) \
                 ON CONFLICT(id) DO UPDATE SET email = ?2, display_name = ?3, groups = ?4, \
                 source = ?5, external_id = ?6, user_name = ?7, given_name = ?8, \
                 family_name = ?9, active = ?10, created_ms = ?11, modified_ms = ?12, \
                 formatted = ?13, email_type = ?14, email_primary = ?15",
                params![
                    user.id,
                    user.email,
                    user.display_name,
                    text(&user.groups),
                    user.source,
                    user.external_id,
                    user.user_name,
                    user.given_name,
                    user.family_name,
                    user.active,
                    to_i64(user.created_ms),
                    to_i64(user.modified_ms),
                    user.formatted,
                    user.email_type,
                    user.email_primary,
                ],
            )
            .map(|_| ())
            .map_err(db_error)
    }

    pub fn delete_user(&self, id: &str) -> Result<(), ApiError> {
        self.conn
            .execute("DELETE FROM users WHERE id = ?1", [id])
            .map(|_| ())
            .map_err(db_error)
    }

    pub fn groups(&self) -> Result<Vec<GroupRow>, ApiError> {
        let mut statement = self
            .conn
            .prepare(
                "SELECT id, display_name, external_id, members, created_ms, modified_ms \
                 FROM scim_groups ORDER BY seq",
            )
            .map_err(db_error)?;
        let rows = statement
            .query_map([], |r| {
                Ok(GroupRow {
                    id: r.get(0)?,
                    display_name: r.get(1)?,
                    external_id: r.get(2)?,
                    members: list(&r.get::<_, String>(3)?),
                    created_ms: u64::try_from(r.get::<_, i64>(4)?).unwrap_or(0),
                    modified_ms: u64::try_from(r.get::<_, i64>(5)?).unwrap_or(0),
                })
            })
            .map_err(db_error)?;
        rows.collect::<Result<_, _>>().map_err(db_error)
    }

    pub fn save_group(&self, group: &GroupRow) -> Result<(), ApiError> {
        self.conn
            .execute(
                "INSERT INTO scim_groups (id, display_name, external_id, members, created_ms, \
                 modified_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
                 ON CONFLICT(id) DO UPDATE SET display_name = ?2, external_id = ?3, \
                 members = ?4, created_ms = ?5, modified_ms = ?6",
                params![
                    group.id,
                    group.display_name,
                    group.external_id,
                    text(&group.members),
                    to_i64(group.created_ms),
                    to_i64(group.modified_ms),
                ],
            )
            .map(|_| ())
            .map_err(db_error)
    }

    pub fn delete_group(&self, id: &str) -> Result<(), ApiError> {
        self.conn
            .execute("DELETE FROM scim_groups WHERE id = ?1", [id])
            .map(|_| ())
            .map_err(db_error)
    }

    pub fn setting(&self, name: &str) -> Result<Option<String>, ApiError> {
        self.conn
            .query_row("SELECT value FROM settings WHERE name = ?1", [name], |r| {
                r.get(0)
            })
            .optional()
            .map_err(db_error)
    }

    pub fn set_setting(&self, name: &str, value: &str) -> Result<(), ApiError> {
        self.conn
            .execute(
                "INSERT INTO settings (name, value) VALUES (?1, ?2) \
                 ON CONFLICT(name) DO UPDATE SET value = ?2",
                [name, value],
            )
            .map(|_| ())
            .map_err(db_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: &str, email: &str) -> UserRow {
        UserRow {
            id: id.into(),
            email: email.into(),
            display_name: "A".into(),
            groups: vec!["Everyone".into()],
            source: "admin".into(),
            external_id: None,
            user_name: email.into(),
            given_name: None,
            family_name: None,
            formatted: None,
            email_type: None,
            email_primary: None,
            active: true,
            created_ms: 1,
            modified_ms: 1,
        }
    }

    #[test]
    fn a_reopened_file_has_the_same_rows_in_order() {
        let dir = std::env::temp_dir().join(format!("ws-store-{}", std::process::id()));
        let _ = std::fs::remove_file(&dir);
        {
            let store = Store::open(Some(&dir)).unwrap();
            store.save_user(&user("u1", "a@x.io")).unwrap();
            store.save_user(&user("u2", "b@x.io")).unwrap();
            let mut changed = user("u1", "a@x.io");
            changed.display_name = "Changed".into();
            store.save_user(&changed).unwrap();
            store.delete_user("u2").unwrap();
            store.save_user(&user("u3", "c@x.io")).unwrap();
            store.set_setting("scim_token", "t1").unwrap();
        }
        let store = Store::open(Some(&dir)).unwrap();
        let users = store.users().unwrap();
        assert_eq!(
            users.iter().map(|u| u.id.as_str()).collect::<Vec<_>>(),
            ["u1", "u3"]
        );
        assert_eq!(users[0].display_name, "Changed");
        assert_eq!(store.setting("scim_token").unwrap().as_deref(), Some("t1"));
        std::fs::remove_file(&dir).unwrap();
    }
}
