//! The exported surface from Rust: the PIN rules from the phone's settings, the link
//! service's states, argument checks on open, a locked key store, dropping the object
//! inside an async runtime, the options of the serving phone, and the CTAP channels of the
//! app's transports (origin, cancellation, request state, close). (Python and Kotlin drive the same surface through the generated
//! bindings: tests/bindings, android/host-test.sh.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::{Arc, Mutex};

use authenticator_core::api::{
    ApprovalEvent, ApprovalObserver, Authenticator, AuthenticatorError, AuthenticatorOptions,
    CtapRequestState, default_options,
};
use authenticator_core::cbor::{self, Value};
use authenticator_core::platform::{
    KeyProtectorError, SoftwareKeyProtector, UserEvent, UserInterfaceError,
};
use authenticator_core::testkit::{Answer, ScriptedUser, TestProtector};

fn open(
    dir: &tempfile::TempDir,
    ui: Arc<ScriptedUser>,
) -> Result<Arc<Authenticator>, AuthenticatorError> {
    Authenticator::open(
        dir.path().to_string_lossy().into_owned(),
        Arc::new(SoftwareKeyProtector::new(dir.path().join("device.key"))),
        ui,
        None,
        default_options("test phone".into()),
    )
}

#[test]
fn pin_rules_from_the_phone_settings() {
    let dir = tempfile::tempdir().unwrap();
    let ui = ScriptedUser::approving();
    let phone = open(&dir, ui.clone()).unwrap();
    assert!(!phone.pin_status().unwrap().is_set);
    assert_eq!(
        phone.change_pin("1234".into(), "5678".into()),
        Err(AuthenticatorError::InvalidState {
            reason: "no PIN is set; set one first".into()
        })
    );
    assert_eq!(
        phone.set_pin("123".into()),
        Err(AuthenticatorError::InvalidInput {
            reason: "the PIN must have 4 to 63 characters".into()
        })
    );
    phone.set_pin("1234".into()).unwrap();
    assert_eq!(
        phone.set_pin("9999".into()),
        Err(AuthenticatorError::InvalidState {
            reason: "a PIN is already set; change it instead".into()
        })
    );
    // A new PIN outside the policy spends no attempt.
    assert!(matches!(
        phone.change_pin("0000".into(), "12".into()),
        Err(AuthenticatorError::InvalidInput { .. })
    ));
    assert_eq!(phone.pin_status().unwrap().retries_left, 8);
    assert_eq!(
        phone.change_pin("0000".into(), "5678".into()),
        Err(AuthenticatorError::PinInvalid {
            attempts_left: 7,
            reason: "wrong PIN; 7 attempt(s) left".into()
        })
    );
    phone.change_pin("1234".into(), "5678".into()).unwrap();
    let status = phone.pin_status().unwrap();
    assert!(status.is_set);
    assert_eq!(status.retries_left, 8, "a right PIN restores the attempts");
    // The old PIN no longer works, the new one does.
    assert!(matches!(
        phone.change_pin("1234".into(), "4321".into()),
        Err(AuthenticatorError::PinInvalid {
            attempts_left: 7,
            ..
        })
    ));
    phone.change_pin("5678".into(), "4321".into()).unwrap();
    let pin_changes = ui
        .events()
        .iter()
        .filter(|e| **e == UserEvent::PinChanged)
        .count();
    assert_eq!(pin_changes, 3, "set, change, change");
}

#[test]
fn eight_wrong_pins_block_it() {
    let dir = tempfile::tempdir().unwrap();
    let ui = ScriptedUser::approving();
    let phone = open(&dir, ui.clone()).unwrap();
    phone.set_pin("1234".into()).unwrap();
    for left in (1..8).rev() {
        assert!(matches!(
            phone.change_pin("0000".into(), "5678".into()),
            Err(AuthenticatorError::PinInvalid { attempts_left, .. }) if attempts_left == left
        ));
    }
    assert!(matches!(
        phone.change_pin("0000".into(), "5678".into()),
        Err(AuthenticatorError::PinBlocked { .. })
    ));
    // Even the right PIN is refused now.
    assert!(matches!(
        phone.change_pin("1234".into(), "5678".into()),
        Err(AuthenticatorError::PinBlocked { .. })
    ));
    assert!(ui.events().contains(&UserEvent::PinBlocked));
}

