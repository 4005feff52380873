//! The relying party: webauthn-rs-core 0.6.2 verifying the phone's answers as a WebAuthn
//! server would (client data, RP id hash, flags, attestation statement, the assertion's
//! signature over the stored public key, and the signature counter).

use std::time::Duration;

use webauthn_authenticator_rs::prelude::Url;
use webauthn_rs_core::WebauthnCore;
use webauthn_rs_core::proto::{
    AttestationConveyancePreference, AuthenticationResult, AuthenticationState,
    CreationChallengeResponse, Credential, PublicKeyCredential, RegisterPublicKeyCredential,
    RegistrationState, RequestChallengeResponse, UserVerificationPolicy,
};

pub const RP_ID: &str = "hybrid.e2e.example";
pub const ORIGIN: &str = "https://hybrid.e2e.example";

pub struct RelyingParty {
    core: WebauthnCore,
}

impl Default for RelyingParty {
    fn default() -> Self {
        Self::new()
    }
}

impl RelyingParty {
    pub fn new() -> Self {
        let origin = Url::parse(ORIGIN).unwrap_or_else(|_| unreachable!("constant origin"));
        Self {
            core: WebauthnCore::new_unsafe_experts_only(
                "Hybrid e2e",
                RP_ID,
                vec![origin],
                Duration::from_secs(60),
                None,
                None,
            ),
        }
    }

    pub fn origin(&self) -> Url {
        Url::parse(ORIGIN).unwrap_or_else(|_| unreachable!("constant origin"))
    }

    /// A registration challenge requiring user verification (the phone's built-in one), with
    /// the attestation statement requested so its signature is checked.
    pub fn start_registration(
        &self,
        user: &str,
    ) -> Result<(CreationChallengeResponse, RegistrationState), String> {
        let builder = self
            .core
            .new_challenge_register_builder(user.as_bytes(), user, user)
            .map_err(|e| format!("register builder: {e:?}"))?
            .attestation(AttestationConveyancePreference::Direct)
            .user_verification_policy(UserVerificationPolicy::Required);
        self.core
            .generate_challenge_register(builder)
            .map_err(|e| format!("register challenge: {e:?}"))
    }

    pub fn finish_registration(
        &self,
        reply: &RegisterPublicKeyCredential,
        state: &RegistrationState,
    ) -> Result<Credential, String> {
        self.core
            .register_credential(reply, state, None)
            .map_err(|e| format!("the relying party refused the registration: {e:?}"))
    }

    pub fn start_sign_in(
        &self,
        credential: &Credential,
    ) -> Result<(RequestChallengeResponse, AuthenticationState), String> {
        let builder = self
            .core
            .new_challenge_authenticate_builder(vec![credential.clone()], None)
            .map_err(|e| format!("sign-in builder: {e:?}"))?;
        self.core
            .generate_challenge_authenticate(builder)
            .map_err(|e| format!("sign-in challenge: {e:?}"))
    }

    pub fn finish_sign_in(
        &self,
        reply: &PublicKeyCredential,
        state: &AuthenticationState,
    ) -> Result<AuthenticationResult, String> {
        self.core
            .authenticate_credential(reply, state)
            .map_err(|e| format!("the relying party refused the sign-in: {e:?}"))
    }
}
