//! Project tasks, run as `cargo xtask <task>`:
//!
//! - `test`: installs what the tests need, then runs `cargo fmt --check`, clippy with
//!   `-D warnings` and every test of the workspace, in one shared target folder. `.ci/run` calls
//!   exactly this.
//!   The tests' outside readers: Debian's ffmpeg (fixtures) and ffprobe, PostgreSQL, PulseAudio,
//!   and a Python virtual environment with OpenTimelineIO and its adapters.
//! - `media-fixtures`: makes the media test files (`target/media-fixtures`) and prints the folder;
//!   point `AKTION_MEDIA_FIXTURES` at it to run the media tests outside `test`.
//!
//! Depends on nothing but std, so it builds in seconds.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("test") => test(),
        Some("postgres-check") => postgres_check(),
        Some("media-fixtures") => media_fixtures().map(|dir| println!("{}", dir.display())),
        _ => {
            eprintln!("usage: cargo xtask test | postgres-check | media-fixtures");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs one step, echoing it and timing it.
fn step(name: &str, program: &str, args: &[&str]) -> Result<(), String> {
    step_env(name, program, args, &[])
}

fn step_env(name: &str, program: &str, args: &[&str], env: &[(&str, &str)]) -> Result<(), String> {
    eprintln!("==> {name}: {program} {}", args.join(" "));
    let started = Instant::now();
    let status = Command::new(program)
        .args(args)
        .envs(env.iter().copied())
        .status()
        .map_err(|e| format!("{name}: cannot start {program}: {e}"))?;
    eprintln!("<== {name}: {status} in {:.0?}", started.elapsed());
    if status.success() {
        Ok(())
    } else {
        Err(format!("{name} failed ({status})"))
    }
}

fn test() -> Result<(), String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    step("format", &cargo, &["fmt", "--all", "--", "--check"])?;
    step(
        "clippy",
        &cargo,
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--locked",
            "--",
            "-D",
            "warnings",
        ],
    )?;
    // One `cargo test` builds every test target once and also runs doc tests; a separate
    // `--doc` pass after nextest rebuilt half the workspace with other features (measured).
    // The account server's tests run against SQLite always and against a real PostgreSQL
    // started here (AKTION_TEST_POSTGRES_URL names one that already runs).
    let postgres = if Path::new("crates/aktion_server").is_dir() {
        Postgres::start()?
    } else {
        None
    };
    let url = std::env::var("AKTION_TEST_POSTGRES_URL")
        .ok()
        .or_else(|| postgres.as_ref().map(|p| p.url.clone()));
    let mut env: Vec<(&str, &str)> = url
        .as_deref()
        .map(|u| vec![("AKTION_TEST_POSTGRES_URL", u)])
        .unwrap_or_default();
    // Media fixtures are made by Debian's ffmpeg here, before the tests; the tests themselves run
    // with ffmpeg out of reach (AKTION_FFMPEG names a program that does not exist), so the app's
    // in-process decoders are what they test.
    let fixtures = media_fixtures()?;
    let fixtures = fixtures.to_string_lossy().into_owned();
    env.push(("AKTION_MEDIA_FIXTURES", &fixtures));
    env.push(("AKTION_REQUIRE_MEDIA_FIXTURES", "1"));
    env.push(("AKTION_FFMPEG", "/nonexistent/ffmpeg-is-for-fixtures-only"));
    // ffprobe checks files the app writes (MP4s), as an independent reader.
    let ffprobe = which("ffprobe").map(|p| p.to_string_lossy().into_owned());
    if let Some(ffprobe) = &ffprobe {
        env.push(("AKTION_TEST_FFPROBE", ffprobe));
    }
    // Sound output is tested against a real sound server: Debian's PulseAudio with a null sink.
    let sound = SoundServer::start()?;
    let socket = sound.socket.to_string_lossy().into_owned();
    env.push(("AKTION_TEST_PULSE", &socket));
    env.push(("AKTION_REQUIRE_SOUND_SERVER", "1"));
    // Storyboard PDFs are read back by poppler (pdfinfo, pdftotext).
    let pdfinfo = which("pdfinfo")
        .or_else(|| {
            apt_install("poppler-utils");
            which("pdfinfo")
        })
        .ok_or("poppler-utils (pdfinfo) could not be installed")?;
    let poppler = pdfinfo
        .parent()
        .map(|d| d.to_string_lossy().into_owned())
        .unwrap_or_default();
    env.push(("AKTION_TEST_POPPLER", &poppler));
    // Exports are read back by OpenTimelineIO and its adapters, in a virtual environment.
    let python = python_tools()?;
    let python = python.to_string_lossy().into_owned();
    env.push(("AKTION_TEST_PYTHON", &python));
    env.push(("AKTION_REQUIRE_PYTHON_TOOLS", "1"));
    // The admin dashboard is driven in Debian's Chromium by Playwright (playwright-core, npm).
    let (chromium, node_modules) = browser_tools()?;
    let chromium = chromium.to_string_lossy().into_owned();
    let node_modules = node_modules.to_string_lossy().into_owned();
    env.push(("AKTION_TEST_CHROMIUM", &chromium));
    env.push(("AKTION_TEST_NODE_PATH", &node_modules));
    env.push(("AKTION_REQUIRE_BROWSER", "1"));
    let result = step_env(
        "tests",
        &cargo,
        &["test", "--workspace", "--locked", "--no-fail-fast"],
        &env,
    );
    drop(postgres);
    drop(sound);
    result
}

