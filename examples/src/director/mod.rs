//! `ha-director`'s library side: a typed configuration model ([`model`]), its TOML form
//! ([`toml_format`]), a keepalived.conf reader ([`keepalived`]), an ldirectord.cf reader
//! ([`ldirectord`]), semantic validation and
//! script security ([`validate`]), the translation to the runtime's configuration
//! ([`build`]), status and metrics serving ([`observe`]), systemd notifications
//! ([`sdnotify`]) and the LVS-DR real-server side ([`realserver`]).
//!
//! ```no_run
//! use ha_examples::director;
//! let loaded = director::load_keepalived_file("/etc/keepalived/keepalived.conf".as_ref())
//!     .map_err(|errs| errs.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))?;
//! for w in &loaded.warnings {
//!     eprintln!("{w}");
//! }
//! println!("{}", director::toml_format::to_toml(&loaded.config).map_err(|e| e.to_string())?);
//! # Ok::<(), String>(())
//! ```

pub mod alert;
pub mod build;
pub mod heartbeat;
pub mod keepalived;
pub mod ldirectord;
pub mod metrics_compat;
pub mod model;
pub mod observe;
pub mod realserver;
pub mod sdnotify;
pub mod status_page;
pub mod toml_format;
pub mod validate;

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

pub use model::Config;
pub use validate::{Item, ValidationError};

/// A place in a configuration file (1-based line and character column).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Location {
    /// The file.
    pub file: PathBuf,
    /// Line, from 1.
    pub line: u32,
    /// Column in characters, from 1.
    pub column: u32,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
    }
}

/// An error that makes a configuration unusable. Displays as `file:line:column: message`
/// (like `keepalived -t`) when the place is known.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A configuration path that is not a regular file (a directory, FIFO, device, socket).
    #[error("{}: is {what}, not a configuration file", path.display())]
    NotAFile {
        /// The path.
        path: PathBuf,
        /// What it is.
        what: &'static str,
    },
    /// A configuration file larger than [`MAX_CONFIG_BYTES`].
    #[error("{}: larger than {limit} bytes: not read", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The limit.
        limit: u64,
    },
    /// TOML syntax or type error.
    #[error("{location}: {message}")]
    Toml {
        /// Where.
        location: Location,
        /// The parser's message.
        message: String,
    },
    /// The model could not be printed as TOML.
    #[error("cannot print TOML: {0}")]
    Serialize(String),
    /// A keepalived.conf syntax, value or safety error.
    #[error("{location}: {kind}")]
    Keepalived {
        /// Where.
        location: Location,
        /// What.
        kind: keepalived::KeepalivedErrorKind,
    },
    /// A heartbeat `ha.cf`, `haresources` or `authkeys` syntax, value or safety error.
    #[error("{location}: {kind}")]
    Heartbeat {
        /// Where.
        location: Location,
        /// What.
        kind: heartbeat::HeartbeatErrorKind,
    },
    /// An ldirectord.cf syntax, value or name-resolution error.
    #[error("{location}: {kind}")]
    Ldirectord {
        /// Where.
        location: Location,
        /// What.
        kind: ldirectord::LdirectordErrorKind,
    },
    /// A semantic error found by [`validate::validate`].
    #[error("{}: {error}", match location { Some(l) => l.to_string(), None => file.display().to_string() })]
    Invalid {
        /// The configuration file.
        file: PathBuf,
        /// Where the item is defined, when known.
        location: Option<Location>,
        /// What.
        error: Box<ValidationError>,
    },
}

/// A keyword of a keepalived.conf that is not run as written, and what happens instead
/// (ignored, or adjusted as keepalived adjusts it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// Where.
    pub location: Location,
    /// The keyword.
    pub keyword: String,
    /// What happens instead (e.g. "ignored").
    pub action: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A keyword that is simply not run says so; the others (adjusted as keepalived adjusts
        // them, dropped because nothing would change) say what happens.
        if self.action == "ignored" {
            write!(
                f,
                "{}: warning: `{}` is not supported: ignored",
                self.location, self.keyword
            )
        } else {
            write!(
                f,
                "{}: warning: `{}`: {}",
                self.location, self.keyword, self.action
            )
        }
    }
}