#[test]
fn link_service_states() {
    let dir = tempfile::tempdir().unwrap();
    let phone = open(&dir, ScriptedUser::approving()).unwrap();
    assert!(!phone.link_service_running());
    if !cfg!(feature = "ble") {
        assert!(matches!(
            phone.start_link_service(true, None),
            Err(AuthenticatorError::Unsupported { .. })
        ));
    }
    phone.start_link_service(false, None).unwrap();
    assert!(phone.link_service_running());
    assert_eq!(
        phone.start_link_service(false, None),
        Err(AuthenticatorError::InvalidState {
            reason: "the link service is already running".into()
        })
    );
    phone.stop_link_service();
    assert!(!phone.link_service_running());
    phone.stop_link_service();
    phone.start_link_service(false, None).unwrap();
    assert!(phone.link_service_running());
}

#[test]
fn open_checks_its_arguments() {
    let dir = tempfile::tempdir().unwrap();
    let ui = ScriptedUser::approving();
    let protector = Arc::new(SoftwareKeyProtector::new(dir.path().join("device.key")));
    let attempt = |data_dir: &str, name: &str, timeout: u64| {
        let mut options = default_options(name.into());
        options.user_action_timeout_ms = timeout;
        Authenticator::open(
            data_dir.into(),
            protector.clone(),
            ui.clone(),
            None,
            options,
        )
        .map(|_| ())
    };
    let folder = dir.path().join("phone").to_string_lossy().into_owned();
    assert_eq!(
        attempt("", "phone", 30_000),
        Err(AuthenticatorError::InvalidInput {
            reason: "the data folder must be a path to a folder of the app's".into()
        })
    );
    assert_eq!(
        attempt(&folder, " ", 30_000),
        Err(AuthenticatorError::InvalidInput {
            reason: "the device name must have 1 to 64 characters, without control characters"
                .into()
        })
    );
    assert!(matches!(
        attempt(&folder, "phone", 0),
        Err(AuthenticatorError::InvalidInput { .. })
    ));
    assert_eq!(attempt(&folder, "phone", 30_000), Ok(()));
}

#[test]
fn a_locked_key_store_fails_open_and_keeps_the_vault() {
    let dir = tempfile::tempdir().unwrap();
    let ui = ScriptedUser::approving();
    // A key store that is locked (before first unlock) until its failure is cleared.
    let locked = Arc::new(TestProtector::sealing());
    let path = dir.path().to_string_lossy().into_owned();
    let attempt = || {
        Authenticator::open(
            path.clone(),
            locked.clone(),
            ui.clone(),
            None,
            default_options("phone".into()),
        )
    };
    attempt().unwrap().set_pin("1234".into()).unwrap();
    locked.fail_with(Some(KeyProtectorError::TemporarilyUnavailable {
        reason: "before first unlock".into(),
    }));
    assert!(matches!(
        attempt(),
        Err(AuthenticatorError::KeyTemporarilyUnavailable { reason })
            if reason.contains("before first unlock")
    ));
    locked.fail_with(None);
    assert!(
        attempt().unwrap().pin_status().unwrap().is_set,
        "same vault"
    );
}

#[test]
fn dropping_it_inside_an_async_runtime_is_safe() {
    let dir = tempfile::tempdir().unwrap();
    let phone = open(&dir, ScriptedUser::approving()).unwrap();
    phone.start_link_service(false, None).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async move {
        let answer = phone.handle_ctap(vec![0x04]).await;
        assert_eq!(answer[0], 0x00, "getInfo answers");
        drop(phone);
    });
}

