//! Media for Aktion Studio: image decoding with limits, thumbnails, sketch rasterising and the
//! offline `draft` renderers. Must never depend on egui, tokio or the network.
