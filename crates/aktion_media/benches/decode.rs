//! H.264 decoding speed (issue: ≥ 2× real time on one core, ≥ 4× on both, for 1080p24 High with
//! B-frames), and the time to a clip's first frame. Needs the media fixtures:
//!
//! `cargo xtask media-fixtures && AKTION_MEDIA_FIXTURES=target/media-fixtures cargo bench -p aktion_media --bench decode`
//!
//! Prints one line per figure; frames are decoded to full-size RGBA (what the player shows).

use std::time::Instant;

use aktion_media::Video;

fn main() {
    let Some(dir) = std::env::var_os("AKTION_MEDIA_FIXTURES") else {
        eprintln!("set AKTION_MEDIA_FIXTURES (cargo xtask media-fixtures)");
        return;
    };
    let path = std::path::Path::new(&dir).join("bench-1080p.mp4");
    let bytes = std::fs::read(&path).expect("bench-1080p.mp4");
    let video = Video::open(bytes.clone()).expect("opens");
    let info = video.info().clone();
    println!(
        "clip: {}×{} {} · {} frames · {:.2} s",
        info.width, info.height, info.codec, info.frames, info.duration
    );

    // First frame of a clip just selected: open the file and decode its poster.
    let mut firsts = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        let clip = Video::open(bytes.clone()).expect("opens");
        let _ = clip
            .frames(None)
            .expect("frames")
            .next()
            .expect("a frame")
            .expect("decodes");
        firsts.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    firsts.sort_by(f64::total_cmp);
    println!(
        "first frame (open + decode + RGBA), median of 5: {:.1} ms",
        firsts[2]
    );

    // One core: every frame in order.
    let mut best = f64::MAX;
    for _ in 0..3 {
        let started = Instant::now();
        let count = video.frames(None).expect("frames").flatten().count();
        assert_eq!(count, info.frames);
        best = best.min(started.elapsed().as_secs_f64());
    }
    let fps = info.frames as f64 / best;
    println!(
        "one thread: {fps:.1} fps = {:.2}× real time (best of 3)",
        fps / info.fps
    );

    // Both cores: the two halves from their key frames, as exports and thumbnails can.
    let half = info.frames / 2;
    let mut best = f64::MAX;
    for _ in 0..3 {
        let started = Instant::now();
        let counts: Vec<usize> = std::thread::scope(|scope| {
            let a = scope.spawn(|| {
                video
                    .frames_from(0, None)
                    .expect("frames")
                    .take(half)
                    .count()
            });
            let b = scope.spawn(|| video.frames_from(half, None).expect("frames").count());
            vec![a.join().expect("thread"), b.join().expect("thread")]
        });
        assert_eq!(counts.iter().sum::<usize>(), info.frames);
        best = best.min(started.elapsed().as_secs_f64());
    }
    let fps = info.frames as f64 / best;
    println!(
        "two threads: {fps:.1} fps = {:.2}× real time (best of 3)",
        fps / info.fps
    );
}
