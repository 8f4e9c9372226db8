//! SGR parameters (`CSI params m`) read into a [`TextStyle`]: both the semicolon and the
//! colon (ITU T.416) forms of extended colours, out-of-range values ignored rather than wrapped.

use super::style::{AnsiColor, TextStyle};

/// Applies the parameters of one SGR sequence (`CSI params m`) to `style`.
pub(super) fn apply_sgr(style: &mut TextStyle, params: &[u8]) {
    // Split into parameters (';') each with sub-parameters (':'); empty means 0.
    let groups: Vec<Vec<u16>> = params
        .split(|&b| b == b';')
        .map(|p| {
            p.split(|&b| b == b':')
                .map(|s| {
                    s.iter()
                        .filter(|d| d.is_ascii_digit())
                        .fold(0u16, |acc, d| {
                            acc.saturating_mul(10).saturating_add(u16::from(d - b'0'))
                        })
                })
                .collect()
        })
        .collect();
    let mut i = 0;
    while i < groups.len() {
        let g = &groups[i];
        let code = g.first().copied().unwrap_or(0);
        match code {
            0 => *style = TextStyle::default(),
            1 => style.bold = true,
            2 => style.dim = true,
            3 => style.italic = true,
            4 => style.underline = g.get(1).copied().unwrap_or(1) != 0,
            7 => style.reverse = true,
            21 | 24 => style.underline = false,
            22 => {
                style.bold = false;
                style.dim = false;
            }
            23 => style.italic = false,
            27 => style.reverse = false,
            30..=37 => style.fg = Some(AnsiColor::Indexed((code - 30) as u8)),
            39 => style.fg = None,
            40..=47 => style.bg = Some(AnsiColor::Indexed((code - 40) as u8)),
            49 => style.bg = None,
            90..=97 => style.fg = Some(AnsiColor::Indexed((code - 90 + 8) as u8)),
            100..=107 => style.bg = Some(AnsiColor::Indexed((code - 100 + 8) as u8)),
            38 | 48 => {
                let (color, used) = if g.len() > 1 {
                    (extended_color(&g[1..], true), 0)
                } else {
                    // Semicolon form: the colour's parameters are the following groups.
                    let rest: Vec<u16> = groups[i + 1..]
                        .iter()
                        .map(|x| x.first().copied().unwrap_or(0))
                        .collect();
                    let used = match rest.first() {
                        Some(5) => 2,
                        Some(2) => 4,
                        _ => rest.len(),
                    };
                    (extended_color(&rest, false), used.min(rest.len()))
                };
                if let Some(color) = color {
                    if code == 38 {
                        style.fg = Some(color);
                    } else {
                        style.bg = Some(color);
                    }
                }
                i += used;
            }
            _ => {}
        }
        i += 1;
    }
}

/// Parses `5;n` or `2;r;g;b` (`colon` also allows `2:colorspace:r:g:b`).
fn extended_color(p: &[u16], colon: bool) -> Option<AnsiColor> {
    let byte = |v: u16| u8::try_from(v).ok();
    match p.first()? {
        5 => Some(AnsiColor::Indexed(byte(*p.get(1)?)?)),
        2 => {
            let rgb = if colon && p.len() >= 5 {
                &p[2..5]
            } else {
                p.get(1..4)?
            };
            Some(AnsiColor::Rgb(byte(rgb[0])?, byte(rgb[1])?, byte(rgb[2])?))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn sgr_colon_forms_bright_and_resets() {
        let mut st = TextStyle::default();
        apply_sgr(&mut st, b"38:2::10:20:30");
        assert_eq!(st.fg, Some(AnsiColor::Rgb(10, 20, 30)));
        apply_sgr(&mut st, b"38:5:9;4;7;3;2");
        assert_eq!(st.fg, Some(AnsiColor::Indexed(9)));
        assert!(st.underline && st.reverse && st.italic && st.dim);
        apply_sgr(&mut st, b"24;27;23;22;39;92;104");
        assert_eq!(
            st,
            TextStyle {
                fg: Some(AnsiColor::Indexed(10)),
                bg: Some(AnsiColor::Indexed(12)),
                ..Default::default()
            }
        );
        apply_sgr(&mut st, b"");
        assert_eq!(st, TextStyle::default());
        // Out-of-range colour is ignored, not wrapped.
        apply_sgr(&mut st, b"38;5;300");
        assert_eq!(st.fg, None);
        // Truncated extended colour does not panic.
        apply_sgr(&mut st, b"38;2;1");
        apply_sgr(&mut st, b"48");
        assert_eq!(st.bg, None);
    }
}