/// A private PulseAudio server with one null sink at 48 kHz (its monitor is the default
/// source), listening on a socket under `target/`, stopped when dropped.
struct SoundServer {
    child: std::process::Child,
    socket: PathBuf,
}

impl SoundServer {
    fn start() -> Result<Self, String> {
        if which("pulseaudio").is_none() {
            apt_install("pulseaudio");
        }
        let bin = which("pulseaudio").ok_or("pulseaudio could not be installed for the tests")?;
        let root = std::env::current_dir()
            .map_err(|e| e.to_string())?
            .join("target/xtask-pulse");
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).map_err(|e| format!("{}: {e}", root.display()))?;
        let socket = root.join("native");
        let log = std::fs::File::create(root.join("log")).map_err(|e| e.to_string())?;
        let child = Command::new(bin)
            .args([
                "-n",
                "--daemonize=no",
                "--exit-idle-time=-1",
                "--use-pid-file=no",
                "--system=no",
                "--log-target=stderr",
                "--load=module-null-sink sink_name=aktion_test rate=48000",
            ])
            .arg(format!(
                "--load=module-native-protocol-unix socket={} auth-anonymous=1",
                socket.display()
            ))
            .env("HOME", &root)
            .env("XDG_RUNTIME_DIR", &root)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("pulseaudio: {e}"))?;
        let server = Self { child, socket };
        for _ in 0..200 {
            if server.socket.exists() {
                eprintln!(
                    "==> sound server (PulseAudio, null sink) at {}",
                    server.socket.display()
                );
                return Ok(server);
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let log = std::fs::read_to_string(root.join("log")).unwrap_or_default();
        Err(format!("pulseaudio did not start:\n{log}"))
    }
}

