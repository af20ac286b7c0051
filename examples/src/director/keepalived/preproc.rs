//! keepalived's line preprocessor, run before the tokenizer: `@ID` / `@^ID` conditional
//! lines, `$NAME=VALUE` parameter definitions (multi-line with a trailing `\`) and their
//! `$NAME` / `${NAME}` substitution, in file order across `include`s (a definition made in an
//! included file is seen after the `include` line), as keepalived 2.2's `lib/parser.c` does.
//!
//! Every output line keeps the number of the line it came from, so errors still point at
//! `file:line`. `~SEQ` / `~LST` loops and `${_RANDOM}` are refused with an error rather than
//! read as something else. Bounded: a definition that keeps expanding (one that uses itself)
//! is an error, not a hang. Never panics (proptest in `tests/director_keepalived.rs`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::KeepalivedErrorKind;
use crate::director::{ConfigError, Location, Warning};

/// Substitution rounds allowed on one line before it counts as a loop.
const MAX_ROUNDS: usize = 64;
/// Longest line a substitution may produce, bytes (keepalived's buffer is smaller).
const MAX_LINE: usize = 64 * 1024;

/// The preprocessor's state: the definitions made so far and the config id.
#[derive(Debug, Clone, Default)]
pub struct Defs {
    /// `$NAME` -> its lines (one for a plain definition).
    map: HashMap<String, Vec<String>>,
    /// The id `@ID` lines are compared with (keepalived `--config-id`, default the host name
    /// up to its first dot); `None`: no `@ID` line applies, every `@^ID` line does.
    pub config_id: Option<String>,
}

impl Defs {
    /// Definitions for a run with `config_id`.
    pub fn new(config_id: Option<String>) -> Defs {
        Defs {
            map: HashMap::new(),
            config_id,
        }
    }

    /// The value of a definition, with keepalived's standard ones.
    fn get(&self, name: &str) -> Option<Vec<String>> {
        if let Some(v) = self.map.get(name) {
            return Some(v.clone());
        }
        match name {
            "_HASH" => Some(vec!["#".into()]),
            "_BANG" => Some(vec!["!".into()]),
            "_INSTANCE" => Some(vec![self.config_id.clone().unwrap_or_default()]),
            "_PWD" => Some(vec![
                std::env::current_dir()
                    .map(|d| d.to_string_lossy().into_owned())
                    .unwrap_or_default(),
            ]),
            _ => None,
        }
    }
}

/// keepalived's default config id: the host name up to its first dot.
pub fn default_config_id() -> Option<String> {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
    let name = name.trim();
    let id = name.split('.').next().unwrap_or(name);
    (!id.is_empty()).then(|| id.to_string())
}

/// A preprocessed file: its lines (origin line number, text) and, by the line number of each
/// `include` line, the files it pulled in, preprocessed in order.
#[derive(Debug, Clone)]
pub struct Source {
    /// The file.
    pub file: PathBuf,
    /// The output lines' text, one after another.
    text: String,
    /// Per output line: the number of the input line it came from, and where its text ends
    /// in `text` (it starts where the line before it ends). The lines live until the parser
    /// has built every statement from them, so they are part of the load's peak: one string
    /// for all of them, instead of one each (5.8 MB for a 10,000-real-server file), holds
    /// them in less than 1.5 times the file's size instead of 2.5 times.
    ends: Vec<(u32, u32)>,
    /// The included files of the `include` at a line.
    pub includes: HashMap<u32, Vec<Source>>,
}

impl Source {
    /// An empty source of `file`, with room for about `text_len` bytes in `lines` lines.
    fn with_capacity(file: &Path, text_len: usize, lines: usize) -> Source {
        Source {
            file: file.to_path_buf(),
            text: String::with_capacity(text_len),
            ends: Vec::with_capacity(lines),
            includes: HashMap::new(),
        }
    }

    /// The output lines: the number of the input line each came from, and its text.
    pub fn lines(&self) -> impl Iterator<Item = (u32, &str)> + '_ {
        let mut start = 0;
        self.ends.iter().map(move |&(no, end)| {
            let end = end as usize;
            let line = self.text.get(start..end).unwrap_or_default();
            start = end;
            (no, line)
        })
    }

    /// Adds an output line from input line `no`; `false` (and nothing added) when the
    /// lines would pass 4 GiB.
    fn push_line(&mut self, no: u32, line: &str) -> bool {
        let Ok(end) = u32::try_from(self.text.len() + line.len()) else {
            return false;
        };
        self.text.push_str(line);
        self.ends.push((no, end));
        true
    }
}

