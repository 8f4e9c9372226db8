//! Untrusted remote output made safe to show, and folding of identical outputs.
