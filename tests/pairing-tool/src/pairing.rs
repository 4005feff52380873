//! Showing pairing codes and answering the phones that scan them (proto/link.md §2.4, §3.3,
//! §5.5 "First pairing").
//!
//! Invariants:
//! - One code is live at a time. Its QR secret (held only as the derived psk) is forgotten
//!   after one successful IKpsk1 handshake or when the code's lifetime (at most 60 s, §2.4)
//!   has passed, whichever is first; a new code is shown then.
//! - A spent or expired code's door is still watched for [`REMEMBER_SPENT`]; a knock on it is
//!   answered by deleting the knocked session, so the phone learns at once (§5.5 step 3).
//! - A pairing is stored only once the phone confirmed it: after message 2 the phone stores
//!   its record and sends `shutdown` (§5.5 step 4), sealed under the new transport key. The
//!   PC does not delete the session before that, or the phone could miss message 2.
//! - A failed handshake (timeout, wrong code, malformed message) leaves the code live.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use authenticator_core::link::noise::{KeyPair, NoiseError, PSK_LEN};
use authenticator_core::link::qr::QrPairing;
use authenticator_core::link::relay::{RelayClient, RelayId, Routing, SessionEnd, new_id};
use authenticator_core::link::session::{HANDSHAKE_TIMEOUT, SessionError, pc_first_pairing};
use authenticator_core::link::{LinkError, relay::MAX_DOORS_PER_WAIT};
use tokio::time::Instant;
use zeroize::Zeroizing;

use crate::say;
use crate::store::{DataDir, Pairing};

/// How long a spent or expired code's door is still answered (by deleting the session).
pub const REMEMBER_SPENT: Duration = Duration::from_secs(600);
/// Longest pause between retries when the relay cannot be reached.
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// The live code: its door and the psk derived from its QR secret.
struct LiveCode {
    door: RelayId,
    psk: Zeroizing<[u8; PSK_LEN]>,
    expires: Instant,
}

#[derive(Clone, Copy)]
enum SpentWhy {
    Used,
    Expired,
}

struct SpentDoor {
    door: RelayId,
    why: SpentWhy,
    forget_at: Instant,
}

/// The pairing half of `serve`.
pub struct Pairer {
    pub store: DataDir,
    /// The static key's scalar; a [`KeyPair`] is made from it for each handshake.
    pub key: Zeroizing<[u8; 32]>,
    /// Polls the relay for knocks; its poll wait bounds how late a new code may appear.
    pub client: RelayClient,
    pub pc_name: Option<String>,
    pub lifetime: Duration,
}

/// A failed pairing attempt; `spent` when the handshake itself succeeded (the code is used).
struct Failure {
    spent: bool,
    reason: String,
}

impl Pairer {
    /// Shows codes and pairs, forever; relay trouble is retried with a backoff.
    pub async fn run(self) {
        let mut live: Option<LiveCode> = None;
        let mut spent: Vec<SpentDoor> = Vec::new();
        let mut backoff = Duration::from_millis(250);
        loop {
            let now = Instant::now();
            if let Some(code) = live.take_if(|c| now >= c.expires) {
                spent.push(SpentDoor {
                    door: code.door,
                    why: SpentWhy::Expired,
                    forget_at: now + REMEMBER_SPENT,
                });
            }
            spent.retain(|s| s.forget_at > now);
            // The newest spent doors are the likeliest to be knocked on; the wait names at most
            // 64 doors, one of them the live code's.
            if spent.len() >= MAX_DOORS_PER_WAIT {
                spent.drain(..spent.len() + 1 - MAX_DOORS_PER_WAIT);
            }
            let code = match live.take() {
                Some(code) => code,
                None => match self.issue() {
                    Ok(code) => code,
                    Err(reason) => {
                        eprintln!("pairing-tool: cannot make a pairing code: {reason}");
                        tokio::time::sleep(MAX_BACKOFF).await;
                        continue;
                    }
                },
            };
            let mut doors = vec![code.door];
            doors.extend(spent.iter().map(|s| s.door));
            let knock = self.client.wait_for_knock(&doors).await;
            let (door, session) = match knock {
                Ok(Some(knock)) => knock,
                Ok(None) => {
                    backoff = Duration::from_millis(250);
                    live = Some(code);
                    continue;
                }
                Err(e) => {
                    eprintln!("pairing-tool: relay trouble while waiting for phones: {e}");
                    live = Some(code);
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    continue;
                }
            };
            backoff = Duration::from_millis(250);
            if door != code.door {
                live = Some(code);
                let why = spent.iter().find(|s| s.door == door).map(|s| s.why);
                self.refuse(&session, why).await;
                continue;
            }
            if Instant::now() >= code.expires {
                spent.push(SpentDoor {
                    door: code.door,
                    why: SpentWhy::Expired,
                    forget_at: Instant::now() + REMEMBER_SPENT,
                });
                self.refuse(&session, Some(SpentWhy::Expired)).await;
                continue;
            }
            match self.pair(session, &code.psk).await {
                Ok(pairing) => {
                    spent.push(SpentDoor {
                        door: code.door,
                        why: SpentWhy::Used,
                        forget_at: Instant::now() + REMEMBER_SPENT,
                    });
                    say(&format!("paired with {}", pairing.display_name()));
                }
                Err(failure) => {
                    say(&format!("pairing failed: {}", failure.reason));
                    if failure.spent {
                        spent.push(SpentDoor {
                            door: code.door,
                            why: SpentWhy::Used,
                            forget_at: Instant::now() + REMEMBER_SPENT,
                        });
                    } else {
                        live = Some(code);
                    }
                }
            }
        }
    }

