//! The relying party's checks on what libwebauthn hands back, done as a server would: from the
//! WebAuthn JSON (`RegistrationResponseJSON`, `AuthenticationResponseJSON`) alone, never from
//! the phone's or libwebauthn's internal structures.
//!
//! Registration: clientDataJSON's type, challenge and origin; the attestation object's
//! authenticator data (rpIdHash, UP and UV flags, attested credential data whose id is the
//! rawId) and its COSE ES256 key. Sign-in: the same client-data checks, the flags, a signature
//! counter that moved forward (or stayed zero), the credential id, and the ECDSA signature over
//! authenticatorData || SHA-256(clientDataJSON) with the registered key (WebAuthn L3 §7.1, §7.2).
//! Every failed check is an error naming it.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p256::ecdsa::signature::Verifier as _;
use p256::ecdsa::{Signature, VerifyingKey};
use serde_cbor::Value;
use sha2::{Digest, Sha256};

/// Authenticator data flags (WebAuthn L3 §6.1).
const FLAG_UP: u8 = 0x01;
const FLAG_UV: u8 = 0x04;
const FLAG_AT: u8 = 0x40;

/// What the relying party keeps after a registration.
#[derive(Debug, Clone)]
pub struct Registered {
    pub credential_id: Vec<u8>,
    pub key: VerifyingKey,
    pub sign_count: u32,
}

/// The relying party's side of one ceremony.
pub struct RelyingParty {
    pub rp_id: String,
    pub origin: String,
}

fn b64(value: &serde_json::Value, what: &str) -> Result<Vec<u8>, String> {
    let text = value
        .as_str()
        .ok_or_else(|| format!("{what} is missing or not a string"))?;
    URL_SAFE_NO_PAD
        .decode(text.trim_end_matches('='))
        .map_err(|e| format!("{what} is not base64url: {e}"))
}

impl RelyingParty {
    fn check_client_data(
        &self,
        client_data_json: &[u8],
        kind: &str,
        challenge: &[u8],
    ) -> Result<(), String> {
        let client_data: serde_json::Value = serde_json::from_slice(client_data_json)
            .map_err(|e| format!("clientDataJSON is not JSON: {e}"))?;
        if client_data["type"] != kind {
            return Err(format!(
                "clientDataJSON type is {}, expected {kind}",
                client_data["type"]
            ));
        }
        if b64(&client_data["challenge"], "clientDataJSON challenge")? != challenge {
            return Err("clientDataJSON challenge is not the one the relying party sent".into());
        }
        if client_data["origin"] != self.origin.as_str() {
            return Err(format!(
                "clientDataJSON origin is {}, expected {}",
                client_data["origin"], self.origin
            ));
        }
        Ok(())
    }

    /// Checks the rpIdHash and the flags; returns (flags, signCount).
    fn check_auth_data(&self, auth_data: &[u8], require_uv: bool) -> Result<(u8, u32), String> {
        if auth_data.len() < 37 {
            return Err(format!(
                "authenticator data is {} bytes, shorter than 37",
                auth_data.len()
            ));
        }
        if auth_data[..32] != Sha256::digest(self.rp_id.as_bytes())[..] {
            return Err("rpIdHash is not SHA-256 of the relying party id".into());
        }
        let flags = auth_data[32];
        if flags & FLAG_UP == 0 {
            return Err("user present flag is not set".into());
        }
        if require_uv && flags & FLAG_UV == 0 {
            return Err("user verified flag is not set".into());
        }
        let count = u32::from_be_bytes([auth_data[33], auth_data[34], auth_data[35], auth_data[36]]);
        Ok((flags, count))
    }

