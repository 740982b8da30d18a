//! Sound reaches a real PulseAudio server: `cargo xtask test` starts Debian's `pulseaudio` with
//! a null sink at 48 kHz and names its socket in `AKTION_TEST_PULSE`. What the sink plays is
//! recorded from its monitor and compared with what was sent.
#![cfg(target_os = "linux")]

use std::ffi::CString;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aktion_sound::{Output, Track};
use pulseaudio::{Client, RecordStream, protocol};

const RATE: u32 = 48_000;

/// Every test records the one sink: one at a time.
static SINK: Mutex<()> = Mutex::new(());

fn server() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("AKTION_TEST_PULSE") {
        return Some(PathBuf::from(path));
    }
    assert!(
        std::env::var_os("AKTION_REQUIRE_SOUND_SERVER").is_none(),
        "AKTION_TEST_PULSE is not set: `cargo xtask test` starts the sound server"
    );
    eprintln!("skipped: no test sound server (run `cargo xtask test`)");
    None
}

/// Records the null sink's monitor, mono, 16-bit, at 48 kHz.
struct Recorder {
    _client: Client,
    _stream: RecordStream,
    samples: Arc<Mutex<Vec<i16>>>,
}

impl Recorder {
    fn start(path: &PathBuf) -> Self {
        let socket = UnixStream::connect(path).expect("the test sound server");
        let client = Client::new_unix(c"aktion-sound-test", socket, Some(vec![0u8; 256]))
            .expect("handshake with the test sound server");
        let samples = Arc::new(Mutex::new(Vec::<i16>::new()));
        let sink = {
            let samples = Arc::clone(&samples);
            let mut odd: Option<u8> = None;
            move |data: &[u8]| {
                let mut out = samples.lock().expect("recording");
                for &byte in data {
                    match odd.take() {
                        None => odd = Some(byte),
                        Some(low) => out.push(i16::from_le_bytes([low, byte])),
                    }
                }
            }
        };
        let params = protocol::RecordStreamParams {
            sample_spec: protocol::SampleSpec {
                format: protocol::SampleFormat::S16Le,
                channels: 1,
                sample_rate: RATE,
            },
            channel_map: protocol::ChannelMap::mono(),
            source_name: Some(CString::from(protocol::DEFAULT_SOURCE)),
            buffer_attr: protocol::stream::BufferAttr {
                max_length: u32::MAX,
                target_length: u32::MAX,
                pre_buffering: u32::MAX,
                minimum_request_length: u32::MAX,
                fragment_size: RATE / 100 * 2,
            },
            cvolume: Some(protocol::ChannelVolume::norm(1)),
            ..Default::default()
        };
        let stream = futures_executor::block_on(client.create_record_stream(params, sink))
            .expect("a record stream on the monitor");
        Self {
            _client: client,
            _stream: stream,
            samples,
        }
    }

    fn take(&self) -> Vec<i16> {
        std::mem::take(&mut *self.samples.lock().expect("recording"))
    }
}

/// The sink to ourselves, its recorder and an output on it; `None` when there is no server.
fn connect() -> Option<(std::sync::MutexGuard<'static, ()>, Recorder, Output)> {
    let path = server()?;
    let sink = SINK
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let recorder = Recorder::start(&path);
    let output = Output::open_at(&path).expect("an output on the test sound server");
    Some((sink, recorder, output))
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "gave up waiting: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Pseudo-random samples at half scale: no stretch of it looks like another.
fn noise(count: usize) -> Vec<f32> {
    let mut state: u32 = 0x9e37_79b9;
    (0..count)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state as f32 / u32::MAX as f32 - 0.5
        })
        .collect()
}

fn to_i16(sample: f32) -> i16 {
    (sample * f32::from(i16::MAX)).round() as i16
}

#[test]
fn samples_reach_the_server_whole_and_in_order() {
    let Some((_sink, recorder, output)) = connect() else {
        return;
    };
    let sent = noise(RATE as usize * 6 / 10);
    let voice = output
        .voice(Track::new(RATE, sent.clone()).unwrap())
        .unwrap();

    // Paused: nothing is handed out, however long the device waits.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(voice.delivered(), 0);
    assert!(voice.position().abs() < f64::EPSILON);

    recorder.take();
    voice.set_playing(true);
    wait_until("the whole track handed to the server", || voice.finished());
    std::thread::sleep(Duration::from_millis(400));
    let heard = recorder.take();
    assert_eq!(voice.delivered(), sent.len() as u64);
    assert!(
        (voice.position() - 0.6).abs() < 0.001,
        "{}",
        voice.position()
    );

    // Find the first 64 sent samples in the recording, then every sample after them.
    let expected: Vec<i16> = sent.iter().map(|s| to_i16(*s)).collect();
    let close = |a: i16, b: i16| (i32::from(a) - i32::from(b)).abs() <= 4;
    let start = (0..heard.len().saturating_sub(expected.len()))
        .find(|&at| (0..64).all(|i| close(heard[at + i], expected[i])))
        .unwrap_or_else(|| panic!("the sent samples are not in the {} recorded", heard.len()));
    let wrong = expected
        .iter()
        .zip(&heard[start..])
        .filter(|(want, got)| !close(**want, **got))
        .count();
    assert_eq!(wrong, 0, "{wrong} of {} samples differ", expected.len());
}

#[test]
fn a_track_at_another_rate_keeps_its_pitch_and_length() {
    let Some((_sink, recorder, output)) = connect() else {
        return;
    };
    // 1 kHz for half a second at 22.05 kHz: the server resamples it to its 48 kHz.
    let rate = 22_050;
    let tone: Vec<f32> = (0..rate / 2)
        .map(|i| (std::f32::consts::TAU * 1_000.0 * i as f32 / rate as f32).sin() * 0.5)
        .collect();
    let voice = output.voice(Track::new(rate, tone).unwrap()).unwrap();
    voice.set_gain(0.5);
    recorder.take();
    voice.set_playing(true);
    wait_until("the tone handed to the server", || voice.finished());
    std::thread::sleep(Duration::from_millis(400));
    let heard = recorder.take();
    let loud: Vec<usize> = heard
        .iter()
        .enumerate()
        .filter(|(_, s)| s.unsigned_abs() > 1_000)
        .map(|(i, _)| i)
        .collect();
    let (first, last) = (loud[0], *loud.last().unwrap());
    let seconds = (last - first) as f64 / f64::from(RATE);
    // The length is read from a real-time sink on a busy machine (a loaded CI box dropped
    // 20 ms of the monitor's recording once): a resampling mistake would be off by 2× or more.
    assert!((seconds - 0.5).abs() < 0.05, "the tone lasted {seconds} s");
    let crossings = heard[first..last]
        .windows(2)
        .filter(|w| (w[0] < 0) != (w[1] < 0))
        .count();
    let hz = crossings as f64 / 2.0 / seconds;
    assert!((hz - 1_000.0).abs() < 30.0, "heard {hz} Hz");
    // Half gain: peaks near a quarter of full scale.
    let peak = heard.iter().map(|s| s.unsigned_abs()).max().unwrap();
    assert!((7_500..=8_800).contains(&peak), "peak {peak}");
}
