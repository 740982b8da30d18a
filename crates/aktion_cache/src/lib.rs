//! Local content-addressed cache: BLAKE3-addressed blobs plus a result index keyed by node
//! signature. Must never depend on egui, tokio or any other aktion crate.