/// A loaded and validated configuration.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The configuration.
    pub config: Config,
    /// Keywords not run as written (keepalived.conf and ldirectord.cf).
    pub warnings: Vec<Warning>,
    /// Where each item is defined, when known.
    pub locations: HashMap<Item, Location>,
}

impl Loaded {
    /// A one-paragraph summary for `check-config`.
    pub fn summary(&self) -> String {
        let c = &self.config;
        let reals: usize = c.virtual_servers.iter().map(|v| v.real_servers.len()).sum();
        let checks: usize = c
            .virtual_servers
            .iter()
            .flat_map(|v| &v.real_servers)
            .map(|r| r.checks.len())
            .sum();
        format!(
            "{} instance(s), {} sync group(s), {} resource group(s), {} script(s), {} virtual server(s), {} real server(s), {} check(s), {} warning(s)",
            c.instances.len(),
            c.sync_groups.len(),
            c.resource_groups.len(),
            c.scripts.len(),
            c.virtual_servers.len(),
            reals,
            checks,
            self.warnings.len()
        )
    }
}

/// The largest configuration file read (keepalived.conf and its includes, TOML, heartbeat's
/// files, ldirectord.cf): far above any real one, small enough that a wrong `include` of a
/// log or an image fails at once.
pub const MAX_CONFIG_BYTES: u64 = 16 << 20;

