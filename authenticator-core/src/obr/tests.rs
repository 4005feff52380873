//! Known-answer tests against proto/vectors/obr_grant.json (made by the independent Python
//! generator gen_obr.py), replay and scope behaviour, and fuzzing of the parsers.

use p256::ecdsa::SigningKey;
use proptest::prelude::*;
use serde_json::Value as Json;

use super::*;

const OBR_JSON: &str = include_str!("../../../proto/vectors/obr_grant.json");

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn vectors() -> Json {
    serde_json::from_str(OBR_JSON).unwrap()
}

fn bytes(json: &Json) -> Vec<u8> {
    hex(json.as_str().unwrap())
}

fn u64_of(json: &Json) -> u64 {
    json.as_u64().unwrap()
}

/// The default verification inputs of the vectors.
struct Inputs {
    workspace_key: Vec<u8>,
    key_id: String,
    peer: Vec<u8>,
    now: u64,
    skew: u64,
}

impl Inputs {
    fn from(v: &Json) -> Self {
        Self {
            workspace_key: bytes(&v["workspace_key"]["public"]),
            key_id: v["security_key_id"].as_str().unwrap().to_owned(),
            peer: bytes(&v["admin_static_public"]),
            now: u64_of(&v["now"]),
            skew: u64_of(&v["skew"]),
        }
    }

    /// The defaults with a case's overrides applied.
    fn with(v: &Json, case: &Json) -> Self {
        let mut inputs = Self::from(v);
        if let Some(key) = case.get("workspace_key") {
            inputs.workspace_key = bytes(key);
        }
        if let Some(key_id) = case.get("expected_key_id") {
            inputs.key_id = key_id.as_str().unwrap().to_owned();
        }
        if let Some(peer) = case.get("peer_static") {
            inputs.peer = bytes(peer);
        }
        if let Some(now) = case.get("now") {
            inputs.now = u64_of(now);
        }
        inputs
    }

    fn verify(&self, grant: &[u8]) -> Result<VerifiedGrant, GrantError> {
        Grant::verify(
            grant,
            &self.workspace_key,
            &self.key_id,
            &self.peer,
            self.now,
            self.skew,
        )
    }
}

fn workspace_signing_key(v: &Json) -> SigningKey {
    SigningKey::from_slice(&bytes(&v["workspace_key"]["private"])).unwrap()
}

fn valid_grant(v: &Json) -> VerifiedGrant {
    Inputs::from(v)
        .verify(&bytes(&v["valid"]["grant"]))
        .unwrap()
}

