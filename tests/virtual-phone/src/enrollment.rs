//! `virtual-phone activate LINK`, `status`, `pin submit PIN`, and the watcher that keeps a
//! serving phone's status in step with the workspace (suspension and revocation take effect
//! while it serves).

use std::sync::Arc;
use std::time::Duration;

use authenticator_core::api::poll_workspace;
use authenticator_core::enroll::activation_link::ParseOptions;
use authenticator_core::enroll::{EnrollError, Enroller, Enrollment, KeyStatus};
use authenticator_core::obr::ObrRunner;
use authenticator_core::platform::SystemClock;
use authenticator_core::vault::Vault;

pub const DEVICE_NAME: &str = "virtual-phone";

/// How long one workspace request may take (`--workspace-timeout-ms`).
static REQUEST_TIMEOUT: std::sync::OnceLock<Duration> = std::sync::OnceLock::new();

pub fn set_request_timeout(timeout: Duration) {
    let _ = REQUEST_TIMEOUT.set(timeout);
}

pub fn request_timeout() -> Duration {
    REQUEST_TIMEOUT
        .get()
        .copied()
        .unwrap_or(authenticator_core::workspace::DEFAULT_REQUEST_TIMEOUT)
}

pub fn enroller(vault: &Vault) -> Enroller<'_> {
    Enroller {
        vault,
        clock: &SystemClock,
        device_name: DEVICE_NAME,
        request_timeout: request_timeout(),
    }
}

fn describe(e: &Enrollment) -> String {
    let mut text = format!(
        "status: {}\nworkspace: {}\nuser: {} <{}>\nsecurity key id: {}",
        e.status.as_str(),
        e.workspace_name,
        e.user_display_name,
        e.user_email,
        e.security_key_id
    );
    if e.status == KeyStatus::Pending && e.pin_policy.client_pin {
        text.push_str(
            "\nwaiting for the client PIN sent by the administrator: virtual-phone pin submit PIN",
        );
    }
    text
}

pub async fn activate(
    vault: &Vault,
    link: &str,
    allow_insecure_loopback: bool,
) -> Result<(), String> {
    let options = ParseOptions {
        allow_insecure_loopback,
    };
    let enrollment = enroller(vault)
        .activate(link, options)
        .await
        .map_err(|e| e.to_string())?;
    println!("{}", describe(&enrollment));
    Ok(())
}

pub async fn status(vault: &Vault, refresh: bool) -> Result<(), String> {
    let enroller = enroller(vault);
    let enrollment = if refresh {
        match enroller.refresh().await {
            Err(EnrollError::NotActivated) => None,
            other => Some(other.map_err(|e| e.to_string())?),
        }
    } else {
        enroller.current().map_err(|e| e.to_string())?
    };
    match enrollment {
        Some(e) => println!("{}", describe(&e)),
        None => println!("status: unactivated"),
    }
    Ok(())
}

pub async fn submit_pin(vault: &Vault, pin: &str) -> Result<(), String> {
    let enrollment = enroller(vault)
        .submit_pin(pin)
        .await
        .map_err(|e| e.to_string())?;
    println!("{}", describe(&enrollment));
    Ok(())
}

/// Long-polls the workspace's events while the phone serves, so the workspace's decisions
/// (suspend, resume, revoke) apply within seconds. Stops once the key is revoked. With a
/// runner, each new on-behalf registration request is run at once (the scripted user
/// decides); a stopped grant ends its session through the vault.
pub async fn watch(vault: Arc<Vault>, obr: Option<ObrRunner>) {
    loop {
        let current = enroller(&vault).current();
        match current {
            Ok(Some(e)) if e.status == KeyStatus::Revoked && e.revocation_acknowledged => return,
            Ok(Some(_)) => {}
            // Not activated (yet): look again later, activation may happen meanwhile.
            Ok(None) | Err(_) => {
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        }
        match poll_workspace(&enroller(&vault), Duration::from_secs(20)).await {
            Ok(polled) => {
                eprintln!("workspace status: {}", polled.enrollment.status.as_str());
                for id in &polled.obr_stopped {
                    let id: String = id.iter().map(|b| format!("{b:02x}")).collect();
                    crate::obr::say(&format!("obr: stopped grant {id}"));
                }
                for refusal in &polled.obr_refused {
                    crate::obr::refused(refusal);
                }
                for pending in polled.obr_requests {
                    crate::obr::announce(&pending);
                    if let Some(runner) = &obr {
                        tokio::spawn(crate::obr::run(runner.clone(), pending));
                    }
                }
            }
            Err(e) => {
                eprintln!("workspace events: {e}");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}
