//! The line structure of an ldirectord.cf, as ldirectord 4.12's `read_config` sees it.
//!
//! - A line that starts (column 1) with `virtual =` or `virtual6 =` opens a virtual section.
//!   The lines that follow belong to it while they are indented by at least four spaces
//!   (a tab counts as four); the first line that is not (a blank line too) ends it and is
//!   read again as a top-level line.
//! - Other top-level lines are `keyword = value` globals, starting in column 1; blank lines
//!   and lines whose first non-blank character is `#` are skipped.
//! - Every other line is `keyword = value` (spaces around `=` optional). A `#` outside
//!   double quotes starts a comment to the end of the line (ldirectord cuts at any `#` inside
//!   a virtual section, even in quotes, and keeps it in globals; cutting outside quotes only
//!   reads every file ldirectord reads and lets `receive = "#ok"` mean what it says).
//!
//! The lexer never fails: a line it cannot split is returned as [`Token::Bad`] and the
//! reader reports it with its place. Columns count characters from 1.

/// One meaningful line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Token {
    /// A blank line: it ends a virtual section.
    Blank,
    /// `keyword = value`.
    Pair(Pair),
    /// A line that is not `keyword = value`.
    Bad {
        /// Line, from 1.
        line: u32,
        /// Column of its first non-blank character.
        column: u32,
        /// The text, trimmed.
        text: String,
        /// Indented (inside, or meant to be inside, a virtual section).
        indented: bool,
    },
}

/// `keyword = value` on one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pair {
    /// Line, from 1.
    pub line: u32,
    /// Column of the keyword.
    pub key_column: u32,
    /// The keyword as written.
    pub key: String,
    /// Column of the value (of `=` + 1 when the value is empty).
    pub value_column: u32,
    /// The value, comment removed, trimmed; quotes kept.
    pub value: String,
    /// Indented by at least four columns (a tab counting four).
    pub indented: bool,
}

/// Whether a line is indented as ldirectord requires inside a virtual section.
fn indent_of(line: &str) -> (bool, usize) {
    let mut cols = 0usize;
    let mut chars = 0usize;
    for c in line.chars() {
        match c {
            ' ' => cols += 1,
            '\t' => cols += 4,
            _ => break,
        }
        chars += 1;
    }
    (cols >= 4, chars)
}

/// Cuts a `#` comment that is outside double quotes.
fn cut_comment(s: &str) -> &str {
    let mut quoted = false;
    for (i, c) in s.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '#' if !quoted => return &s[..i],
            _ => {}
        }
    }
    s
}

fn col(chars: usize) -> u32 {
    u32::try_from(chars + 1).unwrap_or(u32::MAX)
}

/// Splits `text` into tokens. Never panics.
pub(crate) fn lex(text: &str) -> Vec<Token> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = u32::try_from(i + 1).unwrap_or(u32::MAX);
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        let (indented, lead) = indent_of(raw);
        let body: String = raw.chars().skip(lead).collect();
        if body.trim().is_empty() {
            out.push(Token::Blank);
            continue;
        }
        if body.trim_start().starts_with('#') {
            continue;
        }
        // Leading blanks that are not an indentation of four still start the line late.
        let extra = body.chars().take_while(|c| c.is_whitespace()).count();
        let start = lead + extra;
        let body = body.trim_start();
        let key_len = body
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
            .count();
        let key: String = body.chars().take(key_len).collect();
        let after: String = body.chars().skip(key_len).collect();
        let ws = after.chars().take_while(|c| c.is_whitespace()).count();
        let rest: String = after.chars().skip(ws).collect();
        if key.is_empty() || !rest.starts_with('=') {
            out.push(Token::Bad {
                line,
                column: col(start),
                text: cut_comment(body).trim().to_owned(),
                indented,
            });
            continue;
        }
        let value_part: String = rest.chars().skip(1).collect();
        let vws = value_part.chars().take_while(|c| c.is_whitespace()).count();
        let value_raw: String = value_part.chars().skip(vws).collect();
        let value = cut_comment(&value_raw).trim().to_owned();
        out.push(Token::Pair(Pair {
            line,
            key_column: col(start),
            key,
            value_column: col(start + key_len + ws + 1 + vws),
            value,
            indented,
        }));
    }
    out
}

/// The value without one pair of enclosing double quotes.
pub(crate) fn unquote(v: &str) -> &str {
    v.strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_columns_comments_and_indentation() {
        let t = lex(
            "# top\nchecktimeout=3\nvirtual = 10.0.0.1:80 # vip\n\treal=10.0.0.2:80 gate\n    receive = \"a#b\" # c\n  bad line\n",
        );
        let t: Vec<Token> = t.into_iter().filter(|t| *t != Token::Blank).collect();
        assert_eq!(t.len(), 5);
        let Token::Pair(p) = &t[0] else { panic!() };
        assert_eq!((p.line, p.key_column, p.value_column), (2, 1, 14));
        assert_eq!(p.value, "3");
        let Token::Pair(p) = &t[1] else { panic!() };
        assert_eq!(
            (p.key.as_str(), p.value.as_str()),
            ("virtual", "10.0.0.1:80")
        );
        assert!(!p.indented);
        let Token::Pair(p) = &t[2] else { panic!() };
        assert!(p.indented);
        assert_eq!((p.key_column, p.value_column), (2, 7));
        let Token::Pair(p) = &t[3] else { panic!() };
        assert_eq!(p.value, "\"a#b\"");
        assert_eq!(unquote(&p.value), "a#b");
        let Token::Bad {
            line,
            column,
            indented,
            ..
        } = &t[4]
        else {
            panic!()
        };
        assert_eq!((*line, *column, *indented), (6, 3, false));
    }
}
