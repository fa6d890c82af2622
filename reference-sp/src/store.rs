//! SQLite storage: settings, the IdP connection, users, sessions, outstanding requests and the
//! replay cache. The schema is created and migrated at start (`schema_version`).

use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard, PoisonError};

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension as _, params};

use crate::connection::Connection;
use crate::decrypt::KeyPurpose;
use crate::settings::Settings;

/// Where the database lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Database {
    /// In memory (tests, the harness's in-process runs).
    Memory,
    /// A file.
    File(PathBuf),
}

/// A stored key: (PKCS#8 DER, certificate DER).
pub type StoredKey = (Vec<u8>, Vec<u8>);

/// Ordered migrations; the index + 1 is the schema version after it.
const MIGRATIONS: &[&str] = &[
    "CREATE TABLE settings (id INTEGER PRIMARY KEY CHECK (id = 1), json TEXT NOT NULL);
     CREATE TABLE connection (id INTEGER PRIMARY KEY CHECK (id = 1), json TEXT NOT NULL);
     CREATE TABLE users (
        email TEXT PRIMARY KEY COLLATE NOCASE,
        role TEXT NOT NULL,
        password_hash BLOB,
        salt BLOB,
        api INTEGER NOT NULL DEFAULT 0,
        sso_user INTEGER NOT NULL DEFAULT 1,
        reset_required INTEGER NOT NULL DEFAULT 0,
        reset_token TEXT
     );
     CREATE TABLE sessions (
        id TEXT PRIMARY KEY,
        email TEXT NOT NULL,
        method TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        expires_at INTEGER
     );
     CREATE TABLE pending (
        request_id TEXT PRIMARY KEY,
        browser TEXT NOT NULL,
        relay TEXT NOT NULL UNIQUE,
        email TEXT,
        return_to TEXT NOT NULL,
        created_at INTEGER NOT NULL
     );
     CREATE TABLE replay (assertion_id TEXT PRIMARY KEY, until INTEGER NOT NULL);",
    // 2: who has signed in through SSO (turning SSO off sends them through a password reset);
    // lookups by browser and expiry.
    "ALTER TABLE users ADD COLUMN sso_used INTEGER NOT NULL DEFAULT 0;
     CREATE INDEX pending_browser ON pending (browser);
     CREATE INDEX replay_until ON replay (until);
     CREATE INDEX sessions_expires ON sessions (expires_at);",
    // 3: the SP's encryption key (PKCS#8 DER) and its certificate (DER), published in metadata.
    "CREATE TABLE encryption_key (id INTEGER PRIMARY KEY CHECK (id = 1), private_pkcs8 BLOB NOT NULL, cert BLOB NOT NULL);",
    // 4: Single Logout: the SP's signing key, the NameID and SessionIndex of SSO sessions (what
    // an IdP's LogoutRequest names), and the LogoutRequests this SP sent.
    "CREATE TABLE signing_key (id INTEGER PRIMARY KEY CHECK (id = 1), private_pkcs8 BLOB NOT NULL, cert BLOB NOT NULL);
     ALTER TABLE sessions ADD COLUMN name_id TEXT;
     ALTER TABLE sessions ADD COLUMN session_index TEXT;
     CREATE INDEX sessions_name_id ON sessions (name_id);
     CREATE TABLE logout_requests (request_id TEXT PRIMARY KEY, created_at INTEGER NOT NULL);",
];

/// The table that keeps the key for `purpose`.
fn key_table(purpose: KeyPurpose) -> &'static str {
    match purpose {
        KeyPurpose::Encryption => "encryption_key",
        KeyPurpose::Signing => "signing_key",
    }
}

/// A user.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct User {
    /// The email (unique, case-insensitive).
    pub email: String,
    /// `member`, `admin` or `api`.
    pub role: String,
    /// Whether the user has a password.
    pub has_password: bool,
    /// Whether the user may use basic auth on the API.
    pub api: bool,
    /// Whether the user must reset their password before password login.
    pub reset_required: bool,
    /// Whether the user has signed in through SSO.
    pub sso_used: bool,
}

