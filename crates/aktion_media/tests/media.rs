//! Integration tests of `aktion_media`, one binary (one link) with a module per area. All media
//! is generated here; nothing is read from disk or the network.

mod media {
    pub mod av;
    pub mod decode;
    pub mod draft;
    pub mod sketch;
    pub mod util;
}