/// clientPIN getUVRetries (CTAP 2.1 §6.5.5.3) through `handle_ctap`.
async fn uv_retries(phone: &Authenticator) -> u64 {
    let request = [
        vec![0x06],
        cbor::encode(&Value::map([(Value::int(2), Value::int(7))])),
    ]
    .concat();
    let answer = phone.handle_ctap(request).await;
    assert_eq!(answer[0], 0);
    let body = cbor::decode(&answer[1..]).unwrap();
    let map = body.as_map().unwrap();
    map.iter()
        .find(|(k, _)| k.as_int() == Some(5))
        .and_then(|(_, v)| v.as_unsigned())
        .unwrap()
}

#[test]
fn a_verification_the_app_could_not_show_costs_no_attempt() {
    let dir = tempfile::tempdir().unwrap();
    let ui = ScriptedUser::approving();
    let phone = open(&dir, ui.clone()).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        assert_eq!(uv_retries(&phone).await, 8);
        ui.set_presence(Answer::Unavailable);
        ui.set_verification(Answer::Unavailable);
        let answer = phone
            .handle_ctap(common::obr::make_credential("example.com"))
            .await;
        assert_eq!(
            answer,
            vec![0x27],
            "OPERATION_DENIED: the app could not ask"
        );
        assert_eq!(uv_retries(&phone).await, 8, "the attempt was given back");
        ui.set_presence(Answer::Yes);
        ui.set_verification(Answer::Yes);
        let answer = phone
            .handle_ctap(common::obr::make_credential("example.com"))
            .await;
        assert_eq!(answer[0], 0, "registered with built-in verification");
        assert_eq!(phone.passkeys().unwrap().len(), 1);
    });
}

/// A phone whose user is the test kit's scripted user, with `options` changed by `change`.
fn open_with(
    dir: &tempfile::TempDir,
    user: Arc<ScriptedUser>,
    change: impl FnOnce(&mut AuthenticatorOptions),
) -> Result<Arc<Authenticator>, AuthenticatorError> {
    let mut options = default_options("test phone".into());
    change(&mut options);
    Authenticator::open(
        dir.path().to_string_lossy().into_owned(),
        Arc::new(SoftwareKeyProtector::new(dir.path().join("device.key"))),
        user,
        None,
        options,
    )
}

/// makeCredential of a discoverable passkey at example.com for `user_id`, with built-in UV.
fn register(user_id: &[u8]) -> Vec<u8> {
    [
        vec![0x01],
        cbor::encode(&Value::map([
            (Value::int(1), Value::Bytes(vec![1; 32])),
            (
                Value::int(2),
                Value::map([(Value::from("id"), Value::from("example.com"))]),
            ),
            (
                Value::int(3),
                Value::map([
                    (Value::from("id"), Value::Bytes(user_id.to_vec())),
                    (Value::from("name"), Value::from("alice")),
                ]),
            ),
            (
                Value::int(4),
                Value::Array(vec![Value::map([
                    (Value::from("alg"), Value::int(-7)),
                    (Value::from("type"), Value::from("public-key")),
                ])]),
            ),
            (
                Value::int(7),
                Value::map([
                    (Value::from("rk"), Value::Bool(true)),
                    (Value::from("uv"), Value::Bool(true)),
                ]),
            ),
        ])),
    ]
    .concat()
}

/// getAssertion at example.com without an allowList (CTAP 2.1 §6.2).
fn assert_without_allow_list() -> Vec<u8> {
    [
        vec![0x02],
        cbor::encode(&Value::map([
            (Value::int(1), Value::from("example.com")),
            (Value::int(2), Value::Bytes(vec![2; 32])),
        ])),
    ]
    .concat()
}

const GET_NEXT_ASSERTION: u8 = 0x08;
const CTAP2_ERR_NOT_ALLOWED: u8 = 0x30;
const CTAP2_ERR_KEEPALIVE_CANCEL: u8 = 0x2D;

fn member(answer: &[u8], key: i64) -> Option<Value> {
    let body = cbor::decode(&answer[1..]).unwrap();
    body.as_map()
        .unwrap()
        .iter()
        .find(|(k, _)| k.as_int() == Some(key))
        .map(|(_, v)| v.clone())
}

