//! The demo's hybrid step (`tests/demo.sh` runs it after the virtual phone's demo): a browser
//! (webauthn-authenticator-rs) shows a QR code, the phone scans it (the `FIDO:/` text is handed
//! to `virtual-phone hybrid`), advertises over the fake Bluetooth, and both meet at our tunnel
//! server; the phone registers a passkey, then a second QR signs in with it. Each answer is
//! verified by a relying party (webauthn-rs-core). Exits non-zero on any failure.

use std::process::ExitCode;
use std::time::Duration;

use hybrid_e2e::runner::{Role, private_bus};
use hybrid_e2e::scenario::{self, Context, Step};
use hybrid_e2e::tunnels::TunnelKind;
use qrcode::QrCode;
use qrcode::render::unicode::Dense1x2;

fn show(step: Step<'_>) {
    match step {
        Step::Qr { purpose, text } => show_qr(purpose, text),
        Step::Registered { credential, run } => println!(
            "[hybrid] registered through the tunnel (the phone advertised {} time(s)); the relying party verified it ({:?} attestation): credential {}",
            run.adverts.len(),
            credential.attestation_format,
            hex::encode(credential.cred_id.as_ref() as &[u8]),
        ),
    }
}

fn show_qr(purpose: &str, text: &str) {
    println!("[hybrid] the browser shows a QR code to {purpose}: {text}");
    if let Ok(code) = QrCode::new(text.as_bytes()) {
        let art = code
            .render::<Dense1x2>()
            .dark_color(Dense1x2::Light)
            .light_color(Dense1x2::Dark)
            .quiet_zone(true)
            .build();
        println!("{art}");
    }
    println!("[hybrid] the phone scans it: virtual-phone hybrid '{text}'");
}

fn main() -> ExitCode {
    let dir = match private_bus() {
        Role::Done(code) => return code,
        Role::Run(dir) => dir,
    };
    let result = (|| -> Result<(), String> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| format!("tokio runtime: {e}"))?;
        println!("[hybrid] a private D-Bus with a fake BlueZ stands in for the PC's Bluetooth");
        let ctx = Context::start(&dir)?;
        let phone_dir = tempfile::Builder::new()
            .prefix("hybrid-demo-phone")
            .tempdir()
            .map_err(|e| format!("phone folder: {e}"))?;
        let report = runtime.block_on(scenario::register_and_sign_in(
            &ctx,
            TunnelKind::Ours,
            phone_dir.path(),
            show,
        ))?;
        println!(
            "[hybrid] signed in with it through the tunnel: signature verified, user verified {}, counter {} -> {}",
            report.result.user_verified(),
            report.credential.counter,
            report.result.counter(),
        );
        drop(ctx);
        runtime.shutdown_timeout(Duration::from_secs(5));
        Ok(())
    })();
    match result {
        Ok(()) => {
            println!("[hybrid] done");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("[hybrid] FAILED: {e}");
            ExitCode::FAILURE
        }
    }
}
