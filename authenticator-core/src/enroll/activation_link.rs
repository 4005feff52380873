//! Activation links: the strict parser for the link in the administrator's activation email.
//!
//! Exactly two forms are accepted (`proto/workspace-api-contract.md`, "Activation links"):
//! `https://<host>/activate?code=<CODE>` and `passkeyphone://activate?host=<host>&code=<CODE>`.
//! The workspace server makes these links, so the grammar is tiny and exact. Anything outside it
//! is refused with its own error instead of being guessed at: a link that does not parse exactly
//! was cut, mistyped or altered, and guessing is how a phone ends up enrolling with the wrong
//! server. For the same reason there is no percent-decoding, no unknown parameter, no fragment.
//!
//! Invariants of a parsed [`ActivationLink`]:
//! - it talks to its workspace over https, except a plain-http loopback link (the emulator's),
//!   which exists only when the caller passed [`ParseOptions::allow_insecure_loopback`];
//! - `host` is lower case, has no userinfo and no default port, so one workspace always gives
//!   one `api_base` (enrollment compares it to recognise a link it already redeemed);
//! - `code` is exactly 26 upper-case Crockford base32 characters (128 random bits);
//! - the code is a bearer secret until redeemed: it is wiped on drop and appears in no `Debug`
//!   output and no error message.
//!
//! Parsing never panics, whatever the input: the text comes from the app through the FFI.

use std::fmt;

use zeroize::Zeroizing;

/// Longest accepted link, in bytes. Real links are under 400 bytes; the cap bounds the work done
/// on pasted text before anything else is looked at.
pub const MAX_LINK_BYTES: usize = 2048;
/// Length of an activation code: 26 base32 characters carry the 128 random bits.
pub const CODE_LEN: usize = 26;
/// Crockford base32 (https://www.crockford.com/base32.html) without the check symbols: no I, L,
/// O or U, so a code read aloud or retyped cannot be confused.
const CODE_ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const APP_SCHEME: &str = "passkeyphone";
const APP_AUTHORITY: &str = "activate";
const ACTIVATE_PATH: &str = "/activate";
const HTTPS_PORT: u16 = 443;
const HTTP_PORT: u16 = 80;
/// RFC 1035 §2.3.4: 255 octets on the wire, which is 253 characters in dotted text.
const MAX_HOST_LEN: usize = 253;
/// RFC 1035 §2.3.4.
const MAX_LABEL_LEN: usize = 63;
/// Echoed text is capped so that an error cannot carry (and a screen cannot show) a whole
/// crafted link.
const MAX_ECHOED_SCHEME: usize = 16;
const MAX_ECHOED_PARAMETER: usize = 32;

/// How strict the parser is; the default is what a production app uses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ParseOptions {
    /// Accept `http://` links to a loopback host (127.0.0.0/8, `localhost`, `[::1]`): the
    /// workspace emulator serves plain http. Test builds and the virtual phone only.
    pub allow_insecure_loopback: bool,
}

/// Why the host of a link was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HostProblem {
    #[error("it contains a user name (\"user@\")")]
    UserInfo,
    #[error("it is longer than 253 characters")]
    TooLong,
    #[error("it has an empty part between dots")]
    EmptyLabel,
    #[error("a part between dots is longer than 63 characters")]
    LabelTooLong,
    #[error("it contains characters that do not belong in a server name")]
    BadCharacter,
    #[error("a part between dots starts or ends with '-'")]
    Hyphen,
    #[error("it looks like an IPv4 address but is not one")]
    NotAnIpv4Address,
    #[error("the only IPv6 address accepted is [::1]")]
    Ipv6,
    #[error("the port must be a number from 1 to 65535")]
    Port,
}

/// Why a link was refused. The messages are for the user; none repeats the link or the code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("this is too long to be an activation link (more than 2048 characters)")]
    TooLong,
    #[error("the activation link is empty")]
    Empty,
    #[error("this activation link contains spaces or line breaks; copy it again in one piece")]
    Whitespace,
    #[error("this activation link contains invisible control characters; copy it again")]
    ControlCharacter,
    #[error("this is not an activation link: it should start with https://")]
    NotALink,
    #[error("activation links start with https://, not {0}:")]
    UnsupportedScheme(String),
    #[error("this activation link is not for a secure (https) address")]
    InsecureScheme,
    #[error("this activation link contains characters that do not belong in a link")]
    NonAscii,
    #[error("this activation link contains '%' escapes, which activation links never use")]
    PercentEncoding,
    #[error("this activation link has an unexpected '#' part; it may have been altered")]
    Fragment,
    #[error("this activation link does not name the workspace server")]
    MissingHost,
    #[error("the workspace server address in this activation link is not valid: {0}")]
    InvalidHost(HostProblem),
    #[error("this link does not lead to an activation")]
    WrongPath,
    #[error("the parameters of this activation link are malformed")]
    MalformedQuery,
    #[error("this activation link has an unexpected parameter \"{0}\"; it may have been altered")]
    UnknownParameter(String),
    #[error("this activation link gives \"{0}\" more than once; it may have been altered")]
    DuplicateParameter(&'static str),
    #[error("this activation link has no activation code")]
    MissingCode,
    #[error("the activation code in this link is not valid; copy the whole link again")]
    InvalidCode,
}

/// A parsed activation link. No `Debug` derive and no `Display`: the code must not reach logs.
#[derive(Clone)]
pub struct ActivationLink {
    /// Lower-cased `host[:port]`, without the scheme's default port.
    host: String,
    /// Upper-case Crockford base32, wiped on drop.
    code: Zeroizing<String>,
    /// A plain-http loopback link, accepted because the caller allowed it.
    insecure_loopback: bool,
}

