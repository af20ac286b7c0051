//! The TOML form of [`Config`]: parse with `line:column` errors, and print.

use std::path::Path;

use super::model::Config;
use super::{ConfigError, Location};

/// Converts a byte offset in `text` to a 1-based `(line, column)`; the column counts
/// characters.
pub fn line_col(text: &str, offset: usize) -> (u32, u32) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.bytes().filter(|&b| b == b'\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = before[line_start..].chars().count() + 1;
    (
        u32::try_from(line).unwrap_or(u32::MAX),
        u32::try_from(col).unwrap_or(u32::MAX),
    )
}

/// Parses TOML text (from `file`, used in error locations) into a [`Config`]. Only syntax and
/// types are checked here; call [`super::validate::validate`] for the semantics.
pub fn parse_toml(text: &str, file: &Path) -> Result<Config, ConfigError> {
    toml::from_str::<Config>(text).map_err(|e| {
        let (line, column) = e.span().map_or((1, 1), |s| line_col(text, s.start));
        ConfigError::Toml {
            location: Location {
                file: file.to_path_buf(),
                line,
                column,
            },
            message: e.message().trim_end().to_string(),
        }
    })
}

/// Prints a [`Config`] as TOML that [`parse_toml`] reads back to an equal value.
pub fn to_toml(cfg: &Config) -> Result<String, ConfigError> {
    toml::to_string(cfg).map_err(|e| ConfigError::Serialize(e.to_string()))
}

/// Finds the header line of the TOML table `[table]` in `text`, for locating validation errors
/// about a section that has no name.
pub fn find_table(text: &str, file: &Path, table: &str) -> Option<Location> {
    text.lines().enumerate().find_map(|(i, l)| {
        let t = l.trim_start();
        let inner = t.strip_prefix('[')?.split(']').next()?.trim();
        (inner == table && !t.starts_with("[[")).then(|| Location {
            file: file.to_path_buf(),
            line: u32::try_from(i + 1).unwrap_or(u32::MAX),
            column: u32::try_from(l.len() - t.len() + 1).unwrap_or(1),
        })
    })
}

/// Finds the line where the item called `name` is defined in TOML `text`
/// (the first `name = "..."` line), for locating validation errors.
pub fn find_name(text: &str, file: &Path, name: &str) -> Option<Location> {
    let quoted = format!("{name:?}");
    text.lines().enumerate().find_map(|(i, l)| {
        let t = l.trim_start();
        let rest = t
            .strip_prefix("name")?
            .trim_start()
            .strip_prefix('=')?
            .trim();
        let rest = rest.split('#').next().unwrap_or("").trim();
        (rest == quoted || rest == format!("'{name}'")).then(|| Location {
            file: file.to_path_buf(),
            line: u32::try_from(i + 1).unwrap_or(u32::MAX),
            column: u32::try_from(l.len() - t.len() + 1).unwrap_or(1),
        })
    })
}
