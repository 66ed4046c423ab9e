//! `store.url`, a secret in part: the password it may hold never reaches a
//! log line or a printed config.

use std::fmt;

use serde::{Deserialize, Serialize, Serializer};

/// `store.url`: a PostgreSQL URL, or empty for the embedded store. Its password
/// never appears in logs or printed configs ([`StoreUrl::masked`]).
#[derive(Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct StoreUrl(String);

impl StoreUrl {
    /// The URL itself, for the one place that connects.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the embedded store is meant (the key is empty).
    pub fn is_embedded(&self) -> bool {
        self.0.is_empty()
    }

    /// The URL with its password (in the user part or a `password=` option) replaced by `***`.
    pub fn masked(&self) -> String {
        let url = &self.0;
        let (head, query) = match url.split_once('?') {
            Some((head, query)) => (head, Some(query)),
            None => (url.as_str(), None),
        };
        let mut out = match head.split_once("://") {
            Some((scheme, rest)) => {
                let (authority, path) = match rest.find('/') {
                    Some(i) => rest.split_at(i),
                    None => (rest, ""),
                };
                match authority.rsplit_once('@') {
                    Some((user_info, host)) => {
                        let user = match user_info.split_once(':') {
                            Some((user, _password)) => format!("{user}:***"),
                            None => user_info.to_owned(),
                        };
                        format!("{scheme}://{user}@{host}{path}")
                    }
                    None => head.to_owned(),
                }
            }
            None => head.to_owned(),
        };
        if let Some(query) = query {
            let options: Vec<String> = query
                .split('&')
                .map(|option| match option.split_once('=') {
                    Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
                    _ => option.to_owned(),
                })
                .collect();
            out.push('?');
            out.push_str(&options.join("&"));
        }
        out
    }

    /// Empty, or a URL sqlx's PostgreSQL driver accepts.
    pub(crate) fn check(&self) -> Result<(), String> {
        if self.0.is_empty() {
            return Ok(());
        }
        if !(self.0.starts_with("postgres://") || self.0.starts_with("postgresql://")) {
            return Err(format!(
                "{}: expected empty (the embedded SQLite store) or a postgres:// URL",
                self.masked()
            ));
        }
        self.0
            .parse::<sqlx::postgres::PgConnectOptions>()
            .map(|_| ())
            .map_err(|e| format!("{}: {e}", self.masked()))
    }
}

impl fmt::Debug for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

impl fmt::Display for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

impl Serialize for StoreUrl {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.masked())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_url_masks_the_password_wherever_it_is() {
        let masked = |url: &str| StoreUrl(url.to_owned()).masked();
        assert_eq!(
            masked("postgres://parley:s3cr@t@db.example:5432/parley"),
            "postgres://parley:***@db.example:5432/parley"
        );
        assert_eq!(
            masked("postgres://db.example/parley?user=p&password=s3cret&sslmode=require"),
            "postgres://db.example/parley?user=p&password=***&sslmode=require"
        );
        assert_eq!(
            masked("postgres://parley@db.example/parley"),
            "postgres://parley@db.example/parley"
        );
    }
}
