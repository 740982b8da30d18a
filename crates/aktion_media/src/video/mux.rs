//! A small MP4 writer for what this app makes: one H.264 track and at most one AAC track, each
//! in one chunk, index first ("faststart"), so any player, editor or browser starts it at once.
//! Box layout follows ISO/IEC 14496-12 and -15 (avcC) and -14 (esds).

/// An encoded H.264 track: samples in decode order (no B-frames: decode order is display order).
pub(crate) struct VideoTrackOut {
    pub width: u32,
    pub height: u32,
    /// Ticks per second; each sample lasts `sample_duration` ticks.
    pub timescale: u32,
    pub sample_duration: u32,
    /// Length-prefixed (4-byte) NAL units per sample, and whether it is a key frame.
    pub samples: Vec<(Vec<u8>, bool)>,
    pub sps: Vec<u8>,
    pub pps: Vec<u8>,
}

/// An encoded AAC-LC track: raw access units of 1024 samples each.
pub(crate) struct AudioTrackOut {
    pub sample_rate: u32,
    pub channels: u16,
    /// `AudioSpecificConfig` (the decoder's set-up, in `esds`).
    pub config: Vec<u8>,
    pub frames: Vec<Vec<u8>>,
    /// Samples at the start that are encoder delay (written as an edit list).
    pub priming: u32,
}

/// The whole file.
pub(crate) fn write(video: &VideoTrackOut, audio: Option<&AudioTrackOut>) -> Vec<u8> {
    let ftyp = mp4_box(
        *b"ftyp",
        &[
            b"isom".as_slice(),
            &512u32.to_be_bytes(),
            b"isom",
            b"iso2",
            b"avc1",
            b"mp41",
        ]
        .concat(),
    );
    // The index's size does not depend on the offsets it holds (32- or 64-bit chosen below from
    // the media size), so build it once to measure, then with the real offsets.
    let media: usize = video.samples.iter().map(|(s, _)| s.len()).sum::<usize>()
        + audio.map_or(0, |a| a.frames.iter().map(Vec::len).sum());
    let wide = media as u64 + 1_000_000 > u64::from(u32::MAX);
    let probe = moov(video, audio, 0, wide);
    let mdat_header = if wide { 16 } else { 8 };
    let first = (ftyp.len() + probe.len() + mdat_header) as u64;
    let moov = moov(video, audio, first, wide);
    debug_assert_eq!(moov.len(), probe.len());
    let mut out = Vec::with_capacity(first as usize + media);
    out.extend_from_slice(&ftyp);
    out.extend_from_slice(&moov);
    if wide {
        out.extend_from_slice(&1u32.to_be_bytes());
        out.extend_from_slice(b"mdat");
        out.extend_from_slice(&(media as u64 + 16).to_be_bytes());
    } else {
        out.extend_from_slice(&(media as u32 + 8).to_be_bytes());
        out.extend_from_slice(b"mdat");
    }
    for (sample, _) in &video.samples {
        out.extend_from_slice(sample);
    }
    if let Some(audio) = audio {
        for frame in &audio.frames {
            out.extend_from_slice(frame);
        }
    }
    out
}

fn mp4_box(name: [u8; 4], body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 8);
    out.extend_from_slice(&(body.len() as u32 + 8).to_be_bytes());
    out.extend_from_slice(&name);
    out.extend_from_slice(body);
    out
}

fn full_box(name: [u8; 4], version: u8, flags: u32, body: &[u8]) -> Vec<u8> {
    let mut head = flags.to_be_bytes();
    head[0] = version;
    mp4_box(name, &[head.as_slice(), body].concat())
}

fn container(name: [u8; 4], children: &[Vec<u8>]) -> Vec<u8> {
    mp4_box(name, &children.concat())
}

const MOVIE_TIMESCALE: u32 = 1000;

/// The unity matrix of mvhd/tkhd.
fn matrix() -> Vec<u8> {
    [0x0001_0000u32, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000]
        .iter()
        .flat_map(|v| v.to_be_bytes())
        .collect()
}

fn scale(duration: u64, from: u32, to: u32) -> u32 {
    u32::try_from(duration * u64::from(to) / u64::from(from.max(1))).unwrap_or(u32::MAX)
}

