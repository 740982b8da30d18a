//! Aktion Studio: the desktop app (`app`), the command line (`cli`) and the example boards it
//! draws itself (`examples`). The `aktion` binary only parses arguments and hands over; the
//! library lets benches drive the app headlessly.

pub mod app;
pub mod cli;
pub mod examples;
pub mod setup;
