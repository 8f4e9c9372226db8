//! JSON for a terminal: every string escapes, besides what JSON requires (quote, backslash,
//! C0), the code points a terminal may act on — DEL, C1 controls (U+0080–U+009F: U+009B is a
//! one-byte CSI on many terminals), Unicode bidi controls and the line/paragraph separators —
//! as `\uXXXX`. The text is still JSON and parses back to exactly the same strings.

use std::io;

use serde::Serialize;
use serde_json::ser::{CompactFormatter, Formatter, PrettyFormatter};

/// True for a code point JSON faces never print raw (C0 is escaped by serde_json itself).
pub fn needs_escape(c: char) -> bool {
    matches!(
        c,
        '\u{7F}'..='\u{9F}'
            | '\u{061C}'
            | '\u{200E}'
            | '\u{200F}'
            | '\u{2028}'
            | '\u{2029}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2066}'..='\u{2069}'
    )
}

/// A [`Formatter`] that writes like `F` and escapes [`needs_escape`] code points in strings
/// (keys included) as `\uXXXX`.
#[derive(Debug, Clone, Default)]
pub struct TerminalSafe<F>(pub F);

impl<F: Formatter> Formatter for TerminalSafe<F> {
    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            if needs_escape(c) {
                writer.write_all(&fragment.as_bytes()[start..i])?;
                // Every escaped code point is in the BMP: one `\uXXXX`.
                write!(writer, "\\u{:04x}", c as u32)?;
                start = i + c.len_utf8();
            }
        }
        writer.write_all(&fragment.as_bytes()[start..])
    }

    // Layout (what PrettyFormatter changes) goes to the wrapped formatter.
    fn begin_array<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_array(w)
    }
    fn end_array<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_array(w)
    }
    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.0.begin_array_value(w, first)
    }
    fn end_array_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_array_value(w)
    }
    fn begin_object<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_object(w)
    }
    fn end_object<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_object(w)
    }
    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.0.begin_object_key(w, first)
    }
    fn end_object_key<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_object_key(w)
    }
    fn begin_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_object_value(w)
    }
    fn end_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_object_value(w)
    }
}

fn write_with<T: Serialize + ?Sized, F: Formatter>(value: &T, f: F) -> serde_json::Result<String> {
    let mut buf = Vec::with_capacity(128);
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, TerminalSafe(f));
    value.serialize(&mut ser)?;
    // serde_json writes only UTF-8, and the escapes are ASCII.
    Ok(String::from_utf8(buf).expect("serde_json writes UTF-8"))
}

/// `value` as one line of JSON (like `serde_json::to_string`), safe to print to a terminal.
pub fn to_terminal_safe_json<T: Serialize + ?Sized>(value: &T) -> serde_json::Result<String> {
    write_with(value, CompactFormatter)
}

/// `value` as indented JSON (like `serde_json::to_string_pretty`), safe to print to a terminal.
pub fn to_terminal_safe_json_pretty<T: Serialize + ?Sized>(
    value: &T,
) -> serde_json::Result<String> {
    write_with(value, PrettyFormatter::new())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// Every code point the JSON faces must escape, beyond serde_json's C0.
    fn listed() -> Vec<char> {
        let mut v: Vec<char> = ('\u{7F}'..='\u{9F}').collect();
        v.extend(['\u{061C}', '\u{200E}', '\u{200F}', '\u{2028}', '\u{2029}']);
        v.extend('\u{202A}'..='\u{202E}');
        v.extend('\u{2066}'..='\u{2069}');
        v
    }

    #[test]
    fn every_listed_code_point_is_escaped_and_round_trips() {
        for c in listed()
            .into_iter()
            .chain(('\0'..='\u{1F}').collect::<Vec<_>>())
        {
            let s = format!("a{c}b{c}");
            let json = to_terminal_safe_json(&s).unwrap();
            assert!(!json.contains(c), "U+{:04X} raw in {json:?}", c as u32);
            assert!(json.is_ascii(), "{json:?}");
            if c >= '\u{7F}' {
                let esc = format!("\\u{:04x}", c as u32);
                assert_eq!(json, format!("\"a{esc}b{esc}\""));
            }
            let back: String = serde_json::from_str(&json).unwrap();
            assert_eq!(back, s);
        }
    }

    #[test]
    fn keys_nested_values_and_pretty_are_escaped() {
        let mut m = BTreeMap::new();
        m.insert("k\u{9B}ey\u{202E}", vec!["v\u{2067}", "\u{85}x"]);
        for json in [
            to_terminal_safe_json(&m).unwrap(),
            to_terminal_safe_json_pretty(&m).unwrap(),
        ] {
            assert!(!json.chars().any(needs_escape), "{json:?}");
            let back: BTreeMap<String, Vec<String>> = serde_json::from_str(&json).unwrap();
            let want: BTreeMap<String, Vec<String>> = m
                .iter()
                .map(|(k, v)| {
                    (
                        (*k).to_string(),
                        v.iter().map(|s| (*s).to_string()).collect(),
                    )
                })
                .collect();
            assert_eq!(back, want);
        }
    }

    #[test]
    fn same_shape_as_serde_json_for_plain_text() {
        let v = serde_json::json!({
            "plain": "hello world", "accent": "é", "cjk": "日本", "emoji": "🦀",
            "quote": "a\"b\\c\n", "n": 3, "none": null, "list": [1, "x"], "empty": {},
        });
        assert_eq!(
            to_terminal_safe_json(&v).unwrap(),
            serde_json::to_string(&v).unwrap()
        );
        assert_eq!(
            to_terminal_safe_json_pretty(&v).unwrap(),
            serde_json::to_string_pretty(&v).unwrap()
        );
        let s = to_terminal_safe_json("é 日本").unwrap();
        assert_eq!(s, "\"é 日本\"");
    }

    #[test]
    fn neighbours_of_the_ranges_stay_raw() {
        for c in [
            '~', '\u{A0}', '\u{061B}', '\u{200D}', '\u{2027}', '\u{202F}', '\u{2065}', '\u{206A}',
        ] {
            assert!(!needs_escape(c), "U+{:04X}", c as u32);
        }
    }
}