fn error(file: &Path, line: u32, kind: KeepalivedErrorKind) -> ConfigError {
    ConfigError::Keepalived {
        location: Location {
            file: file.to_path_buf(),
            line,
            column: 1,
        },
        kind,
    }
}

/// The text of `line` before a comment (`#` or `!` where a word could start, outside
/// quotes), without trailing blanks; the indentation stays, so columns stay true.
fn decomment(line: &str) -> &str {
    let mut in_quote = false;
    let mut word_start = true;
    let mut prev_backslash = false;
    for (i, c) in line.char_indices() {
        match c {
            '"' if !prev_backslash => in_quote = !in_quote,
            '#' | '!' if !in_quote && word_start => return line[..i].trim_end(),
            _ => {}
        }
        prev_backslash = c == '\\' && !prev_backslash;
        word_start = c.is_whitespace() || c == '{' || c == '}';
    }
    line.trim_end()
}

/// A definition line `$NAME = VALUE`: the name and the raw value.
fn definition(line: &str) -> Option<(&str, &str)> {
    let rest = line.strip_prefix('$')?;
    let end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(rest.len());
    let name = &rest[..end];
    if !name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
        return None;
    }
    let value = rest[end..]
        .trim_start_matches([' ', '\t'])
        .strip_prefix('=')?;
    Some((name, value.trim_start_matches([' ', '\t'])))
}

/// The `$NAME` or `${NAME}` reference at the start of `s` (which begins after the `$`):
/// the name and how many bytes it takes (braces included). keepalived only takes a bare name
/// ended by a blank, `,`, `)` or the line end.
fn reference(s: &str) -> Option<(&str, usize)> {
    let (braced, body) = match s.strip_prefix('{') {
        Some(b) => (true, b),
        None => (false, s),
    };
    if !body.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
        return None;
    }
    let end = body
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(body.len());
    let name = &body[..end];
    if braced {
        let close = body[end..].find('}')?;
        if !body[end..end + close].trim().is_empty() {
            // `${_RANDOM 1 10}`-style parameters.
            return Some((name, end + close + 2));
        }
        return Some((name, end + 2));
    }
    match body[end..].chars().next() {
        None | Some(' ' | '\t' | ',' | ')') => Some((name, end)),
        _ => None,
    }
}

/// One round of substitution over `line`. Returns the new line and, when a multi-line
/// definition was used at the end of the line, the lines that follow it; `None` if nothing
/// was substituted.
fn substitute_once(
    defs: &Defs,
    line: &str,
) -> Result<Option<(String, Vec<String>)>, KeepalivedErrorKind> {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    let mut changed = false;
    let mut more = Vec::new();
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let Some((name, len)) = reference(after) else {
            out.push('$');
            rest = after;
            continue;
        };
        if name == "_RANDOM" {
            return Err(KeepalivedErrorKind::Unsafe {
                keyword: "${_RANDOM}".into(),
                reason:
                    "random values in the configuration are not supported (two reads would differ)"
                        .into(),
            });
        }
        let Some(value) = defs.get(name) else {
            out.push('$');
            rest = after;
            continue;
        };
        changed = true;
        let tail = &after[len..];
        match value.split_first() {
            Some((first, others)) if !others.is_empty() => {
                if !tail.trim().is_empty() {
                    return Err(KeepalivedErrorKind::Syntax(format!(
                        "the multi-line definition ${name} must end its line"
                    )));
                }
                out.push_str(first);
                more.extend(others.iter().cloned());
                rest = "";
                break;
            }
            Some((first, _)) => out.push_str(first),
            None => {}
        }
        rest = tail;
        if out.len() > MAX_LINE {
            return Err(KeepalivedErrorKind::Syntax(
                "parameter substitution makes the line too long".into(),
            ));
        }
    }
    out.push_str(rest);
    Ok(changed.then_some((out, more)))
}

/// Reads and preprocesses `path` (depth counts `include` nesting).
pub fn load(
    path: &Path,
    depth: usize,
    defs: &mut Defs,
    warnings: &mut Vec<Warning>,
) -> Result<Source, Vec<ConfigError>> {
    let text = crate::director::read(path)?;
    preprocess(&text, path, depth, defs, warnings)
}