/// Reads a configuration file as text: a regular file (after symlinks) of at most
/// [`MAX_CONFIG_BYTES`], UTF-8. A FIFO, device or directory (`include /dev/zero`) is refused
/// before anything is read, and a file that grows while read stops at the limit.
pub fn read_config_text(path: &Path) -> Result<String, ConfigError> {
    use std::io::Read;
    let io = |source| ConfigError::Io {
        path: path.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    if !meta.is_file() {
        let kind = meta.file_type();
        use std::os::unix::fs::FileTypeExt;
        let what = if kind.is_dir() {
            "a directory"
        } else if kind.is_fifo() {
            "a FIFO"
        } else if kind.is_char_device() || kind.is_block_device() {
            "a device"
        } else if kind.is_socket() {
            "a socket"
        } else {
            "not a regular file"
        };
        return Err(ConfigError::NotAFile {
            path: path.to_path_buf(),
            what,
        });
    }
    let too_large = || ConfigError::TooLarge {
        path: path.to_path_buf(),
        limit: MAX_CONFIG_BYTES,
    };
    if meta.len() > MAX_CONFIG_BYTES {
        return Err(too_large());
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .map_err(io)?
        .take(MAX_CONFIG_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > MAX_CONFIG_BYTES {
        return Err(too_large());
    }
    String::from_utf8(bytes).map_err(|e| {
        io(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "not UTF-8 text (invalid byte at offset {})",
                e.utf8_error().valid_up_to()
            ),
        ))
    })
}

/// [`read_config_text`] with the error as the readers' error list.
pub(crate) fn read(path: &Path) -> Result<String, Vec<ConfigError>> {
    read_config_text(path).map_err(|e| vec![e])
}

pub(crate) fn finish(
    file: &Path,
    config: Config,
    warnings: Vec<Warning>,
    locations: HashMap<Item, Location>,
) -> Result<Loaded, Vec<ConfigError>> {
    let mut errors = validate::validate(&config);
    if errors.is_empty() && config.global.script_security {
        errors = validate::check_script_security(&config);
    }
    if errors.is_empty() {
        return Ok(Loaded {
            config,
            warnings,
            locations,
        });
    }
    Err(errors
        .into_iter()
        .map(|error| ConfigError::Invalid {
            file: file.to_path_buf(),
            location: error.item().and_then(|i| locations.get(i)).cloned(),
            error: Box::new(error),
        })
        .collect())
}

/// Parses TOML text and validates it.
pub fn load_toml_str(text: &str, file: &Path) -> Result<Loaded, Vec<ConfigError>> {
    let config = toml_format::parse_toml(text, file).map_err(|e| vec![e])?;
    let mut locations = HashMap::new();
    let items = config
        .scripts
        .iter()
        .map(|s| Item::Script(s.name.clone()))
        .chain(
            config
                .instances
                .iter()
                .map(|s| Item::Instance(s.name.clone())),
        )
        .chain(
            config
                .track_files
                .iter()
                .map(|s| Item::TrackFile(s.name.clone())),
        )
        .chain(
            config
                .track_processes
                .iter()
                .map(|s| Item::TrackProcess(s.name.clone())),
        )
        .chain(
            config
                .track_pings
                .iter()
                .map(|s| Item::TrackPing(s.name.clone())),
        )
        .chain(
            config
                .sync_groups
                .iter()
                .map(|s| Item::SyncGroup(s.name.clone())),
        )
        .chain(
            config
                .resource_groups
                .iter()
                .map(|s| Item::ResourceGroup(s.name.clone())),
        )
        .chain(
            config
                .virtual_servers
                .iter()
                .map(|s| Item::VirtualServer(s.name.clone())),
        )
        .chain(
            config
                .virtual_server_groups
                .iter()
                .map(|s| Item::VirtualServerGroup(s.name.clone())),
        );
    for item in items {
        let name = match &item {
            Item::Script(n)
            | Item::TrackFile(n)
            | Item::TrackProcess(n)
            | Item::TrackPing(n)
            | Item::Instance(n)
            | Item::SyncGroup(n)
            | Item::ResourceGroup(n)
            | Item::VirtualServer(n)
            | Item::VirtualServerGroup(n) => n.clone(),
            Item::Global | Item::Bgp => continue,
        };
        if let Some(l) = toml_format::find_name(text, file, &name) {
            locations.insert(item, l);
        }
    }
    if let Some(l) = toml_format::find_table(text, file, "bgp") {
        locations.insert(Item::Bgp, l);
    }
    finish(file, config, Vec::new(), locations)
}

/// Reads a TOML configuration file and validates it.
pub fn load_toml_file(path: &Path) -> Result<Loaded, Vec<ConfigError>> {
    load_toml_str(&read(path)?, path)
}

/// Reads a keepalived.conf (with its includes), converts it and validates the result.
pub fn load_keepalived_file(path: &Path) -> Result<Loaded, Vec<ConfigError>> {
    let out = keepalived::read_file(path)?;
    finish(path, out.config, out.warnings, out.locations)
}

/// [`load_keepalived_file`] with `config_id` for the file's `@ID` lines (keepalived
/// `--config-id`).
pub fn load_keepalived_file_with_config_id(
    path: &Path,
    config_id: Option<String>,
) -> Result<Loaded, Vec<ConfigError>> {
    let out = keepalived::read_file_with_config_id(path, config_id)?;
    finish(path, out.config, out.warnings, out.locations)
}

/// Reads an ldirectord.cf, converts it and validates the result (virtual servers only, no
/// VRRP; see [`ldirectord`]).
pub fn load_ldirectord_file(path: &Path) -> Result<Loaded, Vec<ConfigError>> {
    let (config, warnings, locations) = ldirectord::read_ldirectord(path)?.into_config();
    finish(path, config, warnings, locations)
}

/// Converts ldirectord.cf text (`file` names it in messages) and validates the result.
pub fn load_ldirectord_str(text: &str, file: &Path) -> Result<Loaded, Vec<ConfigError>> {
    let (config, warnings, locations) = ldirectord::read_ldirectord_str(text, file)?.into_config();
    finish(file, config, warnings, locations)
}

/// Converts keepalived.conf text (includes resolved relative to `file`'s folder) and
/// validates the result.
pub fn load_keepalived_str(text: &str, file: &Path) -> Result<Loaded, Vec<ConfigError>> {
    let out = keepalived::read_str(text, file)?;
    finish(file, out.config, out.warnings, out.locations)
}
