//! The macOS and Windows device: cpal's default host and output device (Core Audio, WASAPI).
//! The track is resampled to the device's rate when it is put on the device; each device
//! channel gets the mono samples.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use cpal::traits::{DeviceTrait as _, HostTrait as _, StreamTrait as _};

use crate::{SoundError, VoiceState};

#[derive(Clone)]
pub(crate) struct Device {
    device: cpal::Device,
    config: cpal::SupportedStreamConfig,
}

/// cpal's stream is not `Send` on every platform, so it lives on a thread of its own until the
/// voice is dropped (which closes this channel).
pub(crate) struct Stream {
    _stop: SyncSender<()>,
}

impl Device {
    pub(crate) fn open_default() -> Result<Self, SoundError> {
        let host = cpal::default_host();
        let device = host.default_output_device().ok_or_else(|| {
            SoundError::NoDevice("the system has no default output device".to_owned())
        })?;
        let config = device
            .default_output_config()
            .map_err(|err| SoundError::NoDevice(err.to_string()))?;
        Ok(Self { device, config })
    }

    pub(crate) fn rate(&self, _track_rate: u32) -> u32 {
        self.config.sample_rate().0
    }

    pub(crate) fn stream(&self, state: &Arc<VoiceState>) -> Result<Stream, SoundError> {
        let (stop, stopped) = sync_channel::<()>(1);
        let (ready, started) = sync_channel::<Result<(), SoundError>>(1);
        let device = self.device.clone();
        let config = self.config.clone();
        let state = Arc::clone(state);
        std::thread::Builder::new()
            .name("sound-out".into())
            .spawn(move || run(&device, &config, &state, &ready, &stopped))
            .map_err(|err| SoundError::Stream(err.to_string()))?;
        started
            .recv()
            .map_err(|_| SoundError::Stream("the sound thread ended".to_owned()))??;
        Ok(Stream { _stop: stop })
    }
}

fn run(
    device: &cpal::Device,
    config: &cpal::SupportedStreamConfig,
    state: &Arc<VoiceState>,
    ready: &SyncSender<Result<(), SoundError>>,
    stopped: &Receiver<()>,
) {
    let built = match config.sample_format() {
        cpal::SampleFormat::F32 => build::<f32>(device, config, state),
        cpal::SampleFormat::I16 => build::<i16>(device, config, state),
        cpal::SampleFormat::U16 => build::<u16>(device, config, state),
        cpal::SampleFormat::I32 => build::<i32>(device, config, state),
        other => Err(SoundError::Stream(format!(
            "the device's sample format {other} is not supported"
        ))),
    };
    let stream = match built {
        Ok(stream) => stream,
        Err(err) => {
            let _ = ready.send(Err(err));
            return;
        }
    };
    if let Err(err) = stream.play() {
        let _ = ready.send(Err(SoundError::Stream(err.to_string())));
        return;
    }
    let _ = ready.send(Ok(()));
    // Held until the voice is dropped.
    let _ = stopped.recv();
    drop(stream);
}

fn build<T>(
    device: &cpal::Device,
    config: &cpal::SupportedStreamConfig,
    state: &Arc<VoiceState>,
) -> Result<cpal::Stream, SoundError>
where
    T: cpal::SizedSample + cpal::FromSample<f32>,
{
    let channels = usize::from(config.channels().max(1));
    // About 40 ms the device holds ahead of what is heard (cpal does not report it).
    state.latency.store(
        u64::from(config.sample_rate().0 / 25),
        std::sync::atomic::Ordering::Release,
    );
    let source = Arc::clone(state);
    let mut scratch: Vec<f32> = Vec::new();
    device
        .build_output_stream(
            &config.config(),
            move |data: &mut [T], _: &cpal::OutputCallbackInfo| {
                let frames = data.len() / channels;
                scratch.resize(frames, 0.0);
                source.fill(&mut scratch);
                for (frame, sample) in data.chunks_exact_mut(channels).zip(&scratch) {
                    frame.fill(T::from_sample(*sample));
                }
            },
            |_err| {},
            None,
        )
        .map_err(|err| SoundError::Stream(err.to_string()))
}
