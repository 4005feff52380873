//! Requests carry their origin: follow-up state belongs to the origin that began it, and
//! signed silent assertions to a paired PC over the link are counted, audited and, past the
//! threshold, told to the user. (The same rules over real transports: tests/conformance
//! `test_origins.py` over CTAPHID, tests/e2e `test_link_origins.py` over the link.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use authenticator_core::cbor::{self, Value};
use authenticator_core::ctap::{AlwaysServe, CtapEngine, EngineConfig};
use authenticator_core::platform::{SystemClock, UserEvent};
use authenticator_core::request::{Origin, RequestSignals};
use authenticator_core::testkit::{ScriptedUser, TestProtector};
use authenticator_core::vault::Vault;

const NOT_ALLOWED: u8 = 0x30;

struct Phone {
    _dir: tempfile::TempDir,
    vault: Arc<Vault>,
    /// Allows everything at once and keeps the notices.
    user: Arc<ScriptedUser>,
    engine: CtapEngine,
}

impl Phone {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let vault =
            Arc::new(Vault::open(dir.path().join("vault.db"), &TestProtector::sealing()).unwrap());
        let user = ScriptedUser::approving();
        let engine = CtapEngine::new(
            vault.clone(),
            Arc::new(AlwaysServe),
            user.clone(),
            Arc::new(SystemClock),
            EngineConfig::default(),
        )
        .unwrap();
        Self {
            _dir: dir,
            vault,
            user,
            engine,
        }
    }

    async fn call(
        &self,
        origin: &Origin,
        command: u8,
        params: Option<Value>,
    ) -> (u8, Option<Value>) {
        let mut request = vec![command];
        if let Some(params) = params {
            request.extend_from_slice(&cbor::encode(&params));
        }
        let response = self
            .engine
            .handle(&request, &RequestSignals::new(origin.clone()))
            .await;
        let body = (response.len() > 1).then(|| cbor::decode(&response[1..]).unwrap());
        (response[0], body)
    }

    /// A passkey for `rp` (discoverable when `rk`); its credential id.
    async fn register(&self, origin: &Origin, rp: &str, user: u8, rk: bool) -> Vec<u8> {
        let mut params = vec![
            (k(1), Value::from(vec![1u8; 32])),
            (k(2), Value::map([(t("id"), t(rp))])),
            (
                k(3),
                Value::map([
                    (t("id"), Value::from(vec![user; 8])),
                    (t("name"), t(&format!("user{user}"))),
                ]),
            ),
            (
                k(4),
                Value::Array(vec![Value::map([
                    (t("alg"), Value::int(-7)),
                    (t("type"), t("public-key")),
                ])]),
            ),
        ];
        if rk {
            // A discoverable passkey needs user verification: the phone's own.
            params.push((
                k(7),
                Value::map([(t("rk"), Value::Bool(true)), (t("uv"), Value::Bool(true))]),
            ));
        }
        let (status, body) = self.call(origin, 0x01, Some(Value::map(params))).await;
        assert_eq!(status, 0);
        let auth_data = member(body.as_ref().unwrap(), 2)
            .as_bytes()
            .unwrap()
            .to_vec();
        let len = usize::from(u16::from_be_bytes([auth_data[53], auth_data[54]]));
        auth_data[55..55 + len].to_vec()
    }

    /// getAssertion at `rp`, with an allowList of `id` if given; status and user handle.
    async fn get_assertion(
        &self,
        origin: &Origin,
        rp: &str,
        id: Option<&[u8]>,
        up: bool,
    ) -> (u8, Option<Value>) {
        let mut params = vec![(k(1), t(rp)), (k(2), Value::from(vec![2u8; 32]))];
        if let Some(id) = id {
            params.push((
                k(3),
                Value::Array(vec![Value::map([
                    (t("id"), Value::from(id.to_vec())),
                    (t("type"), t("public-key")),
                ])]),
            ));
        }
        if !up {
            params.push((k(5), Value::map([(t("up"), Value::Bool(false))])));
        }
        self.call(origin, 0x02, Some(Value::map(params))).await
    }

    fn audit_kinds(&self) -> Vec<(String, String)> {
        self.vault
            .audit()
            .list()
            .unwrap()
            .into_iter()
            .filter(|e| e.kind.starts_with("link."))
            .map(|e| (e.kind, e.details.get("count").cloned().unwrap_or_default()))
            .collect()
    }

    fn warnings(&self) -> Vec<UserEvent> {
        self.user
            .events()
            .into_iter()
            .filter(|e| matches!(e, UserEvent::SilentAssertionsFromComputer { .. }))
            .collect()
    }
}

fn k(n: i64) -> Value {
    Value::int(n)
}

fn t(s: &str) -> Value {
    Value::from(s)
}

fn member(value: &Value, key: i64) -> &Value {
    &value
        .as_map()
        .unwrap()
        .iter()
        .find(|(k, _)| k.as_int() == Some(key))
        .unwrap()
        .1
}

fn user_handle(body: &Value) -> Vec<u8> {
    let user = member(body, 4).as_map().unwrap();
    user.iter()
        .find(|(k, _)| k.as_text() == Some("id"))
        .unwrap()
        .1
        .as_bytes()
        .unwrap()
        .to_vec()
}