impl Drop for SoundServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Test media made by a real encoder (Debian's ffmpeg, installed when missing): H.264 in every
/// profile and layout providers and cameras produce, compressed audio, formats the app refuses,
/// and reference frames decoded by ffmpeg to compare against. Returns the folder.
fn media_fixtures() -> Result<PathBuf, String> {
    let dir = std::env::current_dir()
        .map_err(|e| e.to_string())?
        .join("target/media-fixtures");
    let recipe = MEDIA_FIXTURES
        .iter()
        .map(|(name, args)| format!("{name}:{}", args.join(" ")))
        .collect::<Vec<_>>()
        .join("\n");
    let stamp = dir.join("recipe.txt");
    if std::fs::read_to_string(&stamp).is_ok_and(|done| done == recipe) {
        return Ok(dir);
    }
    let ffmpeg = which("ffmpeg").or_else(|| {
        apt_install("ffmpeg");
        which("ffmpeg")
    });
    let Some(ffmpeg) = ffmpeg else {
        return Err(
            "ffmpeg is needed to make the media fixtures and could not be installed".into(),
        );
    };
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    eprintln!(
        "==> media fixtures: {} files with {}",
        MEDIA_FIXTURES.len(),
        ffmpeg.display()
    );
    let started = Instant::now();
    for (name, args) in MEDIA_FIXTURES {
        let output = Command::new(&ffmpeg)
            .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-y"])
            .args(*args)
            .current_dir(&dir)
            .output()
            .map_err(|e| format!("ffmpeg: {e}"))?;
        if !output.status.success() {
            return Err(format!(
                "making media fixture {name} failed: {}",
                String::from_utf8_lossy(&output.stderr)
            ));
        }
    }
    std::fs::write(&stamp, recipe).map_err(|e| e.to_string())?;
    eprintln!("<== media fixtures in {:.0?}", started.elapsed());
    Ok(dir)
}

/// (file made, ffmpeg arguments), run in the fixtures folder. Sources are lavfi's test patterns
/// and sine tones; `*.ref*.png` are frames decoded by ffmpeg with the colour matrix the app
/// assumes (BT.601 below 720 lines, BT.709 from there).
const MEDIA_FIXTURES: &[(&str, &[&str])] = &[
    (
        "baseline.mp4",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=320x240:rate=24:duration=2",
            "-c:v",
            "libx264",
            "-profile:v",
            "baseline",
            "-pix_fmt",
            "yuv420p",
            "-movflags",
            "+faststart",
            "baseline.mp4",
        ],
    ),
    (
        "main-moov-at-end.mp4",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=640x360:rate=25:duration=2",
            "-c:v",
            "libx264",
            "-profile:v",
            "main",
            "-bf",
            "3",
            "-pix_fmt",
            "yuv420p",
            "main-moov-at-end.mp4",
        ],
    ),
    (
        "high-480p-aac.mp4",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=852x480:rate=24:duration=3",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=48000:duration=3",
            "-ac",
            "2",
            "-c:v",
            "libx264",
            "-profile:v",
            "high",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-b:a",
            "128k",
            "-movflags",
            "+faststart",
            "high-480p-aac.mp4",
        ],
    ),
    (
        "fragmented.mp4",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=640x360:rate=24:duration=2",
            "-c:v",
            "libx264",
            "-profile:v",
            "high",
            "-g",
            "12",
            "-pix_fmt",
            "yuv420p",
            "-movflags",
            "frag_keyframe+empty_moov+default_base_moof",
            "fragmented.mp4",
        ],
    ),
    (
        "clip.mov",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=640x360:rate=24:duration=2",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=44100:duration=2",
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "clip.mov",
        ],
    ),
    (
        "portrait-9x16.mp4",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=360x640:rate=30:duration=1",
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
            "portrait-9x16.mp4",
        ],
    ),
    // For the decode benchmark (aktion_media/benches/decode.rs): 10 s of 1080p24, x264's
    // defaults (High, B-frames), as providers make them.
    (
        "bench-1080p.mp4",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=1920x1080:rate=24:duration=10",
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
            "bench-1080p.mp4",
        ],
    ),
    (
        "hd-1080p.mp4",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=1920x1080:rate=24:duration=1",
            "-c:v",
            "libx264",
            "-profile:v",
            "high",
            "-pix_fmt",
            "yuv420p",
            "-colorspace",
            "bt709",
            "hd-1080p.mp4",
        ],
    ),
    // A phone's portrait clip: pictures stored landscape, the track matrix turns them.
    (
        "rotated-src.mp4",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=320x240:rate=24:duration=1",
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
            "rotated-src.mp4",
        ],
    ),
    (
        "rotated-90.mp4",
        &[
            "-i",
            "rotated-src.mp4",
            "-c",
            "copy",
            "-metadata:s:v:0",
            "rotate=90",
            "rotated-90.mp4",
        ],
    ),
    (
        "vp9.webm",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=160x120:rate=10:duration=1",
            "-c:v",
            "libvpx-vp9",
            "vp9.webm",
        ],
    ),
    (
        "hevc.mp4",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=160x120:rate=10:duration=1",
            "-c:v",
            "libx265",
            "-x265-params",
            "log-level=error",
            "-tag:v",
            "hvc1",
            "hevc.mp4",
        ],
    ),
    (
        "high10.mp4",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=160x120:rate=10:duration=1",
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p10le",
            "high10.mp4",
        ],
    ),
    (
        "tone.mp3",
        &[
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=44100:duration=2",
            "-c:a",
            "libmp3lame",
            "-b:a",
            "128k",
            "tone.mp3",
        ],
    ),
    (
        "tone.m4a",
        &[
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=44100:duration=2",
            "-c:a",
            "aac",
            "tone.m4a",
        ],
    ),
    (
        "tone.flac",
        &[
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=44100:duration=2",
            "-c:a",
            "flac",
            "tone.flac",
        ],
    ),
    (
        "tone.ogg",
        &[
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=44100:duration=2",
            "-c:a",
            "libvorbis",
            "tone.ogg",
        ],
    ),
    (
        "stereo.wav",
        &[
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=48000:duration=2",
            "-ac",
            "2",
            "-c:a",
            "pcm_s16le",
            "stereo.wav",
        ],
    ),
    // Reference frames (first, a B-frame in the middle, last), decoded by ffmpeg.
    (
        "main-moov-at-end.ref",
        &[
            "-i",
            "main-moov-at-end.mp4",
            "-vf",
            "select='eq(n\\,0)+eq(n\\,26)+eq(n\\,49)',scale=in_color_matrix=bt601:in_range=tv",
            "-vsync",
            "0",
            "main-moov-at-end.ref%d.png",
        ],
    ),
    (
        "high-480p-aac.ref",
        &[
            "-i",
            "high-480p-aac.mp4",
            "-vf",
            "select='eq(n\\,0)+eq(n\\,37)+eq(n\\,71)',scale=in_color_matrix=bt601:in_range=tv",
            "-vsync",
            "0",
            "high-480p-aac.ref%d.png",
        ],
    ),
    (
        "fragmented.ref",
        &[
            "-i",
            "fragmented.mp4",
            "-vf",
            "select='eq(n\\,0)+eq(n\\,25)+eq(n\\,47)',scale=in_color_matrix=bt601:in_range=tv",
            "-vsync",
            "0",
            "fragmented.ref%d.png",
        ],
    ),
    (
        "rotated-90.ref",
        &[
            "-i",
            "rotated-90.mp4",
            "-vf",
            "select='eq(n\\,5)',scale=in_color_matrix=bt601:in_range=tv",
            "-vsync",
            "0",
            "rotated-90.ref%d.png",
        ],
    ),
    (
        "hd-1080p.ref",
        &[
            "-i",
            "hd-1080p.mp4",
            "-vf",
            "select='eq(n\\,0)+eq(n\\,13)+eq(n\\,23)',scale=in_color_matrix=bt709:in_range=tv",
            "-vsync",
            "0",
            "hd-1080p.ref%d.png",
        ],
    ),
];