impl ActivationLink {
    /// Parses a link as pasted, scanned or opened by the OS. Whitespace around the link is
    /// ignored (pasting adds it); everything else must follow the grammar exactly.
    pub fn parse(text: &str, options: ParseOptions) -> Result<Self, LinkError> {
        // First, so that no later step ever walks a huge input.
        if text.len() > MAX_LINK_BYTES {
            return Err(LinkError::TooLong);
        }
        let text = text.trim();
        if text.is_empty() {
            return Err(LinkError::Empty);
        }
        check_characters(text)?;
        let (scheme, rest) = split_scheme(text)?;
        let form = match scheme.as_str() {
            "https" => Form::Https,
            "http" if options.allow_insecure_loopback => Form::HttpLoopback,
            "http" => return Err(LinkError::InsecureScheme),
            APP_SCHEME => Form::App,
            other if could_hold_code(other) => return Err(LinkError::NotALink),
            other => {
                return Err(LinkError::UnsupportedScheme(capped(
                    other,
                    MAX_ECHOED_SCHEME,
                )));
            }
        };
        // Only after the scheme: "ftp://..." is better explained by its scheme than by a '#'.
        if !rest.is_ascii() {
            return Err(LinkError::NonAscii);
        }
        if rest.contains('%') {
            return Err(LinkError::PercentEncoding);
        }
        if rest.contains('#') {
            return Err(LinkError::Fragment);
        }
        match form {
            Form::Https | Form::HttpLoopback => parse_web(rest, form),
            Form::App => parse_app(rest),
        }
    }

    /// The workspace server, `host[:port]`, lower case.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The activation code, upper case. A bearer secret until redeemed: do not log it.
    pub fn code(&self) -> &str {
        &self.code
    }

    /// Base URL of the workspace API: `https://host`, or `http://host` for an accepted insecure
    /// loopback link.
    pub fn api_base(&self) -> String {
        let scheme = if self.insecure_loopback {
            "http"
        } else {
            "https"
        };
        format!("{scheme}://{}", self.host)
    }

    /// True for a plain-http loopback link (only ever accepted with the test setting).
    #[cfg(any(test, feature = "testkit"))]
    pub fn is_insecure_loopback(&self) -> bool {
        self.insecure_loopback
    }

    /// Whether the link is for `expected` (`host[:port]`), ignoring case. Exact: a subdomain or
    /// another port does not match, and since [`host`](Self::host) never carries the default
    /// port, neither should `expected`.
    #[cfg(any(test, feature = "testkit"))]
    pub fn is_host(&self, expected: &str) -> bool {
        self.host.eq_ignore_ascii_case(expected)
    }
}

impl fmt::Debug for ActivationLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The code stays out: Debug output ends up in logs and crash reports.
        f.debug_struct("ActivationLink")
            .field("host", &self.host)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Form {
    Https,
    HttpLoopback,
    App,
}

/// Inner whitespace means a link broken across lines or mangled by a mail client; control
/// characters mean it was not copied as text. Neither is repaired: the result could be another
/// link.
fn check_characters(text: &str) -> Result<(), LinkError> {
    for c in text.chars() {
        if c.is_whitespace() {
            return Err(LinkError::Whitespace);
        }
        if c.is_control() {
            return Err(LinkError::ControlCharacter);
        }
    }
    Ok(())
}

/// Splits `scheme:rest` and lower-cases the scheme (RFC 3986 §3.1: schemes ignore case).
fn split_scheme(text: &str) -> Result<(String, &str), LinkError> {
    let (scheme, rest) = text.split_once(':').ok_or(LinkError::NotALink)?;
    let mut chars = scheme.chars();
    let starts_with_letter = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    let rest_is_scheme = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !starts_with_letter || !rest_is_scheme {
        return Err(LinkError::NotALink);
    }
    Ok((scheme.to_ascii_lowercase(), rest))
}

/// Splits what follows `scheme:` into authority, path and query (the query absent without '?').
/// `None` when the `//` that introduces the authority is missing.
fn split_hierarchical(rest: &str) -> Option<(&str, &str, Option<&str>)> {
    let after = rest.strip_prefix("//")?;
    let end = after.find(['/', '?']).unwrap_or(after.len());
    let (authority, tail) = after.split_at(end);
    Some(match tail.split_once('?') {
        Some((path, query)) => (authority, path, Some(query)),
        None => (authority, tail, None),
    })
}

/// `https://host/activate?code=CODE`, or the same over http to a loopback host.
fn parse_web(rest: &str, form: Form) -> Result<ActivationLink, LinkError> {
    let (authority, path, query) = split_hierarchical(rest).ok_or(LinkError::MissingHost)?;
    if authority.is_empty() {
        return Err(LinkError::MissingHost);
    }
    let insecure_loopback = form == Form::HttpLoopback;
    let default_port = if insecure_loopback {
        HTTP_PORT
    } else {
        HTTPS_PORT
    };
    let host = parse_host(authority, default_port)?;
    // The test setting opens plain http to this machine only, never to the network.
    if insecure_loopback && !host.loopback {
        return Err(LinkError::InsecureScheme);
    }
    if path != ACTIVATE_PATH {
        return Err(LinkError::WrongPath);
    }
    let params = parse_query(query.unwrap_or(""), false)?;
    let code = parse_code(params.code)?;
    Ok(ActivationLink {
        host: host.text,
        code,
        insecure_loopback,
    })
}

/// `passkeyphone://activate?host=HOST&code=CODE`; the workspace is always reached over https.
fn parse_app(rest: &str) -> Result<ActivationLink, LinkError> {
    let (authority, path, query) = split_hierarchical(rest).ok_or(LinkError::WrongPath)?;
    // OS link handlers may change the case of the authority, which is a host name in URI terms.
    if !authority.eq_ignore_ascii_case(APP_AUTHORITY) || !matches!(path, "" | "/") {
        return Err(LinkError::WrongPath);
    }
    let params = parse_query(query.unwrap_or(""), true)?;
    let host = match params.host {
        None | Some("") => return Err(LinkError::MissingHost),
        Some(value) => parse_host(value, HTTPS_PORT)?,
    };
    let code = parse_code(params.code)?;
    Ok(ActivationLink {
        host: host.text,
        code,
        insecure_loopback: false,
    })
}

#[derive(Default)]
struct Query<'a> {
    code: Option<&'a str>,
    host: Option<&'a str>,
}

