//! Themes: YAML files naming a color for every part of the screen.
//!
//! A theme is the built-in default (`themes/dark.yaml`) plus overrides, so a theme file lists
//! only what it changes. A file with a bad key or value is reported (naming the key and the
//! value) and the default is used instead. `NO_COLOR` turns every color off; focus and cursor
//! are then shown with reverse video and bold.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ratatui::style::{Color, Modifier, Style};

/// The themes shipped with fleetdeck, embedded so the binary works from any directory.
pub const BUILTIN: &[(&str, &str)] = &[
    ("dark", include_str!("../../themes/dark.yaml")),
    ("light", include_str!("../../themes/light.yaml")),
    (
        "high-contrast",
        include_str!("../../themes/high-contrast.yaml"),
    ),
    ("colorblind", include_str!("../../themes/colorblind.yaml")),
];

/// The theme used when none is chosen or the chosen one is broken.
pub const DEFAULT_THEME: &str = "dark";

macro_rules! color_set {
    ($name:ident { $($field:ident),* $(,)? }) => {
        /// Named colors; the YAML keys are the field names.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct $name { $(pub $field: Color,)* }
        impl $name {
            /// Every key a theme file may set in this section.
            pub const KEYS: &'static [&'static str] = &[$(stringify!($field)),*];
            fn set(&mut self, key: &str, value: Color) -> bool {
                match key {
                    $(stringify!($field) => { self.$field = value; true })*
                    _ => false,
                }
            }
            fn all_reset() -> Self {
                Self { $($field: Color::Reset,)* }
            }
        }
    };
}

color_set!(Colors {
    background,
    text,
    dim,
    border,
    border_focus,
    title,
    cursor_bg,
    checkbox,
    group,
    count,
    state_idle,
    state_queued,
    state_connecting,
    state_running,
    state_ok,
    state_failed,
    state_unreachable,
    state_cancelled,
    stderr,
    log_time,
    log_debug,
    log_info,
    log_warn,
    log_error,
    prompt,
    hint_key,
    hint_text,
    status,
    danger,
    dialog_border,
    gathered_majority,
    gathered_outlier,
});

color_set!(Ansi {
    black,
    red,
    green,
    yellow,
    blue,
    magenta,
    cyan,
    white,
    bright_black,
    bright_red,
    bright_green,
    bright_yellow,
    bright_blue,
    bright_magenta,
    bright_cyan,
    bright_white,
});

impl Ansi {
    /// The theme's color for basic color `index` (0-15) as a remote program asked for it.
    pub fn get(&self, index: u8) -> Color {
        match index {
            0 => self.black,
            1 => self.red,
            2 => self.green,
            3 => self.yellow,
            4 => self.blue,
            5 => self.magenta,
            6 => self.cyan,
            7 => self.white,
            8 => self.bright_black,
            9 => self.bright_red,
            10 => self.bright_green,
            11 => self.bright_yellow,
            12 => self.bright_blue,
            13 => self.bright_magenta,
            14 => self.bright_cyan,
            _ => self.bright_white,
        }
    }
}

/// A loaded theme.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Theme {
    pub name: String,
    pub colors: Colors,
    pub ansi: Ansi,
    /// `NO_COLOR` mode: every color is `Reset`, emphasis by modifiers only.
    pub mono: bool,
}

/// The shape of a theme file.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTheme {
    name: Option<String>,
    #[serde(default)]
    colors: BTreeMap<String, serde_yaml::Value>,
    #[serde(default)]
    ansi: BTreeMap<String, serde_yaml::Value>,
}

/// Why a theme could not be used; the message names the file, the key and the bad value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("theme {origin}: {message}")]
pub struct ThemeError {
    pub origin: String,
    pub message: String,
}

impl Theme {
    /// The built-in default theme. It is parsed from the embedded `dark.yaml`; the hard-coded
    /// colors underneath only matter if that file lacks a key (a test makes sure it does not).
    pub fn default_theme() -> Theme {
        let base = Theme {
            name: DEFAULT_THEME.to_string(),
            colors: Colors {
                text: Color::White,
                border: Color::DarkGray,
                border_focus: Color::Cyan,
                ..Colors::all_reset()
            },
            ansi: Ansi::all_reset(),
            mono: false,
        };
        let (_, text) = BUILTIN[0];
        Theme::parse_over(base.clone(), text, "dark (built-in)").unwrap_or(base)
    }

