//! Keys → the bytes a terminal sends for them (xterm's encoding), for broadcast input.
//!
//! crossterm decodes the operator's terminal into `KeyEvent`s; a remote shell, `vi` or `less`
//! expects the bytes an xterm would have sent. No crate encodes crossterm's events this way
//! (termwiz encodes its own key type, tui-term only draws), so this module does it: cursor
//! keys follow the application-cursor mode the host asked for (DECCKM), modified keys use
//! xterm's `CSI 1 ; m X` / `CSI n ; m ~` forms, Alt prefixes ESC, Ctrl folds to C0.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

/// What the host's terminal state changes in the encoding.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Modes {
    /// DECCKM (`ESC [ ? 1 h`): unmodified cursor keys, Home and End send `ESC O x`.
    pub application_cursor: bool,
}

/// The bytes for `key`, or nothing for a key release or a key no terminal sends.
pub fn encode(key: KeyEvent, modes: Modes) -> Vec<u8> {
    if key.kind == KeyEventKind::Release {
        return Vec::new();
    }
    let m = key.modifiers;
    let alt = m.contains(KeyModifiers::ALT);
    let ctrl = m.contains(KeyModifiers::CONTROL);
    let mut out = Vec::new();
    match key.code {
        KeyCode::Char(c) => {
            if alt {
                out.push(0x1b);
            }
            if ctrl {
                out.extend(ctrl_char(c));
            } else {
                let mut b = [0; 4];
                out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
            }
        }
        KeyCode::Enter => prefixed(&mut out, alt, b"\r"),
        KeyCode::Tab => prefixed(&mut out, alt, b"\t"),
        KeyCode::BackTab => out.extend_from_slice(b"\x1b[Z"),
        KeyCode::Backspace if ctrl => prefixed(&mut out, alt, b"\x08"),
        KeyCode::Backspace => prefixed(&mut out, alt, b"\x7f"),
        KeyCode::Esc => prefixed(&mut out, alt, b"\x1b"),
        KeyCode::Null => out.push(0),
        KeyCode::Up => cursor(&mut out, b'A', m, modes),
        KeyCode::Down => cursor(&mut out, b'B', m, modes),
        KeyCode::Right => cursor(&mut out, b'C', m, modes),
        KeyCode::Left => cursor(&mut out, b'D', m, modes),
        KeyCode::Home => cursor(&mut out, b'H', m, modes),
        KeyCode::End => cursor(&mut out, b'F', m, modes),
        KeyCode::Insert => tilde(&mut out, 2, m),
        KeyCode::Delete => tilde(&mut out, 3, m),
        KeyCode::PageUp => tilde(&mut out, 5, m),
        KeyCode::PageDown => tilde(&mut out, 6, m),
        KeyCode::F(n @ 1..=4) => {
            let last = b"PQRS"[usize::from(n - 1)];
            match modifier_param(m) {
                Some(p) => out.extend(format!("\x1b[1;{p}{}", char::from(last)).bytes()),
                None => out.extend_from_slice(&[0x1b, b'O', last]),
            }
        }
        KeyCode::F(n @ 5..=12) => {
            let code = [15, 17, 18, 19, 20, 21, 23, 24][usize::from(n - 5)];
            tilde(&mut out, code, m);
        }
        _ => {}
    }
    out
}

/// Bracketed paste (`ESC [ ? 2004 h`): the host is told where pasted text starts and ends,
/// so a pasted newline is not Enter. The end marker inside the text is dropped, so a paste
/// cannot end the bracket early and type what follows as keys.
pub fn paste(text: &str, bracketed: bool) -> Vec<u8> {
    let body = text.replace("\r\n", "\r").replace('\n', "\r");
    if !bracketed {
        return body.into_bytes();
    }
    let body = body.replace("\x1b[201~", "");
    let mut out = b"\x1b[200~".to_vec();
    out.extend_from_slice(body.as_bytes());
    out.extend_from_slice(b"\x1b[201~");
    out
}

/// True for the key that leaves broadcast input: Ctrl-] (telnet's escape, cssh's too).
pub fn is_leave_key(key: KeyEvent) -> bool {
    key.kind != KeyEventKind::Release
        && key.modifiers.contains(KeyModifiers::CONTROL)
        && matches!(key.code, KeyCode::Char(']' | '5'))
}