/// Preprocesses `text` of `file`, following `include` lines as they come.
pub fn preprocess(
    text: &str,
    file: &Path,
    depth: usize,
    defs: &mut Defs,
    warnings: &mut Vec<Warning>,
) -> Result<Source, Vec<ConfigError>> {
    // Preprocessing drops comments and definitions and rarely adds: the input's size is
    // about the room the output needs.
    let lines = text.bytes().filter(|&b| b == b'\n').count() + 1;
    let mut src = Source::with_capacity(file, text.len(), lines);
    let mut errors = Vec::new();
    // The definition whose value continues on the next line (a trailing `\`).
    let mut continuing: Option<String> = None;
    for (i, raw) in text.lines().enumerate() {
        let no = u32::try_from(i + 1).unwrap_or(u32::MAX);
        let line = decomment(raw);
        if let Some(name) = continuing.take() {
            let line = line.trim_start();
            let (part, again) = match line.strip_suffix('\\') {
                Some(p) => (p.trim_end(), true),
                None => (line, false),
            };
            if !part.is_empty()
                && let Some(v) = defs.map.get_mut(&name)
            {
                v.push(part.to_string());
            }
            if again {
                continuing = Some(name);
            }
            continue;
        }
        // Pending lines of this input line: the line itself, then any that a multi-line
        // definition adds.
        let mut pending = vec![line.to_string()];
        let mut out_here = Vec::new();
        while let Some(mut l) = (!pending.is_empty()).then(|| pending.remove(0)) {
            let mut rounds = 0;
            let keep = loop {
                rounds += 1;
                if rounds > MAX_ROUNDS {
                    errors.push(error(
                        file,
                        no,
                        KeepalivedErrorKind::Syntax(
                            "parameter substitution does not end (a definition that uses itself?)"
                                .into(),
                        ),
                    ));
                    break false;
                }
                if let Some(cond) = l.trim_start().strip_prefix('@') {
                    let (negate, cond) = match cond.strip_prefix('^') {
                        Some(c) => (true, c),
                        None => (false, cond),
                    };
                    let Some((id, rest)) = cond.split_once([' ', '\t']) else {
                        break false;
                    };
                    let matches = defs.config_id.as_deref() == Some(id);
                    if matches == negate {
                        break false;
                    }
                    // The `@ID` prefix becomes blanks: the columns of the rest stay true.
                    let rest = rest.trim_start();
                    let width = l[..l.len() - rest.len()].chars().count();
                    l = format!("{}{rest}", " ".repeat(width));
                }
                if let Some((name, value)) = definition(l.trim_start()) {
                    let (value, multi) = match value.strip_suffix('\\') {
                        Some(v) => (v.trim_end(), true),
                        None => (value, false),
                    };
                    let mut v = Vec::new();
                    if !value.is_empty() || !multi {
                        v.push(value.to_string());
                    }
                    defs.map.insert(name.to_string(), v);
                    if multi {
                        continuing = Some(name.to_string());
                    }
                    break false;
                }
                let t = l.trim_start();
                if t.starts_with("~SEQ") || t.starts_with("~LST") {
                    errors.push(error(
                        file,
                        no,
                        KeepalivedErrorKind::Unsafe {
                            keyword: t[..4].to_string(),
                            reason: "configuration loops are not supported: the lines they generate would be missing".into(),
                        },
                    ));
                    break false;
                }
                if !l.contains('$') {
                    break true;
                }
                match substitute_once(defs, &l) {
                    Ok(Some((new, more))) => {
                        l = decomment(&new).to_string();
                        for (k, m) in more.into_iter().enumerate() {
                            pending.insert(k, m);
                        }
                    }
                    Ok(None) => break true,
                    Err(kind) => {
                        errors.push(error(file, no, kind));
                        break false;
                    }
                }
            };
            if keep && !l.trim().is_empty() {
                out_here.push(l);
            }
        }
        for l in out_here {
            let mut words = l.split_whitespace();
            if words.next() == Some("include") {
                match include(&l, file, no, depth, defs, warnings) {
                    Ok(sources) => {
                        src.includes.entry(no).or_default().extend(sources);
                    }
                    Err(e) => errors.extend(e),
                }
            }
            if !src.push_line(no, &l) {
                errors.push(error(
                    file,
                    no,
                    KeepalivedErrorKind::Syntax(
                        "the preprocessed file is larger than 4 GiB".into(),
                    ),
                ));
                return Err(errors);
            }
        }
    }
    if errors.is_empty() {
        Ok(src)
    } else {
        Err(errors)
    }
}

