//! The exported surface from Rust: the PIN rules from the phone's settings, the link
//! service's states, argument checks on open, a locked key store, and dropping the object
//! inside an async runtime. (Python and Kotlin drive the same surface through the generated
//! bindings: tests/bindings, android/host-test.sh.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use authenticator_core::api::{Authenticator, AuthenticatorError, default_options};
use authenticator_core::cbor::{self, Value};
use authenticator_core::platform::{KeyProtectorError, SoftwareKeyProtector, UserEvent};
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