/// Python packages the tests use, pinned: OpenTimelineIO with its plug-ins (CMX3600, FCP7 XML)
/// and the FCPXML adapter read the app's files; schemathesis checks the account server against
/// its OpenAPI document; aiosmtpd is the SMTP server the mail tests deliver to; Stripe's own
/// library checks the webhook signatures the billing tests make.
const PYTHON_TOOLS: [&str; 6] = [
    "opentimelineio==0.18.1",
    "opentimelineio-plugins==0.18.1",
    "otio-fcpx-xml-adapter==1.0.0",
    "schemathesis==4.32.5",
    "aiosmtpd==1.4.6",
    "stripe==16.1.0",
];

/// A virtual environment under `target/` with [`PYTHON_TOOLS`] installed (kept between runs;
/// reinstalled when the list changes). Returns its Python.
fn python_tools() -> Result<PathBuf, String> {
    let venv = Path::new("target/test-venv");
    let python = venv.join("bin/python");
    let stamp = venv.join("aktion-tools.txt");
    let wanted = PYTHON_TOOLS.join("\n");
    if python.is_file() && std::fs::read_to_string(&stamp).is_ok_and(|s| s == wanted) {
        return std::path::absolute(&python).map_err(|e| e.to_string());
    }
    let system = which("python3").ok_or("python3 is not installed")?;
    let make = || {
        Command::new(&system)
            .args(["-m", "venv", "--clear"])
            .arg(venv)
            .status()
            .is_ok_and(|s| s.success())
    };
    if !make() {
        // Debian ships venv separately.
        apt_install("python3-venv");
        if !make() {
            return Err("cannot make a Python virtual environment (python3 -m venv)".into());
        }
    }
    let mut args = vec!["-m", "pip", "install", "-q", "--disable-pip-version-check"];
    args.extend(PYTHON_TOOLS);
    step("python tools", &python.to_string_lossy(), &args)?;
    std::fs::write(&stamp, wanted).map_err(|e| e.to_string())?;
    std::path::absolute(&python).map_err(|e| e.to_string())
}