fn moov(video: &VideoTrackOut, audio: Option<&AudioTrackOut>, first: u64, wide: bool) -> Vec<u8> {
    let video_ticks = video.samples.len() as u64 * u64::from(video.sample_duration);
    let video_ms = scale(video_ticks, video.timescale, MOVIE_TIMESCALE);
    let audio_ms = audio.map_or(0, |a| {
        let samples = (a.frames.len() as u64 * 1024).saturating_sub(u64::from(a.priming));
        scale(samples, a.sample_rate, MOVIE_TIMESCALE)
    });
    let mut mvhd = Vec::new();
    mvhd.extend_from_slice(&[0; 8]); // creation, modification
    mvhd.extend_from_slice(&MOVIE_TIMESCALE.to_be_bytes());
    mvhd.extend_from_slice(&video_ms.max(audio_ms).to_be_bytes());
    mvhd.extend_from_slice(&0x0001_0000u32.to_be_bytes()); // rate 1.0
    mvhd.extend_from_slice(&0x0100u16.to_be_bytes()); // volume 1.0
    mvhd.extend_from_slice(&[0; 10]);
    mvhd.extend_from_slice(&matrix());
    mvhd.extend_from_slice(&[0; 24]); // pre_defined
    mvhd.extend_from_slice(&(if audio.is_some() { 3u32 } else { 2 }).to_be_bytes());
    let mut children = vec![
        full_box(*b"mvhd", 0, 0, &mvhd),
        video_trak(video, video_ms, first, wide),
    ];
    if let Some(audio) = audio {
        let video_bytes: usize = video.samples.iter().map(|(s, _)| s.len()).sum();
        children.push(audio_trak(
            audio,
            audio_ms,
            first + video_bytes as u64,
            wide,
        ));
    }
    container(*b"moov", &children)
}

fn tkhd(id: u32, duration_ms: u32, audio: bool, width: u32, height: u32) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&[0; 8]);
    body.extend_from_slice(&id.to_be_bytes());
    body.extend_from_slice(&[0; 4]);
    body.extend_from_slice(&duration_ms.to_be_bytes());
    body.extend_from_slice(&[0; 8]);
    body.extend_from_slice(&0u16.to_be_bytes()); // layer
    body.extend_from_slice(&u16::from(audio).to_be_bytes()); // alternate group
    body.extend_from_slice(&(if audio { 0x0100u16 } else { 0 }).to_be_bytes());
    body.extend_from_slice(&[0; 2]);
    body.extend_from_slice(&matrix());
    body.extend_from_slice(&(width << 16).to_be_bytes());
    body.extend_from_slice(&(height << 16).to_be_bytes());
    // Enabled, in movie, in preview.
    full_box(*b"tkhd", 0, 0x7, &body)
}

fn mdhd(timescale: u32, duration: u32) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&[0; 8]);
    body.extend_from_slice(&timescale.to_be_bytes());
    body.extend_from_slice(&duration.to_be_bytes());
    body.extend_from_slice(&0x55C4u16.to_be_bytes()); // language "und"
    body.extend_from_slice(&[0; 2]);
    full_box(*b"mdhd", 0, 0, &body)
}

fn hdlr(kind: [u8; 4], name: &str) -> Vec<u8> {
    let mut body = vec![0; 4];
    body.extend_from_slice(&kind);
    body.extend_from_slice(&[0; 12]);
    body.extend_from_slice(name.as_bytes());
    body.push(0);
    full_box(*b"hdlr", 0, 0, &body)
}

fn dinf() -> Vec<u8> {
    let url = full_box(*b"url ", 0, 1, &[]);
    let dref = full_box(
        *b"dref",
        0,
        0,
        &[1u32.to_be_bytes().as_slice(), &url].concat(),
    );
    container(*b"dinf", &[dref])
}

