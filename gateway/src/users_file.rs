//! The registrar's users file: one user a line, `user:realm:ha1-md5:ha1-sha256`.
//!
//! Only H(A1) (RFC 7616 §3.4.2: H(unq(username) ":" unq(realm) ":" passwd))
//! is stored, for MD5 and SHA-256, so the file holds no password; a leaked
//! file still lets its reader answer challenges for that realm, so it is
//! created readable by its owner only. `#` starts a comment line.

use std::collections::HashMap;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use parley_sip::auth::server::UserHashes;

/// What is wrong with a users file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UsersError {
    /// The file cannot be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A line is not `user:realm:32 hex:64 hex`.
    #[error("{path}:{line}: {reason}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// A username or realm that cannot be stored in a line.
    #[error("{0} must be non-empty, without ':' or control characters")]
    BadName(&'static str),
}

impl UsersError {
    /// A short stable name for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Io { .. } => "io",
            Self::Syntax { .. } => "syntax",
            Self::BadName(_) => "bad_name",
        }
    }
}

/// The users of a file, by (username, realm).
#[derive(Clone, Default)]
pub struct UsersFile {
    users: HashMap<(String, String), UserHashes>,
}

impl fmt::Debug for UsersFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UsersFile({} users)", self.users.len())
    }
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn valid_name(s: &str) -> bool {
    !s.is_empty() && !s.contains(':') && !s.chars().any(char::is_control)
}

