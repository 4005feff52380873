//! Linking end to end on loopback (`session_linked.rs`): a QR session the user consented to
//! link gives the browser signed linking information and stores the link; the browser comes
//! back through the tunnel server's contact route and signs in without a QR code, with the
//! user's prompt; a wrong link secret, an unknown link id and an unlinked browser each get
//! their own error, and the last two nothing advertised.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use hmac::{Hmac, Mac};
use p256::elliptic_curve::point::AffineCoordinates;
use sha2::Sha256;

use super::handshake::HandshakeError;
use super::qr::RequestType;
use super::session::*;
use super::session_browser::{Bend, LinkedTestBrowser, TestBrowser};
use super::session_tests::{
    Phone, RP, Radio, Running, check_assertion, check_registration, get_assertion,
    make_credential, phone,
};

const LINKED_AT: u64 = 1_800_000_100;
const USED_AT: u64 = 1_800_000_500;

impl Phone {
    /// A QR session; `consent` is the name the user gave the browser, if they agreed to link.
    fn serve_linking(&self, qr: String, consent: Option<&str>) -> Running {
        let (radio, adverts) = Radio::new(None);
        let signals = new_signals();
        let config = self.config();
        let consent = consent.map(str::to_owned);
        let task = tokio::spawn({
            let (engine, radio, signals, vault) = (
                self.engine.clone(),
                radio.clone(),
                signals.clone(),
                self.vault.clone(),
            );
            async move {
                let consent = consent.map(|browser_name| LinkConsent {
                    vault: &vault,
                    browser_name,
                    phone_name: "Test Phone".into(),
                    now: LINKED_AT,
                });
                serve(&qr, &config, radio.as_ref(), &engine, &signals, consent.as_ref()).await
            }
        });
        Running {
            task,
            radio,
            adverts,
            signals,
        }
    }

    /// Waits for the linked browser of `contact_id`.
    fn serve_contact(&self, contact_id: Vec<u8>) -> Running {
        let (radio, adverts) = Radio::new(None);
        let signals = new_signals();
        let config = self.config();
        let task = tokio::spawn({
            let (engine, radio, signals, vault) = (
                self.engine.clone(),
                radio.clone(),
                signals.clone(),
                self.vault.clone(),
            );
            async move {
                serve_linked(
                    &contact_id,
                    &config,
                    radio.as_ref(),
                    &engine,
                    &signals,
                    &vault,
                    USED_AT,
                )
                .await
            }
        });
        Running {
            task,
            radio,
            adverts,
            signals,
        }
    }
}

/// Registers a passkey over a QR session that asks for linking, with the user's consent;
/// returns the linking information the browser received (signature checked), the passkey.
async fn register_and_link(phone: &Phone) -> (LinkedTestBrowser, Vec<u8>, Vec<u8>) {
    let browser = TestBrowser::new(RequestType::MakeCredential).linking();
    let mut running = phone.serve_linking(browser.qr_text(), Some("Work laptop"));
    let mut session = phone.join(&browser, &mut running, Bend::None).await.unwrap();
    let info = session.recv_linking().await.unwrap();
    // The browser checks the signature as pxp does: HMAC keyed with the x coordinate of
    // ECDH(its QR key, the phone's identity key) over its own handshake hash.
    let browser_secret = p256::SecretKey::from_slice(&*browser.identity().scalar_bytes()).unwrap();
    let phone_key = p256::PublicKey::from_sec1_bytes(&info.identity_public).unwrap();
    let x: [u8; 32] = (phone_key.to_projective() * browser_secret.to_nonzero_scalar().as_ref())
        .to_affine()
        .x()
        .into();
    let mut mac = <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(&x).unwrap();
    mac.update(&session.handshake_hash);
    mac.verify_slice(&info.signature).expect("the linking signature verifies");
    assert_eq!(info.name, "Test Phone");
    assert_eq!(info.contact_id.len(), 16);

    let response = session.request(&make_credential(RP)).await.unwrap();
    session.shutdown().await.unwrap();
    assert_eq!(
        running.task.await.unwrap().unwrap().operation,
        Operation::MakeCredential
    );
    let (credential_id, public) = check_registration(&response);
    (LinkedTestBrowser { info }, credential_id, public)
}

#[tokio::test]
async fn a_linked_browser_signs_in_again_without_a_qr_code_with_the_users_prompt() {
    let phone = phone().await;
    let (linked, credential_id, public) = register_and_link(&phone).await;
    let links = phone.vault.hybrid_links().list().unwrap();
    assert_eq!(links.len(), 1);
    assert_eq!(links[0].name, "Work laptop");
    assert_eq!(links[0].link_id, linked.info.link_id.to_vec());
    assert_eq!((links[0].created_at, links[0].last_used_at), (LINKED_AT, LINKED_AT));

    let mut running = phone.serve_contact(linked.info.contact_id.clone());
    // The phone holds its listening socket before the browser dials.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let (tunnel, nonce) = linked
        .dial(&phone.server.base_url(), Operation::GetAssertion, None)
        .await
        .unwrap();
    let advert = running.adverts.recv().await.unwrap();
    let mut session = linked.finish(tunnel, &nonce, &advert, Bend::None).await.unwrap();
    assert_eq!(
        session.post_handshake.clone().unwrap().features,
        Some(vec!["ctap".to_owned()])
    );
    let response = session
        .request(&get_assertion(RP, &credential_id))
        .await
        .unwrap();
    check_assertion(&response, &public);
    session.shutdown().await.unwrap();
    let served = running.task.await.unwrap().unwrap();
    assert_eq!((served.operation, served.rp_id.as_str()), (Operation::GetAssertion, RP));
    running.radio.assert_started_and_stopped();
    // The registration and the linked sign-in each prompted the user.
    assert_eq!(phone.user.prompts().len(), 2);
    assert_eq!(phone.vault.hybrid_links().list().unwrap()[0].last_used_at, USED_AT);
}