/// The sample tables for one chunk of `sizes` at `offset`.
fn tables(
    stsd: Vec<u8>,
    stts: &[(u32, u32)],
    sizes: &[u32],
    sync: Option<&[u32]>,
    offset: u64,
    wide: bool,
) -> Vec<u8> {
    let mut stts_body = (stts.len() as u32).to_be_bytes().to_vec();
    for (count, delta) in stts {
        stts_body.extend_from_slice(&count.to_be_bytes());
        stts_body.extend_from_slice(&delta.to_be_bytes());
    }
    let mut stsz_body = 0u32.to_be_bytes().to_vec();
    stsz_body.extend_from_slice(&(sizes.len() as u32).to_be_bytes());
    for size in sizes {
        stsz_body.extend_from_slice(&size.to_be_bytes());
    }
    let chunk_map: Vec<u8> = [1u32, 1, sizes.len() as u32, 1]
        .iter()
        .flat_map(|v| v.to_be_bytes())
        .collect();
    let chunk = if wide {
        full_box(
            *b"co64",
            0,
            0,
            &[1u32.to_be_bytes().as_slice(), &offset.to_be_bytes()].concat(),
        )
    } else {
        full_box(
            *b"stco",
            0,
            0,
            &[
                1u32.to_be_bytes().as_slice(),
                &(offset as u32).to_be_bytes(),
            ]
            .concat(),
        )
    };
    let mut children = vec![stsd, full_box(*b"stts", 0, 0, &stts_body)];
    if let Some(sync) = sync {
        let mut body = (sync.len() as u32).to_be_bytes().to_vec();
        for index in sync {
            body.extend_from_slice(&index.to_be_bytes());
        }
        children.push(full_box(*b"stss", 0, 0, &body));
    }
    children.push(full_box(*b"stsc", 0, 0, &chunk_map));
    children.push(full_box(*b"stsz", 0, 0, &stsz_body));
    children.push(chunk);
    container(*b"stbl", &children)
}

fn video_trak(video: &VideoTrackOut, duration_ms: u32, offset: u64, wide: bool) -> Vec<u8> {
    let mut avcc = vec![
        1,
        video.sps.get(1).copied().unwrap_or(66),
        video.sps.get(2).copied().unwrap_or(0),
        video.sps.get(3).copied().unwrap_or(30),
        0xFF, // 4-byte NAL lengths
        0xE1, // one SPS
    ];
    avcc.extend_from_slice(&(video.sps.len() as u16).to_be_bytes());
    avcc.extend_from_slice(&video.sps);
    avcc.push(1);
    avcc.extend_from_slice(&(video.pps.len() as u16).to_be_bytes());
    avcc.extend_from_slice(&video.pps);
    let mut entry = vec![0; 6];
    entry.extend_from_slice(&1u16.to_be_bytes()); // data reference index
    entry.extend_from_slice(&[0; 16]);
    entry.extend_from_slice(&(video.width as u16).to_be_bytes());
    entry.extend_from_slice(&(video.height as u16).to_be_bytes());
    entry.extend_from_slice(&0x0048_0000u32.to_be_bytes()); // 72 dpi
    entry.extend_from_slice(&0x0048_0000u32.to_be_bytes());
    entry.extend_from_slice(&[0; 4]);
    entry.extend_from_slice(&1u16.to_be_bytes()); // frame count
    entry.extend_from_slice(&[0; 32]); // compressor name
    entry.extend_from_slice(&0x0018u16.to_be_bytes()); // depth
    entry.extend_from_slice(&(-1i16).to_be_bytes());
    entry.extend_from_slice(&mp4_box(*b"avcC", &avcc));
    let stsd = full_box(
        *b"stsd",
        0,
        0,
        &[1u32.to_be_bytes().as_slice(), &mp4_box(*b"avc1", &entry)].concat(),
    );
    let sizes: Vec<u32> = video.samples.iter().map(|(s, _)| s.len() as u32).collect();
    let sync: Vec<u32> = video
        .samples
        .iter()
        .enumerate()
        .filter(|(_, (_, key))| *key)
        .map(|(i, _)| i as u32 + 1)
        .collect();
    let stbl = tables(
        stsd,
        &[(video.samples.len() as u32, video.sample_duration)],
        &sizes,
        Some(&sync),
        offset,
        wide,
    );
    let vmhd = full_box(*b"vmhd", 0, 1, &[0; 8]);
    let minf = container(*b"minf", &[vmhd, dinf(), stbl]);
    let ticks = video.samples.len() as u64 * u64::from(video.sample_duration);
    let mdia = container(
        *b"mdia",
        &[
            mdhd(video.timescale, u32::try_from(ticks).unwrap_or(u32::MAX)),
            hdlr(*b"vide", "Aktion Studio video"),
            minf,
        ],
    );
    container(
        *b"trak",
        &[tkhd(1, duration_ms, false, video.width, video.height), mdia],
    )
}

