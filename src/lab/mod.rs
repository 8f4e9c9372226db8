//! `fleetdeck lab`: a local fleet of real OpenSSH daemons on 127.0.0.1.
