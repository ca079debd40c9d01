//! Where the store is: `[store] url` (or `--store-url`, `WAYMARK_STORE_URL`).
//! Absent: SQLite in the data directory. `sqlite:PATH`: SQLite there.
//! `postgres://` or `postgresql://`: PostgreSQL, with libpq's `sslmode`.

use std::path::{Path, PathBuf};

/// The SQLite file central keeps in its data directory.
pub const SQLITE_FILE: &str = "central.sqlite3";

#[derive(Clone, PartialEq, Eq)]
pub enum StoreUrl {
    Sqlite(PathBuf),
    /// The URL as given (it may hold a password: print [`StoreUrl::redacted`]).
    Postgres(String),
}

impl std::fmt::Debug for StoreUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// libpq's `sslmode`, as far as it means something here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    /// TLS when the server offers it, without checking its certificate (libpq's default).
    Prefer,
    /// TLS always, without checking the certificate (as libpq's `require`).
    Require,
    /// TLS always, the certificate checked against the CA, not the host name.
    VerifyCa,
    /// TLS always, certificate and host name checked.
    VerifyFull,
}

impl StoreUrl {
    pub fn sqlite_in(data_dir: &Path) -> Self {
        Self::Sqlite(data_dir.join(SQLITE_FILE))
    }

    /// Parses a configured URL; `data_dir` places the default SQLite file.
    pub fn parse(text: &str, data_dir: &Path) -> Result<Self, String> {
        let text = text.trim();
        if text.is_empty() || text == "sqlite" {
            return Ok(Self::sqlite_in(data_dir));
        }
        if let Some(path) = text.strip_prefix("sqlite:") {
            let path = path.trim_start_matches("//");
            if path.is_empty() {
                return Err("sqlite: needs a file path, e.g. sqlite:/var/lib/waymark-sync/central.sqlite3".into());
            }
            return Ok(Self::Sqlite(PathBuf::from(path)));
        }
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            let url = Self::Postgres(text.to_string());
            url.ssl_mode()?;
            return Ok(url);
        }
        Err(format!(
            "`{}` is neither sqlite:PATH nor postgres://USER@HOST/DB",
            redact(text)
        ))
    }

    /// The URL without its password.
    pub fn redacted(&self) -> String {
        match self {
            Self::Sqlite(p) => format!("sqlite:{}", p.display()),
            Self::Postgres(u) => redact(u),
        }
    }

    pub fn ssl_mode(&self) -> Result<SslMode, String> {
        let Self::Postgres(u) = self else {
            return Ok(SslMode::Disable);
        };
        let mode = query_params(u).find(|(k, _)| *k == "sslmode").map(|(_, v)| v);
        match mode {
            None | Some("prefer") | Some("allow") => Ok(SslMode::Prefer),
            Some("disable") => Ok(SslMode::Disable),
            Some("require") => Ok(SslMode::Require),
            Some("verify-ca") => Ok(SslMode::VerifyCa),
            Some("verify-full") => Ok(SslMode::VerifyFull),
            Some(other) => Err(format!(
                "sslmode={other} is not one of disable, prefer, require, verify-ca, verify-full"
            )),
        }
    }

    /// The URL as the driver reads it: without `sslmode`, which is ours to apply.
    pub(super) fn driver_url(&self) -> String {
        let Self::Postgres(u) = self else {
            return String::new();
        };
        let Some((base, query)) = u.split_once('?') else {
            return u.clone();
        };
        let kept: Vec<&str> = query.split('&').filter(|kv| !kv.starts_with("sslmode=")).collect();
        if kept.is_empty() {
            base.to_string()
        } else {
            format!("{base}?{}", kept.join("&"))
        }
    }
}

fn query_params(url: &str) -> impl Iterator<Item = (&str, &str)> {
    url.split_once('?')
        .map_or("", |(_, q)| q)
        .split('&')
        .filter_map(|kv| kv.split_once('='))
}

/// `postgres://user:secret@host/db?password=x` -> `postgres://user:***@host/db?password=***`.
fn redact(url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let mut out = match base.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_once('/').map_or((rest, None), |(a, p)| (a, Some(p)));
            let authority = match authority.rsplit_once('@') {
                Some((userinfo, host)) => match userinfo.split_once(':') {
                    Some((user, _)) => format!("{user}:***@{host}"),
                    None => format!("{userinfo}@{host}"),
                },
                None => authority.to_string(),
            };
            match path {
                Some(p) => format!("{scheme}://{authority}/{p}"),
                None => format!("{scheme}://{authority}"),
            }
        }
        None => base.to_string(),
    };
    if let Some(q) = query {
        let q: Vec<String> = q
            .split('&')
            .map(|kv| match kv.split_once('=') {
                Some(("password", _)) => "password=***".to_string(),
                _ => kv.to_string(),
            })
            .collect();
        out.push('?');
        out.push_str(&q.join("&"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_show() {
        let dir = Path::new("/d");
        let u =
            StoreUrl::parse("postgres://waymark:s3cret@db.example:5432/waymark?sslmode=require", dir).expect("valid");
        assert_eq!(
            u.redacted(),
            "postgres://waymark:***@db.example:5432/waymark?sslmode=require"
        );
        assert_eq!(u.ssl_mode(), Ok(SslMode::Require));
        assert_eq!(u.driver_url(), "postgres://waymark:s3cret@db.example:5432/waymark");
        let u = StoreUrl::parse("postgresql://h/db?user=a&password=zz", dir).expect("valid");
        assert_eq!(u.redacted(), "postgresql://h/db?user=a&password=***");
        let err = StoreUrl::parse("mysql://root:hunter2@h/db", dir).expect_err("refused");
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn sqlite_is_the_default_in_the_data_dir() {
        let dir = Path::new("/var/lib/w");
        assert_eq!(StoreUrl::parse("", dir), Ok(StoreUrl::Sqlite(dir.join(SQLITE_FILE))));
        assert_eq!(
            StoreUrl::parse("sqlite:/tmp/x.db", dir),
            Ok(StoreUrl::Sqlite("/tmp/x.db".into()))
        );
        assert!(StoreUrl::parse("postgres://h/db?sslmode=bogus", dir).is_err());
    }
}