/// `playwright-core` from npm, pinned, for the browser tests.
const PLAYWRIGHT: &str = "playwright-core@1.64.1";

/// Debian's Chromium and a `node_modules` under `target/` with [`PLAYWRIGHT`] (kept between
/// runs; reinstalled when the pin changes). Returns the browser and the modules folder.
fn browser_tools() -> Result<(PathBuf, PathBuf), String> {
    let chromium = which("chromium")
        .or_else(|| {
            apt_install("chromium");
            which("chromium")
        })
        .ok_or("Debian's chromium could not be installed")?;
    if which("npm").is_none() {
        apt_install("npm");
    }
    let npm = which("npm").ok_or("npm is not installed")?;
    let prefix = Path::new("target/test-node");
    let modules = prefix.join("node_modules");
    let stamp = prefix.join("aktion-tools.txt");
    if !(modules.join("playwright-core").is_dir()
        && std::fs::read_to_string(&stamp).is_ok_and(|s| s == PLAYWRIGHT))
    {
        std::fs::create_dir_all(prefix).map_err(|e| e.to_string())?;
        let prefix_arg = prefix.to_string_lossy().into_owned();
        step(
            "playwright-core",
            &npm.to_string_lossy(),
            &[
                "install",
                "--prefix",
                &prefix_arg,
                "--no-audit",
                "--no-fund",
                "--no-save",
                PLAYWRIGHT,
            ],
        )?;
        std::fs::write(&stamp, PLAYWRIGHT).map_err(|e| e.to_string())?;
    }
    Ok((
        chromium,
        std::path::absolute(&modules).map_err(|e| e.to_string())?,
    ))
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(program))
        .find(|path| path.is_file())
}

/// Starts the test PostgreSQL, asks it a question and stops it (to check a machine's set-up).
fn postgres_check() -> Result<(), String> {
    let pg = Postgres::start()?.ok_or("no PostgreSQL available")?;
    step(
        "query",
        &pg.bin.join("psql").to_string_lossy(),
        &[&pg.url, "-c", "select version()"],
    )
}

/// A throwaway PostgreSQL cluster under `target/`, stopped and removed on drop.
struct Postgres {
    bin: PathBuf,
    data: PathBuf,
    url: String,
}

