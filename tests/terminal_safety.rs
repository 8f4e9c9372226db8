//! Nothing from outside reaches the operator's terminal raw: every screen and dialog of the
//! console, with hostile strings in every field (host and group names, vars, remote output,
//! error messages quoting servers, host-key questions, prompts, file names, theme names, log
//! lines), drawn through a real crossterm backend into memory; the bytes written may hold only
//! text, SGR, cursor moves and cursor show/hide.

mod tui_support;

use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crossterm::event::KeyCode;
use fleetdeck::engine::{ErrorClass, Event, HostKeyQuestion, LogLevel, SecretKind, Stream};
use fleetdeck::inventory::{Inventory, LoadOptions};
use fleetdeck::output::is_unsafe_char;
use fleetdeck::tui::action::Action;
use fleetdeck::tui::app::{App, Settings};
use fleetdeck::tui::draw::draw;
use fleetdeck::tui::theme::Theme;
use fleetdeck::tui::update::update;
use ratatui::backend::CrosstermBackend;
use ratatui::layout::Rect;
use ratatui::{Terminal, TerminalOptions, Viewport};
use tui_support::{chars, clock, cursor_to_group, ev, finish_job, key, name};

/// OSC 52 (clipboard write), OSC 0 (title), clear screen, an 8-bit CSI, a DCS, a bidi override,
/// a bell, a backspace, a carriage return and a newline.
const EVIL: &str = "\x1b]52;c;cHduZWQ=\x07\x1b]0;pwned\x1b\\\x1b[2J\u{9b}31m\x1bP1$qm\x1b\\\u{202e}evil\u{7}\x08\r\n\x7f";

fn hostile_inventory() -> Inventory {
    let yaml = r#"
defaults: { user: ops, address: 127.0.0.1 }
groups:
  "prod\u202Eodd":
    vars: { note: "\e]52;c;cHduZWQ=\a\e[2J", "k\e[31m": "v\u009b1m" }
    hosts:
      "web\u202E01": { vars: { banner: "\e]0;title\a\u2066x" } }
      web02: ~
  db:
    hosts: { db1: { vars: { motd: "\ePq#0;2;0;0;0\e\\" } } }
"#;
    Inventory::load_str_with(
        Path::new("/fixtures/hostile.yaml"),
        yaml,
        &LoadOptions::default(),
    )
    .expect("hostile inventory loads (names and values are only shown, never run)")
}

fn hostile_app(w: u16, h: u16) -> App {
    let mut theme = Theme::default_theme();
    theme.name = format!("dark{EVIL}");
    let mut app = App::new(hostile_inventory(), Settings::default(), theme);
    app.clock = clock();
    update(&mut app, Action::Resize(w, h));
    app
}

/// Memory the backend writes to, read back after the frame.
#[derive(Clone, Default)]
struct Memory(Arc<Mutex<Vec<u8>>>);

impl Write for Memory {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("memory").extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Draws `app` through crossterm into memory and returns the bytes written.
fn crossterm_bytes(app: &App) -> Vec<u8> {
    let area = Rect::new(0, 0, app.area.width, app.area.height);
    let memory = Memory::default();
    let backend = CrosstermBackend::new(memory.clone());
    let mut term = Terminal::with_options(
        backend,
        TerminalOptions {
            viewport: Viewport::Fixed(area),
        },
    )
    .expect("terminal over memory");
    term.draw(|f| draw(f, app)).expect("draw");
    drop(term);
    let bytes = memory.0.lock().expect("memory").clone();
    bytes
}

/// Fails unless `bytes` are UTF-8 text without unsafe characters, and ESC only starts
/// `CSI params m` (SGR), `CSI params H|A|B|C|D|G` (cursor moves) or `CSI ? 25 h|l`.
fn assert_only_text_sgr_and_moves(what: &str, bytes: &[u8]) {
    let s = std::str::from_utf8(bytes).unwrap_or_else(|e| panic!("{what}: not UTF-8: {e}"));
    let mut chars = s.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c != '\x1b' {
            assert!(
                !is_unsafe_char(c),
                "{what}: unsafe char U+{:04X} written at byte {i}: {:?}",
                c as u32,
                &s[i.saturating_sub(20)..(i + 20).min(s.len())]
            );
            continue;
        }
        assert_eq!(
            chars.next().map(|x| x.1),
            Some('['),
            "{what}: ESC not followed by [ at byte {i}"
        );
        let mut params = String::new();
        let fin = loop {
            match chars.next() {
                Some((_, p)) if p.is_ascii_digit() || p == ';' || p == '?' => params.push(p),
                Some((_, f)) => break f,
                None => panic!("{what}: unterminated CSI at byte {i}"),
            }
        };
        let ok = match fin {
            'm' | 'H' | 'A' | 'B' | 'C' | 'D' | 'G' => !params.contains('?'),
            'h' | 'l' => params == "?25",
            _ => false,
        };
        assert!(ok, "{what}: CSI {params:?}{fin:?} written at byte {i}");
    }
}

