//! `palanquin check-config`: every shipped file parses; a stray key in any
//! table, a bad address or a bad duration is refused naming file, line and
//! key; so are a missing or empty file, a syntax error (at its own line),
//! listen addresses that overlap, and a resolv.conf with no nameserver.
//! Warnings are plain `file:line: warning:` lines.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::bin;

fn check(path: &Path) -> (bool, String) {
    let out = Command::new(bin())
        .arg("check-config")
        .arg(path)
        .output()
        .expect("run check-config");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn conf_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("conf")
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("palanquin-config-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    dir
}

/// A shipped file with any absolute resolv.conf path pointed at a scratch
/// copy, so the test does not depend on the host's /etc, and zone files
/// (relative to conf/) named by their absolute path, since the copy lives
/// elsewhere.
fn portable(text: &str, dir: &Path) -> String {
    let upstreams = dir.join("upstreams.conf");
    std::fs::write(&upstreams, "nameserver 192.0.2.53\n").expect("write");
    text.lines()
        .map(|l| {
            let key = l.trim_start();
            if key.starts_with("resolv_conf") {
                format!("resolv_conf = \"{}\"", upstreams.display())
            } else if let Some(file) = key.strip_prefix("file = \"").and_then(|f| f.split('"').next()) {
                format!("file = \"{}\"", conf_dir().join(file).display())
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn shipped() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(conf_dir())
        .expect("conf/")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(files.len() >= 2, "conf/ has the shipped configurations");
    files
}

#[test]
fn every_shipped_config_is_valid() {
    let dir = scratch("shipped");
    for file in shipped() {
        let text = std::fs::read_to_string(&file).expect("read");
        let copy = dir.join(file.file_name().expect("name"));
        std::fs::write(&copy, portable(&text, &dir)).expect("write");
        let (ok, out) = check(&copy);
        assert!(ok, "{} is refused: {out}", file.display());
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_stray_key_in_any_table_is_refused_with_its_line() {
    let dir = scratch("stray");
    for file in shipped() {
        let text = portable(&std::fs::read_to_string(&file).expect("read"), &dir);
        let lines: Vec<&str> = text.lines().collect();
        let tables: Vec<usize> = lines
            .iter()
            .enumerate()
            .filter(|(_, l)| l.starts_with('['))
            .map(|(i, _)| i)
            .collect();
        assert!(!tables.is_empty());
        for &at in &tables {
            let mut edited: Vec<String> = lines.iter().map(|l| (*l).to_owned()).collect();
            edited.insert(at + 1, "stray_key = 1".to_owned());
            let copy = dir.join("stray.toml");
            std::fs::write(&copy, edited.join("\n")).expect("write");
            let (ok, out) = check(&copy);
            assert!(
                !ok,
                "{} with a stray key in {} was accepted",
                file.display(),
                lines[at]
            );
            assert!(
                out.contains(&format!("stray.toml:{}:", at + 2)),
                "names the line: {out}"
            );
            assert!(out.contains("stray_key"), "names the key: {out}");
        }
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn bad_values_name_file_line_and_key() {
    let dir = scratch("values");
    let cases = [
        ("[server]\nlisten = [\"127.0.0.1:99999\"]\n", 2, "server.listen"),
        ("[server]\nlisten = [\"0.0.0.0:53\"]\n[resolver]\nupstreams = [\"127.0.0.9\"]\n", 4, "resolver.upstreams"),
        ("[server]\nlisten = [\"127.0.0.1:53\"]\n[resolver]\nupstreams = [\"192.0.2.1\"]\nserve_stale = \"1 week\"\n", 5, "resolver.serve_stale"),
        ("[server]\nlisten = [\"127.0.0.1:53\"]\n[resolver]\nupstreams = [\"not-an-ip\"]\n", 4, "resolver.upstreams"),
        ("[server]\nlisten = [\"127.0.0.1:53\"]\n[resolver]\nupstreams = [\"127.0.0.1:53\"]\n", 4, "resolver.upstreams"),
        ("[server]\nlisten = [\"127.0.0.1:53\"]\n[resolver]\nupstreams = [\"192.0.2.1\"]\nallow = [\"10.0.0.0/33\"]\n", 5, "resolver.allow"),
        ("[server]\nlisten = [\"127.0.0.1:53\"]\n[resolver]\nupstreams = [\"192.0.2.1\"]\nallow_no_rd = [\"::1/129\"]\n", 5, "resolver.allow_no_rd"),
        ("[server]\nlisten = [\"127.0.0.1:53\"]\n[resolver]\nupstreams = [\"192.0.2.1\"]\n[[resolver.forward]]\nzone = \"bad..zone\"\nupstreams = [\"192.0.2.2\"]\n", 6, "resolver.forward.zone"),
        ("[server]\nlisten = [\"127.0.0.1:53\"]\n[metrics]\nlisten = \"nowhere\"\n", 4, "metrics.listen"),
        ("[server]\nlisten = 53\n", 2, "server.listen"),
        ("[server]\nlisten = [\"127.0.0.1:53\", \"127.0.0.1:53\"]\n", 2, "server.listen"),
        ("[server]\nlisten = [\"0.0.0.0:5300\",\n  \"127.0.0.1:5300\"]\n", 3, "server.listen"),
        ("[server]\nlisten = [\"127.0.0.1:53\"]\n[metrics]\nlisten = \"127.0.0.1:53\"\n", 4, "metrics.listen"),
        ("[server]\nlisten = [\"[::]:53\"]\n[metrics]\nlisten = \"[::1]:53\"\n", 4, "metrics.listen"),
        // An unclosed array: the parser notices at [resolver]; the fault is line 2.
        ("[server]\nlisten = [\"127.0.0.1:53\"\n\n[resolver]\nupstreams = [\"192.0.2.1\"]\n", 2, "server.listen"),
    ];
    for (i, (text, line, key)) in cases.iter().enumerate() {
        let file = dir.join(format!("case{i}.toml"));
        std::fs::write(&file, text).expect("write");
        let (ok, out) = check(&file);
        assert!(!ok, "case {i} accepted:\n{text}");
        assert!(
            out.contains(&format!("case{i}.toml:{line}:")),
            "case {i} names line {line}: {out}"
        );
        assert!(out.contains(key), "case {i} names {key}: {out}");
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// A listener that cannot be bound (here the metrics port, taken) is a
/// startup error: `serve` says which and exits non-zero at once, leaving no
/// worker thread behind to keep the process alive.
#[test]
fn serve_exits_with_the_error_when_a_listener_cannot_be_bound() {
    let dir = scratch("bind");
    let taken = std::net::TcpListener::bind("127.0.61.31:9153").expect("take the metrics port");
    let file = dir.join("taken.toml");
    std::fs::write(
        &file,
        "[server]\nlisten = [\"127.0.61.31:5300\"]\nudp_workers = 2\n[resolver]\nupstreams = [\"127.0.61.32\"]\n\
         [metrics]\nlisten = \"127.0.61.31:9153\"\n",
    )
    .expect("write");
    let mut child = Command::new(bin())
        .args(["serve", "--config"])
        .arg(&file)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let until = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if std::time::Instant::now() > until {
            let _ = child.kill();
            panic!("serve still running 5 s after failing to bind the metrics port");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut err).expect("read");
    assert!(!status.success(), "non-zero exit: {err}");
    assert!(err.contains("cannot listen on metrics 127.0.61.31:9153"), "{err}");
    drop(taken);
    let _ = std::fs::remove_dir_all(dir);
}

fn check_args(args: &[&std::ffi::OsStr]) -> (Option<i32>, String, String) {
    let out = Command::new(bin()).args(args).output().expect("run check-config");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_missing_or_empty_file_is_named_plainly() {
    let dir = scratch("empty");
    let missing = dir.join("missing.toml");
    let (ok, out) = check(&missing);
    assert!(!ok);
    assert!(
        out.starts_with(&format!("{}: cannot read the configuration:", missing.display())),
        "no made-up line 0: {out}"
    );
    for (i, text) in ["", "\n  \n", "# only a comment\n"].iter().enumerate() {
        let file = dir.join(format!("empty{i}.toml"));
        std::fs::write(&file, text).expect("write");
        let (ok, out) = check(&file);
        assert!(!ok, "{text:?} accepted");
        assert!(
            out.contains(&format!("empty{i}.toml:1:1: server: the file is empty")),
            "{out}"
        );
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn check_config_takes_dash_dash_config_like_the_other_commands() {
    let dir = scratch("flag");
    let file = dir.join("p.toml");
    std::fs::write(&file, "[server]\nlisten = [\"127.0.0.1:5300\"]\n").expect("write");
    for flag in ["--config", "-c"] {
        let (code, stdout, stderr) = check_args(&["check-config".as_ref(), flag.as_ref(), file.as_os_str()]);
        assert_eq!(code, Some(0), "{flag}: {stderr}");
        assert!(stdout.contains(": ok ("), "{stdout}");
    }
    let (code, _, _) = check_args(&["check-config".as_ref()]);
    assert_eq!(code, Some(2), "a file is required");
    let _ = std::fs::remove_dir_all(dir);
}

/// glibc would fall back to 127.0.0.1:53 for a resolv.conf without a usable
/// nameserver; for a daemon that is itself or nothing: refused, by
/// check-config and by serve. Lines it skips are warnings naming its line.
#[test]
fn a_resolv_conf_without_a_nameserver_is_refused_and_skipped_lines_warn() {
    let dir = scratch("resolv");
    let conf = dir.join("p.toml");
    let text = "[server]\nlisten = [\"127.0.61.41:5300\"]\n[resolver]\nresolv_conf = \"upstreams.conf\"\n";
    std::fs::write(&conf, text).expect("write");
    for (i, upstreams) in ["", "# nothing\n", "nameserver 1.2.3\n"].iter().enumerate() {
        std::fs::write(dir.join("upstreams.conf"), upstreams).expect("write");
        let (ok, out) = check(&conf);
        assert!(!ok, "case {i} accepted");
        assert!(
            out.contains("p.toml:4:15: resolver.resolv_conf:"),
            "case {i}: {out}"
        );
        assert!(out.contains("has no usable nameserver"), "case {i}: {out}");
        let serve = Command::new(bin())
            .args(["serve", "--config"])
            .arg(&conf)
            .output()
            .expect("serve");
        assert!(!serve.status.success(), "serve refuses it too");
        assert!(String::from_utf8_lossy(&serve.stderr).contains("has no usable nameserver"));
    }
    std::fs::write(
        dir.join("upstreams.conf"),
        "nameserver 1.2.3\nnameserver 192.0.2.53\nbogus line\n",
    )
    .expect("write");
    let (code, stdout, stderr) = check_args(&["check-config".as_ref(), conf.as_os_str()]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("2 warnings"), "{stdout}");
    let upstreams = dir.join("upstreams.conf");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines.len(),
        2,
        "one plain line per warning, nothing else: {stderr}"
    );
    assert!(
        lines[0].starts_with(&format!("{}:1: warning: `nameserver 1.2.3`", upstreams.display())),
        "{stderr}"
    );
    assert!(
        lines[1].starts_with(&format!("{}:3: warning: `bogus line`", upstreams.display())),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(dir);
}
