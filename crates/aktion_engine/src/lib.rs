//! The evaluation engine: plans what requested outputs need, runs independent nodes concurrently
//! on tokio, reports progress, cancels, keeps takes and a job journal. Must never depend on egui,
//! sqlx or axum.