    /// Parses a theme file's text over the default theme.
    pub fn parse(text: &str, origin: &str) -> Result<Theme, ThemeError> {
        Theme::parse_over(Theme::default_theme(), text, origin)
    }

    fn parse_over(mut theme: Theme, text: &str, origin: &str) -> Result<Theme, ThemeError> {
        let err = |message: String| ThemeError {
            origin: origin.to_string(),
            message,
        };
        let raw: RawTheme = serde_yaml::from_str(text).map_err(|e| err(e.to_string()))?;
        if let Some(name) = raw.name {
            theme.name = name;
        }
        for (section, map) in [("colors", &raw.colors), ("ansi", &raw.ansi)] {
            for (key, value) in map {
                let value_text = match value {
                    serde_yaml::Value::String(s) => s.clone(),
                    serde_yaml::Value::Number(n) => n.to_string(),
                    other => serde_yaml::to_string(other)
                        .unwrap_or_default()
                        .trim()
                        .to_string(),
                };
                let color = value_text.parse::<Color>().map_err(|_| {
                    err(format!(
                        "key `{section}.{key}`: bad color value `{value_text}` (expected a name \
                         like red or light-blue, an index 0-255, or #rrggbb)"
                    ))
                })?;
                let known = if section == "colors" {
                    theme.colors.set(key, color)
                } else {
                    theme.ansi.set(key, color)
                };
                if !known {
                    let keys = if section == "colors" {
                        Colors::KEYS
                    } else {
                        Ansi::KEYS
                    };
                    let hint = strsim_closest(key, keys)
                        .map(|k| format!(" (did you mean `{k}`?)"))
                        .unwrap_or_default();
                    return Err(err(format!("unknown key `{section}.{key}`{hint}")));
                }
            }
        }
        Ok(theme)
    }

    /// Loads a theme by name (a shipped theme, or `<config>/themes/NAME.yaml`) or by path.
    pub fn load(spec: &str) -> Result<Theme, ThemeError> {
        if let Some((_, text)) = BUILTIN.iter().find(|(name, _)| *name == spec) {
            return Theme::parse(text, &format!("{spec} (built-in)"));
        }
        let path = if spec.contains('/') || Path::new(spec).extension().is_some() {
            PathBuf::from(spec)
        } else {
            crate::paths::themes_dir().join(format!("{spec}.yaml"))
        };
        if !path.exists() && !spec.contains('/') && Path::new(spec).extension().is_none() {
            let names: Vec<&str> = BUILTIN.iter().map(|(n, _)| *n).collect();
            return Err(ThemeError {
                origin: format!("`{spec}`"),
                message: format!(
                    "no such theme (shipped: {}; or give a path to a YAML file)",
                    names.join(", ")
                ),
            });
        }
        let text = std::fs::read_to_string(&path).map_err(|e| ThemeError {
            origin: path.display().to_string(),
            message: e.to_string(),
        })?;
        Theme::parse(&text, &path.display().to_string())
    }

    /// Loads `spec`, or the default with a message saying why.
    pub fn load_or_default(spec: Option<&str>) -> (Theme, Option<String>) {
        match spec {
            None => (Theme::default_theme(), None),
            Some(spec) => match Theme::load(spec) {
                Ok(theme) => (theme, None),
                Err(e) => (
                    Theme::default_theme(),
                    Some(format!("{e}; using the default theme `{DEFAULT_THEME}`")),
                ),
            },
        }
    }

    /// The same theme with every color removed (for `NO_COLOR`).
    #[must_use]
    pub fn monochrome(mut self) -> Theme {
        self.colors = Colors::all_reset();
        self.ansi = Ansi::all_reset();
        self.mono = true;
        self
    }

    /// Applies `NO_COLOR` (any non-empty value) from the environment.
    #[must_use]
    pub fn respecting_no_color(self) -> Theme {
        if no_color() {
            self.monochrome()
        } else {
            self
        }
    }

