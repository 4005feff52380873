//! `floor` (a hidden test command for `tests/bench/link_rtt.py`, issue 18): the curve
//! operations of a reconnect, timed in this process and build profile, so the bench can set a
//! session opening against its floor in the same run. Prints one line starting `floor:`.
//! Uses fresh random keys only; nothing is read from or written to the data directory.

use std::hint::black_box;
use std::time::Instant;

use authenticator_core::link::noise::{HandshakeState, KeyPair, Pattern, Role, parse_public_key};

/// The PSK of the timed handshakes (any value: both sides use it).
const PSK: [u8; 32] = [0x5a; 32];

/// Times `rounds` of each: a bare P-256 ECDH (scalar times point), a key generation, and a
/// whole KKpsk0 handshake (both sides, in memory, as the phone and the tool run it).
pub fn run(rounds: u32) -> Result<(), String> {
    let err = |e: authenticator_core::link::noise::NoiseError| e.to_string();
    let mine = KeyPair::generate().map_err(err)?;
    let peer = KeyPair::generate().map_err(err)?;
    let peer_point = parse_public_key(peer.public_key())
        .map_err(err)?
        .to_projective();
    let scalar = p256::SecretKey::from_slice(mine.scalar_bytes().as_slice())
        .map_err(|_| "a generated key is not a P-256 scalar".to_owned())?
        .to_nonzero_scalar();
    let (mut ecdh, mut keygen, mut handshake) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds.max(1) {
        let t = Instant::now();
        black_box((black_box(peer_point) * *scalar).to_affine());
        ecdh.push(t.elapsed().as_secs_f64() * 1e3);

        let t = Instant::now();
        black_box(KeyPair::generate().map_err(err)?);
        keygen.push(t.elapsed().as_secs_f64() * 1e3);

        let (phone, pc) = (mine.clone(), peer.clone());
        let (phone_public, pc_public) = (*phone.public_key(), *pc.public_key());
        let t = Instant::now();
        let mut initiator = HandshakeState::new(
            Pattern::KKpsk0,
            Role::Initiator,
            phone,
            Some(&pc_public),
            &PSK,
        )
        .map_err(err)?;
        let mut responder = HandshakeState::new(
            Pattern::KKpsk0,
            Role::Responder,
            pc,
            Some(&phone_public),
            &PSK,
        )
        .map_err(err)?;
        let first = initiator.write_message(&[]).map_err(err)?;
        responder.read_message(&first).map_err(err)?;
        let second = responder.write_message(&[]).map_err(err)?;
        initiator.read_message(&second).map_err(err)?;
        black_box(initiator.into_outcome().map_err(err)?);
        black_box(responder.into_outcome().map_err(err)?);
        handshake.push(t.elapsed().as_secs_f64() * 1e3);
    }
    println!(
        "floor: p256 ecdh {:.4} ms, key generation {:.4} ms, kkpsk0 both sides {:.4} ms \
         (medians of {} rounds)",
        median(ecdh),
        median(keygen),
        median(handshake),
        rounds.max(1)
    );
    Ok(())
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}
