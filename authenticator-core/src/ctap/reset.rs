//! authenticatorReset (CTAP 2.1 §6.6): erase every passkey, the PIN and the configuration.
//!
//! Allowed only within `reset_window` of power-up (a restart of the core or of the link
//! session) and with the user's confirmation on the phone, as the spec asks, so that a
//! malicious PC cannot wipe the phone on its own. The audit trail and pairings are kept: they
//! are not authenticator state, and the audit trail must survive.

use super::status::{CTAP2_ERR_NOT_ALLOWED, CtapResult};
use super::{Context, pin_protocol};
use crate::platform::{UserEvent, UserOperation};
use crate::vault::Setting;

pub async fn reset(cx: &mut Context<'_>) -> CtapResult<()> {
    if cx.now().saturating_duration_since(cx.state.powered_up_at) > cx.config().reset_window {
        return Err(CTAP2_ERR_NOT_ALLOWED);
    }
    cx.prompts()
        .presence(UserOperation::Reset, None, None)
        .await?;
    cx.vault().credentials().delete_all()?;
    cx.vault().pin_state().reset()?;
    cx.vault().settings().remove(Setting::AlwaysUv)?;
    cx.state.tokens.stop_using();
    cx.state.key_agreement =
        pin_protocol::KeyAgreementKey::generate().map_err(|_| super::status::CTAP1_ERR_OTHER)?;
    cx.state.pin_mismatches.clear();
    cx.state.counters.clear();
    crate::platform::tell(&*cx.engine.ui, UserEvent::AuthenticatorReset);
    Ok(())
}
