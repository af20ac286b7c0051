//! Statements and blocks of a keepalived.conf, with `include` expanded.
//!
//! A statement is a keyword and its arguments up to the end of the line; a `{` (on the same
//! line or the next non-empty one) opens its block, which ends at the matching `}`.

use std::path::{Path, PathBuf};

use super::KeepalivedErrorKind;
use super::lexer::{Token, TokenKind, tokenize};
use super::preproc::{Defs, Source, default_config_id, load, preprocess};
use crate::director::{ConfigError, Location, Warning};

/// Deepest include nesting accepted (stops include loops).
pub const MAX_INCLUDE_DEPTH: usize = 8;

/// One statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// The first word.
    pub keyword: String,
    /// The other words of the line.
    pub args: Vec<String>,
    /// Where the keyword is.
    pub location: Location,
    /// The block, if the statement has one.
    pub block: Option<Vec<Node>>,
}

fn err(file: &Path, line: u32, column: u32, kind: KeepalivedErrorKind) -> ConfigError {
    ConfigError::Keepalived {
        location: Location {
            file: file.to_path_buf(),
            line,
            column,
        },
        kind,
    }
}

/// Parses one file's text into statements (no preprocessing, no include expansion).
pub fn parse_str(text: &str, file: &Path) -> Result<Vec<Node>, ConfigError> {
    let tokens = tokenize(text).map_err(|e| {
        err(
            file,
            e.line,
            e.column,
            KeepalivedErrorKind::Syntax(e.message.to_string()),
        )
    })?;
    let mut pos = 0;
    parse_block(&tokens, &mut pos, file, None)
}

/// Parses preprocessed lines into statements (no include expansion): each line is tokenized
/// on its own and its tokens keep the line number it came from.
fn parse_lines(src: &Source) -> Result<Vec<Node>, ConfigError> {
    let mut tokens = Vec::new();
    for (no, text) in &src.lines {
        let line_tokens = tokenize(text).map_err(|e| {
            err(
                &src.file,
                *no,
                e.column,
                KeepalivedErrorKind::Syntax(e.message.to_string()),
            )
        })?;
        tokens.extend(line_tokens.into_iter().map(|mut t| {
            t.line = *no;
            t
        }));
        tokens.push(Token {
            kind: TokenKind::Newline,
            line: *no,
            column: u32::try_from(text.chars().count() + 1).unwrap_or(u32::MAX),
        });
    }
    let mut pos = 0;
    parse_block(&tokens, &mut pos, &src.file, None)
}

fn parse_block(
    tokens: &[Token],
    pos: &mut usize,
    file: &Path,
    opened: Option<(&str, &Token)>,
) -> Result<Vec<Node>, ConfigError> {
    let mut nodes = Vec::new();
    loop {
        let Some(tok) = tokens.get(*pos) else {
            return match opened {
                None => Ok(nodes),
                Some((kw, t)) => Err(err(
                    file,
                    t.line,
                    t.column,
                    KeepalivedErrorKind::Syntax(format!(
                        "block of `{kw}` opened here is never closed"
                    )),
                )),
            };
        };
        *pos += 1;
        match &tok.kind {
            TokenKind::Newline => {}
            TokenKind::Close => {
                return match opened {
                    Some(_) => Ok(nodes),
                    None => Err(err(
                        file,
                        tok.line,
                        tok.column,
                        KeepalivedErrorKind::Syntax("unexpected `}` (no block is open)".into()),
                    )),
                };
            }
            TokenKind::Open => {
                return Err(err(
                    file,
                    tok.line,
                    tok.column,
                    KeepalivedErrorKind::Syntax("unexpected `{` (a block needs a keyword)".into()),
                ));
            }
            TokenKind::Word(kw) => {
                let mut args = Vec::new();
                let mut block = None;
                while let Some(t) = tokens.get(*pos) {
                    match &t.kind {
                        TokenKind::Word(w) => {
                            args.push(w.clone());
                            *pos += 1;
                        }
                        TokenKind::Open => {
                            *pos += 1;
                            block = Some(parse_block(tokens, pos, file, Some((kw, t)))?);
                            break;
                        }
                        TokenKind::Close => break,
                        TokenKind::Newline => {
                            // A `{` on a following line still opens this statement's block.
                            let mut p = *pos;
                            while matches!(tokens.get(p).map(|t| &t.kind), Some(TokenKind::Newline))
                            {
                                p += 1;
                            }
                            if let Some(
                                open @ Token {
                                    kind: TokenKind::Open,
                                    ..
                                },
                            ) = tokens.get(p)
                            {
                                *pos = p + 1;
                                block = Some(parse_block(tokens, pos, file, Some((kw, open)))?);
                            }
                            break;
                        }
                    }
                }
                nodes.push(Node {
                    keyword: kw.clone(),
                    args,
                    location: Location {
                        file: file.to_path_buf(),
                        line: tok.line,
                        column: tok.column,
                    },
                    block,
                });
            }
        }
    }
}

