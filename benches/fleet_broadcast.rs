//! The broadcast part of the fleet benchmark (issue 15): 50 hosts running `top` in
//! interactive shells, a key typed once, the time until every shown pane shows what it did.
//! fleetdeck's console (`fleetdeck shell`) against the usual peer, tmux with one pane per
//! host (`ssh -tt`) and `synchronize-panes` (what tmux-xpanes and ClusterSSH-in-tmux do). Both
//! run in a tmux terminal of the same size and are read the same way: `capture-pane` polls
//! 2 ms apart, from `send-keys` until every shown pane changed. fleetdeck's own split of each
//! key (FLEETDECK_TRACE_KEYS: hosts' answers, the frame showing them, that frame's time) is
//! reported beside. Included by `fleet.rs`; its figures go into the same markdown.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use fleetdeck::lab::Lab;

/// Hosts in broadcast (the figure is for 50).
pub const HOSTS: usize = 50;
const WIDTH: u16 = 240;
const HEIGHT: u16 = 70;
/// `top`'s column header: gone while its help shows, back after Escape.
const HEADER: &str = "PID USER";

/// A tmux server of the bench's own.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn new(tag: &str) -> Tmux {
        Tmux {
            socket: format!("fd-bench-{tag}-{}", std::process::id()),
        }
    }

    fn run(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket, "-f", "/dev/null"])
            .args(args)
            .output()
            .expect("tmux (Debian package tmux)");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn start(&self, command: &str) {
        self.run(&[
            "new-session",
            "-d",
            "-s",
            "b",
            "-x",
            &WIDTH.to_string(),
            "-y",
            &HEIGHT.to_string(),
            command,
        ]);
    }

    /// Every pane's text, in one tmux call.
    fn screen(&self) -> String {
        let panes = self.run(&["list-panes", "-t", "b", "-F", "#{pane_id}"]);
        let mut args: Vec<&str> = Vec::new();
        for p in panes.split_whitespace() {
            if !args.is_empty() {
                args.push(";");
            }
            args.extend(["capture-pane", "-p", "-t", p]);
        }
        self.run(&args)
    }

    fn wait(&self, timeout: Duration, pred: impl Fn(&str) -> bool) -> Option<Duration> {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if pred(&self.screen()) {
                return Some(start.elapsed());
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        None
    }

    fn type_text(&self, text: &str) {
        self.run(&["send-keys", "-t", "b", "-l", text]);
    }

    fn key(&self, key: &str) {
        self.run(&["send-keys", "-t", "b", key]);
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        self.run(&["kill-server"]);
    }
}

/// The times of `rounds` × (`h`: top's help, `Escape`: top's list again) in every shown pane.
struct Keys {
    help: Vec<Duration>,
    back: Vec<Duration>,
    shown: usize,
}

/// Starts `top` (its default delay, 3 s) in every pane, then times the keys.
fn time_keys(t: &Tmux, rounds: usize) -> Option<Keys> {
    t.type_text("top");
    t.key("Enter");
    t.wait(Duration::from_secs(60), |s| s.matches(HEADER).count() > 0)?;
    // Every pane that will show top does so within a few refreshes.
    std::thread::sleep(Duration::from_secs(4));
    let shown = t.screen().matches(HEADER).count();
    let (mut help, mut back) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let sent = Instant::now();
        t.type_text("h");
        t.wait(Duration::from_secs(10), |s| s.matches(HEADER).count() == 0)?;
        help.push(sent.elapsed());
        std::thread::sleep(Duration::from_millis(1200));
        let sent = Instant::now();
        t.key("Escape");
        t.wait(Duration::from_secs(10), |s| {
            s.matches(HEADER).count() >= shown
        })?;
        back.push(sent.elapsed());
        std::thread::sleep(Duration::from_millis(1200));
    }
    t.type_text("q");
    Some(Keys { help, back, shown })
}

fn fleetdeck(bin: &Path, lab: &Lab, tmp: &Path, rounds: usize) -> Option<(Keys, Vec<[f64; 4]>)> {
    let names: Vec<&str> = lab.hosts()[..HOSTS]
        .iter()
        .map(|h| h.name.as_str())
        .collect();
    let trace = tmp.join("broadcast-trace.txt");
    let t = Tmux::new("fd");
    t.start(&format!(
        "env FLEETDECK_STATE_DIR={s} FLEETDECK_CONFIG_DIR={c} FLEETDECK_SSH_CONFIG= \
         FLEETDECK_TRACE_KEYS={trace} TERM=xterm-256color {bin} -i {inv} shell {list}; sleep 600",
        s = tmp.join("bstate").display(),
        c = tmp.join("bconfig").display(),
        trace = trace.display(),
        bin = bin.display(),
        inv = lab.inventory_path().display(),
        list = names.join(","),
    ));
    t.wait(Duration::from_secs(60), |s| {
        s.matches("running · broadcast").count() >= 10
    })?;
    std::thread::sleep(Duration::from_secs(2));
    let keys = time_keys(&t, rounds)?;
    // The last 2 × rounds `echo` lines are the timed keys, in order (h, Escape, …).
    let text = std::fs::read_to_string(&trace).unwrap_or_default();
    let echoes: Vec<[f64; 4]> = text
        .lines()
        .filter_map(|l| l.strip_prefix("echo "))
        .map(|l| {
            let v: Vec<f64> = l
                .split(' ')
                .map(|x| x.parse::<f64>().unwrap_or(f64::NAN) / 1000.0)
                .collect();
            [v[1], v[2], v[0], v[4]]
        })
        .collect();
    let timed = echoes[echoes.len().saturating_sub(2 * rounds)..].to_vec();
    t.key("C-]");
    Some((keys, timed))
}

