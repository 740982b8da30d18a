//! Starts every fake provider on 127.0.0.1 and prints the variables that point the app at them.
//!
//! ```text
//! eval "$(aktion-fakes)"   # in another shell, or copy the printed lines
//! ```
//! The process runs until interrupted. Any key is accepted unless `AKTION_FAKES_KEY` is set.
//! `AKTION_FAKES_STEPS=N` makes every job go through N progress steps (one per status poll)
//! before it succeeds, for trying long jobs (the default is a short queue and two steps).
//! `AKTION_FAKES_GUESSED=1` turns on the endpoints PROVIDERS.md marks [C]/[I] (A2E's presigned
//! upload), off by default as in the tests. fal's storage is served by the fal fake, so its
//! address is printed too (`AKTION_FAL_STORAGE_URL`): nothing goes to the real `rest.fal.ai`.

use std::io::Write as _;

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let fakes = aktion_fakes::start_all().await?;
    let key = std::env::var("AKTION_FAKES_KEY").ok();
    let steps = std::env::var("AKTION_FAKES_STEPS")
        .ok()
        .and_then(|v| v.trim().parse::<u32>().ok())
        .map(|n| n.clamp(1, 100_000));
    let guessed = std::env::var("AKTION_FAKES_GUESSED").is_ok_and(|v| v.trim() == "1");
    let mut out = std::io::stdout().lock();
    for fake in &fakes {
        if let Some(key) = &key {
            fake.require_key(key);
        }
        if let Some(n) = steps {
            let mut script = vec![aktion_fakes::Step::Queued(0)];
            script.extend((0..n).map(|i| aktion_fakes::Step::Running(i as f32 / n as f32)));
            script.push(aktion_fakes::Step::Succeed);
            fake.set_script(script);
        }
        if guessed {
            fake.allow_guessed_endpoints();
        }
        writeln!(out, "export {}={}", fake.flavor.env_var(), fake.base_url())?;
        if fake.flavor == aktion_fakes::Flavor::Fal {
            writeln!(out, "export AKTION_FAL_STORAGE_URL={}", fake.base_url())?;
        }
    }
    out.flush()?;
    drop(out);
    tokio::signal::ctrl_c().await?;
    Ok(())
}
