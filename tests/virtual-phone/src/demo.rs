//! `virtual-phone demo`: the main job of the README. Creates a vault, stores passkeys with real
//! P-256 keys, lists them, shows that the file holds nothing readable, reopens the vault and
//! checks that every passkey and private key came back. Every step is printed; any mismatch is
//! an error (non-zero exit).

use std::path::{Path, PathBuf};

use authenticator_core::platform::{KeyProtector, SoftwareKeyProtector};
use authenticator_core::secret::{SecretBytes, random_array};
use authenticator_core::vault::{Credential, CredentialSecrets, SCHEMA_VERSION, Vault};
use p256::ecdsa::SigningKey;

const DEMO_PASSKEYS: [(&str, &str, &str); 3] = [
    ("webauthn.example", "Example RP", "alice@corp.example"),
    ("login.corp.example", "Corp SSO", "alice"),
    ("webauthn.example", "Example RP", "alice.admin@corp.example"),
];

type Step<T> = Result<T, String>;

fn step(n: u32, text: &str) {
    println!("[{n}] {text}");
}

pub fn run(data_dir: Option<PathBuf>) -> Step<()> {
    let temp;
    let dir = match data_dir {
        Some(dir) => dir,
        None => {
            temp =
                tempfile::tempdir().map_err(|e| format!("cannot make a temporary folder: {e}"))?;
            temp.path().to_path_buf()
        }
    };
    let db = dir.join("vault.db");
    let protector = SoftwareKeyProtector::new(dir.join("device.key"));
    let info = protector.info();

    step(1, &format!("opening the vault at {}", db.display()));
    println!(
        "    key protection: {} (hardware backed: {}), schema version {SCHEMA_VERSION}",
        info.kind, info.hardware_backed
    );
    let vault = Vault::open(&db, &protector).map_err(|e| e.to_string())?;
    let already = vault.credentials().count().map_err(|e| e.to_string())?;
    println!("    the vault holds {already} passkey(s)");

    step(2, "creating passkeys with fresh P-256 keys");
    let mut created = Vec::new();
    for (i, (rp_id, rp_name, user)) in DEMO_PASSKEYS.iter().enumerate() {
        let (credential, secrets) = new_passkey(rp_id, rp_name, user, i)?;
        vault
            .credentials()
            .insert(&credential, &secrets)
            .map_err(|e| e.to_string())?;
        println!(
            "    stored {} for {} at {}",
            hex(&credential.credential_id[..6]),
            user,
            rp_id
        );
        created.push(credential);
    }
    let counter = vault
        .credentials()
        .advance_sign_count(&created[0].credential_id)
        .map_err(|e| e.to_string())?
        .ok_or("the first passkey vanished")?;
    println!("    advanced the sign counter of the first passkey to {counter}");
    created[0].sign_count = counter;

    step(3, "listing the passkeys");
    print_list(&vault)?;
    let for_rp = vault
        .credentials()
        .for_rp("webauthn.example")
        .map_err(|e| e.to_string())?;
    println!(
        "    {} passkey(s) for webauthn.example (looked up by keyed hash)",
        for_rp.len()
    );

    step(
        4,
        "closing the vault and searching the file for anything readable",
    );
    drop(vault);
    let leaks = search_file(&db, &DEMO_PASSKEYS.map(|(rp, _, user)| [rp, user]).concat())?;
    if !leaks.is_empty() {
        return Err(format!("the vault file contains {leaks:?} in the clear"));
    }
    println!("    no rp id or user name appears in the file");

    step(5, "reopening the vault and checking every passkey");
    let vault = Vault::open(&db, &protector).map_err(|e| e.to_string())?;
    for expected in &created {
        let found = vault
            .credentials()
            .get(&expected.credential_id)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("passkey {} is missing", hex(&expected.credential_id[..6])))?;
        if &found != expected {
            return Err(format!(
                "passkey {} changed",
                hex(&expected.credential_id[..6])
            ));
        }
        let secrets = vault
            .credentials()
            .secrets(&expected.credential_id)
            .map_err(|e| e.to_string())?
            .ok_or("a private key is missing")?;
        let key = SigningKey::from_slice(secrets.private_key.expose())
            .map_err(|_| "a stored private key is not a P-256 key")?;
        if key.verifying_key().to_sec1_point(false).as_bytes() != expected.public_key.as_slice() {
            return Err("a stored private key does not match its public key".into());
        }
    }
    println!(
        "    all {} passkeys and private keys came back intact",
        created.len()
    );
    print_list(&vault)?;

    step(6, "done: the vault works end to end");
    Ok(())
}

fn new_passkey(
    rp_id: &str,
    rp_name: &str,
    user: &str,
    index: usize,
) -> Step<(Credential, CredentialSecrets)> {
    let private = loop {
        let candidate = SecretBytes::new(random_array::<32>().map_err(|e| e.to_string())?.to_vec());
        if SigningKey::from_slice(candidate.expose()).is_ok() {
            break candidate;
        }
    };
    let key = SigningKey::from_slice(private.expose()).map_err(|_| "key generation failed")?;
    let credential_id = random_array::<16>().map_err(|e| e.to_string())?.to_vec();
    let credential = Credential {
        credential_id,
        rp_id: rp_id.into(),
        rp_name: Some(rp_name.into()),
        user_id: random_array::<16>().map_err(|e| e.to_string())?.to_vec(),
        user_name: Some(user.into()),
        user_display_name: Some(user.split('@').next().unwrap_or(user).into()),
        algorithm: -7,
        public_key: key.verifying_key().to_sec1_point(false).as_bytes().to_vec(),
        discoverable: true,
        cred_protect: 1,
        cred_blob: None,
        created_at: now() + index as u64,
        sign_count: 0,
    };
    let secrets = CredentialSecrets {
        private_key: private,
        cred_random_with_uv: Some(SecretBytes::random(32).map_err(|e| e.to_string())?),
        cred_random_without_uv: Some(SecretBytes::random(32).map_err(|e| e.to_string())?),
    };
    Ok((credential, secrets))
}

fn print_list(vault: &Vault) -> Step<()> {
    for c in vault.credentials().list().map_err(|e| e.to_string())? {
        println!(
            "    {}  {:<20} {:<26} counter {}",
            hex(&c.credential_id[..6]),
            c.rp_id,
            c.user_name.as_deref().unwrap_or("-"),
            c.sign_count
        );
    }
    Ok(())
}

fn search_file(db: &Path, needles: &[&str]) -> Step<Vec<String>> {
    let bytes = std::fs::read(db).map_err(|e| format!("cannot read {}: {e}", db.display()))?;
    Ok(needles
        .iter()
        .filter(|n| bytes.windows(n.len()).any(|w| w == n.as_bytes()))
        .map(|n| n.to_string())
        .collect())
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