fn prefixed(out: &mut Vec<u8>, alt: bool, bytes: &[u8]) {
    if alt {
        out.push(0x1b);
    }
    out.extend_from_slice(bytes);
}

/// Ctrl with a character: the C0 control xterm sends (Ctrl-A = 1, Ctrl-[ = ESC, Ctrl-? = DEL,
/// Ctrl-2…8 as in xterm); a character without a control form is sent as it is.
fn ctrl_char(c: char) -> Vec<u8> {
    let b = match c {
        'a'..='z' => c as u8 - b'a' + 1,
        'A'..='Z' => c as u8 - b'A' + 1,
        '@' | ' ' | '2' => 0,
        '[' | '3' => 0x1b,
        '\\' | '4' => 0x1c,
        ']' | '5' => 0x1d,
        '^' | '6' => 0x1e,
        '_' | '/' | '7' => 0x1f,
        '?' | '8' => 0x7f,
        c => {
            let mut b = [0; 4];
            return c.encode_utf8(&mut b).as_bytes().to_vec();
        }
    };
    vec![b]
}

/// xterm's modifier parameter: 1 + Shift 1 + Alt 2 + Ctrl 4; `None` without modifiers.
fn modifier_param(m: KeyModifiers) -> Option<u8> {
    let mut p = 0;
    if m.contains(KeyModifiers::SHIFT) {
        p += 1;
    }
    if m.contains(KeyModifiers::ALT) {
        p += 2;
    }
    if m.contains(KeyModifiers::CONTROL) {
        p += 4;
    }
    (p > 0).then_some(p + 1)
}

fn cursor(out: &mut Vec<u8>, last: u8, m: KeyModifiers, modes: Modes) {
    match modifier_param(m) {
        Some(p) => out.extend(format!("\x1b[1;{p}{}", char::from(last)).bytes()),
        None if modes.application_cursor => out.extend_from_slice(&[0x1b, b'O', last]),
        None => out.extend_from_slice(&[0x1b, b'[', last]),
    }
}