#[test]
fn the_valid_vector_is_accepted_with_every_field() {
    let v = vectors();
    let fields = &v["valid"]["fields"];
    let verified = valid_grant(&v);
    let grant = verified.grant();
    assert_eq!(grant.grant_id.to_vec(), bytes(&fields["grant_id"]));
    assert_eq!(grant.issued_at, u64_of(&fields["issued_at"]));
    assert_eq!(grant.expires_at, u64_of(&fields["expires_at"]));
    assert_eq!(grant.workspace_id, fields["workspace_id"].as_str().unwrap());
    assert_eq!(
        grant.workspace_name,
        fields["workspace_name"].as_str().unwrap()
    );
    assert_eq!(grant.admin_id, fields["admin_id"].as_str().unwrap());
    assert_eq!(grant.admin_name, fields["admin_name"].as_str().unwrap());
    assert_eq!(
        grant.admin_static_key.to_vec(),
        bytes(&fields["admin_static_key"])
    );
    assert_eq!(
        grant.security_key_id,
        fields["security_key_id"].as_str().unwrap()
    );
    let operations: Vec<&str> = grant.operations.iter().map(|op| op.as_str()).collect();
    let expected_operations: Vec<&str> = fields["operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|op| op.as_str().unwrap())
        .collect();
    assert_eq!(operations, expected_operations);
    let expected_rp_ids: Vec<&str> = fields["rp_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|rp| rp.as_str().unwrap())
        .collect();
    assert_eq!(grant.rp_ids, expected_rp_ids);
    assert_eq!(
        u64::from(grant.max_registrations),
        u64_of(&fields["max_registrations"])
    );
    assert_eq!(verified.grant_id(), &grant.grant_id);
    assert_eq!(
        verified.remember_until(),
        grant.expires_at + u64_of(&v["skew"])
    );
}

#[test]
fn the_valid_vector_is_reproduced_byte_for_byte() {
    let v = vectors();
    let verified = valid_grant(&v);
    let key = workspace_signing_key(&v);
    assert_eq!(
        kid(key.verifying_key()).to_vec(),
        bytes(&v["workspace_key"]["kid"])
    );
    assert_eq!(verified.grant().payload(), bytes(&v["valid"]["payload"]));
    // Both sides sign with RFC 6979, so the whole grant matches.
    assert_eq!(verified.grant().sign(&key), bytes(&v["valid"]["grant"]));
}

#[test]
fn the_valid_vector_is_accepted_at_its_edge_times() {
    let v = vectors();
    let mut inputs = Inputs::from(&v);
    for now in v["valid"]["accepted_at"].as_array().unwrap() {
        inputs.now = u64_of(now);
        assert!(
            inputs.verify(&bytes(&v["valid"]["grant"])).is_ok(),
            "now = {now}"
        );
    }
}

#[test]
fn every_invalid_vector_gets_exactly_its_error() {
    let v = vectors();
    let cases = v["invalid"].as_array().unwrap();
    assert!(cases.len() > 50);
    let mut seen = std::collections::BTreeSet::new();
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let expected = case["error"].as_str().unwrap();
        let result = Inputs::with(&v, case).verify(&bytes(&case["grant"]));
        match result {
            Ok(_) => panic!("{name}: accepted, expected {expected}"),
            Err(error) => assert_eq!(error.code(), expected, "{name}: {error}"),
        }
        seen.insert(expected);
    }
    // Every error of rules 0-20 has at least one vector (rule 21 is tested below).
    for code in [
        "invalid_workspace_key",
        "too_large",
        "not_cose_sign1",
        "malformed_cbor",
        "bad_header",
        "unsupported_algorithm",
        "kid_mismatch",
        "bad_signature",
        "malformed_payload",
        "missing_field",
        "wrong_field_type",
        "unknown_field",
        "invalid_field",
        "unsupported_operation",
        "invalid_rp_scope",
        "invalid_count",
        "invalid_lifetime",
        "not_yet_valid",
        "expired",
        "wrong_security_key",
        "wrong_peer",
    ] {
        assert!(seen.contains(code), "no vector for {code}");
    }
}

#[test]
fn error_messages_and_debug_output_carry_no_grant_values() {
    let v = vectors();
    let fields = &v["valid"]["fields"];
    let secrets = [
        fields["admin_name"].as_str().unwrap(),
        fields["admin_id"].as_str().unwrap(),
        fields["workspace_name"].as_str().unwrap(),
        fields["security_key_id"].as_str().unwrap(),
        fields["rp_ids"][0].as_str().unwrap(),
    ];
    let mut texts = vec![format!("{:?}", valid_grant(&v))];
    for case in v["invalid"].as_array().unwrap() {
        let error = Inputs::with(&v, case)
            .verify(&bytes(&case["grant"]))
            .unwrap_err();
        texts.push(error.to_string());
        texts.push(format!("{error:?}"));
    }
    for text in &texts {
        for secret in secrets {
            assert!(!text.contains(secret), "{text:?} contains {secret:?}");
        }
    }
}

#[test]
fn rp_scope_is_an_exact_match() {
    let v = vectors();
    let grant = valid_grant(&v);
    assert!(grant.allows_rp("demo.example"));
    assert!(grant.allows_rp("login.acme.example"));
    assert!(!grant.allows_rp("acme.example"));
    assert!(!grant.allows_rp("sub.demo.example"));
    assert!(!grant.allows_rp("Demo.example"));
    assert!(!grant.allows_rp("demo.example."));
    assert!(!grant.allows_rp(""));
    assert!(grant.allows_operation(Operation::MakeCredential));
    assert_eq!(grant.max_registrations(), 3);
}

#[test]
fn a_grant_stays_live_until_expiry_plus_skew() {
    let v = vectors();
    let grant = valid_grant(&v);
    let end = grant.grant().expires_at + u64_of(&v["skew"]);
    assert!(grant.is_live(end - 1));
    assert!(!grant.is_live(end));
}

#[test]
fn a_grant_id_is_refused_the_second_time_until_it_expires() {
    let v = vectors();
    let grant = valid_grant(&v);
    let now = u64_of(&v["now"]);
    let mut seen = SeenGrants::default();
    seen.remember(&grant, now).unwrap();
    assert_eq!(seen.remember(&grant, now), Err(GrantError::Replayed));
    assert_eq!(
        seen.remember(&grant, grant.remember_until() - 1),
        Err(GrantError::Replayed)
    );
    // The table survives a restart through serde (the vault keeps it).
    let mut restored: SeenGrants =
        serde_json::from_str(&serde_json::to_string(&seen).unwrap()).unwrap();
    assert_eq!(restored, seen);
    assert_eq!(restored.remember(&grant, now), Err(GrantError::Replayed));
    // After expiry + skew the id is forgotten; verify refuses the grant by then anyway.
    seen.remember(&grant, grant.remember_until()).unwrap();
    let mut inputs = Inputs::from(&v);
    inputs.now = grant.remember_until();
    assert_eq!(
        inputs.verify(&bytes(&v["valid"]["grant"])).unwrap_err(),
        GrantError::Expired
    );
}

#[test]
fn a_full_replay_table_refuses_rather_than_forgets() {
    let v = vectors();
    let key = workspace_signing_key(&v);
    let inputs = Inputs::from(&v);
    let template = valid_grant(&v).grant().clone();
    let mut seen = SeenGrants::default();
    let grant_with_id = |i: u8| {
        let mut grant = template.clone();
        grant.grant_id = [i; 16];
        inputs.verify(&grant.sign(&key)).unwrap()
    };
    for i in 0..64u8 {
        seen.remember(&grant_with_id(i), inputs.now).unwrap();
    }
    assert_eq!(seen.len(), 64);
    assert_eq!(
        seen.remember(&grant_with_id(200), inputs.now),
        Err(GrantError::TooManyGrants)
    );
    // Once they expired, there is room again.
    let later = grant_with_id(0).remember_until();
    let mut fresh = template.clone();
    fresh.grant_id = [201; 16];
    fresh.issued_at = later;
    fresh.expires_at = later + 600;
    let mut later_inputs = Inputs::from(&v);
    later_inputs.now = later;
    let fresh = later_inputs.verify(&fresh.sign(&key)).unwrap();
    seen.remember(&fresh, later).unwrap();
    assert_eq!(seen.len(), 1);
}

#[test]
fn a_grant_signed_here_verifies_and_respects_the_lifetime_limit() {
    let v = vectors();
    let key = workspace_signing_key(&v);
    let inputs = Inputs::from(&v);
    let mut grant = valid_grant(&v).grant().clone();
    grant.expires_at = grant.issued_at + MAX_LIFETIME_SECS;
    grant.rp_ids = (0..MAX_RP_IDS).map(|i| format!("rp{i}.example")).collect();
    grant.max_registrations = MAX_REGISTRATIONS;
    let verified = inputs.verify(&grant.sign(&key)).unwrap();
    assert_eq!(verified.grant(), &grant);
    grant.expires_at += 1;
    assert_eq!(
        inputs.verify(&grant.sign(&key)).unwrap_err(),
        GrantError::InvalidLifetime
    );
}

fn receipt_from_fields(fields: &Json) -> Receipt {
    Receipt {
        grant_id: bytes(&fields["grant_id"]).try_into().unwrap(),
        index: u8::try_from(u64_of(&fields["index"])).unwrap(),
        rp_id: fields["rp_id"].as_str().unwrap().to_owned(),
        credential_id: bytes(&fields["credential_id"]),
        aaguid: bytes(&fields["aaguid"]).try_into().unwrap(),
        created_at: u64_of(&fields["created_at"]),
        auth_data_hash: bytes(&fields["auth_data_hash"]).try_into().unwrap(),
    }
}

#[test]
fn the_python_receipt_verifies_and_is_reproduced() {
    let v = vectors();
    let r = &v["receipt"];
    let public = bytes(&r["device_public"]);
    let expected = receipt_from_fields(&r["fields"]);
    let receipt = Receipt::verify(&bytes(&r["receipt"]), &public).unwrap();
    assert_eq!(receipt, expected);
    assert_eq!(receipt.payload(), bytes(&r["payload"]));
    let device = SigningKey::from_slice(&bytes(&r["device_private"])).unwrap();
    assert_eq!(kid(device.verifying_key()).to_vec(), bytes(&r["kid"]));
    assert_eq!(receipt.sign(&device), bytes(&r["receipt"]));
}

#[test]
fn every_invalid_receipt_gets_exactly_its_error() {
    let v = vectors();
    let public = bytes(&v["receipt"]["device_public"]);
    for case in v["invalid_receipts"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let error = Receipt::verify(&bytes(&case["receipt"]), &public).unwrap_err();
        assert_eq!(error.code(), case["error"].as_str().unwrap(), "{name}");
    }
    assert_eq!(
        Receipt::verify(&bytes(&v["receipt"]["receipt"]), &[4; 65]).unwrap_err(),
        ReceiptError::InvalidDeviceKey
    );
}

#[test]
fn receipts_round_trip_and_refuse_another_device_key() {
    let v = vectors();
    let device = SigningKey::from_slice(&[7; 32]).unwrap();
    let other = SigningKey::from_slice(&[8; 32]).unwrap();
    let receipt = Receipt {
        grant_id: *valid_grant(&v).grant_id(),
        index: MAX_REGISTRATIONS,
        rp_id: "demo.example".into(),
        credential_id: vec![0xab; 1023],
        aaguid: [1; 16],
        created_at: u64_of(&v["now"]),
        auth_data_hash: Receipt::hash_auth_data(b"authenticator data"),
    };
    let signed = receipt.sign(&device);
    assert!(signed.len() <= MAX_RECEIPT_LEN);
    let public = device.verifying_key().to_sec1_point(false);
    assert_eq!(
        Receipt::verify(&signed, public.as_bytes()).unwrap(),
        receipt
    );
    let compressed = device.verifying_key().to_sec1_point(true);
    assert_eq!(
        Receipt::verify(&signed, compressed.as_bytes()).unwrap(),
        receipt
    );
    let other_public = other.verifying_key().to_sec1_point(false);
    assert_eq!(
        Receipt::verify(&signed, other_public.as_bytes()).unwrap_err(),
        ReceiptError::KidMismatch
    );
    assert!(!format!("{receipt:?}").contains("demo.example"));
}

proptest! {
    #[test]
    fn verify_never_panics_on_arbitrary_bytes(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        let v = vectors();
        let inputs = Inputs::from(&v);
        prop_assert!(inputs.verify(&data).is_err());
        let mut tagged = vec![0xd2];
        tagged.extend_from_slice(&data);
        prop_assert!(inputs.verify(&tagged).is_err());
        let public = bytes(&v["receipt"]["device_public"]);
        prop_assert!(Receipt::verify(&tagged, &public).is_err());
    }

    #[test]
    fn any_change_to_the_valid_grant_is_refused(
        position in any::<prop::sample::Index>(),
        xor in 1u8..=255,
        cut in any::<prop::sample::Index>(),
    ) {
        let v = vectors();
        let inputs = Inputs::from(&v);
        let grant = bytes(&v["valid"]["grant"]);
        let mut changed = grant.clone();
        changed[position.index(grant.len())] ^= xor;
        prop_assert!(inputs.verify(&changed).is_err());
        prop_assert!(inputs.verify(&grant[..cut.index(grant.len())]).is_err());
    }

    #[test]
    fn verify_never_panics_on_well_formed_envelopes_with_arbitrary_payloads(
        payload in proptest::collection::vec(any::<u8>(), 0..400),
    ) {
        // Signed by the workspace key, so the payload parser itself is exercised.
        let v = vectors();
        let signed = super::cose::sign(&workspace_signing_key(&v), payload);
        let result = Inputs::from(&v).verify(&signed);
        prop_assert!(result.is_err());
    }
}