#[test]
fn default_options_name_the_product_values() {
    let options = default_options("phone".into());
    assert!(options.builtin_user_verification && options.self_attestation);
    assert_eq!(options.workspace_request_timeout_ms, 20_000);
    assert_eq!(options.approval_answer_timeout_ms, 60_000);
    assert_eq!(options.relay_poll_wait_ms, 25_000);
}

#[test]
fn open_checks_the_new_options() {
    let dir = tempfile::tempdir().unwrap();
    type Change = fn(&mut AuthenticatorOptions);
    let cases: [(Change, &str); 6] = [
        (
            |o| o.workspace_request_timeout_ms = 0,
            "workspace request timeout",
        ),
        (
            |o| o.workspace_request_timeout_ms = 600_001,
            "workspace request timeout",
        ),
        (
            |o| o.approval_answer_timeout_ms = 0,
            "approval answer timeout",
        ),
        (
            |o| o.approval_answer_timeout_ms = u64::MAX,
            "approval answer timeout",
        ),
        (|o| o.relay_poll_wait_ms = 0, "relay poll wait"),
        (|o| o.relay_poll_wait_ms = 700_000, "relay poll wait"),
    ];
    for (change, what) in cases {
        let got = open_with(&dir, ScriptedUser::approving(), change).map(|_| ());
        assert_eq!(
            got,
            Err(AuthenticatorError::InvalidInput {
                reason: format!("the {what} must be between 1 ms and 10 minutes")
            })
        );
    }
}

#[test]
fn options_choose_built_in_verification_and_the_attestation_format() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    for (builtin_uv, self_attestation) in [(true, true), (false, false)] {
        let dir = tempfile::tempdir().unwrap();
        let phone = open_with(&dir, ScriptedUser::approving(), |o| {
            o.builtin_user_verification = builtin_uv;
            o.self_attestation = self_attestation;
        })
        .unwrap();
        runtime.block_on(async {
            let info = phone.handle_ctap(vec![0x04]).await;
            let options = member(&info, 4).unwrap();
            let has_uv = options
                .as_map()
                .unwrap()
                .iter()
                .any(|(k, _)| k.as_text() == Some("uv"));
            assert_eq!(has_uv, builtin_uv, "getInfo's uv option");
            if !builtin_uv {
                // Without built-in UV and without a PIN, "uv": true cannot be honoured.
                return;
            }
            let answer = phone.handle_ctap(register(b"user-1")).await;
            assert_eq!(answer[0], 0);
            assert_eq!(member(&answer, 1), Some(Value::from("packed")));
        });
        if !self_attestation {
            let dir = tempfile::tempdir().unwrap();
            let phone = open_with(&dir, ScriptedUser::approving(), |o| {
                o.self_attestation = false;
            })
            .unwrap();
            runtime.block_on(async {
                let answer = phone.handle_ctap(register(b"user-1")).await;
                assert_eq!(answer[0], 0);
                assert_eq!(member(&answer, 1), Some(Value::from("none")));
            });
        }
    }
}

#[test]
fn each_ctap_channel_is_a_conversation_of_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let phone = open_with(&dir, ScriptedUser::approving(), |_| {}).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        for user in [b"user-1", b"user-2"] {
            assert_eq!(phone.handle_ctap(register(user)).await[0], 0);
        }
        let a = phone.clone().open_ctap_channel().unwrap();
        let b = phone.clone().open_ctap_channel().unwrap();
        assert_eq!(a.request_state(), CtapRequestState::Idle);
        let first = a.handle(assert_without_allow_list()).await.unwrap();
        assert_eq!(first[0], 0);
        assert_eq!(member(&first, 5), Some(Value::Unsigned(2)));
        // Another channel and the app's own entry point cannot continue A's sequence.
        let next = vec![GET_NEXT_ASSERTION];
        assert_eq!(
            b.handle(next.clone()).await.unwrap(),
            [CTAP2_ERR_NOT_ALLOWED]
        );
        assert_eq!(
            phone.handle_ctap(next.clone()).await,
            [CTAP2_ERR_NOT_ALLOWED]
        );
        assert_eq!(a.handle(next.clone()).await.unwrap()[0], 0);

        // A closed channel is gone: its sequence with it, and it takes no more requests.
        let first = a.handle(assert_without_allow_list()).await.unwrap();
        assert_eq!(first[0], 0);
        a.end().await;
        a.end().await;
        assert!(matches!(
            a.handle(next.clone()).await,
            Err(AuthenticatorError::InvalidState { .. })
        ));
        let c = phone.clone().open_ctap_channel().unwrap();
        assert_eq!(c.handle(next).await.unwrap(), [CTAP2_ERR_NOT_ALLOWED]);
    });
}

