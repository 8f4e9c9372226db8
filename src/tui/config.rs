//! The console's config file: `<config dir>/console.yaml` (every key optional).
//!
//! ```yaml
//! theme: light            # or a path to a theme file
//! fanout: 64
//! tail_lines: 10000
//! confirm_above: 20
//! dangerous: ['\brm\s+-rf\b', '\breboot\b']   # regexes; replaces the built-in list
//! pty: false
//! command_timeout: 600    # seconds
//! max_output: 1G          # output kept per host per job (K, M, G binary; KB, MB decimal)
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use regex::Regex;

use super::app::Settings;

#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsoleConfig {
    pub theme: Option<String>,
    pub fanout: Option<usize>,
    pub tail_lines: Option<usize>,
    pub confirm_above: Option<usize>,
    pub dangerous: Option<Vec<String>>,
    pub pty: Option<bool>,
    pub command_timeout: Option<u64>,
    /// A size (`512M`, `1G`) or a number of bytes.
    pub max_output: Option<SizeValue>,
}

/// `max_output:` as YAML gives it: `1G` is a string, `1048576` a number.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(untagged)]
pub enum SizeValue {
    Bytes(u64),
    Text(String),
}

pub fn config_path() -> PathBuf {
    crate::paths::console_config_file()
}

impl ConsoleConfig {
    /// Reads the file; a missing file is the default config.
    pub fn load(path: &Path) -> Result<ConsoleConfig, String> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(ConsoleConfig::default())
            }
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        ConsoleConfig::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    pub fn parse(text: &str) -> Result<ConsoleConfig, String> {
        if text.trim().is_empty() {
            return Ok(ConsoleConfig::default());
        }
        serde_yaml::from_str(text).map_err(|e| e.to_string())
    }

    /// The settings this config gives (defaults for what it does not say).
    pub fn settings(&self) -> Result<Settings, String> {
        let mut s = Settings::default();
        if let Some(n) = self.fanout {
            if n == 0 {
                return Err("key `fanout`: must be at least 1 (got 0)".into());
            }
            s.fanout = n;
        }
        if let Some(n) = self.tail_lines {
            if n == 0 {
                return Err("key `tail_lines`: must be at least 1 (got 0)".into());
            }
            s.tail_lines = n;
        }
        if let Some(n) = self.confirm_above {
            s.confirm_above = n;
        }
        if let Some(list) = &self.dangerous {
            s.dangerous = list
                .iter()
                .map(|p| {
                    Regex::new(p).map_err(|e| format!("key `dangerous`: bad regex `{p}`: {e}"))
                })
                .collect::<Result<_, _>>()?;
        }
        if let Some(p) = self.pty {
            s.pty = p;
        }
        s.command_timeout = self.command_timeout.map(Duration::from_secs);
        match &self.max_output {
            Some(SizeValue::Bytes(0)) => {
                return Err("key `max_output`: must be more than 0 bytes (got 0)".into())
            }
            Some(SizeValue::Bytes(n)) => s.max_output = *n,
            Some(SizeValue::Text(t)) => {
                s.max_output =
                    crate::engine::parse_size(t).map_err(|e| format!("key `max_output`: {e}"))?;
            }
            None => {}
        }
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rejects() {
        let c = ConsoleConfig::parse("fanout: 8\ndangerous: ['\\bfoo\\b']\n").expect("parse");
        let s = c.settings().expect("settings");
        assert_eq!(s.fanout, 8);
        assert_eq!(s.dangerous.len(), 1);
        let e = ConsoleConfig::parse("fanoot: 8\n").expect_err("unknown key");
        assert!(e.contains("fanoot"), "{e}");
        let e = ConsoleConfig::parse("dangerous: ['(']\n")
            .expect("parse")
            .settings()
            .expect_err("bad regex");
        assert!(e.contains("dangerous") && e.contains('('), "{e}");
    }

    #[test]
    fn max_output_takes_sizes_and_refuses_nonsense() {
        let get = |text: &str| ConsoleConfig::parse(text).expect("parse").settings();
        assert_eq!(get("").expect("ok").max_output, 1 << 30);
        assert_eq!(get("max_output: 10M\n").expect("ok").max_output, 10 << 20);
        assert_eq!(get("max_output: 4096\n").expect("ok").max_output, 4096);
        let e = get("max_output: lots\n").expect_err("bad size");
        assert!(e.contains("max_output") && e.contains("lots"), "{e}");
        let e = get("max_output: 0\n").expect_err("zero");
        assert!(e.contains("max_output"), "{e}");
    }
}
