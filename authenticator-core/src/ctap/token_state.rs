//! The pinUvAuthToken and its state (CTAP 2.1 §6.5.2.1, §6.5.5.7).
//!
//! One token per power cycle, regenerated whenever a new one is handed out. It carries the
//! permissions it was granted (mc, ga, cm, be, lbw, acfg), an optional rp id binding (set on
//! first use by makeCredential/getAssertion when none was given), a usage timer, and the
//! user-present and user-verified flags, which are cleared once consumed so that one gesture
//! authorises one operation. A token also remembers the PIN generation it was granted under
//! and ends once the PIN is replaced outside CTAP.

use tokio::time::{Duration, Instant};
use zeroize::Zeroizing;

use super::pin_protocol::{PinUvAuthProtocol, verify_with_token};
use crate::secret::{RandomUnavailable, fill_random};

pub const PERMISSION_MC: u8 = 0x01;
pub const PERMISSION_GA: u8 = 0x02;
pub const PERMISSION_CM: u8 = 0x04;
/// 0x08 is `be` (bio enrollment), which the phone does not offer: biometrics are the OS's.
pub const PERMISSION_LBW: u8 = 0x10;
pub const PERMISSION_ACFG: u8 = 0x20;
/// Permissions this authenticator knows; bio enrollment and large blobs are not offered.
pub const SUPPORTED_PERMISSIONS: u8 =
    PERMISSION_MC | PERMISSION_GA | PERMISSION_CM | PERMISSION_ACFG;

/// A token not used within this time after it was granted expires (§6.5.2.1 initial usage
/// time limit, 30 s recommended).
const INITIAL_USAGE_LIMIT: Duration = Duration::from_secs(30);
/// A token expires this long after it was granted, used or not (maximum usage time period).
const MAX_USAGE_PERIOD: Duration = Duration::from_secs(600);
/// The user-present flag of a token lasts this long (§6.5.2.1 userPresentTimeLimit).
const USER_PRESENT_LIMIT: Duration = Duration::from_secs(30);

pub struct TokenState {
    token: Zeroizing<[u8; 32]>,
    in_use: Option<InUse>,
}

struct InUse {
    protocol: PinUvAuthProtocol,
    permissions: u8,
    rp_id: Option<String>,
    granted_at: Instant,
    used: bool,
    user_present: bool,
    user_verified: bool,
    /// `CtapEngine::pin_generation` when granted.
    pin_generation: u64,
}

impl TokenState {
    /// A fresh, unusable token (power-up).
    pub fn new() -> Result<Self, RandomUnavailable> {
        let mut token = Zeroizing::new([0u8; 32]);
        fill_random(token.as_mut())?;
        Ok(Self {
            token,
            in_use: None,
        })
    }

    /// resetPinUvAuthToken + beginUsingPinUvAuthToken: a new token value with these rights.
    pub fn grant(
        &mut self,
        protocol: PinUvAuthProtocol,
        permissions: u8,
        rp_id: Option<String>,
        user_present: bool,
        pin_generation: u64,
        now: Instant,
    ) -> Result<&[u8; 32], RandomUnavailable> {
        fill_random(self.token.as_mut())?;
        self.in_use = Some(InUse {
            protocol,
            permissions,
            rp_id,
            granted_at: now,
            used: false,
            user_present,
            user_verified: true,
            pin_generation,
        });
        Ok(&self.token)
    }

    /// Ends the token's validity (expiry, reset, PIN change).
    pub fn stop_using(&mut self) {
        self.in_use = None;
    }

    /// Ends a token granted before the PIN was last replaced outside CTAP.
    pub fn end_if_pin_changed(&mut self, current_generation: u64) {
        if self
            .in_use
            .as_ref()
            .is_some_and(|t| t.pin_generation != current_generation)
        {
            self.in_use = None;
        }
    }

    fn expire_if_due(&mut self, now: Instant) {
        let expired = self.in_use.as_ref().is_some_and(|t| {
            let age = now.saturating_duration_since(t.granted_at);
            age >= MAX_USAGE_PERIOD || (!t.used && age >= INITIAL_USAGE_LIMIT)
        });
        if expired {
            self.in_use = None;
        }
    }

    /// Verifies `param` = authenticate(token, message) for a token in use with `protocol`.
    pub fn verify(
        &mut self,
        protocol: PinUvAuthProtocol,
        message: &[u8],
        param: &[u8],
        now: Instant,
    ) -> bool {
        self.expire_if_due(now);
        match &mut self.in_use {
            Some(t) if t.protocol == protocol => {
                let ok = verify_with_token(protocol, self.token.as_ref(), message, param);
                if ok {
                    t.used = true;
                }
                ok
            }
            _ => false,
        }
    }

    pub fn has_permission(&self, permission: u8) -> bool {
        self.in_use
            .as_ref()
            .is_some_and(|t| t.permissions & permission == permission)
    }

    /// The rp id the token is bound to, if any.
    pub fn rp_id(&self) -> Option<&str> {
        self.in_use.as_ref().and_then(|t| t.rp_id.as_deref())
    }

    /// Checks the token's rp binding against `rp_id`, binding it on first use (§6.1.2 step 11,
    /// §6.2.2 step 9): true if the token may be used for `rp_id`.
    pub fn bind_rp(&mut self, rp_id: &str) -> bool {
        match &mut self.in_use {
            Some(t) => match &t.rp_id {
                Some(bound) => bound == rp_id,
                None => {
                    t.rp_id = Some(rp_id.to_owned());
                    true
                }
            },
            None => false,
        }
    }

    /// The token's user-present flag, valid for a limited time after the grant.
    pub fn user_present(&self, now: Instant) -> bool {
        self.in_use.as_ref().is_some_and(|t| {
            t.user_present && now.saturating_duration_since(t.granted_at) < USER_PRESENT_LIMIT
        })
    }

    pub fn user_verified(&self) -> bool {
        self.in_use.as_ref().is_some_and(|t| t.user_verified)
    }

    /// One gesture, one operation: called after makeCredential/getAssertion used the token.
    pub fn clear_user_flags(&mut self) {
        if let Some(t) = &mut self.in_use {
            t.user_present = false;
            t.user_verified = false;
        }
    }

    /// Keeps only the permissions in `keep` (§6.1.2 step 17: after makeCredential or
    /// getAssertion a token keeps only lbw, so one token authorises one such operation).
    pub fn retain_permissions(&mut self, keep: u8) {
        if let Some(t) = &mut self.in_use {
            t.permissions &= keep;
        }
    }
}