/// Reads `path`, preprocesses it (conditionals, parameters; see [`super::preproc`]) with
/// keepalived's default config id, and expands every `include` (at any depth, glob patterns
/// relative to the including file's folder, matches in sorted order).
pub fn parse_file(
    path: &Path,
    depth: usize,
    warnings: &mut Vec<Warning>,
) -> Result<Vec<Node>, Vec<ConfigError>> {
    let mut defs = Defs::new(default_config_id());
    let src = load(path, depth, &mut defs, warnings)?;
    parse_source(&src)
}

/// Parses `text` (of `path`) with keepalived's default config id and expands includes.
pub fn parse_text_expanding(
    text: &str,
    path: &Path,
    depth: usize,
    warnings: &mut Vec<Warning>,
) -> Result<Vec<Node>, Vec<ConfigError>> {
    let mut defs = Defs::new(default_config_id());
    let src = preprocess(text, path, depth, &mut defs, warnings)?;
    parse_source(&src)
}

/// Parses a preprocessed file and the files its `include`s pulled in.
pub fn parse_source(src: &Source) -> Result<Vec<Node>, Vec<ConfigError>> {
    let nodes = parse_lines(src).map_err(|e| vec![e])?;
    expand(nodes, src)
}

fn expand(nodes: Vec<Node>, src: &Source) -> Result<Vec<Node>, Vec<ConfigError>> {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for mut n in nodes {
        if n.keyword == "include" {
            // The preprocessor read the files (and reported problems) where the line was.
            for inc in src.includes.get(&n.location.line).into_iter().flatten() {
                match parse_source(inc) {
                    Ok(nodes) => out.extend(nodes),
                    Err(e) => errors.extend(e),
                }
            }
            continue;
        }
        if let Some(block) = n.block.take() {
            match expand(block, src) {
                Ok(b) => n.block = Some(b),
                Err(e) => errors.extend(e),
            }
        }
        out.push(n);
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// Whether an `include` pattern has glob wildcards.
pub(super) fn has_wildcard(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// Expands a glob pattern (`*`, `?`, `[...]` in any path component) into existing files,
/// sorted. A pattern without wildcards yields itself if it is a file.
pub fn glob(pattern: &Path) -> Vec<PathBuf> {
    let mut current = vec![PathBuf::new()];
    for comp in pattern.components() {
        let text = comp.as_os_str().to_string_lossy();
        let mut next = Vec::new();
        for dir in &current {
            if has_wildcard(&text) {
                let listing = if dir.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    dir.as_path()
                };
                let Ok(rd) = std::fs::read_dir(listing) else {
                    continue;
                };
                let mut names: Vec<String> = rd
                    .filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| {
                        (!n.starts_with('.') || text.starts_with('.')) && wildcard_match(&text, n)
                    })
                    .collect();
                names.sort();
                next.extend(names.into_iter().map(|n| dir.join(n)));
            } else {
                next.push(dir.join(comp.as_os_str()));
            }
        }
        current = next;
    }
    current.retain(|p| p.is_file());
    current
}

/// Shell-style matching of one path component: `*`, `?`, `[abc]`, `[a-z]`, `[!x]`.
pub fn wildcard_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    // Iterative matcher with backtracking to the last `*`.
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        let step = match p.get(pi) {
            Some('*') => {
                star = Some((pi, ni));
                pi += 1;
                continue;
            }
            Some('?') => Some(pi + 1),
            Some('[') => class_match(&p, pi, n[ni]),
            Some(&c) => (c == n[ni]).then_some(pi + 1),
            None => None,
        };
        match step {
            Some(np) => {
                pi = np;
                ni += 1;
            }
            None => match star {
                Some((sp, sn)) => {
                    pi = sp + 1;
                    ni = sn + 1;
                    star = Some((sp, sn + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// Matches `c` against the class starting at `p[start] == '['`; returns the index after `]`.
fn class_match(p: &[char], start: usize, c: char) -> Option<usize> {
    let mut i = start + 1;
    let negate = matches!(p.get(i), Some('!' | '^'));
    if negate {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    loop {
        let &lo = p.get(i)?;
        if lo == ']' && !first {
            break;
        }
        first = false;
        if p.get(i + 1) == Some(&'-') && p.get(i + 2).is_some_and(|&h| h != ']') {
            let hi = p[i + 2];
            matched |= lo <= c && c <= hi;
            i += 3;
        } else {
            matched |= lo == c;
            i += 1;
        }
    }
    (matched != negate).then_some(i + 1)
}
