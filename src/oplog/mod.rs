//! The operation log: append-only JSON Lines of every operation and per-host result.
