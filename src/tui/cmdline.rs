//! The command line: a one-line editor with history (↑/↓) and reverse search (Ctrl-R).
//! History is kept across sessions in `<state dir>/history` (mode 0600).

use std::io::Write;
use std::path::{Path, PathBuf};

/// Most history entries kept (in memory and on disk).
pub const HISTORY_CAPACITY: usize = 1_000;

/// Reverse incremental search state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Search {
    pub query: String,
    /// Index into history of the current match.
    pub found: Option<usize>,
}

#[derive(Debug, Clone, Default)]
pub struct CmdLine {
    pub input: String,
    /// Cursor position in chars.
    pub cursor: usize,
    pub history: Vec<String>,
    /// Position while walking history with ↑/↓.
    pub hist_pos: Option<usize>,
    draft: String,
    pub search: Option<Search>,
}

impl CmdLine {
    pub fn with_history(history: Vec<String>) -> CmdLine {
        CmdLine {
            history,
            ..CmdLine::default()
        }
    }

    /// Puts the saved history (read off the UI thread, so it may arrive after the operator
    /// ran commands) before what this session added, keeping a walk or search in place.
    pub fn add_older_history(&mut self, older: Vec<String>) {
        let n = older.len();
        if n == 0 {
            return;
        }
        let newer = std::mem::replace(&mut self.history, older);
        self.history.extend(newer);
        self.hist_pos = self.hist_pos.map(|p| p + n);
        if let Some(found) = self.search.as_mut().and_then(|s| s.found.as_mut()) {
            *found += n;
        }
        if self.history.len() > HISTORY_CAPACITY {
            let excess = self.history.len() - HISTORY_CAPACITY;
            self.history.drain(..excess);
            self.hist_pos = self.hist_pos.map(|p| p.saturating_sub(excess));
            if let Some(found) = self.search.as_mut().and_then(|s| s.found.as_mut()) {
                *found = found.saturating_sub(excess);
            }
        }
    }

    fn byte_at(&self, char_idx: usize) -> usize {
        self.input
            .char_indices()
            .nth(char_idx)
            .map_or(self.input.len(), |(i, _)| i)
    }

    pub fn char_len(&self) -> usize {
        self.input.chars().count()
    }

    pub fn insert(&mut self, c: char) {
        if let Some(s) = &mut self.search {
            s.query.push(c);
            let q = s.query.clone();
            self.search_from(&q, self.history.len());
            return;
        }
        let at = self.byte_at(self.cursor);
        self.input.insert(at, c);
        self.cursor += 1;
    }

    pub fn insert_str(&mut self, s: &str) {
        for c in s.chars().filter(|c| !c.is_control()) {
            self.insert(c);
        }
    }

    pub fn backspace(&mut self) {
        if let Some(s) = &mut self.search {
            s.query.pop();
            let q = s.query.clone();
            self.search_from(&q, self.history.len());
            return;
        }
        if self.cursor > 0 {
            self.cursor -= 1;
            let at = self.byte_at(self.cursor);
            self.input.remove(at);
        }
    }

    pub fn delete(&mut self) {
        if self.cursor < self.char_len() {
            let at = self.byte_at(self.cursor);
            self.input.remove(at);
        }
    }

    pub fn left(&mut self) {
        self.cursor = self.cursor.saturating_sub(1);
    }

    pub fn right(&mut self) {
        self.cursor = (self.cursor + 1).min(self.char_len());
    }

    pub fn home(&mut self) {
        self.cursor = 0;
    }

    pub fn end(&mut self) {
        self.cursor = self.char_len();
    }

    pub fn clear(&mut self) {
        self.input.clear();
        self.cursor = 0;
        self.hist_pos = None;
        self.search = None;
    }

    /// Deletes the word before the cursor (Ctrl-W).
    pub fn delete_word(&mut self) {
        let chars: Vec<char> = self.input.chars().collect();
        let mut i = self.cursor;
        while i > 0 && chars[i - 1] == ' ' {
            i -= 1;
        }
        while i > 0 && chars[i - 1] != ' ' {
            i -= 1;
        }
        let rest: String = chars[self.cursor..].iter().collect();
        self.input = chars[..i].iter().collect::<String>() + &rest;
        self.cursor = i;
    }

    /// ↑: older history entry.
    pub fn history_prev(&mut self) {
        if self.history.is_empty() {
            return;
        }
        let pos = match self.hist_pos {
            None => {
                self.draft = self.input.clone();
                self.history.len() - 1
            }
            Some(0) => 0,
            Some(p) => p - 1,
        };
        self.hist_pos = Some(pos);
        self.input = self.history[pos].clone();
        self.end();
    }

    /// ↓: newer history entry, then back to the draft.
    pub fn history_next(&mut self) {
        match self.hist_pos {
            None => {}
            Some(p) if p + 1 < self.history.len() => {
                self.hist_pos = Some(p + 1);
                self.input = self.history[p + 1].clone();
                self.end();
            }
            Some(_) => {
                self.hist_pos = None;
                self.input = std::mem::take(&mut self.draft);
                self.end();
            }
        }
    }