/// `name=value` pairs joined by '&'. Unknown names are refused rather than ignored: links are
/// machine-made, so a stray parameter means a tampered or a wrong link, and ignoring it would
/// let, say, a second `host` smuggled under another spelling go unnoticed.
fn parse_query(query: &str, accept_host: bool) -> Result<Query<'_>, LinkError> {
    let mut params = Query::default();
    if query.is_empty() {
        return Ok(params);
    }
    for pair in query.split('&') {
        let (name, value) = pair.split_once('=').ok_or(LinkError::MalformedQuery)?;
        let (slot, known) = match name {
            "code" => (&mut params.code, "code"),
            "host" if accept_host => (&mut params.host, "host"),
            "" => return Err(LinkError::MalformedQuery),
            other if could_hold_code(other) => return Err(LinkError::MalformedQuery),
            other => {
                return Err(LinkError::UnknownParameter(capped(
                    other,
                    MAX_ECHOED_PARAMETER,
                )));
            }
        };
        // Even a repeat with the same value: two readers of the link could pick different ones.
        if slot.replace(value).is_some() {
            return Err(LinkError::DuplicateParameter(known));
        }
    }
    Ok(params)
}

/// Exactly 26 characters of the alphabet. Lower case is accepted and raised: the mapping is
/// one-to-one, so no two codes can collide, and a link retyped or lower-cased by some tool still
/// works. No I/L/O/U and no '-' separators: the server never writes them, so their presence
/// means the code was altered.
fn parse_code(value: Option<&str>) -> Result<Zeroizing<String>, LinkError> {
    let value = match value {
        None | Some("") => return Err(LinkError::MissingCode),
        Some(value) => value,
    };
    if value.len() != CODE_LEN {
        return Err(LinkError::InvalidCode);
    }
    // Full capacity up front: growing the string would leave unwiped copies behind.
    let mut code = Zeroizing::new(String::with_capacity(CODE_LEN));
    for byte in value.bytes() {
        let upper = byte.to_ascii_uppercase();
        if !CODE_ALPHABET.contains(&upper) {
            return Err(LinkError::InvalidCode);
        }
        code.push(char::from(upper));
    }
    Ok(code)
}

struct Host {
    /// Normalised `host[:port]`.
    text: String,
    loopback: bool,
}

/// `name[:port]` or `[::1][:port]`, as an RFC 1123 host name or a dotted-quad IPv4 address.
fn parse_host(authority: &str, default_port: u16) -> Result<Host, LinkError> {
    let invalid = LinkError::InvalidHost;
    // "user@host" is the classic way to make a link look like it goes somewhere else.
    if authority.contains('@') {
        return Err(invalid(HostProblem::UserInfo));
    }
    let (name, port, loopback) = if let Some(bracketed) = authority.strip_prefix('[') {
        let (address, tail) = bracketed
            .split_once(']')
            .ok_or(invalid(HostProblem::BadCharacter))?;
        if address != "::1" {
            return Err(invalid(HostProblem::Ipv6));
        }
        let port = match tail {
            "" => None,
            _ => Some(
                tail.strip_prefix(':')
                    .ok_or(invalid(HostProblem::BadCharacter))?,
            ),
        };
        ("[::1]".to_string(), port, true)
    } else {
        // Two colons without brackets can only be an IPv6 address written bare.
        if authority.matches(':').count() > 1 {
            return Err(invalid(HostProblem::Ipv6));
        }
        let (name, port) = match authority.split_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (authority, None),
        };
        let name = name.to_ascii_lowercase();
        let loopback = check_host_name(&name)?;
        (name, port, loopback)
    };
    let port = port.map(parse_port).transpose()?;
    let text = match port {
        Some(port) if port != default_port => format!("{name}:{port}"),
        _ => name,
    };
    Ok(Host { text, loopback })
}

/// Checks a lower-cased host name; returns whether it is a loopback host.
fn check_host_name(name: &str) -> Result<bool, LinkError> {
    let invalid = LinkError::InvalidHost;
    if name.is_empty() {
        return Err(LinkError::MissingHost);
    }
    if name.len() > MAX_HOST_LEN {
        return Err(invalid(HostProblem::TooLong));
    }
    let mut last = "";
    for label in name.split('.') {
        if label.is_empty() {
            // Also refuses the trailing dot of a fully qualified name: one spelling per host.
            return Err(invalid(HostProblem::EmptyLabel));
        }
        if label.len() > MAX_LABEL_LEN {
            return Err(invalid(HostProblem::LabelTooLong));
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(invalid(HostProblem::BadCharacter));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(invalid(HostProblem::Hyphen));
        }
        last = label;
    }
    // No top-level domain starts with a digit, so such a name must be an IPv4 address; browsers
    // read "1.2.3", "0x7f.1" or "0177.0.0.1" as addresses, and we refuse every such spelling.
    if last.starts_with(|c: char| c.is_ascii_digit()) {
        let octets = parse_ipv4(name).ok_or(invalid(HostProblem::NotAnIpv4Address))?;
        return Ok(octets[0] == 127);
    }
    Ok(name == "localhost")
}

/// Strict dotted quad: four decimal octets without leading zeros (which some resolvers read as
/// octal).
fn parse_ipv4(name: &str) -> Option<[u8; 4]> {
    let mut octets = [0u8; 4];
    let mut parts = name.split('.');
    for octet in &mut octets {
        let part = parts.next()?;
        if part.len() > 1 && part.starts_with('0') {
            return None;
        }
        if !part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        *octet = part.parse().ok()?;
    }
    match parts.next() {
        Some(_) => None,
        None => Some(octets),
    }
}

/// 1..=65535 in plain decimal, no sign and no leading zero (one spelling per port).
fn parse_port(port: &str) -> Result<u16, LinkError> {
    let plain = port.bytes().all(|b| b.is_ascii_digit()) && !port.starts_with('0');
    match port.parse::<u16>() {
        Ok(value) if plain && value != 0 => Ok(value),
        _ => Err(LinkError::InvalidHost(HostProblem::Port)),
    }
}

