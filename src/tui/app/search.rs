//! `/` in the output area: a search through the kept output of every pane of the job.
//!
//! Hits are found when the operator presses Enter (and found again by `n`/`N` when output
//! changed since), not on every key or frame: 2,000 panes × 10,000 lines is too much to scan
//! per keystroke. A hit is `(host, absolute line)`, the line counted from the first line the
//! job printed, so that it still names the same line after older lines left the tail. The
//! match is smart-case: case-insensitive unless the query holds an upper-case letter.

use crate::inventory::HostId;

use super::super::pane::Pane;

/// Most hits kept; the count says when there were more.
pub const MAX_HITS: usize = 100_000;

/// One matching line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hit {
    pub host: HostId,
    /// Counted from the job's first line ([`Pane::dropped`] + index in the pane).
    pub line: u64,
}

/// The search state of the output area.
#[derive(Debug, Default, Clone)]
pub struct Search {
    /// What the operator typed.
    pub query: String,
    /// The query the hits were found for (`None` before the first Enter).
    pub searched: Option<String>,
    /// Typing in the search field.
    pub editing: bool,
    /// `m`: only the panes of hosts with a hit.
    pub narrow: bool,
    pub hits: Vec<Hit>,
    /// More hits than [`MAX_HITS`] were found.
    pub truncated: bool,
    /// Index into `hits` of the current one.
    pub current: usize,
    /// Hosts with at least one hit, in job order.
    pub hosts: Vec<HostId>,
    /// Sum of the searched panes' versions when the hits were found.
    pub stamp: u64,
}

impl Search {
    /// A search is in effect (its hits are shown, `n`/`N` move through them).
    pub fn active(&self) -> bool {
        self.searched.as_deref().is_some_and(|q| !q.is_empty())
    }

    /// The current hit, if any.
    pub fn current_hit(&self) -> Option<Hit> {
        self.hits.get(self.current).copied()
    }
}

/// Smart-case matcher for one query.
#[derive(Debug, Clone)]
pub struct Matcher {
    needle: String,
    fold: bool,
}

impl Matcher {
    pub fn new(query: &str) -> Matcher {
        let fold = !query.chars().any(char::is_uppercase);
        Matcher {
            needle: if fold {
                query.to_lowercase()
            } else {
                query.to_string()
            },
            fold,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.needle.is_empty()
    }

    /// Byte ranges of the (non-overlapping) matches in `hay`.
    pub fn find_all(&self, hay: &str) -> Vec<(usize, usize)> {
        if self.needle.is_empty() {
            return Vec::new();
        }
        if !self.fold {
            return hay
                .match_indices(&self.needle)
                .map(|(i, m)| (i, i + m.len()))
                .collect();
        }
        // Lower-casing may change lengths: match char by char on the original string.
        let mut out = Vec::new();
        let chars: Vec<(usize, char)> = hay.char_indices().collect();
        let want: Vec<char> = self.needle.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            let mut k = 0;
            let mut j = i;
            while k < want.len() && j < chars.len() {
                let mut lower = chars[j].1.to_lowercase();
                if lower.next() != Some(want[k]) || lower.next().is_some() {
                    break;
                }
                k += 1;
                j += 1;
            }
            if k == want.len() {
                let end = chars.get(j).map_or(hay.len(), |c| c.0);
                out.push((chars[i].0, end));
                i = j.max(i + 1);
            } else {
                i += 1;
            }
        }
        out
    }

    pub fn is_match(&self, hay: &str) -> bool {
        if self.fold {
            !self.find_all(hay).is_empty()
        } else {
            hay.contains(&self.needle)
        }
    }
}

/// Finds the hits of `query` in `panes` (host and pane, in job order).
pub fn find<'p>(query: &str, panes: impl Iterator<Item = (HostId, &'p Pane)>) -> Search {
    let m = Matcher::new(query);
    let mut s = Search {
        query: query.to_string(),
        searched: Some(query.to_string()),
        ..Search::default()
    };
    for (host, pane) in panes {
        s.stamp = s.stamp.wrapping_add(pane.version());
        let before = s.hits.len();
        for i in 0..pane.len() {
            let Some(line) = pane.line(i) else { continue };
            let text = line.text();
            if !m.is_empty() && m.is_match(&text) {
                if s.hits.len() == MAX_HITS {
                    s.truncated = true;
                    break;
                }
                s.hits.push(Hit {
                    host,
                    line: pane.dropped + i as u64,
                });
            }
        }
        if s.hits.len() > before {
            s.hosts.push(host);
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Stream;

    #[test]
    fn smart_case_finds_every_match() {
        let m = Matcher::new("err");
        assert_eq!(m.find_all("ERR err Error"), vec![(0, 3), (4, 7), (8, 11)]);
        let m = Matcher::new("Err");
        assert_eq!(m.find_all("ERR err Error"), vec![(8, 11)]);
        let m = Matcher::new("straße");
        assert_eq!(m.find_all("STRASSE Straße"), vec![(8, 15)]);
        assert!(Matcher::new("").find_all("x").is_empty());
    }

    #[test]
    fn hits_name_lines_counted_from_the_jobs_first_line() {
        let mut a = Pane::new(3);
        a.feed(Stream::Stdout, b"ok\nerror 1\nok\nerror 2\nok\n");
        let mut b = Pane::new(10);
        b.feed(Stream::Stdout, b"all fine\n");
        let s = find("error", [(0, &a), (1, &b)].into_iter());
        // a keeps its last 3 lines (2 dropped): "ok", "error 2", "ok".
        assert_eq!(s.hits, vec![Hit { host: 0, line: 3 }]);
        assert_eq!(s.hosts, vec![0]);
        assert!(s.active());
    }
}