#[tokio::test]
async fn nothing_is_linked_without_the_users_consent_or_the_qrs_request() {
    let phone = phone().await;
    // The QR asks, the user did not consent: the CTAP answer comes right after the
    // post-handshake message, no update frame.
    let browser = TestBrowser::new(RequestType::MakeCredential).linking();
    let mut running = phone.serve_linking(browser.qr_text(), None);
    let mut session = phone.join(&browser, &mut running, Bend::None).await.unwrap();
    assert_eq!(session.request(&make_credential(RP)).await.unwrap()[0], 0);
    session.shutdown().await.unwrap();
    running.task.await.unwrap().unwrap();
    // The user consented, the QR does not ask (key 4 false).
    let browser = TestBrowser::new(RequestType::MakeCredential);
    let mut running = phone.serve_linking(browser.qr_text(), Some("Laptop"));
    let mut session = phone.join(&browser, &mut running, Bend::None).await.unwrap();
    assert_eq!(session.request(&make_credential(RP)).await.unwrap()[0], 0);
    session.shutdown().await.unwrap();
    running.task.await.unwrap().unwrap();
    assert!(phone.vault.hybrid_links().list().unwrap().is_empty());
    assert!(phone.vault.hybrid_links().identity().unwrap().is_none());
}

#[tokio::test]
async fn a_linked_browser_with_a_wrong_link_secret_fails_the_handshake_and_gets_nothing() {
    let phone = phone().await;
    let (linked, _, _) = register_and_link(&phone).await;
    let mut running = phone.serve_contact(linked.info.contact_id.clone());
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let (tunnel, nonce) = linked
        .dial(&phone.server.base_url(), Operation::GetAssertion, None)
        .await
        .unwrap();
    let advert = running.adverts.recv().await.unwrap();
    let err = linked
        .finish(tunnel, &nonce, &advert, Bend::WrongSecret)
        .await
        .err()
        .unwrap();
    assert!(err.contains("closed"), "{err}");
    assert_eq!(
        running.task.await.unwrap().unwrap_err(),
        HybridError::LinkedHandshake(HandshakeError::Authentication)
    );
    running.radio.assert_started_and_stopped();
    // Only the registration prompted.
    assert_eq!(phone.user.prompts().len(), 1);
}

#[tokio::test]
async fn an_unknown_link_id_gets_nothing_advertised() {
    let phone = phone().await;
    let (linked, _, _) = register_and_link(&phone).await;
    let running = phone.serve_contact(linked.info.contact_id.clone());
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let (mut tunnel, _) = linked
        .dial(&phone.server.base_url(), Operation::GetAssertion, Some([9; 8]))
        .await
        .unwrap();
    assert_eq!(
        running.task.await.unwrap().unwrap_err(),
        HybridError::UnknownLink
    );
    assert!(running.radio.events().is_empty());
    assert!(tunnel.recv().await.is_err(), "the phone sent nothing and closed");
}

#[tokio::test]
async fn an_unlinked_browser_cannot_come_back() {
    let phone = phone().await;
    let (linked, _, _) = register_and_link(&phone).await;
    assert!(phone.vault.hybrid_links().remove(&linked.info.link_id).unwrap());
    assert!(phone.vault.hybrid_links().get(&linked.info.link_id).unwrap().is_none());
    let running = phone.serve_contact(linked.info.contact_id.clone());
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let _dialled = linked
        .dial(&phone.server.base_url(), Operation::GetAssertion, None)
        .await
        .unwrap();
    assert_eq!(
        running.task.await.unwrap().unwrap_err(),
        HybridError::UnknownLink
    );
    assert!(running.radio.events().is_empty());
}

#[tokio::test]
async fn a_link_is_served_only_at_its_own_contact() {
    let phone = phone().await;
    let (first, _, _) = register_and_link(&phone).await;
    let (second, _, _) = register_and_link(&phone).await;
    assert_eq!(phone.vault.hybrid_links().list().unwrap().len(), 2);
    // Both links share the phone's one identity key.
    assert_eq!(first.info.identity_public, second.info.identity_public);
    // The phone waits at the first link's contact; a payload naming the second link (valid
    // elsewhere) is refused.
    let running = phone.serve_contact(first.info.contact_id.clone());
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let _dialled = first
        .dial(
            &phone.server.base_url(),
            Operation::GetAssertion,
            Some(second.info.link_id),
        )
        .await
        .unwrap();
    assert_eq!(
        running.task.await.unwrap().unwrap_err(),
        HybridError::UnknownLink
    );
    assert!(running.radio.events().is_empty());
}