fn tilde(out: &mut Vec<u8>, code: u8, m: KeyModifiers) {
    match modifier_param(m) {
        Some(p) => out.extend(format!("\x1b[{code};{p}~").bytes()),
        None => out.extend(format!("\x1b[{code}~").bytes()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode, m: KeyModifiers) -> Vec<u8> {
        encode(KeyEvent::new(code, m), Modes::default())
    }

    fn plain(code: KeyCode) -> Vec<u8> {
        key(code, KeyModifiers::NONE)
    }

    const APP: Modes = Modes {
        application_cursor: true,
    };

    #[test]
    fn characters_and_editing_keys() {
        assert_eq!(plain(KeyCode::Char('a')), b"a");
        assert_eq!(key(KeyCode::Char('A'), KeyModifiers::SHIFT), b"A");
        assert_eq!(plain(KeyCode::Char('é')), "é".as_bytes());
        assert_eq!(plain(KeyCode::Enter), b"\r");
        assert_eq!(plain(KeyCode::Tab), b"\t");
        assert_eq!(key(KeyCode::BackTab, KeyModifiers::SHIFT), b"\x1b[Z");
        assert_eq!(plain(KeyCode::Backspace), b"\x7f");
        assert_eq!(key(KeyCode::Backspace, KeyModifiers::CONTROL), b"\x08");
        assert_eq!(plain(KeyCode::Esc), b"\x1b");
    }

    #[test]
    fn control_and_alt() {
        let c = KeyModifiers::CONTROL;
        assert_eq!(key(KeyCode::Char('c'), c), b"\x03");
        assert_eq!(key(KeyCode::Char('a'), c), b"\x01");
        assert_eq!(key(KeyCode::Char('z'), c), b"\x1a");
        assert_eq!(key(KeyCode::Char(' '), c), b"\x00");
        assert_eq!(key(KeyCode::Char('['), c), b"\x1b");
        assert_eq!(key(KeyCode::Char('\\'), c), b"\x1c");
        assert_eq!(key(KeyCode::Char('_'), c), b"\x1f");
        assert_eq!(key(KeyCode::Char('?'), c), b"\x7f");
        let a = KeyModifiers::ALT;
        assert_eq!(key(KeyCode::Char('f'), a), b"\x1bf");
        assert_eq!(key(KeyCode::Char('x'), a | c), b"\x1b\x18");
        assert_eq!(key(KeyCode::Enter, a), b"\x1b\r");
        assert_eq!(key(KeyCode::Backspace, a), b"\x1b\x7f");
    }

    #[test]
    fn cursor_keys_follow_the_application_mode() {
        assert_eq!(plain(KeyCode::Up), b"\x1b[A");
        assert_eq!(plain(KeyCode::Down), b"\x1b[B");
        assert_eq!(plain(KeyCode::Right), b"\x1b[C");
        assert_eq!(plain(KeyCode::Left), b"\x1b[D");
        assert_eq!(plain(KeyCode::Home), b"\x1b[H");
        assert_eq!(plain(KeyCode::End), b"\x1b[F");
        let none = KeyModifiers::NONE;
        assert_eq!(encode(KeyEvent::new(KeyCode::Up, none), APP), b"\x1bOA");
        assert_eq!(encode(KeyEvent::new(KeyCode::Left, none), APP), b"\x1bOD");
        assert_eq!(encode(KeyEvent::new(KeyCode::Home, none), APP), b"\x1bOH");
        // Modified cursor keys are the same in both modes.
        let ctrl_right = KeyEvent::new(KeyCode::Right, KeyModifiers::CONTROL);
        assert_eq!(encode(ctrl_right, APP), b"\x1b[1;5C");
        assert_eq!(key(KeyCode::Up, KeyModifiers::SHIFT), b"\x1b[1;2A");
        assert_eq!(key(KeyCode::End, KeyModifiers::ALT), b"\x1b[1;3F");
    }

    #[test]
    fn tilde_keys_and_function_keys() {
        assert_eq!(plain(KeyCode::Insert), b"\x1b[2~");
        assert_eq!(plain(KeyCode::Delete), b"\x1b[3~");
        assert_eq!(plain(KeyCode::PageUp), b"\x1b[5~");
        assert_eq!(plain(KeyCode::PageDown), b"\x1b[6~");
        assert_eq!(key(KeyCode::Delete, KeyModifiers::CONTROL), b"\x1b[3;5~");
        assert_eq!(plain(KeyCode::F(1)), b"\x1bOP");
        assert_eq!(plain(KeyCode::F(4)), b"\x1bOS");
        assert_eq!(key(KeyCode::F(2), KeyModifiers::SHIFT), b"\x1b[1;2Q");
        let want: [&[u8]; 8] = [
            b"\x1b[15~",
            b"\x1b[17~",
            b"\x1b[18~",
            b"\x1b[19~",
            b"\x1b[20~",
            b"\x1b[21~",
            b"\x1b[23~",
            b"\x1b[24~",
        ];
        for (n, w) in (5..=12).zip(want) {
            assert_eq!(plain(KeyCode::F(n)), w, "F{n}");
        }
        assert_eq!(key(KeyCode::F(12), KeyModifiers::CONTROL), b"\x1b[24;5~");
        assert!(plain(KeyCode::F(13)).is_empty());
    }

    #[test]
    fn releases_send_nothing_and_ctrl_bracket_leaves() {
        let mut k = KeyEvent::new(KeyCode::Char('a'), KeyModifiers::NONE);
        k.kind = KeyEventKind::Release;
        assert!(encode(k, Modes::default()).is_empty());
        assert!(is_leave_key(KeyEvent::new(
            KeyCode::Char(']'),
            KeyModifiers::CONTROL
        )));
        // Some terminals report Ctrl-] as Ctrl-5.
        assert!(is_leave_key(KeyEvent::new(
            KeyCode::Char('5'),
            KeyModifiers::CONTROL
        )));
        assert!(!is_leave_key(KeyEvent::new(
            KeyCode::Char(']'),
            KeyModifiers::NONE
        )));
    }

    #[test]
    fn paste_is_bracketed_when_the_host_asked() {
        assert_eq!(paste("ls\npwd", false), b"ls\rpwd");
        assert_eq!(paste("ls\r\npwd", true), b"\x1b[200~ls\rpwd\x1b[201~");
        // An end marker inside the paste cannot close the bracket early.
        assert_eq!(
            paste("a\x1b[201~rm -rf /\n", true),
            b"\x1b[200~arm -rf /\r\x1b[201~"
        );
    }
}