/// An MPEG-4 descriptor: tag, length (4-byte form, as most muxers write), body.
fn descriptor(tag: u8, body: &[u8]) -> Vec<u8> {
    let len = body.len() as u32;
    let mut out = vec![
        tag,
        0x80 | ((len >> 21) & 0x7F) as u8,
        0x80 | ((len >> 14) & 0x7F) as u8,
        0x80 | ((len >> 7) & 0x7F) as u8,
        (len & 0x7F) as u8,
    ];
    out.extend_from_slice(body);
    out
}

fn audio_trak(audio: &AudioTrackOut, duration_ms: u32, offset: u64, wide: bool) -> Vec<u8> {
    let mut config = vec![0x40, 0x15, 0, 0x18, 0]; // AAC, audio stream, 6 KiB buffer
    let seconds =
        (audio.frames.len() as u64 * 1024).max(1) as f64 / f64::from(audio.sample_rate.max(1));
    let total: usize = audio.frames.iter().map(Vec::len).sum();
    let average = (total as f64 * 8.0 / seconds) as u32;
    let peak = audio.frames.iter().map(Vec::len).max().unwrap_or(0) as u64
        * 8
        * u64::from(audio.sample_rate)
        / 1024;
    config.extend_from_slice(&u32::try_from(peak).unwrap_or(u32::MAX).to_be_bytes());
    config.extend_from_slice(&average.to_be_bytes());
    config.extend_from_slice(&descriptor(0x05, &audio.config));
    let mut es = vec![0, 2, 0]; // ES id 2, no flags
    es.extend_from_slice(&descriptor(0x04, &config));
    es.extend_from_slice(&descriptor(0x06, &[0x02]));
    let esds = full_box(*b"esds", 0, 0, &descriptor(0x03, &es));
    let mut mp4a = vec![0; 6];
    mp4a.extend_from_slice(&1u16.to_be_bytes());
    mp4a.extend_from_slice(&[0; 8]);
    mp4a.extend_from_slice(&audio.channels.to_be_bytes());
    mp4a.extend_from_slice(&16u16.to_be_bytes());
    mp4a.extend_from_slice(&[0; 4]);
    mp4a.extend_from_slice(&(audio.sample_rate.min(65_535) << 16).to_be_bytes());
    mp4a.extend_from_slice(&esds);
    let stsd = full_box(
        *b"stsd",
        0,
        0,
        &[1u32.to_be_bytes().as_slice(), &mp4_box(*b"mp4a", &mp4a)].concat(),
    );
    let sizes: Vec<u32> = audio.frames.iter().map(|f| f.len() as u32).collect();
    let stbl = tables(
        stsd,
        &[(sizes.len() as u32, 1024)],
        &sizes,
        None,
        offset,
        wide,
    );
    let smhd = full_box(*b"smhd", 0, 0, &[0; 4]);
    let minf = container(*b"minf", &[smhd, dinf(), stbl]);
    let samples = sizes.len() as u64 * 1024;
    let mdia = container(
        *b"mdia",
        &[
            mdhd(
                audio.sample_rate,
                u32::try_from(samples).unwrap_or(u32::MAX),
            ),
            hdlr(*b"soun", "Aktion Studio sound"),
            minf,
        ],
    );
    // The edit list skips the encoder's priming samples, so sound and picture start together.
    let mut elst = 1u32.to_be_bytes().to_vec();
    elst.extend_from_slice(&duration_ms.to_be_bytes());
    elst.extend_from_slice(&audio.priming.to_be_bytes());
    elst.extend_from_slice(&0x0001_0000u32.to_be_bytes());
    let edts = container(*b"edts", &[full_box(*b"elst", 0, 0, &elst)]);
    container(*b"trak", &[tkhd(2, duration_ms, true, 0, 0), edts, mdia])
}