/// Preprocesses the files of an `include PATTERN` line.
fn include(
    line: &str,
    file: &Path,
    no: u32,
    depth: usize,
    defs: &mut Defs,
    warnings: &mut Vec<Warning>,
) -> Result<Vec<Source>, Vec<ConfigError>> {
    let location = Location {
        file: file.to_path_buf(),
        line: no,
        column: 1,
    };
    let bad = |kind| {
        vec![ConfigError::Keepalived {
            location: location.clone(),
            kind,
        }]
    };
    let args: Vec<&str> = line.split_whitespace().skip(1).collect();
    let [pattern] = args.as_slice() else {
        return Err(bad(KeepalivedErrorKind::BadValue {
            keyword: "include".into(),
            value: args.join(" "),
            expected: "exactly one file name or glob pattern",
        }));
    };
    let pattern = pattern.trim_matches('"');
    if depth >= super::parse::MAX_INCLUDE_DEPTH {
        return Err(bad(KeepalivedErrorKind::Include {
            pattern: pattern.to_string(),
            reason: format!(
                "includes nested deeper than {} (a loop?)",
                super::parse::MAX_INCLUDE_DEPTH
            ),
        }));
    }
    let base = file.parent().map(Path::to_path_buf).unwrap_or_default();
    let full = base.join(pattern);
    let files = super::parse::glob(&full);
    if files.is_empty() {
        if super::parse::has_wildcard(pattern) {
            warnings.push(Warning {
                location,
                keyword: format!("include {pattern}"),
                action: "the pattern matches no file: nothing included".into(),
            });
        } else {
            // Missing, or there but not a regular file (`include /dev/zero`): say which.
            let reason = match crate::director::read_config_text(&full) {
                Err(e) => e.to_string(),
                Ok(_) => format!("{} does not exist", full.display()),
            };
            return Err(bad(KeepalivedErrorKind::Include {
                pattern: pattern.to_string(),
                reason,
            }));
        }
    }
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for f in files {
        match load(&f, depth + 1, defs, warnings) {
            Ok(s) => out.push(s),
            Err(e) => errors.extend(e),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str, id: Option<&str>) -> Vec<(u32, String)> {
        let mut defs = Defs::new(id.map(str::to_string));
        preprocess(text, Path::new("k.conf"), 0, &mut defs, &mut Vec::new())
            .unwrap()
            .lines()
            .map(|(no, l)| (no, l.to_string()))
            .collect()
    }

    #[test]
    fn references_end_where_keepalived_ends_them() {
        assert_eq!(reference("A b"), Some(("A", 1)));
        assert_eq!(reference("A,"), Some(("A", 1)));
        assert_eq!(reference("{A}x"), Some(("A", 3)));
        assert_eq!(reference("A.b"), None);
        assert_eq!(reference("1A"), None);
        assert_eq!(reference("{A"), None);
    }

    #[test]
    fn conditionals_definitions_and_substitution() {
        let text = "$IF=eth0 # the uplink\n@lb1 priority 150\n@^lb1 priority 100\n$PAIR=${IF}, eth1\ninterface $IF\ntrack $PAIR\nkeep $UNDEFINED and $IF.x\n# $IF=no\n";
        assert_eq!(
            run(text, Some("lb1")),
            [
                (2, "     priority 150".to_string()),
                (5, "interface eth0".to_string()),
                (6, "track eth0, eth1".to_string()),
                (7, "keep $UNDEFINED and $IF.x".to_string()),
            ]
        );
        assert_eq!(
            run(text, Some("lb2"))[0],
            (3, "      priority 100".to_string())
        );
        assert_eq!(run(text, None)[0], (3, "      priority 100".to_string()));
    }

    #[test]
    fn multi_line_definitions_expand_in_place_with_their_origin_line() {
        let text =
            "$VIPS=10.0.0.1 \\\n   10.0.0.2 \\\n   10.0.0.3\nvirtual_ipaddress {\n $VIPS\n}\n";
        assert_eq!(
            run(text, None),
            [
                (4, "virtual_ipaddress {".to_string()),
                (5, " 10.0.0.1".to_string()),
                (5, "10.0.0.2".to_string()),
                (5, "10.0.0.3".to_string()),
                (6, "}".to_string()),
            ]
        );
    }

    #[test]
    fn loops_random_and_self_reference_are_errors() {
        for text in ["$A=$A x\nuse $A\n", "~SEQ(i, 1, 3)\n", "x ${_RANDOM}\n"] {
            let mut defs = Defs::default();
            assert!(
                preprocess(text, Path::new("k.conf"), 0, &mut defs, &mut Vec::new()).is_err(),
                "{text:?}"
            );
        }
    }
}
