//! A minimal relying party for the demo: builds client data as a browser would and verifies
//! the authenticator's answers the way a WebAuthn server does (WebAuthn §7.1 steps on
//! authenticator data, packed self-attestation §8.2, assertion signature §7.2).

use authenticator_core::cbor::{self, Value};
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{DerSignature, VerifyingKey};
use sha2::{Digest, Sha256};

pub struct RelyingParty {
    pub id: String,
}

/// What the RP keeps after registration.
pub struct Registered {
    pub credential_id: Vec<u8>,
    pub public_key: VerifyingKey,
    pub sign_count: u32,
}

pub struct ParsedAuthData {
    pub flags: u8,
    pub sign_count: u32,
}

pub fn field(map: &[(Value, Value)], k: i64) -> Result<&Value, String> {
    map.iter()
        .find(|(key, _)| key.as_int() == Some(k))
        .map(|(_, v)| v)
        .ok_or_else(|| format!("response member {k} is missing"))
}

fn text_field<'a>(map: &'a [(Value, Value)], name: &str) -> Result<&'a Value, String> {
    map.iter()
        .find(|(key, _)| key.as_text() == Some(name))
        .map(|(_, v)| v)
        .ok_or_else(|| format!("member {name:?} is missing"))
}

impl RelyingParty {
    /// clientDataJSON for `kind` ("webauthn.create" / "webauthn.get") and its SHA-256.
    pub fn client_data(&self, kind: &str, challenge: &[u8]) -> (String, Vec<u8>) {
        let challenge: String = challenge.iter().map(|b| format!("{b:02x}")).collect();
        let json = format!(
            r#"{{"type":"{kind}","challenge":"{challenge}","origin":"https://{}","crossOrigin":false}}"#,
            self.id
        );
        let hash = Sha256::digest(json.as_bytes()).to_vec();
        (json, hash)
    }

    fn check_auth_data(&self, auth_data: &[u8], need_uv: bool) -> Result<ParsedAuthData, String> {
        if auth_data.len() < 37 {
            return Err("authenticator data is too short".into());
        }
        if auth_data[..32] != Sha256::digest(self.id.as_bytes())[..] {
            return Err("rpIdHash does not match the relying party".into());
        }
        let flags = auth_data[32];
        if flags & 0x01 == 0 {
            return Err("the user was not present (UP = 0)".into());
        }
        if need_uv && flags & 0x04 == 0 {
            return Err("the user was not verified (UV = 0)".into());
        }
        if flags & 0x18 != 0 {
            return Err("a device-bound passkey must have BE = BS = 0".into());
        }
        let mut count = [0u8; 4];
        count.copy_from_slice(&auth_data[33..37]);
        Ok(ParsedAuthData {
            flags,
            sign_count: u32::from_be_bytes(count),
        })
    }