/// Whether `text` holds a run of `CODE_LEN` code characters. Such text is never echoed in an
/// error: in a wrongly built link it could be the code itself.
fn could_hold_code(text: &str) -> bool {
    let mut run = 0;
    for byte in text.bytes() {
        if CODE_ALPHABET.contains(&byte.to_ascii_uppercase()) {
            run += 1;
            if run >= CODE_LEN {
                return true;
            }
        } else {
            run = 0;
        }
    }
    false
}

/// At most `max` characters of `text`, for echoing in an error.
fn capped(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const CODE: &str = "0123456789ABCDEFGHJKMNPQRS";
    const HOST: &str = "ws.example.com";

    fn parse(text: &str) -> Result<ActivationLink, LinkError> {
        ActivationLink::parse(text, ParseOptions::default())
    }

    fn parse_insecure(text: &str) -> Result<ActivationLink, LinkError> {
        ActivationLink::parse(
            text,
            ParseOptions {
                allow_insecure_loopback: true,
            },
        )
    }

    fn format_https(host: &str, code: &str) -> String {
        format!("https://{host}/activate?code={code}")
    }

    fn format_app(host: &str, code: &str) -> String {
        format!("passkeyphone://activate?host={host}&code={code}")
    }

    fn err(text: &str) -> LinkError {
        match parse(text) {
            Ok(link) => panic!("accepted {text:?} as {link:?}"),
            Err(e) => e,
        }
    }

    fn err_insecure(text: &str) -> LinkError {
        match parse_insecure(text) {
            Ok(link) => panic!("accepted {text:?} as {link:?}"),
            Err(e) => e,
        }
    }

    fn host_err(text: &str) -> HostProblem {
        match err(text) {
            LinkError::InvalidHost(problem) => problem,
            other => panic!("{text:?}: expected InvalidHost, got {other:?}"),
        }
    }

    // ---- accepted forms ----

    #[test]
    fn https_form() {
        let link = parse(&format_https(HOST, CODE)).unwrap();
        assert_eq!(link.host(), HOST);
        assert_eq!(link.code(), CODE);
        assert_eq!(link.api_base(), "https://ws.example.com");
        assert!(!link.is_insecure_loopback());
    }

    #[test]
    fn app_form() {
        let link = parse(&format_app(HOST, CODE)).unwrap();
        assert_eq!(link.host(), HOST);
        assert_eq!(link.code(), CODE);
        assert_eq!(link.api_base(), "https://ws.example.com");
    }

    #[test]
    fn app_form_parameters_in_either_order() {
        let link = parse(&format!("passkeyphone://activate?code={CODE}&host={HOST}")).unwrap();
        assert_eq!(link.host(), HOST);
        assert_eq!(link.code(), CODE);
    }

    #[test]
    fn app_form_with_slash_and_any_case_authority() {
        let link = parse(&format!(
            "PassKeyPhone://ACTIVATE/?host=WS.Example.com:8443&code={CODE}"
        ))
        .unwrap();
        assert_eq!(link.host(), "ws.example.com:8443");
        assert_eq!(link.api_base(), "https://ws.example.com:8443");
    }

    #[test]
    fn https_with_port() {
        let link = parse(&format_https("ws.example.com:8443", CODE)).unwrap();
        assert_eq!(link.host(), "ws.example.com:8443");
        assert_eq!(link.api_base(), "https://ws.example.com:8443");
    }

    #[test]
    fn default_port_is_dropped() {
        let link = parse(&format_https("ws.example.com:443", CODE)).unwrap();
        assert_eq!(link.host(), HOST);
        let link = parse(&format_app("ws.example.com:443", CODE)).unwrap();
        assert_eq!(link.host(), HOST);
        let link = parse_insecure(&format!("http://127.0.0.1:80/activate?code={CODE}")).unwrap();
        assert_eq!(link.host(), "127.0.0.1");
        assert_eq!(link.api_base(), "http://127.0.0.1");
    }

    #[test]
    fn scheme_and_host_case_are_normalised() {
        let link = parse(&format!("HTTPS://WS.Example.COM/activate?code={CODE}")).unwrap();
        assert_eq!(link.host(), HOST);
        assert_eq!(link.api_base(), "https://ws.example.com");
    }

    #[test]
    fn lower_case_code_is_raised() {
        let link = parse(&format_https(HOST, &CODE.to_ascii_lowercase())).unwrap();
        assert_eq!(link.code(), CODE);
        let mixed = "0123456789abcdefGHJKMNPQRS";
        assert_eq!(parse(&format_https(HOST, mixed)).unwrap().code(), CODE);
    }

    #[test]
    fn surrounding_whitespace_is_trimmed() {
        let text = format!(" \r\n\t{}  \n", format_https(HOST, CODE));
        assert_eq!(parse(&text).unwrap().code(), CODE);
        let text = format!("\u{a0}{}\u{2003}", format_app(HOST, CODE));
        assert_eq!(parse(&text).unwrap().host(), HOST);
    }

    #[test]
    fn loopback_http_with_test_setting() {
        for (host, base) in [
            ("127.0.0.1:8080", "http://127.0.0.1:8080"),
            ("127.5.6.7:3000", "http://127.5.6.7:3000"),
            ("localhost:3000", "http://localhost:3000"),
            ("LOCALHOST", "http://localhost"),
            ("[::1]:8080", "http://[::1]:8080"),
            ("[::1]", "http://[::1]"),
        ] {
            let link = parse_insecure(&format!("http://{host}/activate?code={CODE}")).unwrap();
            assert_eq!(link.api_base(), base, "{host}");
            assert!(link.is_insecure_loopback());
            assert_eq!(link.code(), CODE);
        }
    }

    #[test]
    fn https_to_address_literals_needs_no_setting() {
        let link = parse(&format_https("127.0.0.1:8443", CODE)).unwrap();
        assert_eq!(link.api_base(), "https://127.0.0.1:8443");
        assert!(!link.is_insecure_loopback());
        let link = parse(&format_https("[::1]:8443", CODE)).unwrap();
        assert_eq!(link.api_base(), "https://[::1]:8443");
        let link = parse(&format_https("192.0.2.10", CODE)).unwrap();
        assert_eq!(link.host(), "192.0.2.10");
    }

    #[test]
    fn test_setting_keeps_https_links_https() {
        let link = parse_insecure(&format_https(HOST, CODE)).unwrap();
        assert_eq!(link.api_base(), "https://ws.example.com");
        let link = parse_insecure(&format_app("127.0.0.1:8080", CODE)).unwrap();
        assert_eq!(link.api_base(), "https://127.0.0.1:8080");
        assert!(!link.is_insecure_loopback());
    }

    #[test]
    fn longest_accepted_link_is_2048_bytes() {
        let link = format_https(HOST, CODE);
        let padded = format!("{link}{}", " ".repeat(MAX_LINK_BYTES - link.len()));
        assert_eq!(padded.len(), MAX_LINK_BYTES);
        assert!(parse(&padded).is_ok());
        assert_eq!(err(&format!("{padded} ")), LinkError::TooLong);
    }

    #[test]
    fn is_host_is_exact_and_ignores_case() {
        let link = parse(&format_https("ws.example.com:8443", CODE)).unwrap();
        assert!(link.is_host("ws.example.com:8443"));
        assert!(link.is_host("WS.EXAMPLE.com:8443"));
        assert!(!link.is_host("ws.example.com"));
        assert!(!link.is_host("example.com:8443"));
        assert!(!link.is_host("xws.example.com:8443"));
        assert!(!link.is_host(""));
        let link = parse(&format_https(HOST, CODE)).unwrap();
        assert!(link.is_host("Ws.Example.Com"));
        assert!(!link.is_host("ws.example.com.evil.test"));
    }

    #[test]
    fn debug_shows_the_host_but_not_the_code() {
        let link = parse(&format_https(HOST, CODE)).unwrap();
        let debug = format!("{link:?}");
        assert!(debug.contains(HOST), "{debug}");
        assert!(!debug.contains(CODE), "{debug}");
        assert!(!debug.contains("0123456789"), "{debug}");
    }

    // ---- one error each ----

    #[test]
    fn too_long() {
        let text = format!("{}{}", format_https(HOST, CODE), "A".repeat(2100));
        assert_eq!(err(&text), LinkError::TooLong);
        // Checked before trimming: a wall of whitespace is not "empty".
        assert_eq!(err(&" ".repeat(MAX_LINK_BYTES + 1)), LinkError::TooLong);
        // Bytes, not characters.
        assert_eq!(err(&"é".repeat(1025)), LinkError::TooLong);
    }

    #[test]
    fn empty() {
        assert_eq!(err(""), LinkError::Empty);
        assert_eq!(err(" \t\r\n "), LinkError::Empty);
    }

    #[test]
    fn whitespace_inside() {
        let broken = format!("https://{HOST}/activate?code=0123456789ABC DEFGHJKMNPQRS");
        assert_eq!(err(&broken), LinkError::Whitespace);
        let wrapped = format!("https://{HOST}/activate?\ncode={CODE}");
        assert_eq!(err(&wrapped), LinkError::Whitespace);
        let nbsp = format!("https://{HOST}/activate?code=\u{a0}{CODE}");
        assert_eq!(err(&nbsp), LinkError::Whitespace);
    }

    #[test]
    fn control_characters() {
        let nul = format!("https://{HOST}/activate\u{0}?code={CODE}");
        assert_eq!(err(&nul), LinkError::ControlCharacter);
        let del = format!("https://{HOST}/activate?code={CODE}\u{7f}");
        assert_eq!(err(&del), LinkError::ControlCharacter);
        let escape = format!("\u{1b}[31mhttps://{HOST}/activate?code={CODE}");
        assert_eq!(err(&escape), LinkError::ControlCharacter);
    }

    #[test]
    fn not_a_link() {
        for text in [
            format!("{HOST}/activate?code={CODE}"),
            CODE.to_string(),
            "activate".to_string(),
            format!("://{HOST}/activate?code={CODE}"),
            format!("1https://{HOST}/activate?code={CODE}"),
            format!("ht_tps://{HOST}/activate?code={CODE}"),
            format!("wéb://{HOST}/activate?code={CODE}"),
        ] {
            assert_eq!(err(&text), LinkError::NotALink, "{text}");
        }
    }

    #[test]
    fn unsupported_scheme() {
        assert_eq!(
            err(&format!("ftp://{HOST}/activate?code={CODE}")),
            LinkError::UnsupportedScheme("ftp".into())
        );
        assert_eq!(
            err("JavaScript:alert(document.cookie)"),
            LinkError::UnsupportedScheme("javascript".into())
        );
        assert_eq!(
            err(&format!("wss://{HOST}/activate?code={CODE}#x")),
            LinkError::UnsupportedScheme("wss".into())
        );
        let long = format!("{}://{HOST}/activate?code={CODE}", "l".repeat(40));
        assert_eq!(
            err(&long),
            LinkError::UnsupportedScheme("l".repeat(MAX_ECHOED_SCHEME))
        );
    }

    #[test]
    fn insecure_scheme() {
        // Without the test setting, even loopback.
        assert_eq!(
            err(&format!("http://127.0.0.1:8080/activate?code={CODE}")),
            LinkError::InsecureScheme
        );
        assert_eq!(
            err(&format!("http://{HOST}/activate?code={CODE}")),
            LinkError::InsecureScheme
        );
        // With it, only loopback.
        for host in [
            HOST,
            "128.0.0.1",
            "10.0.0.1:8080",
            "localhost.example.com",
            "foo.localhost",
            "[::1].example.com",
        ] {
            let text = format!("http://{host}/activate?code={CODE}");
            let e = err_insecure(&text);
            // "[::1].example.com" is not even a host; everything else is a refused network host.
            if host.starts_with('[') {
                assert_eq!(
                    e,
                    LinkError::InvalidHost(HostProblem::BadCharacter),
                    "{host}"
                );
            } else {
                assert_eq!(e, LinkError::InsecureScheme, "{host}");
            }
        }
    }

    #[test]
    fn non_ascii() {
        assert_eq!(
            err(&format!("https://bücher.example/activate?code={CODE}")),
            LinkError::NonAscii
        );
        // A zero-width space is neither whitespace nor a control character.
        assert_eq!(
            err(&format!("https://{HOST}/activate?code=\u{200b}{CODE}")),
            LinkError::NonAscii
        );
        assert_eq!(
            err(&format!("https://{HOST}/activate?code={CODE}\u{feff}")),
            LinkError::NonAscii
        );
    }

    #[test]
    fn percent_encoding() {
        assert_eq!(
            err(&format!("https://{HOST}/activate?code=%30{}", &CODE[1..])),
            LinkError::PercentEncoding
        );
        assert_eq!(
            err(&format!("https://ws%2eexample.com/activate?code={CODE}")),
            LinkError::PercentEncoding
        );
        assert_eq!(
            err(&format!("https://{HOST}/%61ctivate?code={CODE}")),
            LinkError::PercentEncoding
        );
    }

    #[test]
    fn fragment() {
        assert_eq!(
            err(&format!("{}#top", format_https(HOST, CODE))),
            LinkError::Fragment
        );
        assert_eq!(
            err(&format!("{}#", format_app(HOST, CODE))),
            LinkError::Fragment
        );
        assert_eq!(
            err(&format!("https://{HOST}/activate#?code={CODE}")),
            LinkError::Fragment
        );
    }

    #[test]
    fn missing_host() {
        for text in [
            format!("https:///activate?code={CODE}"),
            format!("https:{HOST}/activate?code={CODE}"),
            format!("https:/{HOST}/activate?code={CODE}"),
            format!("https://:8443/activate?code={CODE}"),
            "https://".to_string(),
            format!("passkeyphone://activate?code={CODE}"),
            format!("passkeyphone://activate?host=&code={CODE}"),
        ] {
            assert_eq!(err(&text), LinkError::MissingHost, "{text}");
        }
    }

    #[test]
    fn invalid_host_userinfo() {
        assert_eq!(
            host_err(&format!("https://user@{HOST}/activate?code={CODE}")),
            HostProblem::UserInfo
        );
        assert_eq!(
            host_err(&format!("https://{HOST}:pw@evil.test/activate?code={CODE}")),
            HostProblem::UserInfo
        );
        assert_eq!(
            host_err(&format_app("a@evil.test", CODE)),
            HostProblem::UserInfo
        );
    }

    #[test]
    fn invalid_host_labels() {
        for (host, problem) in [
            ("ws..example.com", HostProblem::EmptyLabel),
            ("ws.example.com.", HostProblem::EmptyLabel),
            (".example.com", HostProblem::EmptyLabel),
            ("ws_1.example.com", HostProblem::BadCharacter),
            ("ws!.example.com", HostProblem::BadCharacter),
            ("ws\\.example.com", HostProblem::BadCharacter),
            ("-ws.example.com", HostProblem::Hyphen),
            ("ws-.example.com", HostProblem::Hyphen),
        ] {
            assert_eq!(host_err(&format_https(host, CODE)), problem, "{host}");
        }
    }

    #[test]
    fn invalid_host_lengths() {
        let label63 = "a".repeat(63);
        assert!(parse(&format_https(&format!("{label63}.example.com"), CODE)).is_ok());
        let label64 = "a".repeat(64);
        assert_eq!(
            host_err(&format_https(&format!("{label64}.example.com"), CODE)),
            HostProblem::LabelTooLong
        );
        // 4 labels of 63 plus 3 dots = 255 characters; trim to the limit and one over.
        let long = [label63.as_str(); 4].join(".");
        let at_limit = &long[..MAX_HOST_LEN - 4];
        let at_limit = format!("{at_limit}.com");
        assert_eq!(at_limit.len(), MAX_HOST_LEN);
        assert!(parse(&format_https(&at_limit, CODE)).is_ok());
        let over = format!("a{at_limit}");
        assert_eq!(host_err(&format_https(&over, CODE)), HostProblem::TooLong);
    }

    #[test]
    fn invalid_host_ipv4() {
        for host in [
            "999.1.1.1",
            "1.2.3",
            "1.2.3.4.5",
            "0177.0.0.1",
            "0x7f.0.0.1",
            "127.0.0.01",
            "example.0x1",
            "example.123",
            "256.0.0.1",
        ] {
            assert_eq!(
                host_err(&format_https(host, CODE)),
                HostProblem::NotAnIpv4Address,
                "{host}"
            );
        }
    }

    #[test]
    fn invalid_host_ipv6() {
        for host in ["[2001:db8::1]", "[::2]", "[0:0:0:0:0:0:0:1]", "::1", "[::]"] {
            assert_eq!(
                host_err(&format_https(host, CODE)),
                HostProblem::Ipv6,
                "{host}"
            );
        }
        assert_eq!(
            host_err(&format_https("[::1", CODE)),
            HostProblem::BadCharacter
        );
        assert_eq!(
            host_err(&format_https("[::1]8080", CODE)),
            HostProblem::BadCharacter
        );
    }

    #[test]
    fn invalid_host_port() {
        for host in [
            "ws.example.com:",
            "ws.example.com:0",
            "ws.example.com:65536",
            "ws.example.com:99999999999999999999",
            "ws.example.com:08443",
            "ws.example.com:+443",
            "ws.example.com:http",
            "[::1]:",
            "[::1]:0",
        ] {
            assert_eq!(
                host_err(&format_https(host, CODE)),
                HostProblem::Port,
                "{host}"
            );
        }
        assert!(parse(&format_https("ws.example.com:65535", CODE)).is_ok());
        assert!(parse(&format_https("ws.example.com:1", CODE)).is_ok());
        assert_eq!(
            host_err(&format_app("ws.example.com:0", CODE)),
            HostProblem::Port
        );
    }

    #[test]
    fn wrong_path() {
        for text in [
            format!("https://{HOST}?code={CODE}"),
            format!("https://{HOST}/?code={CODE}"),
            format!("https://{HOST}/activate/?code={CODE}"),
            format!("https://{HOST}/Activate?code={CODE}"),
            format!("https://{HOST}/activate/extra?code={CODE}"),
            format!("https://{HOST}//activate?code={CODE}"),
            format!("https://{HOST}/api/v1/activations/redeem?code={CODE}"),
            format!("passkeyphone://pair?host={HOST}&code={CODE}"),
            format!("passkeyphone://activate/x?host={HOST}&code={CODE}"),
            format!("passkeyphone://activate:80?host={HOST}&code={CODE}"),
            format!("passkeyphone://x@activate?host={HOST}&code={CODE}"),
            format!("passkeyphone:activate?host={HOST}&code={CODE}"),
            format!("passkeyphone://?host={HOST}&code={CODE}"),
        ] {
            assert_eq!(err(&text), LinkError::WrongPath, "{text}");
        }
    }

    #[test]
    fn malformed_query() {
        for text in [
            format!("{}&", format_https(HOST, CODE)),
            format!("https://{HOST}/activate?&code={CODE}"),
            format!("https://{HOST}/activate?code={CODE}&&x=1"),
            format!("https://{HOST}/activate?code&{CODE}"),
            format!("https://{HOST}/activate?={CODE}"),
        ] {
            assert_eq!(err(&text), LinkError::MalformedQuery, "{text}");
        }
    }

    #[test]
    fn unknown_parameter() {
        assert_eq!(
            err(&format!("{}&utm_source=mail", format_https(HOST, CODE))),
            LinkError::UnknownParameter("utm_source".into())
        );
        // `host` belongs to the app form only: in the https form the host is the authority.
        assert_eq!(
            err(&format!("{}&host=evil.test", format_https(HOST, CODE))),
            LinkError::UnknownParameter("host".into())
        );
        // Names are case-sensitive, like everything the server writes.
        assert_eq!(
            err(&format!("https://{HOST}/activate?Code={CODE}")),
            LinkError::UnknownParameter("Code".into())
        );
        let long = format!("{}&{}=1", format_app(HOST, CODE), "u_".repeat(50));
        assert_eq!(
            err(&long),
            LinkError::UnknownParameter("u_".repeat(MAX_ECHOED_PARAMETER / 2))
        );
    }

    #[test]
    fn duplicate_parameter() {
        assert_eq!(
            err(&format!("{}&code={CODE}", format_https(HOST, CODE))),
            LinkError::DuplicateParameter("code")
        );
        assert_eq!(
            err(&format!("{}&host=evil.test", format_app(HOST, CODE))),
            LinkError::DuplicateParameter("host")
        );
    }

    #[test]
    fn missing_code() {
        for text in [
            format!("https://{HOST}/activate"),
            format!("https://{HOST}/activate?"),
            format!("https://{HOST}/activate?code="),
            format!("passkeyphone://activate?host={HOST}"),
            format!("passkeyphone://activate/?host={HOST}&code="),
        ] {
            assert_eq!(err(&text), LinkError::MissingCode, "{text}");
        }
    }

    #[test]
    fn invalid_code() {
        for code in [
            &CODE[..25],
            &format!("{CODE}0"),
            "0123456789ABCDEFGHIKMNPQRS",
            "0123456789ABCDEFGHLKMNPQRS",
            "0123456789ABCDEFGHJKMNOQRS",
            "0123456789ABCDEFGHJKMNPQRU",
            "0123456789abcdefghjkmnpqri",
            "01234-56789ABCDEFGHJKMNPQR",
            "0123456789ABCDEFGHJKMNPQR=",
            "0123456789ABCDEFGHJKMNPQR/",
        ] {
            assert_eq!(
                err(&format_https(HOST, code)),
                LinkError::InvalidCode,
                "{code}"
            );
            assert_eq!(
                err(&format_app(HOST, code)),
                LinkError::InvalidCode,
                "{code}"
            );
        }
    }

    #[test]
    fn messages_never_repeat_the_code() {
        let broken = [
            format!("{}#x", format_https(HOST, CODE)),
            format!("{}&code={CODE}", format_https(HOST, CODE)),
            format!("https://{HOST}/activate?code&{CODE}"),
            format!("https://{HOST}/activate?{CODE}=1"),
            format!("https://{CODE}@{HOST}/activate?code={CODE}"),
            format!("{CODE}://{HOST}/activate?code={CODE}"),
            format!("https://{HOST}/activate?code={CODE}0"),
            format!("http://{HOST}/activate?code={CODE}"),
            format!("ABCDEFGHJKMNPQRSTVWXYZ0123://{HOST}/activate?code={CODE}"),
            format!(
                "https://{HOST}/activate?code={CODE}&x{}=1",
                CODE.to_ascii_lowercase()
            ),
        ];
        for text in broken {
            let e = err(&text);
            // Parameter and scheme echoes are capped, so at most a prefix could show.
            for shown in [e.to_string(), format!("{e:?}")] {
                assert!(!shown.contains(CODE), "{text}: {shown}");
                assert!(!shown.contains(&text), "{text}: {shown}");
            }
        }
    }

    #[test]
    fn text_that_could_be_a_code_is_not_echoed() {
        assert_eq!(
            err(&format!(
                "{}://{HOST}/activate",
                "ABCDEFGHJKMNPQRSTVWXYZ0123"
            )),
            LinkError::NotALink
        );
        assert_eq!(
            err(&format!("https://{HOST}/activate?{CODE}=1")),
            LinkError::MalformedQuery
        );
        // A shorter run is an ordinary name and is echoed.
        assert_eq!(
            err(&format!("{}&{}=1", format_https(HOST, CODE), &CODE[..25])),
            LinkError::UnknownParameter(CODE[..25].to_string())
        );
    }

    #[test]
    fn messages_are_user_sentences() {
        assert_eq!(
            LinkError::InsecureScheme.to_string(),
            "this activation link is not for a secure (https) address"
        );
        assert_eq!(
            LinkError::UnsupportedScheme("ftp".into()).to_string(),
            "activation links start with https://, not ftp:"
        );
        assert_eq!(
            LinkError::InvalidHost(HostProblem::Port).to_string(),
            "the workspace server address in this activation link is not valid: the port must be \
             a number from 1 to 65535"
        );
    }

    // ---- properties ----

    fn code_strategy() -> impl Strategy<Value = String> {
        "[0-9A-HJKMNP-TV-Z]{26}"
    }

    /// Host names as a server would write them, with an optional port, in any case.
    fn host_strategy() -> impl Strategy<Value = (String, Option<u16>)> {
        let name = prop_oneof![
            4 => (
                proptest::collection::vec("[a-zA-Z0-9]([a-zA-Z0-9-]{0,20}[a-zA-Z0-9])?", 0..4),
                "[a-zA-Z]{2,10}",
            )
                .prop_map(|(mut labels, tld)| {
                    labels.push(tld);
                    labels.join(".")
                }),
            1 => any::<[u8; 4]>().prop_map(|o| format!("{}.{}.{}.{}", o[0], o[1], o[2], o[3])),
            1 => Just("localhost".to_string()),
            1 => Just("[::1]".to_string()),
        ];
        (name, proptest::option::of(1..=u16::MAX))
    }

    fn with_port(name: &str, port: Option<u16>) -> String {
        match port {
            Some(port) => format!("{name}:{port}"),
            None => name.to_string(),
        }
    }

    /// Characters outside the alphabet in either case that keep the link's structure: '%', '#'
    /// and '&' are structural and have their own errors.
    fn non_alphabet_char() -> impl Strategy<Value = char> {
        let chars: Vec<char> = (0x21u8..=0x7e)
            .map(char::from)
            .filter(|c| !matches!(c, '%' | '#' | '&'))
            .filter(|c| !CODE_ALPHABET.contains(&(*c as u8).to_ascii_uppercase()))
            .collect();
        proptest::sample::select(chars)
    }

    proptest! {
        #[test]
        fn never_panics_on_any_string(text in any::<String>(), insecure in any::<bool>()) {
            let options = ParseOptions { allow_insecure_loopback: insecure };
            let _ = ActivationLink::parse(&text, options);
        }

        #[test]
        fn never_panics_on_url_like_strings(
            prefix in prop_oneof![
                Just(""), Just("https://"), Just("http://"), Just("passkeyphone://activate"),
                Just("https://ws.example.com/activate?code="), Just("http://127.0.0.1:"),
                Just("https://["),
            ],
            body in "[a-zA-Z0-9:/?&=#%@\\[\\].\\-_~+!$ é\u{200b}\t]{0,120}",
            insecure in any::<bool>(),
        ) {
            let text = format!("{prefix}{body}");
            let options = ParseOptions { allow_insecure_loopback: insecure };
            if let Ok(link) = ActivationLink::parse(&text, options) {
                // Whatever got through satisfies the invariants.
                prop_assert_eq!(link.code().len(), CODE_LEN);
                prop_assert!(link.code().bytes().all(|b| CODE_ALPHABET.contains(&b)));
                prop_assert!(link.api_base().starts_with("https://") || insecure);
            }
        }

        #[test]
        fn both_forms_round_trip((name, port) in host_strategy(), code in code_strategy()) {
            let host = with_port(&name, port);
            let expected = with_port(
                &name.to_ascii_lowercase(),
                port.filter(|&p| p != HTTPS_PORT),
            );
            for text in [
                format_https(&host, &code),
                format_app(&host, &code),
                format!("passkeyphone://activate?code={code}&host={host}"),
            ] {
                let link = parse(&text).map_err(|e| TestCaseError::fail(format!("{text}: {e:?}")))?;
                prop_assert_eq!(link.host(), expected.as_str());
                prop_assert_eq!(link.code(), code.as_str());
                prop_assert_eq!(link.api_base(), format!("https://{expected}"));
                prop_assert!(link.is_host(&host) || port == Some(HTTPS_PORT));
            }
        }

        #[test]
        fn code_mutation_outside_the_alphabet_is_invalid(
            code in code_strategy(),
            index in 0..CODE_LEN,
            replacement in non_alphabet_char(),
        ) {
            let mut mutated: Vec<char> = code.chars().collect();
            mutated[index] = replacement;
            let mutated: String = mutated.into_iter().collect();
            prop_assert_eq!(parse(&format_https(HOST, &mutated)).err(), Some(LinkError::InvalidCode));
            prop_assert_eq!(parse(&format_app(HOST, &mutated)).err(), Some(LinkError::InvalidCode));
        }

        #[test]
        fn any_code_mutation_outside_the_alphabet_is_refused(
            code in code_strategy(),
            index in 0..CODE_LEN,
            replacement in any::<char>()
                .prop_filter("outside the alphabet", |c| !c.is_ascii_alphanumeric()
                    || matches!(c.to_ascii_uppercase(), 'I' | 'L' | 'O' | 'U')),
        ) {
            let mut mutated: Vec<char> = code.chars().collect();
            mutated[index] = replacement;
            let mutated: String = mutated.into_iter().collect();
            prop_assert!(parse(&format_https(HOST, &mutated)).is_err());
        }

        #[test]
        fn longer_than_2048_bytes_is_too_long(
            start in any::<String>(),
            extra in 1usize..200,
            valid_start in any::<bool>(),
        ) {
            let start = if valid_start { format_https(HOST, CODE) } else { start };
            let fill = (MAX_LINK_BYTES + extra).saturating_sub(start.len());
            let text = format!("{start}{}", "a".repeat(fill));
            prop_assert!(text.len() > MAX_LINK_BYTES);
            prop_assert_eq!(parse(&text).err(), Some(LinkError::TooLong));
            prop_assert_eq!(parse_insecure(&text).err(), Some(LinkError::TooLong));
        }
    }
}