    /// A fresh code: new door, new QR secret; prints its `qr` line.
    fn issue(&self) -> Result<LiveCode, String> {
        let door = new_id().map_err(|e| e.to_string())?;
        let routing = Routing {
            relay_url: self.client.base_url().to_owned(),
            pc_door: door,
        };
        let key = KeyPair::from_scalar_bytes(&self.key).map_err(|e| e.to_string())?;
        let qr = QrPairing::generate(key.public_key(), routing.to_cbor(), unix_now())
            .map_err(|e| e.to_string())?;
        let code = LiveCode {
            door,
            psk: qr.psk(),
            expires: Instant::now() + self.lifetime,
        };
        say(&format!("qr {}", qr.to_uri()));
        Ok(code)
    }

    /// Answers a knock on a door that is no longer honoured: the session is deleted.
    async fn refuse(&self, session: &RelayId, why: Option<SpentWhy>) {
        let _ = self.client.delete_session(session).await;
        let what = match why {
            Some(SpentWhy::Used) => "the pairing code was already used",
            Some(SpentWhy::Expired) => "the pairing code has expired",
            None => "the pairing code is unknown",
        };
        say(&format!(
            "pairing failed: {what}; the phone's session was closed"
        ));
    }

    /// The first handshake on `session`, the phone's confirmation, then the pairing is stored.
    async fn pair(&self, session: RelayId, psk: &[u8; PSK_LEN]) -> Result<Pairing, Failure> {
        let live = |reason: String| Failure {
            spent: false,
            reason,
        };
        let used = |reason: String| Failure {
            spent: true,
            reason,
        };
        let key = KeyPair::from_scalar_bytes(&self.key).map_err(|e| live(e.to_string()))?;
        let link = Box::new(self.client.link(session, SessionEnd::Pc));
        let (channel, hello) = match pc_first_pairing(link, key, psk, self.pc_name.as_deref()).await
        {
            Ok(ok) => ok,
            Err(e) => {
                let _ = self.client.delete_session(&session).await;
                return Err(live(describe(&e)));
            }
        };
        // The phone stores its record, then ends the session with `shutdown`.
        let confirmation = tokio::time::timeout(HANDSHAKE_TIMEOUT, channel.recv()).await;
        channel.close().await;
        match confirmation {
            Ok(Err(SessionError::PeerShutdown)) => {}
            Ok(Err(e)) => {
                return Err(used(format!(
                    "the phone did not confirm the pairing ({})",
                    describe(&e)
                )));
            }
            Ok(Ok((message_type, _))) => {
                return Err(used(format!(
                    "the phone sent {message_type:?} instead of ending the pairing session"
                )));
            }
            Err(_) => {
                return Err(used(format!(
                    "the phone did not confirm the pairing within {} s",
                    HANDSHAKE_TIMEOUT.as_secs()
                )));
            }
        }
        let pairing = Pairing {
            phone_name: hello.phone_name,
            phone_static: hello.phone_static,
            pairing_secret: hello.pairing_secret,
            relay_url: self.client.base_url().to_owned(),
            created_at: unix_now(),
        };
        self.store
            .save_pairing(&pairing)
            .map_err(|e| used(format!("cannot store the pairing: {e}")))?;
        Ok(pairing)
    }
}

/// A session error in words for the `pairing failed:` line.
fn describe(e: &SessionError) -> String {
    match e {
        SessionError::Handshake(NoiseError::Authentication) => {
            "the phone's handshake did not authenticate (wrong or altered pairing code)".into()
        }
        SessionError::HandshakeTimeout(secs) => {
            format!("the phone did not send its handshake within {secs} s")
        }
        SessionError::Link(LinkError::Closed(_)) => "the phone left the session".into(),
        other => other.to_string(),
    }
}

pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