/// A user row as stored (password hash and salt included), for snapshots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRow {
    email: String,
    role: String,
    password_hash: Option<Vec<u8>>,
    salt: Option<Vec<u8>>,
    api: bool,
    sso_used: bool,
    reset_required: bool,
}

/// A session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The user.
    pub email: String,
    /// `sso` or `password`.
    pub method: String,
    /// When it ends, if the IdP said.
    pub expires_at: Option<DateTime<Utc>>,
    /// For SSO sessions, what the IdP's assertion named (for Single Logout).
    pub sso: Option<SsoLink>,
}

/// What ties an SSO session to the IdP's: the assertion's NameID and SessionIndex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsoLink {
    /// The NameID value, exactly as asserted.
    pub name_id: String,
    /// The AuthnStatement's SessionIndex.
    pub session_index: Option<String>,
}

/// An outstanding AuthnRequest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    /// The request ID.
    pub request_id: String,
    /// The email the user typed, if any.
    pub email: Option<String>,
    /// Where to go after login.
    pub return_to: String,
}

/// A storage failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// SQLite failed.
    #[error("failed to use the database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The database file could not be created or made private.
    #[error("failed to create the database file {path} readable by its owner only: {error}")]
    Private {
        /// The database file.
        path: String,
        /// What failed.
        error: String,
    },
    /// The database was written by a newer reference-sp.
    #[error(
        "failed to open the database: its schema version {found} is newer than this reference-sp knows ({known})"
    )]
    TooNew {
        /// The stored version.
        found: i64,
        /// The newest version this build knows.
        known: usize,
    },
}

/// The database.
#[derive(Debug)]
pub struct Store {
    conn: Mutex<rusqlite::Connection>,
}

/// How long an AuthnRequest stays outstanding.
const PENDING_SECONDS: i64 = 600;

const USER_SELECT: &str =
    "SELECT email, role, password_hash IS NOT NULL, api, reset_required, sso_used FROM users";

fn user_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        email: r.get(0)?,
        role: r.get(1)?,
        has_password: r.get(2)?,
        api: r.get(3)?,
        reset_required: r.get(4)?,
        sso_used: r.get(5)?,
    })
}

fn ts(t: DateTime<Utc>) -> i64 {
    t.timestamp()
}

fn from_ts(t: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(t, 0)
}

/// PBKDF2-HMAC-SHA256 of a password.
pub fn hash_password(password: &str, salt: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; 32];
    // Only fails for an invalid digest or output length, neither of which can happen here.
    let _ = openssl::pkcs5::pbkdf2_hmac(
        password.as_bytes(),
        salt,
        10_000,
        openssl::hash::MessageDigest::sha256(),
        &mut out,
    );
    out
}

/// Creates the database file readable and writable by its owner only (0600: it holds the
/// SP's private keys, session ids and password hashes), or takes group and other access away
/// from an existing one. SQLite gives its journal files the database file's mode.
fn make_private(path: &std::path::Path) -> Result<(), StoreError> {
    use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
    let failed = |e: std::io::Error| StoreError::Private {
        path: path.display().to_string(),
        error: e.to_string(),
    };
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .map_err(failed)?;
    let mode = file.metadata().map_err(failed)?.permissions().mode();
    if mode & 0o077 != 0 {
        tracing::warn!(
            path = %path.display(),
            mode = format!("{:o}", mode & 0o777),
            "the database file was readable by others; making it 0600"
        );
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(failed)?;
    }
    Ok(())
}

