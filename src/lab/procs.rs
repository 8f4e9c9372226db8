//! Looking at and signalling processes through `/proc`, so the lab only ever touches the
//! sshd processes it started (checked by command line, never by name).

use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// How long to wait for killed processes to disappear.
const KILL_WAIT: Duration = Duration::from_secs(5);
/// Poll interval while waiting for processes.
const POLL: Duration = Duration::from_millis(10);

/// The command line of `pid` with NUL separators turned into spaces (sshd rewrites its own
/// title, so both shapes occur), or `None` when the process is gone.
pub fn cmdline(pid: i32) -> Option<String> {
    let raw = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let text = String::from_utf8_lossy(&raw).replace('\0', " ");
    Some(text.trim_end().to_string())
}

/// The one-letter state of `pid` (`R`, `S`, `T`, `Z`, ...) and its parent pid.
fn stat(pid: i32) -> Option<(char, i32)> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may itself hold spaces or parentheses.
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some((state, ppid))
}

/// True when `pid` exists and is not a zombie (a killed daemon whose parent never reaps it
/// still has a `/proc` entry).
pub fn is_alive(pid: i32) -> bool {
    matches!(stat(pid), Some((state, _)) if state != 'Z' && state != 'X')
}

/// True when `pid` is stopped (SIGSTOP).
pub fn is_stopped(pid: i32) -> bool {
    matches!(stat(pid), Some(('T' | 't', _)))
}

/// True when `pid` is an sshd started with `-f config` (the listener's rewritten title
/// keeps its original arguments).
pub fn is_sshd_for(pid: i32, config: &Path) -> bool {
    if pid <= 1 || !is_alive(pid) {
        return false;
    }
    let Some(line) = cmdline(pid) else {
        return false;
    };
    let needle = format!(" -f {} ", config.display());
    line.contains("sshd") && format!(" {line} ").contains(&needle)
}

/// Scans `/proc` for sshd listeners whose config lies in `hosts_dir`, keyed by config path.
/// Used to find a fleet whose pid files were lost.
pub fn find_listeners(hosts_dir: &Path) -> HashMap<String, i32> {
    let mut found = HashMap::new();
    let prefix = format!(" -f {}/", hosts_dir.display());
    let Ok(entries) = fs::read_dir("/proc") else {
        return found;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        let Some(line) = cmdline(pid) else { continue };
        if !line.contains("[listener]") || !is_alive(pid) {
            continue;
        }
        let padded = format!(" {line} ");
        if let Some(at) = padded.find(&prefix) {
            let path_start = at + 4;
            if let Some(end) = padded[path_start..].find("/sshd_config ") {
                let config = &padded[path_start..path_start + end + "/sshd_config".len()];
                found.insert(config.to_string(), pid);
            }
        }
    }
    found
}

/// Parent pid of every live process.
fn parent_map() -> HashMap<i32, i32> {
    let mut map = HashMap::new();
    if let Ok(entries) = fs::read_dir("/proc") {
        for entry in entries.flatten() {
            if let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<i32>().ok())
            {
                if let Some((state, ppid)) = stat(pid) {
                    if state != 'Z' {
                        map.insert(pid, ppid);
                    }
                }
            }
        }
    }
    map
}

/// Every live descendant of `root` (children, grandchildren, ...).
pub fn descendants(root: i32) -> BTreeSet<i32> {
    descendants_in(&parent_map(), &[root])
}

fn descendants_in(parents: &HashMap<i32, i32>, roots: &[i32]) -> BTreeSet<i32> {
    let mut children: HashMap<i32, Vec<i32>> = HashMap::new();
    for (&pid, &ppid) in parents {
        children.entry(ppid).or_default().push(pid);
    }
    let mut found = BTreeSet::new();
    let mut frontier = roots.to_vec();
    while let Some(p) = frontier.pop() {
        for &child in children.get(&p).map_or(&[][..], Vec::as_slice) {
            if found.insert(child) {
                frontier.push(child);
            }
        }
    }
    found
}

/// Sends `sig`, ignoring a process that is already gone.
pub fn signal(pid: i32, sig: Signal) {
    let _ = kill(Pid::from_raw(pid), sig);
}

/// Kills `root` and all its descendants (an sshd listener and its per-connection processes,
/// so live sessions die too). See [`kill_trees`].
pub fn kill_tree(root: i32) -> usize {
    kill_trees(&[root])
}

/// Kills every process of `roots` and all their descendants. The trees are frozen first
/// (SIGSTOP) so nothing forks away meanwhile, then killed, then waited for. Returns how many
/// processes were killed.
pub fn kill_trees(roots: &[i32]) -> usize {
    if roots.is_empty() {
        return 0;
    }
    for &pid in roots {
        signal(pid, Signal::SIGSTOP);
    }
    let mut all: BTreeSet<i32> = roots.iter().copied().collect();
    // Freeze until no new descendant appears (a monitor may be forking a session right now).
    for _ in 0..10 {
        let roots: Vec<i32> = all.iter().copied().collect();
        let mut grew = false;
        for child in descendants_in(&parent_map(), &roots) {
            if all.insert(child) {
                signal(child, Signal::SIGSTOP);
                grew = true;
            }
        }
        if !grew {
            break;
        }
    }
    for &pid in &all {
        signal(pid, Signal::SIGKILL);
    }
    let deadline = Instant::now() + KILL_WAIT;
    let mut left: Vec<i32> = all.iter().copied().collect();
    while !left.is_empty() && Instant::now() < deadline {
        left.retain(|&p| is_alive(p));
        if !left.is_empty() {
            thread::sleep(POLL);
        }
    }
    all.len()
}

/// Resident set size of `pid` in KiB (0 when gone).
pub fn rss_kib(pid: i32) -> u64 {
    let Ok(text) = fs::read_to_string(format!("/proc/{pid}/status")) else {
        return 0;
    };
    text.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}
