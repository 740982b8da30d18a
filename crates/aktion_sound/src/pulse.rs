//! The Linux device: the PulseAudio server (or PipeWire's `pipewire-pulse`), over its native
//! protocol on a Unix socket.

use std::ffi::CString;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use pulseaudio::{AsPlaybackSource as _, Client, PlaybackStream, protocol};

use crate::{SoundError, VoiceState};

/// How far ahead of what is heard the server buffers: small enough that pause, seek and the
/// picture stay within a frame or two, large enough not to underrun on a busy machine.
const TARGET_MS: u32 = 60;
/// Length of the authentication cookie the protocol carries.
const COOKIE_LEN: usize = 256;
/// The server asks for more in steps of at least this.
const REQUEST_MS: u32 = 10;

/// The server's socket, found as libpulse finds it: `PULSE_SERVER` (`unix:/path` or a path),
/// then `PULSE_RUNTIME_PATH/native`, then `XDG_RUNTIME_DIR/pulse/native`.
pub fn default_server_path() -> Option<PathBuf> {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    let mut candidates = Vec::new();
    if let Some(server) = var("PULSE_SERVER") {
        let server = server.to_string_lossy().into_owned();
        // A list of servers is tried in order; only local sockets are spoken to.
        for entry in server.split_whitespace() {
            if let Some(path) = entry.strip_prefix("unix:") {
                candidates.push(PathBuf::from(path));
            } else if entry.starts_with('/') {
                candidates.push(PathBuf::from(entry));
            }
        }
    }
    if let Some(runtime) = var("PULSE_RUNTIME_PATH") {
        candidates.push(PathBuf::from(runtime).join("native"));
    }
    if let Some(runtime) = var("XDG_RUNTIME_DIR") {
        candidates.push(PathBuf::from(runtime).join("pulse").join("native"));
    }
    candidates.into_iter().find(|path| path.exists())
}

#[derive(Clone)]
pub(crate) struct Device {
    client: Client,
}

pub(crate) struct Stream {
    _stream: PlaybackStream,
}

impl Device {
    pub(crate) fn open_default() -> Result<Self, SoundError> {
        let path = default_server_path().ok_or_else(|| {
            SoundError::NoDevice(
                "no PulseAudio or PipeWire sound server was found (looked at PULSE_SERVER, \
                 PULSE_RUNTIME_PATH and XDG_RUNTIME_DIR/pulse/native)"
                    .to_owned(),
            )
        })?;
        Self::open_at(&path)
    }

    pub(crate) fn open_at(path: &Path) -> Result<Self, SoundError> {
        let no_device = |err: &dyn std::fmt::Display| {
            SoundError::NoDevice(format!(
                "the sound server at {} did not answer: {err}",
                path.display()
            ))
        };
        let socket = UnixStream::connect(path).map_err(|err| no_device(&err))?;
        // The handshake reads blocking: a server that never answers must not hang the caller.
        socket
            .set_read_timeout(Some(Duration::from_secs(3)))
            .map_err(|err| no_device(&err))?;
        socket
            .set_write_timeout(Some(Duration::from_secs(3)))
            .map_err(|err| no_device(&err))?;
        // The protocol needs a 256-byte cookie; with none to read, libpulse sends zeros too
        // (servers with anonymous access take any).
        let cookie = pulseaudio::cookie_path_from_env()
            .and_then(|path| std::fs::read(path).ok())
            .filter(|cookie| cookie.len() == COOKIE_LEN)
            .unwrap_or_else(|| vec![0; COOKIE_LEN]);
        let client = Client::new_unix(c"Aktion Studio", socket, Some(cookie))
            .map_err(|err| no_device(&err))?;
        Ok(Self { client })
    }

    /// The server resamples, so a track plays at its own rate.
    #[expect(
        clippy::unused_self,
        reason = "the same signature as the other platforms' device"
    )]
    pub(crate) fn rate(&self, track_rate: u32) -> u32 {
        track_rate
    }

    pub(crate) fn stream(&self, state: &Arc<VoiceState>) -> Result<Stream, SoundError> {
        let rate = state.track.rate;
        let bytes_per_ms = rate * 2 / 1000;
        let mut props = protocol::Props::new();
        props.set(protocol::Prop::MediaName, c"Aktion Studio playback");
        props.set(protocol::Prop::MediaRole, c"video");
        let params = protocol::PlaybackStreamParams {
            sample_spec: protocol::SampleSpec {
                format: protocol::SampleFormat::S16Le,
                channels: 1,
                sample_rate: rate,
            },
            channel_map: protocol::ChannelMap::mono(),
            cvolume: Some(protocol::ChannelVolume::norm(1)),
            sink_name: Some(CString::from(protocol::DEFAULT_SINK)),
            buffer_attr: protocol::stream::BufferAttr {
                max_length: u32::MAX,
                target_length: TARGET_MS * bytes_per_ms,
                pre_buffering: u32::MAX,
                minimum_request_length: REQUEST_MS * bytes_per_ms,
                fragment_size: u32::MAX,
            },
            flags: protocol::stream::StreamFlags {
                adjust_latency: true,
                ..Default::default()
            },
            props,
            ..Default::default()
        };
        let source = Arc::clone(state);
        let mut scratch: Vec<f32> = Vec::new();
        let callback = move |buf: &mut [u8]| {
            let frames = buf.len() / 2;
            scratch.resize(frames, 0.0);
            source.fill(&mut scratch);
            for (bytes, sample) in buf.chunks_exact_mut(2).zip(&scratch) {
                bytes.copy_from_slice(&to_i16(*sample).to_le_bytes());
            }
            frames * 2
        };
        let stream = futures_executor::block_on(
            self.client
                .create_playback_stream(params, callback.as_playback_source()),
        )
        .map_err(|err| SoundError::Stream(err.to_string()))?;
        let held = u64::from(stream.buffer_attr().target_length / 2);
        state
            .latency
            .store(held, std::sync::atomic::Ordering::Release);
        Ok(Stream { _stream: stream })
    }
}

/// Converts a sample to signed 16-bit.
fn to_i16(sample: f32) -> i16 {
    (sample.clamp(-1.0, 1.0) * f32::from(i16::MAX)).round() as i16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_clamp_to_sixteen_bits() {
        assert_eq!(to_i16(2.0), i16::MAX);
        assert_eq!(to_i16(-2.0), -i16::MAX);
        assert_eq!(to_i16(f32::NAN), 0);
        assert_eq!(to_i16(0.5), 16_384);
    }

    #[test]
    fn a_missing_server_is_no_device() {
        let dir = std::env::temp_dir().join("aktion-sound-no-server");
        let err = Device::open_at(&dir.join("native")).err().unwrap();
        assert!(matches!(err, SoundError::NoDevice(_)), "{err}");
        assert!(err.to_string().starts_with("no audio device"), "{err}");
    }
}