fn check(what: &str, app: &App) {
    let bytes = check_drawn(what, app);
    // The hostile strings were drawn, their controls replaced by visible U+FFFD.
    let text = String::from_utf8_lossy(&bytes);
    assert!(
        text.contains('\u{FFFD}'),
        "{what}: no hostile string on screen"
    );
}

/// Draws `app` and checks the bytes; for screens that show no outside text (help).
fn check_drawn(what: &str, app: &App) -> Vec<u8> {
    let bytes = crossterm_bytes(app);
    assert!(bytes.len() > 100, "{what}: something was drawn");
    assert_only_text_sgr_and_moves(what, &bytes);
    bytes
}

/// A finished job on every host: hostile output on both streams, a hostile error message.
fn hostile_job(app: &mut App) {
    cursor_to_group(app, "db");
    key(app, KeyCode::Char('a'));
    key(app, KeyCode::Char(':'));
    chars(app, &format!("echo {EVIL}"));
    let effects = key(app, KeyCode::Enter);
    let submitted = effects
        .iter()
        .any(|e| matches!(e, fleetdeck::tui::action::Effect::Submit(_)));
    if !submitted {
        // The command was taken as dangerous: confirm it.
        key(app, KeyCode::Char('y'));
    }
    update(app, Action::JobSubmitted(1));
    let hosts = ["web\u{202e}01".to_string(), "db1".to_string()];
    finish_job(
        app,
        1,
        &hosts,
        |_| (EVIL.as_bytes().to_vec(), EVIL.as_bytes().to_vec()),
        |h| i32::from(h == "db1"),
    );
    ev(
        app,
        Event::Failed {
            job: 1,
            host: name("web02"),
            class: ErrorClass::AuthFailed,
            message: format!("server offers only {EVIL} (publickey)"),
            duration: Duration::from_millis(5),
        },
    );
    ev(
        app,
        Event::Output {
            job: 1,
            host: name("db1"),
            stream: Stream::Stdout,
            data: b"partial \x1b]52;c;eA==".to_vec(),
        },
    );
    update(
        app,
        Action::Log(LogLevel::Error, format!("replayed: {EVIL}")),
    );
    update(app, Action::SubmitFailed(format!("no such host {EVIL}")));
}

#[test]
fn every_screen_with_hostile_strings_writes_only_text_sgr_and_moves() {
    for (w, h) in [(120, 40), (80, 24)] {
        let mut app = hostile_app(w, h);
        check("idle tree", &app);
        app.themes = vec![app.theme.clone()];
        key(&mut app, KeyCode::Char('t'));
        check("theme name in the status line", &app);
        let status = String::from_utf8_lossy(&crossterm_bytes(&app)).into_owned();
        assert!(
            status.contains("theme: dark\u{FFFD}]52;"),
            "the hostile theme name is drawn, cleaned"
        );
        key(&mut app, KeyCode::Char('?'));
        check_drawn("help", &app);
        key(&mut app, KeyCode::Esc);
        hostile_job(&mut app);
        key(&mut app, KeyCode::Esc);
        check("panes", &app);
        key(&mut app, KeyCode::Char('v'));
        check("gathered", &app);
        key(&mut app, KeyCode::Char('v'));
        key(&mut app, KeyCode::Tab);
        key(&mut app, KeyCode::Char('z'));
        check("zoomed pane", &app);
        key(&mut app, KeyCode::Char('z'));
        key(&mut app, KeyCode::Tab);
        check("log focused", &app);
        key(&mut app, KeyCode::Esc);
        key(&mut app, KeyCode::Char('/'));
        chars(&mut app, &format!("web{EVIL}"));
        check("filter", &app);
        key(&mut app, KeyCode::Esc);
        key(&mut app, KeyCode::Char('s'));
        chars(&mut app, &format!("nope{EVIL}"));
        key(&mut app, KeyCode::Enter);
        check("pattern dialog with error", &app);
        key(&mut app, KeyCode::Esc);
        cursor_to_group(&mut app, "prod\u{202e}odd");
        key(&mut app, KeyCode::Down);
        key(&mut app, KeyCode::Char('i'));
        check("host details", &app);
        key(&mut app, KeyCode::Esc);
    }
}