impl Store {
    /// Opens (and creates or migrates) the database; a new database file is created 0600.
    pub fn open(database: &Database) -> Result<Self, StoreError> {
        let conn = match database {
            Database::Memory => rusqlite::Connection::open_in_memory()?,
            Database::File(path) => {
                make_private(path)?;
                rusqlite::Connection::open(path)?
            }
        };
        // Every statement is prepared once and kept (`prepare_cached`): the store has about 40,
        // and parsing SQL again on every request was a few percent of the SP's CPU.
        conn.set_prepared_statement_cache_capacity(64);
        conn.execute_batch("PRAGMA foreign_keys = ON; CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);")?;
        let version: i64 = conn
            .prepare_cached("SELECT version FROM schema_version")?
            .query_row([], |r| r.get(0))
            .optional()?
            .unwrap_or(0);
        let mut current = usize::try_from(version).unwrap_or(0);
        if current > MIGRATIONS.len() {
            return Err(StoreError::TooNew {
                found: version,
                known: MIGRATIONS.len(),
            });
        }
        while current < MIGRATIONS.len() {
            // Each migration and its version bump commit together, or not at all.
            let tx = conn.unchecked_transaction()?;
            tx.execute_batch(MIGRATIONS[current])?;
            current += 1;
            tx.prepare_cached("DELETE FROM schema_version")?
                .execute([])?;
            tx.prepare_cached("INSERT INTO schema_version (version) VALUES (?1)")?
                .execute(params![i64::try_from(current).unwrap_or(i64::MAX)])?;
            tx.commit()?;
        }
        Ok(Self {
            conn: Mutex::new(conn),
        })
    }

