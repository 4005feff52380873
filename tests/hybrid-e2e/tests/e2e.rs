//! The end-to-end run (`tests/hybrid-e2e/run.sh`): every scenario through each tunnel server,
//! one after the other, each under a time limit. Prints `ok`/`FAILED` per scenario and a last
//! line `N passed, N failed`; exits non-zero when one failed. Arguments are name filters
//! (substrings), as with cargo's own harness.

use std::process::ExitCode;
use std::time::Duration;

use hybrid_e2e::runner::{Role, private_bus};
use hybrid_e2e::scenario::{self, Context};
use hybrid_e2e::tamper::Tamper;
use hybrid_e2e::tunnels::TunnelKind;

const CASE_LIMIT: Duration = Duration::from_secs(180);

const CASES: &[&str] = &[
    "chain_to_tunnel",
    "wrong_secret_ignored",
    "tunnel_lifetime_expires",
    "register_and_sign_in",
    "user_declines",
    "verification_fails",
    "tampered_handshake_key",
    "tampered_handshake_tag",
    "tunnel_sees_only_ciphertext",
];

async fn run_case(name: &str, ctx: &Context, kind: TunnelKind) -> Result<String, String> {
    match name {
        "chain_to_tunnel" => scenario::chain_to_tunnel(ctx, kind).await,
        "wrong_secret_ignored" => scenario::wrong_secret_ignored(ctx, kind).await,
        "tunnel_lifetime_expires" => scenario::tunnel_lifetime_expires(ctx, kind).await,
        "register_and_sign_in" => {
            let dir = phone_dir()?;
            let report = scenario::register_and_sign_in(ctx, kind, dir.path(), |_| {}).await?;
            Ok(format!(
                "{}: registered ({} adverts, {} reports, attestation {:?}), signed in ({} adverts), uv {}, counter {} -> {}",
                kind.name(),
                report.register_run.adverts.len(),
                report.register_run.reports,
                report.credential.attestation_format,
                report.sign_in_run.adverts.len(),
                report.result.user_verified(),
                report.credential.counter,
                report.result.counter(),
            ))
        }
        "user_declines" => scenario::user_declines(ctx, kind, phone_dir()?.path()).await,
        "verification_fails" => scenario::verification_fails(ctx, kind, phone_dir()?.path()).await,
        "tampered_handshake_key" => {
            scenario::tampered_handshake(ctx, kind, phone_dir()?.path(), Tamper::EphemeralKey).await
        }
        "tunnel_sees_only_ciphertext" => {
            scenario::tunnel_sees_only_ciphertext(ctx, kind, phone_dir()?.path()).await
        }
        "tampered_handshake_tag" => {
            scenario::tampered_handshake(ctx, kind, phone_dir()?.path(), Tamper::Tag).await
        }
        other => Err(format!("no scenario {other}")),
    }
}

/// A fresh data folder for the virtual phone (its vault), removed afterwards.
fn phone_dir() -> Result<tempfile::TempDir, String> {
    tempfile::Builder::new()
        .prefix("hybrid-e2e-phone")
        .tempdir()
        .map_err(|e| format!("phone folder: {e}"))
}

fn main() -> ExitCode {
    let dir = match private_bus() {
        Role::Done(code) => return code,
        Role::Run(dir) => dir,
    };
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("tokio runtime: {e}");
            println!("0 passed, 1 failed");
            return ExitCode::FAILURE;
        }
    };
    let ctx = match Context::start(&dir) {
        Ok(c) => c,
        Err(e) => {
            println!("setup (private bus, fake BlueZ) ... FAILED: {e}");
            println!("0 passed, 1 failed");
            return ExitCode::FAILURE;
        }
    };
    let (mut passed, mut failed) = (0, 0);
    for kind in TunnelKind::ALL {
        for case in CASES {
            let name = format!("{}::{case}", kind.name());
            if !filters.is_empty() && !filters.iter().any(|f| name.contains(f.as_str())) {
                continue;
            }
            let result = runtime.block_on(async {
                tokio::time::timeout(CASE_LIMIT, run_case(case, &ctx, *kind))
                    .await
                    .unwrap_or_else(|_| Err(format!("no result within {CASE_LIMIT:?}")))
            });
            match result {
                Ok(detail) => {
                    passed += 1;
                    println!("test {name} ... ok ({detail})");
                }
                Err(e) => {
                    failed += 1;
                    println!("test {name} ... FAILED: {e}");
                }
            }
        }
    }
    drop(ctx);
    runtime.shutdown_timeout(Duration::from_secs(5));
    println!("{passed} passed, {failed} failed");
    if failed == 0 && passed > 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