    /// Verifies a makeCredential response; returns the credential to keep.
    pub fn verify_registration(
        &self,
        response: &[u8],
        client_data_hash: &[u8],
    ) -> Result<(Registered, ParsedAuthData, String), String> {
        let body = ok_body(response)?;
        let value =
            cbor::decode(body).map_err(|e| format!("response is not canonical CBOR: {e}"))?;
        let map = value.as_map().ok_or("response is not a map")?;
        let fmt = field(map, 1)?
            .as_text()
            .ok_or("fmt is not text")?
            .to_owned();
        let auth_data = field(map, 2)?.as_bytes().ok_or("authData is not bytes")?;
        let statement = field(map, 3)?.as_map().ok_or("attStmt is not a map")?;
        let parsed = self.check_auth_data(auth_data, true)?;
        if parsed.flags & 0x40 == 0 {
            return Err("no attested credential data (AT = 0)".into());
        }
        let rest = &auth_data[37..];
        if rest.len() < 18 {
            return Err("attested credential data is truncated".into());
        }
        let id_len = usize::from(u16::from_be_bytes([rest[16], rest[17]]));
        let credential_id = rest
            .get(18..18 + id_len)
            .ok_or("credential id is truncated")?
            .to_vec();
        let key_bytes = &rest[18 + id_len..];
        // The COSE key is followed by nothing but (optionally) the extensions map.
        let (cose, _extensions) = cbor::decode_prefix(key_bytes)
            .map_err(|e| format!("credential public key is not CBOR: {e}"))?;
        let cose = cose.as_map().ok_or("credential public key is not a map")?;
        let x = field(cose, -2)?.as_bytes().ok_or("x is not bytes")?;
        let y = field(cose, -3)?.as_bytes().ok_or("y is not bytes")?;
        if field(cose, 3)?.as_int() != Some(-7) {
            return Err("credential key is not ES256".into());
        }
        let mut sec1 = vec![4u8];
        sec1.extend_from_slice(x);
        sec1.extend_from_slice(y);
        let public_key =
            VerifyingKey::from_sec1_bytes(&sec1).map_err(|_| "credential key is not on P-256")?;
        match fmt.as_str() {
            "packed" => {
                if text_field(statement, "alg")?.as_int() != Some(-7) {
                    return Err("attStmt alg is not ES256".into());
                }
                if text_field(statement, "x5c").is_ok() {
                    return Err("self-attestation must not carry a certificate".into());
                }
                let sig = text_field(statement, "sig")?
                    .as_bytes()
                    .ok_or("sig is not bytes")?;
                verify(&public_key, auth_data, client_data_hash, sig)
                    .map_err(|_| "the self-attestation signature does not verify")?;
            }
            "none" if statement.is_empty() => {}
            other => return Err(format!("unexpected attestation format {other}")),
        }
        Ok((
            Registered {
                credential_id,
                public_key,
                sign_count: parsed.sign_count,
            },
            parsed,
            fmt,
        ))
    }

    /// Verifies a getAssertion response against a registered credential and updates its
    /// counter.
    pub fn verify_assertion(
        &self,
        response: &[u8],
        client_data_hash: &[u8],
        registered: &mut Registered,
    ) -> Result<ParsedAuthData, String> {
        let body = ok_body(response)?;
        let value =
            cbor::decode(body).map_err(|e| format!("response is not canonical CBOR: {e}"))?;
        let map = value.as_map().ok_or("response is not a map")?;
        let descriptor = field(map, 1)?.as_map().ok_or("credential is not a map")?;
        let id = text_field(descriptor, "id")?
            .as_bytes()
            .ok_or("id is not bytes")?;
        if id != registered.credential_id.as_slice() {
            return Err("the assertion is for another credential".into());
        }
        let auth_data = field(map, 2)?.as_bytes().ok_or("authData is not bytes")?;
        let sig = field(map, 3)?.as_bytes().ok_or("signature is not bytes")?;
        let parsed = self.check_auth_data(auth_data, true)?;
        verify(&registered.public_key, auth_data, client_data_hash, sig)
            .map_err(|_| "the assertion signature does not verify")?;
        if parsed.sign_count <= registered.sign_count {
            return Err(format!(
                "the sign counter went from {} to {}: possible cloned key",
                registered.sign_count, parsed.sign_count
            ));
        }
        registered.sign_count = parsed.sign_count;
        Ok(parsed)
    }
}

fn ok_body(response: &[u8]) -> Result<&[u8], String> {
    match response.split_first() {
        Some((0, body)) => Ok(body),
        Some((status, _)) => Err(format!("the authenticator answered status {status:#04x}")),
        None => Err("empty response".into()),
    }
}

fn verify(
    key: &VerifyingKey,
    auth_data: &[u8],
    client_data_hash: &[u8],
    sig: &[u8],
) -> Result<(), ()> {
    let signature = DerSignature::try_from(sig).map_err(|_| ())?;
    let mut message = auth_data.to_vec();
    message.extend_from_slice(client_data_hash);
    key.verify(&message, &signature).map_err(|_| ())
}
