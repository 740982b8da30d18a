//! Integration tests of `aktion_server`: the ledger as a library, and the HTTP API through the
//! router and over a real socket; on SQLite, and on PostgreSQL when `AKTION_TEST_POSTGRES_URL`
//! is set. One test binary, so the crate links once.

mod abuse;
mod accounts;
mod admin;
mod billing;
mod browser;
mod common;
mod contract;
mod crash;
mod hardening;
mod http;
mod ledger;
mod mail;
mod proxy;
mod s3;
