//! `authkeys`: how heartbeats are signed. `auth N` names the key used to sign; every listed
//! key (`N crc`, `N md5 KEY`, `N sha1 KEY`) is accepted from peers, so that keys can be
//! changed one node at a time as heartbeat allows.

use std::path::Path;

use super::hacf::At;
use super::lex;
use super::{HeartbeatError, HeartbeatErrorKind};
use crate::director::Location;

/// A signing method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Method {
    /// `crc`: integrity only (the VRRP checksum already gives it): plain VRRP.
    Crc,
    /// `md5 KEY`: HMAC-MD5.
    Md5(String),
    /// `sha1 KEY`: HMAC-SHA1.
    Sha1(String),
}

/// One numbered key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    /// Its number (1 to 15 in heartbeat).
    pub id: u8,
    /// The method and key.
    pub method: Method,
}

/// The keys of an `authkeys` file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthKeys {
    /// The key that signs (`auth N`).
    pub active: At<Key>,
    /// All keys, the active one included.
    pub keys: Vec<Key>,
}

/// Refuses a file that others can read or write, as heartbeat does: the keys are secrets.
pub fn check_mode(path: &Path) -> Result<(), HeartbeatError> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).map_err(|e| HeartbeatError {
        location: Location {
            file: path.to_path_buf(),
            line: 1,
            column: 1,
        },
        kind: HeartbeatErrorKind::Io(e.to_string()),
    })?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(HeartbeatError {
            location: Location {
                file: path.to_path_buf(),
                line: 1,
                column: 1,
            },
            kind: HeartbeatErrorKind::Permissions { mode },
        });
    }
    Ok(())
}

/// Reads an `authkeys` from its text (the mode is checked by [`check_mode`]).
pub fn parse(text: &str, file: &Path) -> Result<AuthKeys, Vec<HeartbeatError>> {
    let mut errs = Vec::new();
    let mut auth: Option<(u8, Location)> = None;
    let mut keys: Vec<Key> = Vec::new();
    for line in lex::lines(text, false) {
        let first = &line[0];
        let at = first.at(file);
        let bad = |w: &lex::Word, keyword: &str, expected: &'static str| HeartbeatError {
            location: w.at(file),
            kind: HeartbeatErrorKind::BadValue {
                keyword: keyword.to_owned(),
                value: w.text.clone(),
                expected,
            },
        };
        if first.text == "auth" {
            match line.get(1) {
                None => errs.push(HeartbeatError {
                    location: at,
                    kind: HeartbeatErrorKind::MissingArgument {
                        keyword: "auth".into(),
                    },
                }),
                Some(w) => match w.text.parse::<u8>() {
                    Ok(n) if (1..=15).contains(&n) => {
                        if auth.is_some() {
                            errs.push(HeartbeatError {
                                location: at.clone(),
                                kind: HeartbeatErrorKind::Duplicate {
                                    what: "auth directive".into(),
                                },
                            });
                        }
                        auth = Some((n, at));
                    }
                    _ => errs.push(bad(w, "auth", "a key number, 1 to 15")),
                },
            }
            continue;
        }
        let id = match first.text.parse::<u8>() {
            Ok(n) if (1..=15).contains(&n) => n,
            _ => {
                errs.push(bad(
                    first,
                    "authkeys",
                    "`auth N` or `N METHOD [KEY]`, N from 1 to 15",
                ));
                continue;
            }
        };
        let Some(m) = line.get(1) else {
            errs.push(HeartbeatError {
                location: at,
                kind: HeartbeatErrorKind::MissingArgument {
                    keyword: format!("key {id}"),
                },
            });
            continue;
        };
        let key = line.get(2).map(|w| w.text.clone());
        let method = match (m.text.as_str(), key) {
            ("crc", None) => Method::Crc,
            ("md5", Some(k)) => Method::Md5(k),
            ("sha1", Some(k)) => Method::Sha1(k),
            ("crc", Some(_)) => {
                errs.push(bad(&line[2], "crc", "nothing: crc takes no key"));
                continue;
            }
            ("md5" | "sha1", None) => {
                errs.push(HeartbeatError {
                    location: m.at(file),
                    kind: HeartbeatErrorKind::MissingArgument {
                        keyword: m.text.clone(),
                    },
                });
                continue;
            }
            _ => {
                errs.push(bad(m, "authkeys", "crc, md5 KEY or sha1 KEY"));
                continue;
            }
        };
        if line.len() > 3 {
            errs.push(bad(&line[3], &m.text, "one key word (heartbeat reads one)"));
            continue;
        }
        if keys.iter().any(|k| k.id == id) {
            errs.push(HeartbeatError {
                location: at,
                kind: HeartbeatErrorKind::Duplicate {
                    what: format!("key {id}"),
                },
            });
            continue;
        }
        keys.push(Key { id, method });
    }
    let start = Location {
        file: file.to_path_buf(),
        line: 1,
        column: 1,
    };
    match auth {
        None if errs.is_empty() => errs.push(HeartbeatError {
            location: start,
            kind: HeartbeatErrorKind::Missing {
                what: "an `auth N` line naming the signing key",
            },
        }),
        Some((n, at)) if errs.is_empty() => match keys.iter().find(|k| k.id == n) {
            Some(k) => {
                return Ok(AuthKeys {
                    active: At {
                        value: k.clone(),
                        location: at,
                    },
                    keys,
                });
            }
            None => errs.push(HeartbeatError {
                location: at,
                kind: HeartbeatErrorKind::UnlistedKey {
                    id: n,
                    listed: if keys.is_empty() {
                        "none".into()
                    } else {
                        keys.iter()
                            .map(|k| k.id.to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    },
                },
            }),
        },
        _ => {}
    }
    Err(errs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        let a = parse("auth 2\n1 crc\n2 sha1 HI!\n3 md5 Hello!\n", Path::new("k")).unwrap();
        assert_eq!(a.active.value.id, 2);
        assert_eq!(a.active.value.method, Method::Sha1("HI!".into()));
        assert_eq!(a.keys.len(), 3);
        assert_eq!(a.active.location.line, 1);
    }

    #[test]
    fn errors_name_the_place() {
        let e = |t: &str| parse(t, Path::new("k")).unwrap_err()[0].to_string();
        assert!(e("1 crc\n").contains("auth N"));
        assert!(e("auth 2\n1 crc\n").contains("k:1:1"));
        assert!(
            e("auth 1\n1 sha1\n").starts_with("k:2:3:"),
            "{}",
            e("auth 1\n1 sha1\n")
        );
        assert!(e("auth 1\n1 crc x\n").starts_with("k:2:7:"));
        assert!(e("auth 1\n1 des k\n").contains("crc, md5 KEY or sha1 KEY"));
        assert!(e("auth 1\n1 crc\n1 crc\n").contains("key 1"));
        assert!(e("auth 16\n").contains("1 to 15"));
    }

    #[test]
    fn mode_must_be_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("ha-authkeys-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("authkeys");
        std::fs::write(&p, "auth 1\n1 crc\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = check_mode(&p).unwrap_err().to_string();
        assert!(e.contains("644") && e.contains("600"), "{e}");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        check_mode(&p).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,200}") {
            let _ = parse(&s, Path::new("k"));
        }
    }
}