#[tokio::test]
async fn get_next_assertion_is_served_only_to_the_origin_that_began_the_sequence() {
    let phone = Phone::new();
    let owner = Origin::ctaphid_channel();
    let other = Origin::link_session(Some(b"pairing-b"), "PC B");
    for user in 1..=3 {
        phone.register(&owner, "rp.example", user, true).await;
    }
    let (status, first) = phone.get_assertion(&owner, "rp.example", None, true).await;
    assert_eq!(status, 0);
    assert_eq!(member(first.as_ref().unwrap(), 5).as_unsigned(), Some(3));
    let mut seen = vec![user_handle(first.as_ref().unwrap())];

    // Another origin gets nothing, and neither its polls nor its own commands disturb the
    // owner's sequence.
    assert_eq!(phone.call(&other, 0x08, None).await.0, NOT_ALLOWED);
    assert_eq!(phone.call(&other, 0x04, None).await.0, 0);
    assert_eq!(
        phone
            .get_assertion(&other, "none.example", None, false)
            .await
            .0,
        0x2E
    );
    assert_eq!(phone.call(&Origin::app(), 0x08, None).await.0, NOT_ALLOWED);

    for _ in 0..2 {
        let (status, next) = phone.call(&owner, 0x08, None).await;
        assert_eq!(status, 0);
        seen.push(user_handle(next.as_ref().unwrap()));
        assert_eq!(phone.call(&other, 0x08, None).await.0, NOT_ALLOWED);
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 3, "the owner got each passkey once");
    // The sequence is over.
    assert_eq!(phone.call(&owner, 0x08, None).await.0, NOT_ALLOWED);
}

#[tokio::test]
async fn the_owners_own_other_command_still_ends_its_sequence() {
    let phone = Phone::new();
    let owner = Origin::ctaphid_channel();
    for user in 1..=2 {
        phone.register(&owner, "rp.example", user, true).await;
    }
    assert_eq!(
        phone
            .get_assertion(&owner, "rp.example", None, true)
            .await
            .0,
        0
    );
    assert_eq!(phone.call(&owner, 0x04, None).await.0, 0);
    assert_eq!(phone.call(&owner, 0x08, None).await.0, NOT_ALLOWED);
}

#[tokio::test]
async fn an_ended_origin_loses_its_sequence_and_a_reset_ends_everyones() {
    let phone = Phone::new();
    let (a, b) = (Origin::ctaphid_channel(), Origin::ctaphid_channel());
    for user in 1..=3 {
        phone.register(&a, "rp.example", user, true).await;
    }
    assert_eq!(phone.get_assertion(&a, "rp.example", None, true).await.0, 0);
    phone.engine.origin_ended(&a).await;
    assert_eq!(phone.call(&a, 0x08, None).await.0, NOT_ALLOWED);

    assert_eq!(phone.get_assertion(&b, "rp.example", None, true).await.0, 0);
    // authenticatorReset from another origin (within 10 s of power-up, approved) erases
    // the passkeys b's sequence would list.
    assert_eq!(phone.call(&a, 0x07, None).await.0, 0);
    assert_eq!(phone.call(&b, 0x08, None).await.0, NOT_ALLOWED);
}

#[tokio::test]
async fn silent_assertions_over_the_link_are_audited_and_a_flood_is_told_once() {
    let phone = Phone::new();
    let app = Origin::app();
    let id = phone.register(&app, "rp.example", 1, false).await;
    let pc = Origin::link_session(Some(b"pairing-a"), "Desk PC");

    // Up to the threshold (20 in 10 minutes): audited, no warning.
    for _ in 0..20 {
        let (status, body) = phone
            .get_assertion(&pc, "rp.example", Some(&id), false)
            .await;
        assert_eq!(status, 0);
        let auth_data = member(body.as_ref().unwrap(), 2).as_bytes().unwrap();
        assert_eq!(auth_data[32] & 0x01, 0, "UP=0 in a silent assertion");
    }
    assert!(phone.warnings().is_empty());
    assert_eq!(
        phone.audit_kinds(),
        vec![("link.silent_assertion".to_owned(), "1".to_owned())]
    );
    // Silent assertions from the app itself or a CTAPHID channel are not the link's.
    for origin in [Origin::app(), Origin::ctaphid_channel()] {
        assert_eq!(
            phone
                .get_assertion(&origin, "rp.example", Some(&id), false)
                .await
                .0,
            0
        );
    }
    // Assertions with presence are no silent ones.
    assert_eq!(
        phone
            .get_assertion(&pc, "rp.example", Some(&id), true)
            .await
            .0,
        0
    );
    assert!(phone.warnings().is_empty());

    // The 21st: the user is told, naming the computer, once.
    for _ in 0..3 {
        assert_eq!(
            phone
                .get_assertion(&pc, "rp.example", Some(&id), false)
                .await
                .0,
            0
        );
    }
    assert_eq!(
        phone.warnings(),
        vec![UserEvent::SilentAssertionsFromComputer {
            computer_name: "Desk PC".into(),
            count: 21,
            window_minutes: 10,
        }]
    );
    // The same PC's next session counts on in the same window.
    let next_session = Origin::link_session(Some(b"pairing-a"), "Desk PC");
    assert_eq!(
        phone
            .get_assertion(&next_session, "rp.example", Some(&id), false)
            .await
            .0,
        0
    );
    assert_eq!(phone.warnings().len(), 1);
    // When the sessions end, the rest is audited: 1 + 20 + 3 = 24 in all.
    phone.engine.origin_ended(&pc).await;
    phone.engine.origin_ended(&next_session).await;
    let kinds = phone.audit_kinds();
    assert_eq!(
        kinds,
        vec![
            ("link.silent_assertion".to_owned(), "1".to_owned()),
            ("link.silent_assertion_rate".to_owned(), "21".to_owned()),
            ("link.silent_assertions".to_owned(), "3".to_owned()),
        ]
    );
}