    pub fn base(&self) -> Style {
        Style::default()
            .fg(self.colors.text)
            .bg(self.colors.background)
    }

    pub fn fg(&self, color: Color) -> Style {
        Style::default().fg(color)
    }

    /// The row under the cursor in a focused list.
    pub fn cursor(&self) -> Style {
        if self.mono {
            Style::default().add_modifier(Modifier::REVERSED)
        } else {
            Style::default().bg(self.colors.cursor_bg)
        }
    }

    pub fn border(&self, focused: bool) -> Style {
        if focused {
            let s = Style::default().fg(self.colors.border_focus);
            if self.mono {
                s.add_modifier(Modifier::BOLD)
            } else {
                s
            }
        } else {
            Style::default().fg(self.colors.border)
        }
    }
}

pub use crate::util::no_color;

/// Names of the themes `t` cycles through.
pub fn builtin_names() -> Vec<&'static str> {
    BUILTIN.iter().map(|(n, _)| *n).collect()
}

fn strsim_closest<'a>(key: &str, keys: &[&'a str]) -> Option<&'a str> {
    keys.iter()
        .map(|k| (strsim::jaro_winkler(key, k), *k))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_theme_file_sets_every_key() {
        let raw: RawTheme = serde_yaml::from_str(BUILTIN[0].1).expect("dark.yaml parses");
        for key in Colors::KEYS {
            assert!(
                raw.colors.contains_key(*key),
                "dark.yaml lacks colors.{key}"
            );
        }
        for key in Ansi::KEYS {
            assert!(raw.ansi.contains_key(*key), "dark.yaml lacks ansi.{key}");
        }
    }

    #[test]
    fn every_shipped_theme_loads_and_differs_from_the_default() {
        let default = Theme::default_theme();
        for (name, _) in BUILTIN {
            let theme = Theme::load(name).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(theme.name, *name);
            if *name != DEFAULT_THEME {
                assert_ne!(theme.colors, default.colors, "{name} changes nothing");
            }
        }
    }

    #[test]
    fn bad_value_names_key_and_value() {
        let err = Theme::parse("colors:\n  state_ok: grean\n", "t.yaml").expect_err("bad color");
        let text = err.to_string();
        assert!(text.contains("t.yaml"), "{text}");
        assert!(text.contains("colors.state_ok"), "{text}");
        assert!(text.contains("grean"), "{text}");
    }

    #[test]
    fn unknown_key_is_named_with_a_suggestion() {
        let err = Theme::parse("colors:\n  state_okk: red\n", "t.yaml").expect_err("bad key");
        assert!(err.to_string().contains("`colors.state_okk`"), "{err}");
        assert!(err.to_string().contains("state_ok"), "{err}");
    }

    #[test]
    fn broken_theme_falls_back_to_default_with_message() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("bad.yaml");
        std::fs::write(&path, "colors:\n  text: '#12345'\n").expect("write");
        let (theme, msg) = Theme::load_or_default(Some(path.to_str().expect("utf8")));
        assert_eq!(theme, Theme::default_theme());
        let msg = msg.expect("a message");
        assert!(
            msg.contains("colors.text") && msg.contains("#12345"),
            "{msg}"
        );
    }

    #[test]
    fn unknown_theme_name_lists_shipped_ones() {
        let err = Theme::load("nosuch").expect_err("unknown");
        assert!(err.to_string().contains("high-contrast"), "{err}");
    }

    #[test]
    fn override_keeps_other_keys_from_default() {
        let t = Theme::parse("colors:\n  text: '#010203'\n", "x").expect("parse");
        assert_eq!(t.colors.text, Color::Rgb(1, 2, 3));
        assert_eq!(t.colors.state_ok, Theme::default_theme().colors.state_ok);
    }

    #[test]
    fn monochrome_has_no_color() {
        let t = Theme::default_theme().monochrome();
        assert_eq!(t.colors.state_failed, Color::Reset);
        assert!(t.cursor().add_modifier.contains(Modifier::REVERSED));
    }
}