/// Hostile PTY bytes a broadcast shell may write: OSC 52, a title, mouse-mode and bracketed
/// paste requests, DCS, an 8-bit CSI, bidi overrides in cells, the alternate screen, a bell.
const EVIL_PTY: &[u8] = b"\x1b]52;c;cHduZWQ=\x07\x1b]0;pwned\x1b\\\x1b[?1000h\x1b[?1006h\x1b[?2004h\x1bP1$qm\x1b\\\xc2\x9b31m\x1b[3;3H\xe2\x80\xaeevil\x07\x1b[?1049h\x1b[1;1H\x1b[41mred\x1b[0m \xe2\x81\xa6x\x1b[10;1Hwide \xe5\xad\x97 ok\x1b[?25l";

#[test]
fn a_broadcast_screen_fed_hostile_pty_bytes_writes_only_text_sgr_and_moves() {
    for (w, h) in [(120, 40), (80, 24)] {
        let mut app = hostile_app(w, h);
        key(&mut app, KeyCode::Char('a'));
        let effects = key(&mut app, KeyCode::Char('B'));
        assert!(effects
            .iter()
            .any(|e| matches!(e, fleetdeck::tui::action::Effect::Submit(_))));
        update(&mut app, Action::JobSubmitted(1));
        for host in ["web\u{202e}01", "web02", "db1"] {
            ev(
                &mut app,
                Event::Running {
                    job: 1,
                    host: name(host),
                },
            );
            ev(
                &mut app,
                Event::Output {
                    job: 1,
                    host: name(host),
                    stream: Stream::Stdout,
                    data: EVIL_PTY.to_vec(),
                },
            );
        }
        check("broadcast shells", &app);
        tui_support::ctrl(&mut app, ']');
        key(&mut app, KeyCode::Char('z'));
        check("a zoomed shell", &app);
        let text = String::from_utf8_lossy(&crossterm_bytes(&app)).into_owned();
        assert!(!text.contains("pwned") && !text.contains("cHduZWQ"));
        assert!(text.contains("red"), "the shell's cells are drawn");
    }
}

#[test]
fn every_dialog_with_hostile_strings_writes_only_text_sgr_and_moves() {
    let mut app = hostile_app(120, 40);
    update(
        &mut app,
        Action::AskHostKey(
            1,
            HostKeyQuestion {
                host: name("web\u{202e}01"),
                address: format!("127.0.0.1{EVIL}"),
                port: 2201,
                key_type: format!("ED25519{EVIL}"),
                fingerprint: format!("SHA256:{EVIL}"),
            },
        ),
    );
    check("host key dialog", &app);
    key(&mut app, KeyCode::Esc);
    update(
        &mut app,
        Action::AskSecret(
            2,
            SecretKind::Passphrase {
                key_file: format!("/k/{EVIL}").into(),
            },
            format!("Passphrase for /k/{EVIL}:"),
        ),
    );
    chars(&mut app, "hunter2");
    check("passphrase dialog", &app);
    key(&mut app, KeyCode::Esc);
    update(
        &mut app,
        Action::AskSecret(
            3,
            SecretKind::Sudo {
                user: format!("ops{EVIL}"),
            },
            format!("[sudo] password for ops{EVIL}"),
        ),
    );
    check("sudo dialog", &app);
    key(&mut app, KeyCode::Esc);
    cursor_to_group(&mut app, "db");
    key(&mut app, KeyCode::Char(' '));
    key(&mut app, KeyCode::Char(':'));
    chars(&mut app, &format!("rm -rf /{EVIL}"));
    key(&mut app, KeyCode::Enter);
    check("confirm dialog", &app);
    key(&mut app, KeyCode::Esc);
    key(&mut app, KeyCode::Esc);
    key(&mut app, KeyCode::F(5));
    let typed = format!("/tmp/a{EVIL}");
    chars(&mut app, &typed);
    update(
        &mut app,
        Action::Completions {
            input: typed.clone(),
            completed: typed.clone(),
            candidates: vec![format!("/tmp/a{EVIL}1.txt"), format!("/tmp/a{EVIL}2.txt")],
        },
    );
    check("transfer dialog with candidates", &app);
}

