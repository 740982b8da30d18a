//! Aktion Studio: the desktop app and its command line.
fn main() {}
