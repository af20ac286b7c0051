//! The keepalived.conf tokenizer: words, `{`, `}`, line ends; `#` and `!` start a comment
//! where a word could start; `"..."` quotes a word (with `\"` and `\\` escapes) and ends on
//! the same line.
//!
//! Never panics, whatever the input (proptest in `tests/director_keepalived.rs`).

/// What a token is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenKind {
    /// A bare or quoted word.
    Word(String),
    /// `{`.
    Open,
    /// `}`.
    Close,
    /// End of a line.
    Newline,
}

/// A token and where it starts (1-based line and character column).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// What.
    pub kind: TokenKind,
    /// Line.
    pub line: u32,
    /// Column.
    pub column: u32,
}

/// A tokenizer error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{line}:{column}: {message}")]
pub struct LexError {
    /// Line.
    pub line: u32,
    /// Column.
    pub column: u32,
    /// What.
    pub message: &'static str,
}

/// Splits `src` into tokens.
pub fn tokenize(src: &str) -> Result<Vec<Token>, LexError> {
    let mut out = Vec::new();
    let mut line: u32 = 1;
    let mut col: u32 = 0;
    let mut chars = src.chars().peekable();
    let mut word: Option<(String, u32)> = None;
    let flush = |word: &mut Option<(String, u32)>, out: &mut Vec<Token>, line: u32| {
        if let Some((w, c)) = word.take() {
            out.push(Token {
                kind: TokenKind::Word(w),
                line,
                column: c,
            });
        }
    };
    while let Some(ch) = chars.next() {
        col = col.saturating_add(1);
        match ch {
            '\n' => {
                flush(&mut word, &mut out, line);
                out.push(Token {
                    kind: TokenKind::Newline,
                    line,
                    column: col,
                });
                line = line.saturating_add(1);
                col = 0;
            }
            '{' | '}' => {
                flush(&mut word, &mut out, line);
                let kind = if ch == '{' {
                    TokenKind::Open
                } else {
                    TokenKind::Close
                };
                out.push(Token {
                    kind,
                    line,
                    column: col,
                });
            }
            c if c.is_whitespace() => flush(&mut word, &mut out, line),
            '#' | '!' if word.is_none() => {
                // Comment to the end of the line (the newline itself is kept).
                while let Some(&n) = chars.peek() {
                    if n == '\n' {
                        break;
                    }
                    chars.next();
                    col = col.saturating_add(1);
                }
            }
            '"' if word.is_none() => {
                let start = col;
                let mut s = String::new();
                let mut closed = false;
                while let Some(&n) = chars.peek() {
                    if n == '\n' {
                        break;
                    }
                    chars.next();
                    col = col.saturating_add(1);
                    match n {
                        '"' => {
                            closed = true;
                            break;
                        }
                        '\\' => match chars.peek() {
                            Some(&e @ ('"' | '\\')) => {
                                chars.next();
                                col = col.saturating_add(1);
                                s.push(e);
                            }
                            _ => s.push('\\'),
                        },
                        other => s.push(other),
                    }
                }
                if !closed {
                    return Err(LexError {
                        line,
                        column: start,
                        message: "unterminated quoted string",
                    });
                }
                out.push(Token {
                    kind: TokenKind::Word(s),
                    line,
                    column: start,
                });
            }
            c => match &mut word {
                Some((w, _)) => w.push(c),
                None => word = Some((c.to_string(), col)),
            },
        }
    }
    flush(&mut word, &mut out, line);
    Ok(out)
}