#[test]
fn the_checker_sees_what_it_refuses() {
    // The assertion itself: raw hostile bytes fail it, SGR and moves pass it.
    assert_only_text_sgr_and_moves("sgr", b"a\x1b[1;31mb\x1b[0m\x1b[3;4H\x1b[?25l");
    for bad in [
        "\x1b]52;c;eA==\x07",
        "\x1b[2J",
        "x\u{9b}1m",
        "\u{202e}",
        "\x07",
        "\x1b[?1049h",
    ] {
        let r = std::panic::catch_unwind(|| assert_only_text_sgr_and_moves("bad", bad.as_bytes()));
        assert!(r.is_err(), "{bad:?} passed the checker");
    }
}

/// ratatui's ways of putting a string into a widget, refused in `src/tui` outside
/// `src/tui/draw/text.rs` (the one door, which takes only `Clean` text).
mod source_check {
    use std::path::{Path, PathBuf};

    use syn::visit::Visit;

    /// Types whose associated functions turn strings into text or widgets of text.
    const TEXT_TYPES: &[&str] = &[
        "Span",
        "Line",
        "Text",
        "Paragraph",
        "List",
        "ListItem",
        "Table",
        "Cell",
        "Tabs",
        "Gauge",
        "LineGauge",
        "BarChart",
        "Title",
    ];
    /// Methods that take a string for a widget or write one into the buffer.
    const TEXT_METHODS: &[&str] = &[
        "title",
        "title_top",
        "title_bottom",
        "set_string",
        "set_stringn",
        "set_line",
        "set_span",
        "label",
    ];

