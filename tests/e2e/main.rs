//! End-to-end tests across crates: the `aktion` command line on the example projects, and the
//! crate layering rules of STYLE.md checked by machine.

mod account;
mod cli;
mod direct;
mod layering;
