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
    parse_block(&mut Tokens::new(tokens.into_iter().map(Ok)), file, None)
}

/// Parses preprocessed lines into statements (no include expansion): each line is tokenized
/// on its own, when the parser reaches it, and its tokens keep the line number it came from.
/// Only one line's tokens exist at a time: the whole file's tokens (at 10,000 real servers,
/// 140,000 of them) would be held beside the statements being built.
fn parse_lines(src: &Source) -> Result<Vec<Node>, ConfigError> {
    let file = &src.file;
    let tokens = src.lines().flat_map(|(no, text)| {
        let line: Vec<Result<Token, ConfigError>> = match tokenize(text) {
            Err(e) => vec![Err(err(
                file,
                no,
                e.column,
                KeepalivedErrorKind::Syntax(e.message.to_string()),
            ))],
            Ok(line_tokens) => line_tokens
                .into_iter()
                .map(|mut t| {
                    t.line = no;
                    Ok(t)
                })
                .chain(std::iter::once(Ok(Token {
                    kind: TokenKind::Newline,
                    line: no,
                    column: u32::try_from(text.chars().count() + 1).unwrap_or(u32::MAX),
                })))
                .collect(),
        };
        line
    });
    parse_block(&mut Tokens::new(tokens), file, None)
}

/// The parser's token source: one token of lookahead, a tokenizer error passed on where it
/// is reached.
struct Tokens<I: Iterator<Item = Result<Token, ConfigError>>> {
    it: std::iter::Peekable<I>,
}

impl<I: Iterator<Item = Result<Token, ConfigError>>> Tokens<I> {
    fn new(it: I) -> Self {
        Tokens { it: it.peekable() }
    }

    fn next(&mut self) -> Result<Option<Token>, ConfigError> {
        self.it.next().transpose()
    }

    /// The next token's kind without taking it.
    fn peek(&mut self) -> Result<Option<&TokenKind>, ConfigError> {
        if matches!(self.it.peek(), Some(Err(_)))
            && let Some(Err(e)) = self.it.next()
        {
            return Err(e);
        }
        Ok(match self.it.peek() {
            Some(Ok(t)) => Some(&t.kind),
            _ => None,
        })
    }
}

fn parse_block<I: Iterator<Item = Result<Token, ConfigError>>>(
    tokens: &mut Tokens<I>,
    file: &Path,
    opened: Option<(&str, u32, u32)>,
) -> Result<Vec<Node>, ConfigError> {
    let mut nodes = Vec::new();
    loop {
        let Some(tok) = tokens.next()? else {
            return match opened {
                None => Ok(nodes),
                Some((kw, line, column)) => Err(err(
                    file,
                    line,
                    column,
                    KeepalivedErrorKind::Syntax(format!(
                        "block of `{kw}` opened here is never closed"
                    )),
                )),
            };
        };
        match tok.kind {
            TokenKind::Newline => {}
            TokenKind::Close => {
                return match opened {
                    Some(_) => {
                        // Blocks grow by doubling; thousands of small ones are kept for the
                        // whole conversion.
                        nodes.shrink_to_fit();
                        Ok(nodes)
                    }
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
                loop {
                    match tokens.peek()? {
                        Some(TokenKind::Word(_)) => {
                            if let Some(Token {
                                kind: TokenKind::Word(w),
                                ..
                            }) = tokens.next()?
                            {
                                args.push(w);
                            }
                        }
                        Some(TokenKind::Open) => {
                            block = Some(open_block(tokens, file, &kw)?);
                            break;
                        }
                        Some(TokenKind::Close) | None => break,
                        Some(TokenKind::Newline) => {
                            // A `{` on a following line still opens this statement's block.
                            // The empty lines are skipped here as the caller would skip them.
                            while matches!(tokens.peek()?, Some(TokenKind::Newline)) {
                                tokens.next()?;
                            }
                            if matches!(tokens.peek()?, Some(TokenKind::Open)) {
                                block = Some(open_block(tokens, file, &kw)?);
                            }
                            break;
                        }
                    }
                }
                args.shrink_to_fit();
                nodes.push(Node {
                    keyword: kw,
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

/// Takes the `{` that comes next and parses the block it opens.
fn open_block<I: Iterator<Item = Result<Token, ConfigError>>>(
    tokens: &mut Tokens<I>,
    file: &Path,
    kw: &str,
) -> Result<Vec<Node>, ConfigError> {
    let (line, column) = match tokens.next()? {
        Some(open) => (open.line, open.column),
        None => (0, 0),
    };
    parse_block(tokens, file, Some((kw, line, column)))
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

fn expand(mut nodes: Vec<Node>, src: &Source) -> Result<Vec<Node>, Vec<ConfigError>> {
    if !nodes.iter().any(|n| n.keyword == "include") {
        // Nothing to splice in at this level: the blocks are expanded in place, without a
        // second copy of the statements.
        let mut errors = Vec::new();
        for n in &mut nodes {
            if let Some(block) = n.block.take() {
                match expand(block, src) {
                    Ok(b) => n.block = Some(b),
                    Err(e) => errors.extend(e),
                }
            }
        }
        return if errors.is_empty() {
            Ok(nodes)
        } else {
            Err(errors)
        };
    }
    // Sized for the nodes in hand (an include adds more): a block pushed into a fresh vector
    // grows to the next power of two, which at 10,000 real servers is megabytes unused.
    let mut out = Vec::with_capacity(nodes.len());
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
