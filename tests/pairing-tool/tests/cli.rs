//! The command line: usage errors exit 2 with a clear message; `status` and `unpair` without
//! a pairing; a damaged pairing file is reported, never used; `serve --uhid`'s device errors
//! say what to do; `serve` stops cleanly on SIGTERM.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::tool_command;

#[test]
fn usage_errors_exit_2_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (
            &["serve", "--ctaphid", "127.0.0.1:0"],
            "`serve` needs --relay URL",
        ),
        (
            &[
                "--relay",
                "http://relay.example",
                "--allow-insecure-loopback",
                "serve",
                "--ctaphid",
                "127.0.0.1:0",
            ],
            "plain http is refused",
        ),
        (
            &[
                "--relay",
                "http://127.0.0.1:9",
                "serve",
                "--ctaphid",
                "127.0.0.1:0",
            ],
            "add --allow-insecure-loopback",
        ),
        (
            &[
                "--relay",
                "https://relay.example/",
                "serve",
                "--ctaphid",
                "127.0.0.1:0",
            ],
            "must not end with '/'",
        ),
        (
            &[
                "--relay",
                "ftp://relay.example",
                "serve",
                "--ctaphid",
                "127.0.0.1:0",
            ],
            "unsupported scheme",
        ),
        (
            &[
                "--relay",
                "https://relay.example",
                "serve",
                "--ctaphid",
                "localhost",
            ],
            "invalid value 'localhost' for '--ctaphid <IP:PORT>'",
        ),
        (
            &[
                "--relay",
                "https://relay.example",
                "serve",
                "--ctaphid",
                "127.0.0.1:0",
                "--qr-lifetime-secs",
                "61",
            ],
            "61 is not in 1..=60",
        ),
        (&["serve"], "--ctaphid <IP:PORT>"),
        (&["pair"], "unrecognized subcommand 'pair'"),
        (
            &["status", "--frobnicate"],
            "unexpected argument '--frobnicate'",
        ),
    ];
    for (args, message) in cases {
        let (code, stdout, stderr) = tool_command(dir.path(), args);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
        assert!(stdout.is_empty(), "{args:?}: {stdout}");
    }
    // Nothing was created by refused commands.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn status_and_unpair_without_a_pairing() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("never-created");
    for d in [dir.path(), missing.as_path()] {
        assert_eq!(
            tool_command(d, &["status"]),
            (0, "not paired\n".into(), String::new())
        );
        assert_eq!(
            tool_command(d, &["unpair"]),
            (0, "not paired\n".into(), String::new())
        );
    }
}

#[test]
fn a_damaged_pairing_file_is_reported() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pairing.json");
    std::fs::write(&path, b"{ not json").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let (code, stdout, stderr) = tool_command(dir.path(), &["status"]);
    assert_eq!(code, 1);
    assert!(stdout.is_empty());
    assert!(stderr.contains("pairing.json is damaged"), "{stderr}");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (code, _, stderr) = tool_command(dir.path(), &["status"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("readable by other users"), "{stderr}");
}

/// `serve --uhid`: a missing `/dev/uhid` names the module, a refused one the udev rule and
/// group; both fail before anything is created or announced. `/proc/sys/kernel/osrelease`
/// (mode 0444, which procfs enforces even for root) stands in for a device we may not open.
#[test]
fn uhid_device_errors_say_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let missing = dir.path().join("no-uhid");
    let missing = missing.to_str().unwrap();
    let serve = |path: &str, socket: bool| {
        let mut args = vec![
            "--relay",
            "http://127.0.0.1:9",
            "--allow-insecure-loopback",
            "serve",
            "--uhid",
            "--uhid-path",
            path,
        ];
        if socket {
            args.extend(["--ctaphid", "127.0.0.1:0"]);
        }
        tool_command(&data, &args)
    };
    for socket in [false, true] {
        let (code, stdout, stderr) = serve(missing, socket);
        assert_eq!(code, 1, "{stderr}");
        assert!(stdout.is_empty(), "{stdout}");
        assert_eq!(
            stderr,
            format!(
                "pairing-tool: cannot open {missing}: it does not exist. Load the kernel's uhid \
                 module: `sudo modprobe uhid` (to load it at boot: `echo uhid | sudo tee \
                 /etc/modules-load.d/uhid.conf`)\n"
            )
        );
        let (code, stdout, stderr) = serve("/proc/sys/kernel/osrelease", socket);
        assert_eq!(code, 1, "{stderr}");
        assert!(stdout.is_empty(), "{stdout}");
        assert!(
            stderr.starts_with(
                "pairing-tool: cannot open /proc/sys/kernel/osrelease: permission denied. \
                 Let group uhid use it: put the udev rule \
                 `KERNEL==\"uhid\", GROUP=\"uhid\", MODE=\"0660\"` in \
                 /etc/udev/rules.d/70-uhid.rules"
            ),
            "{stderr}"
        );
        assert!(stderr.contains("sudo usermod -aG uhid $USER"), "{stderr}");
    }
    assert!(!data.exists(), "nothing was created");

    // `--uhid-path` is only for `--uhid`; `serve` needs a socket or the device.
    let (code, _, stderr) = tool_command(
        &data,
        &[
            "--relay",
            "https://relay.example",
            "serve",
            "--ctaphid",
            "127.0.0.1:0",
            "--uhid-path",
            "/dev/uhid",
        ],
    );
    assert_eq!(code, 2);
    assert!(
        stderr.contains("the following required arguments were not provided:\n  --uhid"),
        "{stderr}"
    );
    let (code, _, stderr) = tool_command(&data, &["--relay", "https://relay.example", "serve"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("--ctaphid <IP:PORT>"), "{stderr}");
}

/// `serve` stops on SIGTERM with exit 0 (with `--uhid` it removes its device first: the unit
/// tests in `src/uhid/tests.rs` check the destroy; this checks the signal reaches it).
#[test]
fn serve_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let relay = common::start_relay();
    let mut tool = common::start_tool(dir.path(), &relay.url, &[]);
    tool.next_code();
    tool.proc.terminate().unwrap();
    let status = tool
        .proc
        .wait_exit(std::time::Duration::from_secs(10))
        .expect("the tool exits on SIGTERM");
    assert_eq!(status.code(), Some(0), "{}", tool.proc.stderr());
    assert!(
        tool.proc.stderr().contains("pairing-tool: stopping\n"),
        "{}",
        tool.proc.stderr()
    );
}

/// The hidden `floor` command (tests/bench/link_rtt.py): one `floor:` line with three positive
/// medians, nothing written to the data directory; 0 rounds is a usage error.
#[test]
fn floor_prints_the_medians_of_the_curve_operations() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (code, stdout, stderr) = tool_command(&data, &["floor", "--rounds", "3"]);
    assert_eq!(code, 0, "{stderr}");
    let line = stdout.lines().next().unwrap();
    assert!(line.starts_with("floor: p256 ecdh "), "{line}");
    assert!(line.ends_with(" ms (medians of 3 rounds)"), "{line}");
    let values: Vec<f64> = line
        .split_whitespace()
        .filter_map(|word| word.parse().ok())
        .collect();
    assert_eq!(values.len(), 4, "{line}");
    assert!(values[..3].iter().all(|v| *v > 0.0), "{line}");
    assert!(!data.exists(), "floor touched the data directory");
    let (code, _, stderr) = tool_command(&data, &["floor", "--rounds", "0"]);
    assert_eq!(code, 2, "{stderr}");
}