    /// Ctrl-R: starts reverse search, or finds the next older match.
    pub fn search_older(&mut self) {
        match &self.search {
            None => self.search = Some(Search::default()),
            Some(s) => {
                let q = s.query.clone();
                let from = s.found.unwrap_or(self.history.len());
                self.search_from(&q, from);
            }
        }
    }

    fn search_from(&mut self, query: &str, before: usize) {
        let found = if query.is_empty() {
            None
        } else {
            self.history[..before.min(self.history.len())]
                .iter()
                .rposition(|h| h.contains(query))
        };
        if let Some(s) = &mut self.search {
            if found.is_some() || query.is_empty() {
                s.found = found;
            }
        }
    }

    /// The history entry the search currently shows.
    pub fn search_match(&self) -> Option<&str> {
        self.search
            .as_ref()?
            .found
            .map(|i| self.history[i].as_str())
    }

    /// Ends the search; `accept` puts the match on the line.
    pub fn end_search(&mut self, accept: bool) {
        if accept {
            if let Some(m) = self.search_match().map(str::to_string) {
                self.input = m;
                self.end();
            }
        }
        self.search = None;
    }

    /// Takes the line for running and records it in history (not twice in a row).
    pub fn take(&mut self) -> String {
        let line = std::mem::take(&mut self.input);
        self.cursor = 0;
        self.hist_pos = None;
        self.search = None;
        if !line.trim().is_empty() && self.history.last() != Some(&line) {
            self.history.push(line.clone());
            if self.history.len() > HISTORY_CAPACITY {
                let excess = self.history.len() - HISTORY_CAPACITY;
                self.history.drain(..excess);
            }
        }
        line
    }
}

/// Where history is kept.
pub fn history_path() -> PathBuf {
    crate::paths::history_file()
}

/// Reads the history file (one command per line; a missing file is an empty history).
pub fn load_history(path: &Path) -> Vec<String> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    let mut v: Vec<String> = text
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    if v.len() > HISTORY_CAPACITY {
        v.drain(..v.len() - HISTORY_CAPACITY);
    }
    v
}

/// Appends one command to the history file (created 0600).
pub fn append_history(path: &Path, line: &str) -> std::io::Result<()> {
    let mut f = crate::paths::open_private_append(path)?;
    // One entry per line: newlines inside a command cannot be typed, but be safe.
    // Secrets typed on the command line (`sshpass -p …`, `--password=…`) are masked as in
    // the operation log.
    writeln!(
        f,
        "{}",
        crate::oplog::redact::redact(&line.replace('\n', " "))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(s: &str) -> CmdLine {
        let mut c = CmdLine::default();
        c.insert_str(s);
        c
    }

    #[test]
    fn editing_in_the_middle_with_unicode() {
        let mut c = typed("échо");
        c.left();
        c.left();
        c.insert('X');
        assert_eq!(c.input, "écXhо");
        c.backspace();
        c.home();
        c.delete();
        assert_eq!(c.input, "chо");
    }

    #[test]
    fn history_walk_and_draft() {
        let mut c = CmdLine::with_history(vec!["a".into(), "b".into()]);
        c.insert_str("dr");
        c.history_prev();
        assert_eq!(c.input, "b");
        c.history_prev();
        c.history_prev();
        assert_eq!(c.input, "a");
        c.history_next();
        assert_eq!(c.input, "b");
        c.history_next();
        assert_eq!(c.input, "dr");
    }

    #[test]
    fn reverse_search_finds_older_matches() {
        let mut c = CmdLine::with_history(vec!["uptime".into(), "df -h".into(), "uname -a".into()]);
        c.search_older();
        c.insert('u');
        assert_eq!(c.search_match(), Some("uname -a"));
        c.search_older();
        assert_eq!(c.search_match(), Some("uptime"));
        c.end_search(true);
        assert_eq!(c.input, "uptime");
    }

    #[test]
    fn history_file_round_trip_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("sub/history");
        append_history(&p, "uptime").expect("append");
        append_history(&p, "df -h").expect("append");
        assert_eq!(load_history(&p), vec!["uptime", "df -h"]);
        let mode = std::fs::metadata(&p).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn saved_history_arriving_late_goes_before_this_session() {
        let mut c = typed("df");
        c.take();
        c.history_prev();
        c.add_older_history(vec!["uptime".into(), "w".into()]);
        assert_eq!(c.history, vec!["uptime", "w", "df"]);
        assert_eq!(c.input, "df");
        c.history_prev();
        assert_eq!(c.input, "w");
    }

    #[test]
    fn take_skips_repeats() {
        let mut c = typed("ls");
        assert_eq!(c.take(), "ls");
        c.insert_str("ls");
        c.take();
        assert_eq!(c.history, vec!["ls"]);
    }
}
