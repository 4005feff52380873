//! The emulated mail system: every email the workspace "sends" lands here, newest last, so
//! tests and the admin CLI can read activation links and client PINs (the seeds: "an email
//! containing an activation link will be sent to the user's email address"; with Client PIN,
//! the PIN reaches the user separately).

use serde::Serialize;

use crate::clock::rfc3339;

pub const ACTIVATION_SUBJECT: &str = "Activate your smartphone security key";
pub const PIN_SUBJECT: &str = "Your security key PIN";

#[derive(Debug, Clone, Serialize)]
pub struct Email {
    pub to: String,
    pub subject: String,
    pub body: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pin: Option<String>,
    pub sent_at: String,
}

/// The https-form link (http on the loopback emulator) and the app-scheme form of one code.
pub struct ActivationLinks {
    pub web: String,
    pub app: String,
}

impl ActivationLinks {
    /// `base_url` is `http://host:port`; the contract's `<host>` is its `host:port` part.
    pub fn new(base_url: &str, code: &str) -> Self {
        let host = base_url
            .split_once("://")
            .map_or(base_url, |(_, rest)| rest)
            .trim_end_matches('/');
        Self {
            web: format!("{}/activate?code={code}", base_url.trim_end_matches('/')),
            app: format!("passkeyphone://activate?host={host}&code={code}"),
        }
    }
}

pub struct Recipient<'a> {
    pub email: &'a str,
    pub display_name: &'a str,
}

pub fn activation_email(
    to: &Recipient<'_>,
    workspace: &str,
    links: &ActivationLinks,
    client_pin: bool,
    expires_ms: u64,
    now_ms: u64,
) -> Email {
    let pin_note = if client_pin {
        "\nYour administrator chose a client PIN: it arrives in a separate email. Enter it in \
         the app when asked.\n"
    } else {
        ""
    };
    let body = format!(
        "Hello {name},\n\n\
         {workspace} has assigned you a smartphone security key. Open this link on your phone \
         with the security key app to activate it:\n\n\
         {web}\n\n\
         If the link does not open the app, use this one:\n\n\
         {app}\n\
         {pin_note}\n\
         The link can be used once and expires at {expires}.\n",
        name = to.display_name,
        web = links.web,
        app = links.app,
        expires = rfc3339(expires_ms),
    );
    Email {
        to: to.email.to_owned(),
        subject: ACTIVATION_SUBJECT.to_owned(),
        body,
        link: Some(links.web.clone()),
        pin: None,
        sent_at: rfc3339(now_ms),
    }
}

pub fn pin_email(to: &Recipient<'_>, workspace: &str, pin: &str, now_ms: u64) -> Email {
    let body = format!(
        "Hello {name},\n\n\
         Your security key PIN is {pin}\n\n\
         Enter it in the security key app after opening your activation link from {workspace}. \
         After 5 wrong attempts the activation is locked and your administrator has to assign \
         the key again.\n",
        name = to.display_name,
    );
    Email {
        to: to.email.to_owned(),
        subject: PIN_SUBJECT.to_owned(),
        body,
        link: None,
        pin: Some(pin.to_owned()),
        sent_at: rfc3339(now_ms),
    }
}

#[cfg(test)]
mod tests {
    use super::ActivationLinks;

    #[test]
    fn links_carry_the_servers_host() {
        let links = ActivationLinks::new("http://127.0.0.1:8080", "ABC");
        assert_eq!(links.web, "http://127.0.0.1:8080/activate?code=ABC");
        assert_eq!(
            links.app,
            "passkeyphone://activate?host=127.0.0.1:8080&code=ABC"
        );
    }
}