    fn db(&self) -> MutexGuard<'_, rusqlite::Connection> {
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The schema version.
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        Ok(self
            .db()
            .prepare_cached("SELECT version FROM schema_version")?
            .query_row([], |r| r.get(0))?)
    }

    /// The settings (defaults when none are stored).
    pub fn settings(&self) -> Result<Settings, StoreError> {
        let json: Option<String> = self
            .db()
            .prepare_cached("SELECT json FROM settings WHERE id = 1")?
            .query_row([], |r| r.get(0))
            .optional()?;
        Ok(json
            .and_then(|j| serde_json::from_str(&j).ok())
            .unwrap_or_default())
    }

    /// Stores the settings.
    pub fn set_settings(&self, settings: &Settings) -> Result<(), StoreError> {
        let json = serde_json::to_string(settings).unwrap_or_default();
        self.db().prepare_cached("INSERT INTO settings (id, json) VALUES (1, ?1) ON CONFLICT(id) DO UPDATE SET json = ?1")?.execute(params![json])?;
        Ok(())
    }

    /// The IdP connection.
    pub fn connection(&self) -> Result<Option<Connection>, StoreError> {
        let json: Option<String> = self
            .db()
            .prepare_cached("SELECT json FROM connection WHERE id = 1")?
            .query_row([], |r| r.get(0))
            .optional()?;
        Ok(json.and_then(|j| serde_json::from_str(&j).ok()))
    }

    /// Stores the IdP connection.
    pub fn set_connection(&self, connection: &Connection) -> Result<(), StoreError> {
        let json = serde_json::to_string(connection).unwrap_or_default();
        self.db().prepare_cached("INSERT INTO connection (id, json) VALUES (1, ?1) ON CONFLICT(id) DO UPDATE SET json = ?1")?.execute(params![json])?;
        Ok(())
    }

    /// The stored key for `purpose`: (PKCS#8 DER, certificate DER).
    pub fn key(&self, purpose: KeyPurpose) -> Result<Option<StoredKey>, StoreError> {
        Ok(self
            .db()
            .prepare_cached(&format!(
                "SELECT private_pkcs8, cert FROM {} WHERE id = 1",
                key_table(purpose)
            ))?
            .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?)
    }

    /// Stores the key for `purpose` (PKCS#8 DER) and its certificate (DER).
    pub fn set_key(
        &self,
        purpose: KeyPurpose,
        private_pkcs8: &[u8],
        cert: &[u8],
    ) -> Result<(), StoreError> {
        self.db().prepare_cached(&format!(
                "INSERT INTO {} (id, private_pkcs8, cert) VALUES (1, ?1, ?2) ON CONFLICT(id) DO UPDATE SET private_pkcs8 = ?1, cert = ?2",
                key_table(purpose)
            ))?.execute(params![private_pkcs8, cert])?;
        Ok(())
    }

    /// Creates or updates a user; `password` replaces the password when given.
    pub fn put_user(
        &self,
        email: &str,
        role: &str,
        password: Option<&str>,
        api: bool,
    ) -> Result<(), StoreError> {
        let credentials = password.map(|p| {
            let salt: [u8; 16] = rand::random();
            (salt, hash_password(p, &salt))
        });
        self.put_user_with(email, role, credentials.as_ref(), api)
    }

    /// Creates or updates a demo user ([`crate::DEMO_USERS`]) as [`Store::put_user`] does,
    /// except that the salt and hash of a password are computed once per process. Demo
    /// passwords are published (targets/reference-sp.toml), so a salt of each SP's own protects
    /// nothing, and the harness starts reference SPs by the dozen (a scenario that needs the
    /// SP to itself gets one of its own): hashing them again was 9 % of a catalogue run's CPU.
    pub fn put_demo_user(
        &self,
        email: &str,
        role: &str,
        password: Option<&str>,
        api: bool,
    ) -> Result<(), StoreError> {
        type Hashed = std::collections::HashMap<String, ([u8; 16], Vec<u8>)>;
        static HASHED: std::sync::LazyLock<Mutex<Hashed>> =
            std::sync::LazyLock::new(Default::default);
        let credentials = password.map(|p| {
            HASHED
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .entry(p.to_owned())
                .or_insert_with(|| {
                    let salt: [u8; 16] = rand::random();
                    (salt, hash_password(p, &salt))
                })
                .clone()
        });
        self.put_user_with(email, role, credentials.as_ref(), api)
    }

    fn put_user_with(
        &self,
        email: &str,
        role: &str,
        credentials: Option<&([u8; 16], Vec<u8>)>,
        api: bool,
    ) -> Result<(), StoreError> {
        let db = self.db();
        db.prepare_cached(
            "INSERT INTO users (email, role, api) VALUES (?1, ?2, ?3)
             ON CONFLICT(email) DO UPDATE SET role = ?2, api = ?3",
        )?
        .execute(params![email, role, api])?;
        if let Some((salt, hash)) = credentials {
            db.prepare_cached("UPDATE users SET password_hash = ?2, salt = ?3, reset_required = 0, reset_token = NULL WHERE email = ?1")?.execute(params![email, hash, salt.to_vec()])?;
        }
        Ok(())
    }

    /// Deletes a user; whether one existed.
    pub fn delete_user(&self, email: &str) -> Result<bool, StoreError> {
        Ok(self
            .db()
            .prepare_cached("DELETE FROM users WHERE email = ?1")?
            .execute(params![email])?
            > 0)
    }

    /// Every user.
    pub fn users(&self) -> Result<Vec<User>, StoreError> {
        let db = self.db();
        let mut stmt = db.prepare_cached(&format!("{USER_SELECT} ORDER BY email"))?;
        let rows = stmt.query_map([], user_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// One user (the email is matched case-insensitively).
    pub fn user(&self, email: &str) -> Result<Option<User>, StoreError> {
        Ok(self
            .db()
            .prepare_cached(&format!("{USER_SELECT} WHERE email = ?1"))?
            .query_row(params![email], user_from_row)
            .optional()?)
    }

    /// Notes that a user signed in through SSO.
    pub fn mark_sso_used(&self, email: &str) -> Result<(), StoreError> {
        self.db()
            .prepare_cached("UPDATE users SET sso_used = 1 WHERE email = ?1")?
            .execute(params![email])?;
        Ok(())
    }

    /// Every user row as stored, for [`Store::restore_users`].
    pub fn snapshot_users(&self) -> Result<Vec<UserRow>, StoreError> {
        let db = self.db();
        let mut stmt = db.prepare_cached(
            "SELECT email, role, password_hash, salt, api, sso_used, reset_required FROM users ORDER BY email",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(UserRow {
                email: r.get(0)?,
                role: r.get(1)?,
                password_hash: r.get(2)?,
                salt: r.get(3)?,
                api: r.get(4)?,
                sso_used: r.get(5)?,
                reset_required: r.get(6)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Replaces every user with a snapshot (the admin API's reset), in one transaction.
    pub fn restore_users(&self, rows: &[UserRow]) -> Result<(), StoreError> {
        let db = self.db();
        let tx = db.unchecked_transaction()?;
        tx.prepare_cached("DELETE FROM users")?.execute([])?;
        for u in rows {
            tx.prepare_cached("INSERT INTO users (email, role, password_hash, salt, api, sso_used, reset_required) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")?.execute(params![u.email, u.role, u.password_hash, u.salt, u.api, u.sso_used, u.reset_required])?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Whether the password is right.
    pub fn check_password(&self, email: &str, password: &str) -> Result<bool, StoreError> {
        type HashAndSalt = (Option<Vec<u8>>, Option<Vec<u8>>);
        let row: Option<HashAndSalt> = self
            .db()
            .prepare_cached("SELECT password_hash, salt FROM users WHERE email = ?1")?
            .query_row(params![email], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        Ok(match row {
            Some((Some(hash), Some(salt))) => {
                let computed = hash_password(password, &salt);
                hash.len() == computed.len() && openssl::memcmp::eq(&hash, &computed)
            }
            _ => false,
        })
    }

    /// SSO was turned off: former SSO users (who signed in through SSO, or belong to one of
    /// `sso_domains`) must set a new password before password login. API users keep theirs, and
    /// so do admins whose password stayed usable through the fallback. The emails marked.
    pub fn require_resets(
        &self,
        sso_domains: &[String],
        admin_password_fallback: bool,
    ) -> Result<Vec<String>, StoreError> {
        let marked: Vec<String> = self
            .users()?
            .into_iter()
            .filter(|u| u.sso_used || crate::settings::Settings::domain_in(&u.email, sso_domains))
            .filter(|u| !u.api)
            .filter(|u| !(u.role == "admin" && u.has_password && admin_password_fallback))
            .map(|u| u.email)
            .collect();
        let db = self.db();
        for email in &marked {
            db.prepare_cached("UPDATE users SET reset_required = 1 WHERE email = ?1")?
                .execute(params![email])?;
        }
        Ok(marked)
    }

    /// Issues a password reset token.
    pub fn reset_token(&self, email: &str) -> Result<Option<String>, StoreError> {
        let token = crate::random_token();
        let n = self
            .db()
            .prepare_cached("UPDATE users SET reset_token = ?2 WHERE email = ?1")?
            .execute(params![email, token])?;
        Ok((n > 0).then_some(token))
    }

    /// Uses a reset token; the email it was for.
    pub fn use_reset_token(
        &self,
        token: &str,
        password: &str,
    ) -> Result<Option<String>, StoreError> {
        let email: Option<String> = self
            .db()
            .prepare_cached("SELECT email FROM users WHERE reset_token = ?1")?
            .query_row(params![token], |r| r.get(0))
            .optional()?;
        if let Some(e) = &email {
            let salt: [u8; 16] = rand::random();
            self.db().prepare_cached("UPDATE users SET password_hash = ?2, salt = ?3, reset_required = 0, reset_token = NULL WHERE email = ?1")?.execute(params![e, hash_password(password, &salt), salt.to_vec()])?;
        }
        Ok(email)
    }

    /// Starts a session; returns its id.
    pub fn create_session(
        &self,
        email: &str,
        method: &str,
        now: DateTime<Utc>,
        expires_at: Option<DateTime<Utc>>,
        sso: Option<&SsoLink>,
    ) -> Result<String, StoreError> {
        let id = crate::random_token();
        let db = self.db();
        db.prepare_cached(
            "DELETE FROM sessions WHERE expires_at IS NOT NULL AND expires_at <= ?1",
        )?
        .execute(params![ts(now)])?;
        db.prepare_cached("INSERT INTO sessions (id, email, method, created_at, expires_at, name_id, session_index) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")?.execute(params![
                id,
                email,
                method,
                ts(now),
                expires_at.map(ts),
                sso.map(|s| s.name_id.as_str()),
                sso.and_then(|s| s.session_index.as_deref())
            ])?;
        Ok(id)
    }

    /// A live session.
    pub fn session(&self, id: &str, now: DateTime<Utc>) -> Result<Option<Session>, StoreError> {
        type Row = (String, String, Option<i64>, Option<String>, Option<String>);
        let row: Option<Row> = self
            .db()
            .prepare_cached("SELECT email, method, expires_at, name_id, session_index FROM sessions WHERE id = ?1")?.query_row(params![id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
            .optional()?;
        Ok(
            row.and_then(|(email, method, expires, name_id, session_index)| {
                let expires_at = expires.and_then(from_ts);
                match expires_at {
                    Some(t) if t <= now => None,
                    _ => Some(Session {
                        email,
                        method,
                        expires_at,
                        sso: name_id.map(|name_id| SsoLink {
                            name_id,
                            session_index,
                        }),
                    }),
                }
            }),
        )
    }

    /// Ends a session.
    pub fn end_session(&self, id: &str) -> Result<(), StoreError> {
        self.db()
            .prepare_cached("DELETE FROM sessions WHERE id = ?1")?
            .execute(params![id])?;
        Ok(())
    }

    /// Ends the SSO sessions an IdP's LogoutRequest names: NameID `name_id` and, when the
    /// request lists any, one of `session_indexes`. Returns the ids of the sessions ended.
    pub fn end_sso_sessions(
        &self,
        name_id: &str,
        session_indexes: &[String],
    ) -> Result<Vec<String>, StoreError> {
        let db = self.db();
        let mut query = db.prepare_cached(
            "SELECT id, session_index FROM sessions WHERE method = 'sso' AND name_id = ?1",
        )?;
        let rows = query
            .query_map(params![name_id], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        let ended: Vec<String> = rows
            .into_iter()
            .filter(|(_, index)| {
                session_indexes.is_empty()
                    || index.as_ref().is_some_and(|i| session_indexes.contains(i))
            })
            .map(|(id, _)| id)
            .collect();
        for id in &ended {
            db.prepare_cached("DELETE FROM sessions WHERE id = ?1")?
                .execute(params![id])?;
        }
        Ok(ended)
    }

    /// Records a LogoutRequest this SP sent (forgetting those older than ten minutes).
    pub fn add_logout_request(&self, id: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
        let db = self.db();
        db.prepare_cached("DELETE FROM logout_requests WHERE created_at < ?1")?
            .execute(params![ts(now - chrono::Duration::minutes(10))])?;
        db.prepare_cached(
            "INSERT OR REPLACE INTO logout_requests (request_id, created_at) VALUES (?1, ?2)",
        )?
        .execute(params![id, ts(now)])?;
        Ok(())
    }

    /// Takes a LogoutRequest this SP sent: whether it was outstanding (each answers once).
    pub fn take_logout_request(&self, id: &str) -> Result<bool, StoreError> {
        Ok(self
            .db()
            .prepare_cached("DELETE FROM logout_requests WHERE request_id = ?1")?
            .execute(params![id])?
            == 1)
    }

    /// Records an outstanding request.
    pub fn add_pending(
        &self,
        browser: &str,
        relay: &str,
        pending: &Pending,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let db = self.db();
        db.prepare_cached("DELETE FROM pending WHERE created_at <= ?1")?
            .execute(params![ts(now) - PENDING_SECONDS])?;
        db.prepare_cached("INSERT INTO pending (request_id, browser, relay, email, return_to, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")?.execute(params![pending.request_id, browser, relay, pending.email, pending.return_to, ts(now)])?;
        Ok(())
    }

    /// The request ids a browser has outstanding (issued in the last 10 minutes).
    pub fn outstanding(
        &self,
        browser: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<String>, StoreError> {
        let db = self.db();
        let mut stmt = db.prepare_cached(
            "SELECT request_id FROM pending WHERE browser = ?1 AND created_at > ?2",
        )?;
        let rows = stmt.query_map(params![browser, ts(now) - PENDING_SECONDS], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The outstanding request a RelayState token belongs to, for this browser.
    pub fn pending_by_relay(
        &self,
        browser: &str,
        relay: &str,
    ) -> Result<Option<String>, StoreError> {
        Ok(self
            .db()
            .prepare_cached("SELECT request_id FROM pending WHERE browser = ?1 AND relay = ?2")?
            .query_row(params![browser, relay], |r| r.get(0))
            .optional()?)
    }

    /// Consumes an outstanding request of this browser, once: `None` when it is unknown, of
    /// another browser, or already consumed (two concurrent posts cannot both take it).
    pub fn take_pending(
        &self,
        browser: &str,
        request_id: &str,
    ) -> Result<Option<Pending>, StoreError> {
        let db = self.db();
        let row: Option<(Option<String>, String)> = db
            .prepare_cached("DELETE FROM pending WHERE request_id = ?1 AND browser = ?2 RETURNING email, return_to")?.query_row(params![request_id, browser],
                |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        Ok(row.map(|(email, return_to)| Pending {
            request_id: request_id.to_owned(),
            email,
            return_to,
        }))
    }

    /// Records an assertion id; `false` when it was already there (a replay).
    pub fn remember_assertion(
        &self,
        id: &str,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let db = self.db();
        db.prepare_cached("DELETE FROM replay WHERE until < ?1")?
            .execute(params![ts(now)])?;
        let n = db
            .prepare_cached("INSERT OR IGNORE INTO replay (assertion_id, until) VALUES (?1, ?2)")?
            .execute(params![id, ts(until)])?;
        Ok(n == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_is_created_and_state_round_trips() {
        let s = Store::open(&Database::Memory).expect("open");
        assert_eq!(s.schema_version().expect("v"), MIGRATIONS.len() as i64);
        s.put_user("a@x.test", "admin", Some("pw"), false)
            .expect("user");
        assert!(s.check_password("A@x.test", "pw").expect("check"));
        assert!(!s.check_password("a@x.test", "nope").expect("check"));
        let now = Utc::now();
        assert!(
            s.remember_assertion("_1", now + chrono::Duration::minutes(5), now)
                .expect("r")
        );
        assert!(
            !s.remember_assertion("_1", now + chrono::Duration::minutes(5), now)
                .expect("r")
        );
        let id = s
            .create_session(
                "a@x.test",
                "sso",
                now,
                Some(now - chrono::Duration::seconds(1)),
                None,
            )
            .expect("s");
        assert_eq!(
            s.session(&id, now).expect("q"),
            None,
            "an expired session is gone"
        );
    }

    #[test]
    fn demo_passwords_are_hashed_once_per_process_and_check_in_every_store() {
        let stored = |s: &Store| -> (Vec<u8>, Vec<u8>) {
            s.db()
                .query_row(
                    "SELECT password_hash, salt FROM users WHERE email = 'd@x.test'",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .expect("row")
        };
        let (one, two) = (
            Store::open(&Database::Memory).expect("open"),
            Store::open(&Database::Memory).expect("open"),
        );
        for s in [&one, &two] {
            s.put_demo_user("d@x.test", "member", Some("demo-pw-test"), false)
                .expect("user");
            assert!(s.check_password("d@x.test", "demo-pw-test").expect("check"));
            assert!(!s.check_password("d@x.test", "other").expect("check"));
        }
        assert_eq!(stored(&one), stored(&two), "hashed once, for both");
        // An ordinary user's password gets a salt of its own.
        two.put_user("d@x.test", "member", Some("demo-pw-test"), false)
            .expect("user");
        assert!(
            two.check_password("d@x.test", "demo-pw-test")
                .expect("check")
        );
        assert_ne!(stored(&one).1, stored(&two).1);
    }

    #[test]
    fn a_file_database_keeps_its_schema_across_opens() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Database::File(dir.path().join("sp.sqlite"));
        Store::open(&db)
            .expect("first")
            .put_user("a@x.test", "member", None, false)
            .expect("u");
        let again = Store::open(&db).expect("second");
        assert_eq!(again.users().expect("users").len(), 1);
    }

    #[test]
    fn the_database_and_its_journals_are_readable_by_their_owner_only() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().expect("tempdir");
        let mode = |p: &std::path::Path| {
            std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777
        };
        let fresh = dir.path().join("sp.sqlite");
        {
            let store = Store::open(&Database::File(fresh.clone())).expect("open");
            store
                .put_user("a@x.test", "member", Some("pw"), false)
                .expect("u");
            // Every file SQLite made beside it (journals) while open, too.
            for entry in std::fs::read_dir(dir.path()).expect("dir") {
                let path = entry.expect("entry").path();
                assert_eq!(mode(&path), 0o600, "{}", path.display());
            }
        }
        assert_eq!(mode(&fresh), 0o600, "a new database (before: 0644)");
        // One made 0644 by an older reference-sp is made private.
        let old = dir.path().join("old.sqlite");
        std::fs::write(&old, b"").expect("write");
        std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        Store::open(&Database::File(old.clone())).expect("open");
        assert_eq!(mode(&old), 0o600);
    }
}
