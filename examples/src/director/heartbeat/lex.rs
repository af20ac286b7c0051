//! Words with their places, for heartbeat's line-oriented files (`ha.cf`, `haresources`,
//! `authkeys`): `#` starts a comment, words are separated by blanks, and a line ending in
//! `\` continues on the next one (heartbeat allows that in `haresources`).

use std::path::Path;

use super::super::Location;

/// One word of a file and where it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    /// The text.
    pub text: String,
    /// 1-based line.
    pub line: u32,
    /// 1-based column, in characters.
    pub column: u32,
}

impl Word {
    /// The word's place in `file`.
    pub fn at(&self, file: &Path) -> Location {
        Location {
            file: file.to_path_buf(),
            line: self.line,
            column: self.column,
        }
    }
}

/// The logical lines of `text` (comments removed, continuations joined), each a non-empty
/// list of words. With `continuations` false a trailing `\` is an ordinary character.
pub fn lines(text: &str, continuations: bool) -> Vec<Vec<Word>> {
    let mut out: Vec<Vec<Word>> = Vec::new();
    let mut current: Vec<Word> = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line_no = u32::try_from(n + 1).unwrap_or(u32::MAX);
        // Everything from an unquoted `#` on is a comment (heartbeat's readers do not quote).
        let body = match raw.find('#') {
            Some(i) => &raw[..i],
            None => raw,
        };
        let trimmed = body.trim_end();
        let (body, continued) = match trimmed.strip_suffix('\\') {
            Some(b) if continuations => (b, true),
            _ => (trimmed, false),
        };
        let mut word = String::new();
        let mut start = 0u32;
        for (col, ch) in body.chars().enumerate() {
            let col = u32::try_from(col + 1).unwrap_or(u32::MAX);
            if ch.is_whitespace() {
                if !word.is_empty() {
                    current.push(Word {
                        text: std::mem::take(&mut word),
                        line: line_no,
                        column: start,
                    });
                }
            } else {
                if word.is_empty() {
                    start = col;
                }
                word.push(ch);
            }
        }
        if !word.is_empty() {
            current.push(Word {
                text: word,
                line: line_no,
                column: start,
            });
        }
        if !continued && !current.is_empty() {
            out.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// A heartbeat time (`10` seconds, `1500ms`, `2s`, `0.5`, `250000us`) in milliseconds.
/// `None` when it does not parse, is not a whole number of milliseconds, or overflows.
pub fn millis(text: &str) -> Option<u64> {
    let (num, scale_us): (&str, u64) = if let Some(n) = text.strip_suffix("ms") {
        (n, 1_000)
    } else if let Some(n) = text.strip_suffix("us") {
        (n, 1)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1_000_000)
    } else {
        (text, 1_000_000)
    };
    let (int, frac) = match num.split_once('.') {
        Some((i, f)) => (i, f),
        None => (num, ""),
    };
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    if !int.chars().all(|c| c.is_ascii_digit()) || !frac.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    if frac.len() > 9 {
        return None;
    }
    let int: u64 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let mut us = int.checked_mul(scale_us)?;
    if !frac.is_empty() {
        // The fraction in units of 1e-9 of the unit, then scaled to microseconds.
        let digits = frac.len() as u32;
        let f: u64 = frac.parse().ok()?;
        let nanos_of_unit = f.checked_mul(10u64.pow(9 - digits))?;
        let part = nanos_of_unit.checked_mul(scale_us)? / 1_000_000_000;
        if !nanos_of_unit
            .checked_mul(scale_us)?
            .is_multiple_of(1_000_000_000)
        {
            return None;
        }
        us = us.checked_add(part)?;
    }
    if !us.is_multiple_of(1_000) {
        return None;
    }
    Some(us / 1_000)
}

/// A heartbeat boolean: `true on yes y 1` / `false off no n 0`, any case.
pub fn boolean(text: &str) -> Option<bool> {
    match text.to_ascii_lowercase().as_str() {
        "true" | "on" | "yes" | "y" | "1" => Some(true),
        "false" | "off" | "no" | "n" | "0" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_have_columns_and_comments_go() {
        let l = lines("  keepalive 2  # two seconds\n\n#x\nnode a b\n", false);
        assert_eq!(l.len(), 2);
        assert_eq!(l[0][0].text, "keepalive");
        assert_eq!((l[0][0].line, l[0][0].column), (1, 3));
        assert_eq!((l[0][1].line, l[0][1].column), (1, 13));
        assert_eq!(l[1].len(), 3);
        assert_eq!(l[1][2].line, 4);
    }

    #[test]
    fn continuations_join_lines() {
        let l = lines("node1 10.0.0.1 \\\n   httpd\nnode2 x\n", true);
        assert_eq!(l.len(), 2);
        assert_eq!(l[0].len(), 3);
        assert_eq!((l[0][2].line, l[0][2].column), (2, 4));
        let l = lines("a \\\n", false);
        assert_eq!(l[0].len(), 2);
    }

    #[test]
    fn times() {
        assert_eq!(millis("10"), Some(10_000));
        assert_eq!(millis("1500ms"), Some(1_500));
        assert_eq!(millis("2s"), Some(2_000));
        assert_eq!(millis("0.5"), Some(500));
        assert_eq!(millis(".25"), Some(250));
        assert_eq!(millis("250000us"), Some(250));
        assert_eq!(millis("1500us"), None);
        assert_eq!(millis("0.0001"), None);
        assert_eq!(millis("x"), None);
        assert_eq!(millis(""), None);
        assert_eq!(millis("ms"), None);
        assert_eq!(millis("-1"), None);
        assert_eq!(millis("99999999999999999999"), None);
    }

    #[test]
    fn booleans() {
        for t in ["true", "ON", "Yes", "y", "1"] {
            assert_eq!(boolean(t), Some(true));
        }
        for f in ["false", "off", "NO", "n", "0"] {
            assert_eq!(boolean(f), Some(false));
        }
        assert_eq!(boolean("legacy"), None);
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,200}") {
            let _ = lines(&s, true);
            let _ = millis(&s);
        }
    }
}
