//! Starts every fake provider on 127.0.0.1 and prints the variables that point the app at them.
//!
//! ```text
//! eval "$(aktion-fakes)"   # in another shell, or copy the printed lines
//! ```
//! The process runs until interrupted. Any key is accepted unless `AKTION_FAKES_KEY` is set.

use std::io::Write as _;

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let fakes = aktion_fakes::start_all().await?;
    let key = std::env::var("AKTION_FAKES_KEY").ok();
    let mut out = std::io::stdout().lock();
    for fake in &fakes {
        if let Some(key) = &key {
            fake.require_key(key);
        }
        writeln!(out, "export {}={}", fake.flavor.env_var(), fake.base_url())?;
    }
    out.flush()?;
    drop(out);
    tokio::signal::ctrl_c().await?;
    Ok(())
}