    /// Verifies a registration response (RegistrationResponseJSON as JSON text).
    pub fn verify_registration(
        &self,
        response_json: &str,
        challenge: &[u8],
        require_uv: bool,
    ) -> Result<Registered, String> {
        let response: serde_json::Value = serde_json::from_str(response_json)
            .map_err(|e| format!("registration response is not JSON: {e}"))?;
        if response["type"] != "public-key" {
            return Err(format!("credential type is {}", response["type"]));
        }
        let raw_id = b64(&response["rawId"], "rawId")?;
        let inner = &response["response"];
        self.check_client_data(
            &b64(&inner["clientDataJSON"], "clientDataJSON")?,
            "webauthn.create",
            challenge,
        )?;
        let attestation = b64(&inner["attestationObject"], "attestationObject")?;
        let attestation: Value = serde_cbor::from_slice(&attestation)
            .map_err(|e| format!("attestationObject is not CBOR: {e}"))?;
        let Value::Map(attestation) = attestation else {
            return Err("attestationObject is not a CBOR map".into());
        };
        let field = |name: &str| attestation.get(&Value::Text(name.into()));
        match field("fmt") {
            Some(Value::Text(fmt)) if fmt == "none" => {}
            other => return Err(format!("attestation format is {other:?}, expected none")),
        }
        let Some(Value::Bytes(auth_data)) = field("authData") else {
            return Err("attestationObject has no authData".into());
        };
        let (flags, sign_count) = self.check_auth_data(auth_data, require_uv)?;
        if flags & FLAG_AT == 0 {
            return Err("attested credential data flag is not set".into());
        }
        // aaguid (16) then the credential id's length (2, big-endian), id, COSE key.
        let rest = &auth_data[37..];
        if rest.len() < 18 {
            return Err("attested credential data is truncated".into());
        }
        let id_len = usize::from(u16::from_be_bytes([rest[16], rest[17]]));
        let rest = &rest[18..];
        if rest.len() < id_len {
            return Err("credential id is truncated".into());
        }
        let (credential_id, cose) = rest.split_at(id_len);
        if credential_id != raw_id.as_slice() {
            return Err("credential id in authenticator data is not the rawId".into());
        }
        let key = cose_es256_key(cose)?;
        // The SubjectPublicKeyInfo libwebauthn adds is a convenience the relying party does
        // not need; the COSE key in the signed authenticator data is what counts.
        Ok(Registered {
            credential_id: credential_id.to_vec(),
            key,
            sign_count,
        })
    }

    /// Verifies a sign-in response (AuthenticationResponseJSON as JSON text) against the
    /// registered credential; returns the new signature counter.
    pub fn verify_assertion(
        &self,
        response_json: &str,
        challenge: &[u8],
        registered: &Registered,
        require_uv: bool,
    ) -> Result<u32, String> {
        let response: serde_json::Value = serde_json::from_str(response_json)
            .map_err(|e| format!("sign-in response is not JSON: {e}"))?;
        if b64(&response["rawId"], "rawId")? != registered.credential_id {
            return Err("sign-in used a credential the relying party did not register".into());
        }
        let inner = &response["response"];
        let client_data_json = b64(&inner["clientDataJSON"], "clientDataJSON")?;
        self.check_client_data(&client_data_json, "webauthn.get", challenge)?;
        let auth_data = b64(&inner["authenticatorData"], "authenticatorData")?;
        let (_, sign_count) = self.check_auth_data(&auth_data, require_uv)?;
        if (sign_count != 0 || registered.sign_count != 0) && sign_count <= registered.sign_count
        {
            return Err(format!(
                "signature counter went from {} to {sign_count}",
                registered.sign_count
            ));
        }
        let signature = b64(&inner["signature"], "signature")?;
        let signature = Signature::from_der(&signature)
            .map_err(|e| format!("signature is not a DER ECDSA signature: {e}"))?;
        let mut signed = auth_data.clone();
        signed.extend_from_slice(&Sha256::digest(&client_data_json));
        registered
            .key
            .verify(&signed, &signature)
            .map_err(|_| "signature does not verify with the registered key".to_string())?;
        Ok(sign_count)
    }
}

/// Reads a COSE_Key (RFC 9053): kty 2 (EC2), alg -7 (ES256), crv 1 (P-256), x, y. Trailing
/// extension data after the key is allowed (the ED flag), so the key is read as the first CBOR
/// item only.
fn cose_es256_key(cose: &[u8]) -> Result<VerifyingKey, String> {
    let mut deserializer = serde_cbor::Deserializer::from_slice(cose);
    let key: Value = serde::Deserialize::deserialize(&mut deserializer)
        .map_err(|e| format!("credential public key is not CBOR: {e}"))?;
    let Value::Map(key) = key else {
        return Err("credential public key is not a CBOR map".into());
    };
    let int = |label: i128| key.get(&Value::Integer(label));
    if int(1) != Some(&Value::Integer(2))
        || int(3) != Some(&Value::Integer(-7))
        || int(-1) != Some(&Value::Integer(1))
    {
        return Err("credential public key is not an ES256 P-256 key".into());
    }
    let (Some(Value::Bytes(x)), Some(Value::Bytes(y))) = (int(-2), int(-3)) else {
        return Err("credential public key lacks x or y".into());
    };
    if x.len() != 32 || y.len() != 32 {
        return Err("credential public key coordinates are not 32 bytes".into());
    }
    let mut sec1 = vec![0x04];
    sec1.extend_from_slice(x);
    sec1.extend_from_slice(y);
    VerifyingKey::from_sec1_bytes(&sec1)
        .map_err(|_| "credential public key is not a point on P-256".to_string())
}