impl Postgres {
    /// Installs Debian's server package when missing (CI runs as root), then initialises and
    /// starts a cluster on a free loopback port. `None` (with a note) where that is impossible,
    /// so the PostgreSQL tests skip instead of failing on a developer's laptop.
    fn start() -> Result<Option<Self>, String> {
        if std::env::var_os("AKTION_TEST_POSTGRES_URL").is_some() {
            return Ok(None);
        }
        let Some(bin) = postgres_bin().or_else(|| {
            install_postgres();
            postgres_bin()
        }) else {
            eprintln!("note: no PostgreSQL server found or installable; its tests will skip");
            return Ok(None);
        };
        let root = std::env::current_dir()
            .map_err(|e| e.to_string())?
            .join("target/xtask-postgres");
        let _ = std::fs::remove_dir_all(&root);
        let data = root.join("data");
        std::fs::create_dir_all(&root).map_err(|e| format!("create {}: {e}", root.display()))?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("no free port: {e}"))?
            .port();
        // initdb refuses to run as root: run the server as the `postgres` user when we are root.
        let as_root = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
        if as_root {
            let _ = Command::new("chown")
                .args(["-R", "postgres", &root.to_string_lossy()])
                .status();
        }
        let run = |program: &Path, args: &[&str]| -> Result<(), String> {
            let mut cmd = if as_root {
                let mut c = Command::new("runuser");
                c.args(["-u", "postgres", "--"]).arg(program);
                c
            } else {
                Command::new(program)
            };
            let status = cmd
                .args(args)
                .stdout(Stdio::null())
                .status()
                .map_err(|e| format!("{}: {e}", program.display()))?;
            if status.success() {
                Ok(())
            } else {
                Err(format!(
                    "{} {} failed ({status})",
                    program.display(),
                    args.join(" ")
                ))
            }
        };
        let data_s = data.to_string_lossy().into_owned();
        let root_s = root.to_string_lossy().into_owned();
        run(
            &bin.join("initdb"),
            &["-D", &data_s, "-A", "trust", "-U", "postgres", "--no-sync"],
        )?;
        let opts = format!("-p {port} -k {root_s} -c listen_addresses=127.0.0.1 -c fsync=off");
        let log = root.join("server.log").to_string_lossy().into_owned();
        run(
            &bin.join("pg_ctl"),
            &["-D", &data_s, "-o", &opts, "-l", &log, "-w", "start"],
        )?;
        let pg = Self {
            url: format!("postgres://postgres@127.0.0.1:{port}/aktion_test"),
            bin,
            data,
        };
        run(
            &pg.bin.join("createdb"),
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "-U",
                "postgres",
                "aktion_test",
            ],
        )?;
        eprintln!("==> PostgreSQL for the tests at {}", pg.url);
        Ok(Some(pg))
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let data = self.data.to_string_lossy().into_owned();
        let ctl = self.bin.join("pg_ctl");
        let _ = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(&ctl)
            .args(["-D", &data, "-m", "fast", "stop"])
            .stdout(Stdio::null())
            .status()
            .or_else(|_| {
                Command::new(&ctl)
                    .args(["-D", &data, "-m", "fast", "stop"])
                    .stdout(Stdio::null())
                    .status()
            });
    }
}

/// The newest installed server's `bin` folder (Debian keeps them per version).
fn postgres_bin() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_string_lossy().parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("pg_ctl").is_file().then_some((v, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, b)| b)
}

fn install_postgres() {
    apt_install("postgresql");
}

/// Installs a Debian package (CI runs as root); quietly does nothing where apt is missing.
fn apt_install(package: &str) {
    if Command::new("apt-get")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_err()
    {
        return;
    }
    eprintln!("==> installing {package} (apt-get) for the tests");
    let quiet = |args: &[&str]| {
        Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !quiet(&["install", "-y", "-q", package]) {
        quiet(&["update", "-q"]);
        quiet(&["install", "-y", "-q", package]);
    }
}