impl UsersFile {
    /// Reads `path`.
    pub fn load(path: &Path) -> Result<Self, UsersError> {
        let text = std::fs::read_to_string(path).map_err(|source| UsersError::Io {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parses the text of a users file; `path` only names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self, UsersError> {
        let mut users = HashMap::new();
        for (i, line) in text.lines().enumerate() {
            let syntax = |reason| UsersError::Syntax {
                path: path.to_owned(),
                line: i + 1,
                reason,
            };
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let fields: Vec<&str> = line.split(':').collect();
            let [user, realm, md5, sha256] = fields[..] else {
                return Err(syntax("expected user:realm:ha1-md5:ha1-sha256"));
            };
            if !valid_name(user) || !valid_name(realm) {
                return Err(syntax("empty user or realm"));
            }
            if !is_hex(md5, 32) || !is_hex(sha256, 64) {
                return Err(syntax(
                    "ha1-md5 must be 32 and ha1-sha256 64 lowercase hex digits",
                ));
            }
            let hashes = UserHashes {
                md5: md5.to_owned(),
                sha256: sha256.to_owned(),
            };
            if users
                .insert((user.to_owned(), realm.to_owned()), hashes)
                .is_some()
            {
                return Err(syntax("this user and realm already appear above"));
            }
        }
        Ok(Self { users })
    }

    /// The hashes of `user` in `realm`.
    pub fn get(&self, user: &str, realm: &str) -> Option<&UserHashes> {
        self.users.get(&(user.to_owned(), realm.to_owned()))
    }

    /// Whether `user` has an entry in `realm`.
    pub fn contains(&self, user: &str, realm: &str) -> bool {
        self.get(user, realm).is_some()
    }

    /// Every (username, realm), sorted.
    pub fn names(&self) -> Vec<(String, String)> {
        let mut names: Vec<_> = self.users.keys().cloned().collect();
        names.sort();
        names
    }

    /// How many entries.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }
}

/// Adds `user` in `realm` with `password` to the file at `path`, replacing
/// the line of the same user and realm; creates the file (mode 0600) if
/// absent. Other lines, comments included, are kept as they are. The file is
/// replaced by a rename, so a reader never sees half of it.
pub fn add_user(path: &Path, user: &str, realm: &str, password: &str) -> Result<(), UsersError> {
    if !valid_name(user) {
        return Err(UsersError::BadName("the username"));
    }
    if !valid_name(realm) {
        return Err(UsersError::BadName("the realm"));
    }
    let io = |source| UsersError::Io {
        path: path.to_owned(),
        source,
    };
    let old = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(io(e)),
    };
    // Refuse to rewrite a file we could not read back.
    UsersFile::parse(&old, path)?;
    let h = UserHashes::from_password(user, realm, password);
    let (mut out, _) = without_user(&old, user, realm);
    out.push_str(&format!("{user}:{realm}:{}:{}\n", h.md5, h.sha256));
    replace(path, &out)
}

/// Removes the line of `user` in `realm` from the file at `path`, keeping
/// the others as they are; whether there was one. A file that does not
/// parse is left alone.
pub fn remove_user(path: &Path, user: &str, realm: &str) -> Result<bool, UsersError> {
    let old = std::fs::read_to_string(path).map_err(|source| UsersError::Io {
        path: path.to_owned(),
        source,
    })?;
    UsersFile::parse(&old, path)?;
    let (out, removed) = without_user(&old, user, realm);
    if removed {
        replace(path, &out)?;
    }
    Ok(removed)
}

/// `text` without the line of `user` in `realm`; whether it had one.
fn without_user(text: &str, user: &str, realm: &str) -> (String, bool) {
    let prefix = format!("{user}:{realm}:");
    let mut out = String::with_capacity(text.len() + 128);
    let mut removed = false;
    for line in text.lines() {
        if line.trim().starts_with(&prefix) {
            removed = true;
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    (out, removed)
}

/// Writes `out` to a new file beside `path` and renames it over `path`.
fn replace(path: &Path, out: &str) -> Result<(), UsersError> {
    let io = |source| UsersError::Io {
        path: path.to_owned(),
        source,
    };
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile_in(dir, path).map_err(io)?;
    tmp.1.write_all(out.as_bytes()).map_err(io)?;
    tmp.1.sync_all().map_err(io)?;
    std::fs::rename(&tmp.0, path).map_err(io)?;
    Ok(())
}

/// A new file next to `path`, readable by its owner only.
fn tempfile_in(dir: &Path, path: &Path) -> std::io::Result<(PathBuf, std::fs::File)> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options.open(&tmp)?;
    Ok((tmp, file))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn added_user_is_read_back_with_rfc7616_ha1_values() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("users");
        add_user(&path, "Mufasa", "http-auth@example.org", "Circle of Life").expect("added");
        let text = std::fs::read_to_string(&path).expect("read");
        // `printf %s 'Mufasa:http-auth@example.org:Circle of Life' | md5sum` and sha256sum.
        assert_eq!(
            text,
            "Mufasa:http-auth@example.org:3d78807defe7de2157e2b0b6573a855f:\
             7987c64c30e25f1b74be53f966b49b90f2808aa92faf9a00262392d7b4794232\n"
        );
        assert!(!text.contains("Circle"));
        let users = UsersFile::load(&path).expect("loads");
        assert!(users.contains("Mufasa", "http-auth@example.org"));
        assert!(!users.contains("Mufasa", "other"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn adding_again_replaces_the_line_and_keeps_the_others() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("users");
        std::fs::write(&path, "# phones\n").expect("write");
        add_user(&path, "alice", "example.com", "one").expect("added");
        add_user(&path, "bob", "example.com", "two").expect("added");
        add_user(&path, "alice", "example.com", "three").expect("added");
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(text.starts_with("# phones\nbob:example.com:"));
        assert_eq!(text.lines().count(), 3);
        let users = UsersFile::load(&path).expect("loads");
        assert_eq!(users.len(), 2);
        assert_eq!(
            users.names(),
            vec![
                ("alice".to_owned(), "example.com".to_owned()),
                ("bob".to_owned(), "example.com".to_owned())
            ]
        );
        assert!(remove_user(&path, "bob", "example.com").expect("removed"));
        assert!(!remove_user(&path, "bob", "example.com").expect("absent"));
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(text.starts_with("# phones\nalice:example.com:"), "{text}");
        assert_eq!(UsersFile::load(&path).expect("loads").len(), 1);
        assert_eq!(
            users.get("alice", "example.com"),
            Some(&UserHashes::from_password("alice", "example.com", "three"))
        );
    }

    #[test]
    fn bad_lines_and_names_are_refused_with_their_line_number() {
        let p = Path::new("users");
        for (text, line) in [
            ("alice:example.com:abc:def\n", 1),
            ("# x\n\nalice:example.com\n", 3),
            (
                ":example.com:00000000000000000000000000000000:0000000000000000000000000000000000000000000000000000000000000000\n",
                1,
            ),
        ] {
            match UsersFile::parse(text, p) {
                Err(UsersError::Syntax { line: l, .. }) => assert_eq!(l, line, "{text}"),
                other => panic!("{text}: {other:?}"),
            }
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("users");
        assert_eq!(
            add_user(&path, "a:b", "example.com", "x")
                .map_err(|e| e.kind())
                .err(),
            Some("bad_name")
        );
        assert!(!path.exists());
        std::fs::write(&path, "garbage\n").expect("write");
        assert_eq!(
            add_user(&path, "alice", "example.com", "x")
                .map_err(|e| e.kind())
                .err(),
            Some("syntax")
        );
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "garbage\n");
    }
}
