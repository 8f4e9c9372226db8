//! SSH over libssh2: connecting, authenticating, host keys, exec channels, SFTP transfers.
//! One `ssh2::Session` is only ever touched by the thread that owns it.

pub mod transfer;