fn peer(lab: &Lab, rounds: usize) -> Option<Keys> {
    let cfg = lab.ssh_config_path();
    let t = Tmux::new("peer");
    let hosts = &lab.hosts()[..HOSTS];
    let ssh = |name: &str| format!("ssh -tt -F {} {name}", cfg.display());
    t.start(&ssh(&hosts[0].name));
    for h in &hosts[1..] {
        t.run(&["split-window", "-t", "b", &ssh(&h.name)]);
        t.run(&["select-layout", "-t", "b", "tiled"]);
    }
    t.run(&["set-window-option", "-t", "b", "synchronize-panes", "on"]);
    let prompt = |s: &str| s.matches('#').count() + s.matches('$').count() >= HOSTS;
    t.wait(Duration::from_secs(60), prompt)?;
    std::thread::sleep(Duration::from_secs(2));
    time_keys(&t, rounds)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn med(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn medf(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Runs both and writes the section.
pub fn broadcast(bin: &Path, lab: &Lab, tmp: &Path, rounds: usize, md: &mut String) {
    let _ = writeln!(
        md,
        "\n### Broadcast: {HOSTS} hosts running `top` (default 3 s delay), key to screen in a {WIDTH}×{HEIGHT} \
         tmux terminal ({rounds} rounds; target: frame < 10 ms, key to screen < 50 ms)\n"
    );
    if lab.hosts().len() < HOSTS {
        let _ = writeln!(md, "skipped: the lab has fewer than {HOSTS} hosts");
        return;
    }
    let fd = fleetdeck(bin, lab, tmp, rounds);
    let pe = peer(lab, rounds);
    let _ = writeln!(
        md,
        "| tool | panes shown | `h` (top draws its help) median / max | `Escape` (every top \
         re-reads /proc) median / max |\n|---|---|---|---|"
    );
    let row = |md: &mut String, name: &str, k: &Option<Keys>| match k {
        Some(k) => {
            let _ = writeln!(
                md,
                "| {name} | {} | {:.1} / {:.1} ms | {:.1} / {:.1} ms |",
                k.shown,
                ms(med(k.help.clone())),
                ms(*k.help.iter().max().unwrap_or(&Duration::ZERO)),
                ms(med(k.back.clone())),
                ms(*k.back.iter().max().unwrap_or(&Duration::ZERO)),
            );
        }
        None => {
            let _ = writeln!(md, "| {name} | failed (timed out) | | |");
        }
    };
    row(
        md,
        "fleetdeck shell (console)",
        &fd.as_ref().map(|f| Keys {
            help: f.0.help.clone(),
            back: f.0.back.clone(),
            shown: f.0.shown,
        }),
    );
    row(md, "tmux synchronize-panes + ssh -tt", &pe);
    if let (Some((f, _)), Some(p)) = (&fd, &pe) {
        let _ = writeln!(
            md,
            "\nratio fleetdeck ÷ peer (median): `h` {:.2}, `Escape` {:.2}",
            ms(med(f.help.clone())) / ms(med(p.help.clone())),
            ms(med(f.back.clone())) / ms(med(p.back.clone())),
        );
    }
    if let Some((_, echoes)) = &fd {
        let pick = |odd: usize, i: usize| -> Vec<f64> {
            echoes
                .iter()
                .enumerate()
                .filter(|(n, _)| n % 2 == odd)
                .map(|(_, e)| e[i])
                .collect()
        };
        for (odd, key) in [(0, "`h`"), (1, "`Escape`")] {
            if pick(odd, 0).is_empty() {
                continue;
            }
            let _ = writeln!(
                md,
                "\nfleetdeck's own trace, {key} (median ms after the key went out): first host \
                 answered {:.1}, last host {:.1}, frame showing every answer done {:.1}, that \
                 frame drawn in {:.2} (max {:.2})",
                medf(pick(odd, 0)),
                medf(pick(odd, 1)),
                medf(pick(odd, 2)),
                medf(pick(odd, 3)),
                pick(odd, 3).into_iter().fold(0.0, f64::max),
            );
        }
    }
}
