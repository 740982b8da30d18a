//! The `aktion-fakes` binary prints one `export VAR=url` line per provider and serves on them.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

/// Runs the binary with `env`, reads its six lines, calls `then` while it serves.
fn with_binary(env: &[(&str, &str)], then: impl FnOnce(&[String])) -> Vec<String> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_aktion-fakes"))
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .spawn()
        .expect("binary starts");
    let stdout = child.stdout.take().expect("stdout is piped");
    let lines: Vec<String> = BufReader::new(stdout)
        .lines()
        .take(6)
        .map(|l| l.expect("utf-8 line"))
        .collect();
    then(&lines);
    child.kill().expect("child stops");
    child.wait().expect("child reaped");
    lines
}

/// The status of a bodiless-JSON `POST` to `url` (plain HTTP/1.1 on loopback).
fn post_status(url: &str) -> u16 {
    use std::io::{Read as _, Write as _};
    let rest = url.strip_prefix("http://").expect("http URL");
    let (host, path) = rest.split_once('/').map_or((rest, "/"), |(h, p)| (h, p));
    let mut s = std::net::TcpStream::connect(host).expect("connect");
    let body = r#"{"key":"a.png","fileType":"image/png"}"#;
    write!(
        s,
        "POST /{path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer k\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("send");
    let mut answer = String::new();
    s.read_to_string(&mut answer).expect("read");
    answer
        .get(9..12)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("{answer}"))
}

#[test]
fn guessed_endpoints_are_off_unless_asked_for() {
    let presign = |lines: &[String]| {
        let a2e = lines[2].split_once('=').expect("line").1.to_owned();
        post_status(&format!("{a2e}/api/v1/r2/upload-presigned-url"))
    };
    let mut off = 0;
    with_binary(&[], |lines| {
        off = presign(lines);
    });
    assert_eq!(off, 404, "A2E's [C] presign is off by default");
    let mut on = 0;
    with_binary(&[("AKTION_FAKES_GUESSED", "1")], |lines| {
        on = presign(lines);
    });
    assert_eq!(on, 200, "on with AKTION_FAKES_GUESSED=1");
}

#[test]
fn binary_prints_base_urls_for_every_provider() {
    let lines = with_binary(&[], |_| {});
    for (line, var) in lines.iter().zip([
        "AKTION_REPLICATE_BASE_URL",
        "AKTION_RUNCOMFY_BASE_URL",
        "AKTION_A2E_BASE_URL",
        "AKTION_FAL_BASE_URL",
        "AKTION_FAL_STORAGE_URL",
        "AKTION_COMFYUI_URL",
    ]) {
        assert!(
            line.starts_with(&format!("export {var}=http://127.0.0.1:")),
            "{line}"
        );
    }
    assert_eq!(
        lines[3].split_once('=').map(|(_, v)| v),
        lines[4].split_once('=').map(|(_, v)| v),
        "fal's storage is the fal fake's: nothing reaches rest.fal.ai"
    );
    assert!(
        lines[0].ends_with("/v1"),
        "Replicate's base URL carries /v1: {}",
        lines[0]
    );
}