    struct Check<'f> {
        file: &'f Path,
        found: Vec<String>,
    }

    impl Check<'_> {
        fn refuse(&mut self, span: proc_macro2::Span, what: &str) {
            let at = span.start();
            self.found.push(format!(
                "{}:{}:{}: {what}",
                self.file.display(),
                at.line,
                at.column + 1
            ));
        }
    }

    fn is_cfg_test(attrs: &[syn::Attribute]) -> bool {
        attrs.iter().any(|a| {
            a.path().is_ident("cfg")
                && a.parse_args::<syn::Meta>()
                    .is_ok_and(|m| m.path().is_ident("test"))
        })
    }

    fn names(path: &syn::Path) -> Vec<String> {
        path.segments.iter().map(|s| s.ident.to_string()).collect()
    }

    fn use_paths(tree: &syn::UseTree, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
        match tree {
            syn::UseTree::Path(p) => {
                prefix.push(p.ident.to_string());
                use_paths(&p.tree, prefix, out);
                prefix.pop();
            }
            syn::UseTree::Name(n) => {
                let mut v = prefix.clone();
                v.push(n.ident.to_string());
                out.push(v);
            }
            syn::UseTree::Rename(r) => {
                let mut v = prefix.clone();
                v.push(r.ident.to_string());
                out.push(v);
            }
            syn::UseTree::Glob(_) => {
                let mut v = prefix.clone();
                v.push("*".into());
                out.push(v);
            }
            syn::UseTree::Group(g) => {
                for t in &g.items {
                    use_paths(t, prefix, out);
                }
            }
        }
    }

    /// A `use` of ratatui's text module or of a text widget.
    fn refused_use(path: &[String]) -> bool {
        path.first().is_some_and(|p| p == "ratatui")
            && (path.iter().any(|s| s == "text")
                || path
                    .last()
                    .is_some_and(|l| l == "*" || TEXT_TYPES.contains(&l.as_str()) || l == "Row"))
    }

    impl<'ast> Visit<'ast> for Check<'_> {
        fn visit_item(&mut self, item: &'ast syn::Item) {
            if let syn::Item::Mod(m) = item {
                if is_cfg_test(&m.attrs) {
                    return;
                }
            }
            if let syn::Item::Use(u) = item {
                let mut out = Vec::new();
                use_paths(&u.tree, &mut Vec::new(), &mut out);
                for p in out.iter().filter(|p| refused_use(p)) {
                    let what = format!("`use {}`: draw text through tui::draw::text", p.join("::"));
                    self.refuse(u.use_token.span, &what);
                }
            }
            syn::visit::visit_item(self, item);
        }

        fn visit_expr_path(&mut self, e: &'ast syn::ExprPath) {
            let n = names(&e.path);
            let text_fn = n.len() >= 2 && TEXT_TYPES.contains(&n[n.len() - 2].as_str());
            if text_fn || refused_use(&n) {
                let what = format!("`{}`: make text with tui::draw::text", n.join("::"));
                self.refuse(e.path.segments[0].ident.span(), &what);
            }
            syn::visit::visit_expr_path(self, e);
        }

        fn visit_expr_method_call(&mut self, m: &'ast syn::ExprMethodCall) {
            let name = m.method.to_string();
            if TEXT_METHODS.contains(&name.as_str()) {
                let what = format!("`.{name}(…)`: use Titled::safe_title / tui::draw::text");
                self.refuse(m.method.span(), &what);
            }
            if name == "render_widget" || name == "render_stateful_widget" {
                // `&str` and `String` are widgets too: a string may not be rendered as one.
                let stringy = match m.args.first() {
                    Some(syn::Expr::Lit(_) | syn::Expr::Macro(_)) => true,
                    Some(syn::Expr::Reference(r)) => {
                        matches!(*r.expr, syn::Expr::Lit(_) | syn::Expr::Macro(_))
                    }
                    Some(syn::Expr::MethodCall(c)) => ["to_string", "to_owned", "as_str", "into"]
                        .contains(&c.method.to_string().as_str()),
                    _ => false,
                };
                if stringy {
                    let what = "a string rendered as a widget: use tui::draw::text".to_string();
                    self.refuse(m.method.span(), &what);
                }
            }
            syn::visit::visit_expr_method_call(self, m);
        }
    }

    fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).expect("src/tui") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                rust_files(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }

    fn check_source(file: &Path, src: &str) -> Vec<String> {
        let ast = syn::parse_file(src).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let mut c = Check {
            file,
            found: Vec::new(),
        };
        c.visit_file(&ast);
        c.found
    }

    #[test]
    fn console_text_reaches_widgets_only_through_the_safe_door() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let door = root.join("src/tui/draw/text.rs");
        let mut files = Vec::new();
        rust_files(&root.join("src/tui"), &mut files);
        assert!(files.len() > 20, "the console's sources: {files:?}");
        let mut found = Vec::new();
        for f in files.iter().filter(|f| **f != door) {
            let src = std::fs::read_to_string(f).expect("source");
            found.extend(check_source(f.strip_prefix(root).unwrap_or(f), &src));
        }
        assert!(
            found.is_empty(),
            "raw text for widgets:\n{}",
            found.join("\n")
        );
    }

    #[test]
    fn the_source_check_sees_each_way_around_the_door() {
        let bad = r#"
use ratatui::text::Span;
use ratatui::widgets::{Block, Paragraph};
fn f(frame: &mut Frame, name: &str, b: Block) {
    let s = Span::raw(name);
    let l = ratatui::text::Line::from(name);
    let p = Paragraph::new(name);
    let b = b.title(name);
    frame.render_widget(format!("{name}"), area);
    frame.render_widget(name.to_string(), area);
    buf.set_string(0, 0, name, style);
}
#[cfg(test)]
mod tests { fn t() { let s = Span::raw("ok in tests"); } }
"#;
        let found = check_source(Path::new("bad.rs"), bad);
        assert_eq!(found.len(), 9, "{found:#?}");
        let good = r"
use super::text::{span, paragraph, Titled};
use ratatui::widgets::{Block, Borders, Clear};
fn f(frame: &mut Frame, name: &str, b: Block) {
    frame.render_widget(paragraph(span(name, style).into()), area);
    frame.render_widget(b.safe_title(span(name, style)), area);
    frame.render_widget(Clear, area);
}
";
        assert!(check_source(Path::new("good.rs"), good).is_empty());
    }
}
