//! Integration tests of `aktion_media`, one binary (one link) with a module per area. Media is
//! generated here, or made by ffmpeg before the tests (`media/fixtures.rs`); nothing is read
//! from the network.

mod media {
    pub mod av;
    pub mod decode;
    pub mod draft;
    pub mod encode;
    pub mod fixtures;
    pub mod sketch;
    pub mod util;
    pub mod video;
}
