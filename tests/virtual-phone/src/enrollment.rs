//! `virtual-phone activate LINK`, `status`, `pin submit PIN`, and the watcher that keeps a
//! serving phone's status in step with the workspace (suspension and revocation take effect
//! while it serves) and runs each on-behalf registration request it announces.

use std::sync::Arc;
use std::time::Duration;

use authenticator_core::api::{
    Authenticator, AuthenticatorError, EnrollmentInfo, KeyState, WorkspaceUpdate,
};

/// How long one events long-poll waits, in seconds.
const WATCH_WAIT_SECS: u32 = 20;

pub fn state_name(state: KeyState) -> &'static str {
    match state {
        KeyState::Pending => "pending",
        KeyState::Active => "active",
        KeyState::Suspended => "suspended",
        KeyState::Revoked => "revoked",
        KeyState::Locked => "locked",
    }
}

fn describe(e: &EnrollmentInfo) -> String {
    let mut text = format!(
        "status: {}\nworkspace: {}\nuser: {} <{}>\nsecurity key id: {}",
        state_name(e.status),
        e.workspace_name,
        e.user_display_name,
        e.user_email,
        e.security_key_id
    );
    if e.waiting_for_pin {
        text.push_str(
            "\nwaiting for the client PIN sent by the administrator: virtual-phone pin submit PIN",
        );
    }
    text
}

pub async fn activate(phone: &Authenticator, link: String) -> Result<(), String> {
    let enrollment = phone.activate(link).await.map_err(|e| e.to_string())?;
    println!("{}", describe(&enrollment));
    Ok(())
}

pub async fn status(phone: &Authenticator, refresh: bool) -> Result<(), String> {
    let enrollment = if refresh {
        match phone.refresh_enrollment().await {
            Err(AuthenticatorError::NotActivated { .. }) => None,
            other => Some(other.map_err(|e| e.to_string())?),
        }
    } else {
        phone.enrollment().map_err(|e| e.to_string())?
    };
    match enrollment {
        Some(e) => println!("{}", describe(&e)),
        None => println!("status: unactivated"),
    }
    Ok(())
}

pub async fn submit_pin(phone: &Authenticator, pin: String) -> Result<(), String> {
    let enrollment = phone
        .submit_activation_pin(pin)
        .await
        .map_err(|e| e.to_string())?;
    println!("{}", describe(&enrollment));
    Ok(())
}

/// Prints what one events poll brought (`obr: stopped ...`, `obr: refused ...`,
/// `obr: request ...`).
pub fn announce(update: &WorkspaceUpdate) {
    for id in &update.stopped_approvals {
        crate::phone::say(&format!("obr: stopped grant {id}"));
    }
    for refusal in &update.refused_approvals {
        crate::obr::refused(refusal);
    }
    for request in &update.new_approvals {
        crate::obr::announce(request);
    }
}

/// Long-polls the workspace's events while the phone serves, so the workspace's decisions
/// (suspend, resume, revoke) apply within seconds; stops once the revocation is confirmed.
/// Each new on-behalf registration request is run at once (the scripted user decides); a
/// stopped grant ends its session through the core.
pub async fn watch(phone: Arc<Authenticator>) {
    loop {
        match phone.enrollment() {
            Ok(Some(_)) => {}
            // Not activated (yet): look again later, activation may happen meanwhile.
            Ok(None) | Err(_) => {
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        }
        match phone.check_workspace(WATCH_WAIT_SECS).await {
            Ok(update) => {
                eprintln!("workspace status: {}", state_name(update.enrollment.status));
                announce(&update);
                for request in update.new_approvals {
                    tokio::spawn(crate::obr::run(phone.clone(), request.id));
                }
                // A successful poll that says revoked has had the revocation acknowledged.
                if update.enrollment.status == KeyState::Revoked {
                    return;
                }
            }
            Err(e) => {
                eprintln!("workspace events: {e}");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}