#[test]
fn a_channel_request_can_be_cancelled_and_reports_when_it_waits_for_the_user() {
    let dir = tempfile::tempdir().unwrap();
    let user = Arc::new(ScriptedUser::new(Answer::Never, Answer::Never));
    let phone = open_with(&dir, user.clone(), |_| {}).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let channel = phone.clone().open_ctap_channel().unwrap();
        let running = {
            let channel = channel.clone();
            tokio::spawn(async move { channel.handle(register(b"user-1")).await })
        };
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        while channel.request_state() != CtapRequestState::WaitingForUser {
            assert!(tokio::time::Instant::now() < deadline, "no prompt came");
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        // One request at a time per channel.
        assert!(matches!(
            channel.handle(vec![0x04]).await,
            Err(AuthenticatorError::InvalidState { .. })
        ));
        channel.cancel();
        let answer = running.await.unwrap().unwrap();
        assert_eq!(answer, [CTAP2_ERR_KEEPALIVE_CANCEL]);
        assert_eq!(channel.request_state(), CtapRequestState::Idle);
        assert!(phone.passkeys().unwrap().is_empty());

        // Dropping the call cancels too: the prompt is withdrawn and the channel is free.
        let call = channel.handle(register(b"user-1"));
        let _ = tokio::time::timeout(std::time::Duration::from_millis(300), call).await;
        assert_eq!(channel.request_state(), CtapRequestState::Idle);
        user.set_presence(Answer::Yes);
        user.set_verification(Answer::Yes);
        assert_eq!(channel.handle(vec![0x04]).await.unwrap()[0], 0);
    });
}

#[test]
fn a_dropped_channel_ends_its_conversation() {
    let dir = tempfile::tempdir().unwrap();
    let phone = open_with(&dir, ScriptedUser::approving(), |_| {}).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let channel = phone.clone().open_ctap_channel().unwrap();
        assert_eq!(channel.handle(vec![0x04]).await.unwrap()[0], 0);
        drop(channel);
        // The channel kept the phone alive; dropping both inside a runtime is safe.
        drop(phone);
    });
}

#[test]
fn the_approval_observer_is_not_called_for_a_request_that_does_not_exist() {
    #[derive(Default)]
    struct Recorder(Mutex<Vec<ApprovalEvent>>);
    impl ApprovalObserver for Recorder {
        fn on_approval_event(&self, event: ApprovalEvent) -> Result<(), UserInterfaceError> {
            self.0.lock().unwrap().push(event);
            Ok(())
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let phone = open_with(&dir, ScriptedUser::approving(), |_| {}).unwrap();
    let recorder = Arc::new(Recorder::default());
    phone.set_approval_observer(Some(recorder.clone()));
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        assert!(matches!(
            phone.decide_approval("00".repeat(16), true).await,
            Err(AuthenticatorError::NotFound { .. })
        ));
        assert!(matches!(
            phone.decide_approval("not hex".into(), false).await,
            Err(AuthenticatorError::InvalidInput { .. })
        ));
    });
    phone.set_approval_observer(None);
    assert!(recorder.0.lock().unwrap().is_empty());
}

#[test]
fn a_failed_open_inside_an_async_runtime_reports_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("vault.db"), vec![0x5a; 8192]).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let got =
        runtime.block_on(async { open_with(&dir, ScriptedUser::approving(), |_| {}).map(|_| ()) });
    assert!(
        matches!(&got, Err(AuthenticatorError::VaultUnreadable { .. })),
        "{got:?}"
    );
}
