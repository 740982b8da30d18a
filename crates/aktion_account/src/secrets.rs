//! Where the app keeps secrets (the account session token, provider API keys): the OS keychain
//! (macOS Keychain, Windows Credential Manager, the Secret Service on Linux) when there is one;
//! otherwise a file only the user may read, in the app's config folder, and the caller is told
//! so ([`Kept::File`]) to show it (PRODUCT.md §4.5). Secrets never go into project files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The keychain service name of every entry.
pub const SERVICE: &str = "aktion-studio";
/// The entry of the account session token.
pub const ACCOUNT_TOKEN: &str = "account-token";

/// Where a secret is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kept {
    Keychain,
    /// No keychain here: a file readable only by the user.
    File(PathBuf),
}

impl std::fmt::Display for Kept {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Keychain => f.write_str("the system keychain"),
            Self::File(p) => write!(
                f,
                "{} (no system keychain was found; the file is readable only by you)",
                p.display()
            ),
        }
    }
}

/// Why a secret could not be read, kept or deleted.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("the keychain: {0}")]
    Keychain(#[from] keyring::Error),
    #[error("{} is not readable ({source}); delete it and sign in again", path.display())]
    Unreadable {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The secret store of this machine.
#[derive(Debug, Clone)]
pub struct SecretStore {
    keychain: bool,
    file: PathBuf,
}

impl SecretStore {
    /// The keychain when it answers, else `dir/secrets.json`.
    pub fn open(dir: &Path) -> Self {
        let keychain = keyring::Entry::store_status().is_ok()
            && keyring::Entry::new(SERVICE, "probe").is_ok_and(|e| {
                // A locked or absent Secret Service fails here, not at start.
                matches!(e.get_password(), Ok(_) | Err(keyring::Error::NoEntry))
            });
        Self {
            keychain,
            file: dir.join("secrets.json"),
        }
    }

    /// Only the file under `dir` (tests; `AKTION_SECRETS=file`).
    pub fn file_only(dir: &Path) -> Self {
        Self {
            keychain: false,
            file: dir.join("secrets.json"),
        }
    }

    /// Where new secrets go.
    pub fn kept(&self) -> Kept {
        if self.keychain {
            Kept::Keychain
        } else {
            Kept::File(self.file.clone())
        }
    }

    pub fn get(&self, name: &str) -> Result<Option<String>, SecretError> {
        if self.keychain {
            let entry = keyring::Entry::new(SERVICE, name)?;
            return match entry.get_password() {
                Ok(v) => Ok(Some(v)),
                Err(keyring::Error::NoEntry) => Ok(None),
                Err(e) => Err(e.into()),
            };
        }
        Ok(self.read_file()?.remove(name))
    }

    pub fn set(&self, name: &str, value: &str) -> Result<Kept, SecretError> {
        if self.keychain {
            keyring::Entry::new(SERVICE, name).and_then(|e| e.set_password(value))?;
            return Ok(Kept::Keychain);
        }
        let mut all = self.read_file()?;
        all.insert(name.to_owned(), value.to_owned());
        self.write_file(&all)?;
        Ok(self.kept())
    }

    pub fn delete(&self, name: &str) -> Result<(), SecretError> {
        if self.keychain {
            return match keyring::Entry::new(SERVICE, name).and_then(|e| e.delete_credential()) {
                Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
                Err(e) => Err(e.into()),
            };
        }
        let mut all = self.read_file()?;
        if all.remove(name).is_some() {
            self.write_file(&all)?;
        }
        Ok(())
    }

    fn read_file(&self) -> Result<BTreeMap<String, String>, SecretError> {
        match std::fs::read(&self.file) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| SecretError::Unreadable {
                path: self.file.clone(),
                source,
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
            Err(source) => Err(self.io(source)),
        }
    }

    fn io(&self, source: std::io::Error) -> SecretError {
        SecretError::Io {
            path: self.file.clone(),
            source,
        }
    }

    /// Written to a temp file with owner-only permissions, then renamed over the old one.
    fn write_file(&self, all: &BTreeMap<String, String>) -> Result<(), SecretError> {
        let fail = |e: std::io::Error| self.io(e);
        if let Some(dir) = self.file.parent() {
            std::fs::create_dir_all(dir).map_err(fail)?;
        }
        let tmp = self.file.with_extension("json.tmp");
        let text = serde_json::to_vec_pretty(all).map_err(|e| fail(e.into()))?;
        {
            use std::io::Write as _;
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create(true).truncate(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt as _;
                options.mode(0o600);
            }
            let mut f = options.open(&tmp).map_err(fail)?;
            f.write_all(&text).map_err(fail)?;
            f.sync_all().map_err(fail)?;
        }
        std::fs::rename(&tmp, &self.file).map_err(fail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_fallback_keeps_secrets_private_and_says_where() {
        let dir = tempfile::tempdir().unwrap();
        let store = SecretStore::file_only(dir.path());
        assert_eq!(store.get(ACCOUNT_TOKEN).unwrap(), None);
        let kept = store.set(ACCOUNT_TOKEN, "tok-1").unwrap();
        assert_eq!(kept, Kept::File(dir.path().join("secrets.json")));
        assert!(kept.to_string().contains("no system keychain"));
        store.set("FAL_KEY", "fal-1").unwrap();
        assert_eq!(store.get(ACCOUNT_TOKEN).unwrap().as_deref(), Some("tok-1"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(dir.path().join("secrets.json"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "readable by the user only: {mode:o}");
        }
        store.delete(ACCOUNT_TOKEN).unwrap();
        store.delete(ACCOUNT_TOKEN).unwrap();
        assert_eq!(store.get(ACCOUNT_TOKEN).unwrap(), None);
        assert_eq!(store.get("FAL_KEY").unwrap().as_deref(), Some("fal-1"));
        // A damaged file is reported, not overwritten silently.
        std::fs::write(dir.path().join("secrets.json"), b"{broken").unwrap();
        let err = store.get("FAL_KEY").unwrap_err();
        assert!(matches!(err, SecretError::Unreadable { .. }), "{err:?}");
        assert!(err.to_string().contains("not readable"));
    }

    #[test]
    fn whichever_store_this_machine_has_round_trips() {
        // CI and Xvfb usually have no Secret Service (the file is used); a desktop has one.
        let dir = tempfile::tempdir().unwrap();
        let store = SecretStore::open(dir.path());
        let name = format!("test-{}", std::process::id());
        let kept = store.set(&name, "value-1").unwrap();
        assert_eq!(kept, store.kept());
        assert_eq!(store.get(&name).unwrap().as_deref(), Some("value-1"));
        store.delete(&name).unwrap();
        assert_eq!(store.get(&name).unwrap(), None);
    }
}
