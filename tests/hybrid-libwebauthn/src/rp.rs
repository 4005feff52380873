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
        let count =
            u32::from_be_bytes([auth_data[33], auth_data[34], auth_data[35], auth_data[36]]);
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
        if (sign_count != 0 || registered.sign_count != 0) && sign_count <= registered.sign_count {
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

#[cfg(test)]
mod tests {
    //! The checks above must reject what a relying party rejects; each case changes one thing
    //! in an otherwise valid response, signed here with a fixed test key.
    use super::*;
    use p256::ecdsa::SigningKey;
    use p256::ecdsa::signature::Signer as _;
    use std::collections::BTreeMap;

    const CHALLENGE: &[u8] = b"challenge";
    const CRED_ID: &[u8] = b"credential-id-16";

    fn rp() -> RelyingParty {
        RelyingParty {
            rp_id: "example.org".into(),
            origin: "https://example.org".into(),
        }
    }

    fn key() -> SigningKey {
        SigningKey::from_bytes(&[7u8; 32].into()).unwrap()
    }

    fn client_data(kind: &str, challenge: &[u8], origin: &str) -> String {
        let challenge = URL_SAFE_NO_PAD.encode(challenge);
        format!(r#"{{"type":"{kind}","challenge":"{challenge}","origin":"{origin}"}}"#)
    }

    fn auth_data(rp_id: &str, flags: u8, count: u32) -> Vec<u8> {
        let mut data = Sha256::digest(rp_id.as_bytes()).to_vec();
        data.push(flags);
        data.extend_from_slice(&count.to_be_bytes());
        data
    }

    fn registration(flags: u8, rp_id: &str, client_data_json: &str) -> String {
        let point = key().verifying_key().to_encoded_point(false);
        let mut cose = BTreeMap::new();
        cose.insert(Value::Integer(1), Value::Integer(2));
        cose.insert(Value::Integer(3), Value::Integer(-7));
        cose.insert(Value::Integer(-1), Value::Integer(1));
        cose.insert(
            Value::Integer(-2),
            Value::Bytes(point.x().unwrap().to_vec()),
        );
        cose.insert(
            Value::Integer(-3),
            Value::Bytes(point.y().unwrap().to_vec()),
        );
        let mut data = auth_data(rp_id, flags, 0);
        data.extend_from_slice(&[0u8; 16]);
        data.extend_from_slice(&(CRED_ID.len() as u16).to_be_bytes());
        data.extend_from_slice(CRED_ID);
        data.extend_from_slice(&serde_cbor::to_vec(&Value::Map(cose)).unwrap());
        let mut attestation = BTreeMap::new();
        attestation.insert(Value::Text("fmt".into()), Value::Text("none".into()));
        attestation.insert(Value::Text("attStmt".into()), Value::Map(BTreeMap::new()));
        attestation.insert(Value::Text("authData".into()), Value::Bytes(data));
        serde_json::json!({
            "type": "public-key",
            "rawId": URL_SAFE_NO_PAD.encode(CRED_ID),
            "response": {
                "clientDataJSON": URL_SAFE_NO_PAD.encode(client_data_json),
                "attestationObject":
                    URL_SAFE_NO_PAD.encode(serde_cbor::to_vec(&Value::Map(attestation)).unwrap()),
            }
        })
        .to_string()
    }

    fn assertion(flags: u8, count: u32, tamper: bool) -> String {
        let client_data_json = client_data("webauthn.get", CHALLENGE, "https://example.org");
        let data = auth_data("example.org", flags, count);
        let mut signed = data.clone();
        signed.extend_from_slice(&Sha256::digest(client_data_json.as_bytes()));
        let signature: Signature = key().sign(&signed);
        let mut signature = signature.to_der().as_bytes().to_vec();
        if tamper {
            let last = signature.len() - 1;
            signature[last] ^= 1;
        }
        serde_json::json!({
            "rawId": URL_SAFE_NO_PAD.encode(CRED_ID),
            "response": {
                "clientDataJSON": URL_SAFE_NO_PAD.encode(client_data_json),
                "authenticatorData": URL_SAFE_NO_PAD.encode(data),
                "signature": URL_SAFE_NO_PAD.encode(signature),
            }
        })
        .to_string()
    }

    fn good_registration() -> String {
        let cd = client_data("webauthn.create", CHALLENGE, "https://example.org");
        registration(FLAG_UP | FLAG_UV | FLAG_AT, "example.org", &cd)
    }

    #[test]
    fn a_valid_registration_and_sign_in_pass() {
        let registered = rp()
            .verify_registration(&good_registration(), CHALLENGE, true)
            .unwrap();
        assert_eq!(registered.credential_id, CRED_ID);
        let count = rp()
            .verify_assertion(
                &assertion(FLAG_UP | FLAG_UV, 1, false),
                CHALLENGE,
                &registered,
                true,
            )
            .unwrap();
        assert_eq!(count, 1);
    }

    #[test]
    fn registration_checks_fail_by_name() {
        let cases = [
            (
                registration(
                    FLAG_UP | FLAG_UV | FLAG_AT,
                    "example.org",
                    &client_data("webauthn.create", b"other", "https://example.org"),
                ),
                "clientDataJSON challenge is not the one the relying party sent",
            ),
            (
                registration(
                    FLAG_UP | FLAG_UV | FLAG_AT,
                    "example.org",
                    &client_data("webauthn.create", CHALLENGE, "https://evil.example"),
                ),
                "clientDataJSON origin is \"https://evil.example\", expected https://example.org",
            ),
            (
                registration(
                    FLAG_UP | FLAG_UV | FLAG_AT,
                    "evil.example",
                    &client_data("webauthn.create", CHALLENGE, "https://example.org"),
                ),
                "rpIdHash is not SHA-256 of the relying party id",
            ),
            (
                registration(
                    FLAG_UP | FLAG_AT,
                    "example.org",
                    &client_data("webauthn.create", CHALLENGE, "https://example.org"),
                ),
                "user verified flag is not set",
            ),
        ];
        for (response, expected) in cases {
            assert_eq!(
                rp().verify_registration(&response, CHALLENGE, true)
                    .unwrap_err(),
                expected
            );
        }
    }

    #[test]
    fn sign_in_checks_fail_by_name() {
        let registered = rp()
            .verify_registration(&good_registration(), CHALLENGE, true)
            .unwrap();
        let verify = |response: String, registered: &Registered| {
            rp().verify_assertion(&response, CHALLENGE, registered, true)
                .unwrap_err()
        };
        assert_eq!(
            verify(assertion(FLAG_UP | FLAG_UV, 1, true), &registered),
            "signature does not verify with the registered key"
        );
        assert_eq!(
            verify(assertion(FLAG_UV, 1, false), &registered),
            "user present flag is not set"
        );
        let seen = Registered {
            sign_count: 5,
            ..registered.clone()
        };
        assert_eq!(
            verify(assertion(FLAG_UP | FLAG_UV, 5, false), &seen),
            "signature counter went from 5 to 5"
        );
        let other = Registered {
            credential_id: b"another".to_vec(),
            ..registered
        };
        assert_eq!(
            verify(assertion(FLAG_UP | FLAG_UV, 1, false), &other),
            "sign-in used a credential the relying party did not register"
        );
    }
}
