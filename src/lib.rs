//! fleetdeck: a full-screen terminal operations console for fleets of hosts over SSH.
//!
//! The crate is split the way the data flows (see ARCHITECTURE.md):
//! `inventory` (hosts, groups, patterns) → `engine` (jobs on worker threads holding
//! `ssh` sessions) → events → faces (`tui`, `cli`), with `oplog` recording every operation
//! and `output` making untrusted remote bytes safe to show.

pub mod cli;
pub mod contract;
pub mod engine;
pub mod face;
pub mod inventory;
pub mod lab;
pub mod oplog;
pub mod output;
pub mod paths;
pub mod ssh;
pub mod tui;
pub mod util;
