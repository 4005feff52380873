//! The `relay_routing` target: the relay routing info of a pairing code (`link::relay::Routing`,
//! proto/link.md §5.1) and the relay URL check behind it.
//!
//! Every input is used twice:
//! - as routing info: `Routing::parse(bytes)` with `allow_insecure_loopback` on (tests) and
//!   off (the default);
//! - as a relay URL (if it is UTF-8): `check_relay_url(text)` with both configs, and
//!   `Routing { text, door }` through `to_cbor` and `parse`.
//!
//! Checked: nothing panics; accepted routing info re-encodes (`to_cbor`) to exactly the input;
//! whatever the default config accepts, the test config accepts the same; a URL is accepted
//! exactly when §5.1 says so (1 to 200 bytes, no trailing `/`, a URL without user, password,
//! query or fragment, written in its WHATWG normal form, `https`, or `http` to a loopback host
//! when allowed; loopback decided from the parsed host: 127/8, `::1` or `localhost`), within the
//! core's stricter host and path grammar (`http::url`: LDH-and-`_` labels without `xn--`,
//! dotted-decimal IPv4, IPv6 other than IPv4-mapped; every `%` followed by two hex digits), and a
//! URL's routing info parses back to the same `Routing` exactly when the URL is accepted. The
//! model is the `url` crate (the WHATWG parser) plus those restrictions: the core's own parser
//! is checked against an independent one.

use authenticator_core::cbor::{self, Value};
use authenticator_core::link::relay::{MAX_RELAY_URL, RelayConfig, Routing, check_relay_url};
use authenticator_core::link::transport::LinkError;
use url::{Host, Url};

const DOOR: [u8; 16] = [0x5A; 16];

fn configs() -> [(RelayConfig, bool); 2] {
    [
        (
            RelayConfig {
                allow_insecure_loopback: true,
                ..Default::default()
            },
            true,
        ),
        (RelayConfig::default(), false),
    ]
}

/// Runs one input.
pub fn run(data: &[u8]) {
    let [(insecure, _), (strict, _)] = configs();
    let loose = Routing::parse(data, &insecure);
    let tight = Routing::parse(data, &strict);
    match &loose {
        Ok(routing) => {
            assert_eq!(
                routing.to_cbor(),
                data,
                "accepted routing info is not canonical"
            );
            assert!(model_accepts(&routing.relay_url, true));
            if let Ok(t) = &tight {
                assert_eq!(t, routing);
            }
        }
        Err(e) => {
            assert!(matches!(e, LinkError::Protocol(_)), "{e:?}");
            assert!(
                tight.is_err(),
                "the default config accepted what the test config refused"
            );
        }
    }

    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for (config, insecure_allowed) in configs() {
        let accepted = check_relay_url(text, &config).is_ok();
        let model = model_accepts(text, insecure_allowed);
        assert_eq!(
            accepted, model,
            "check_relay_url({text:?}, insecure {insecure_allowed}) is {accepted}, §5.1 says {model}"
        );
        let routing = Routing {
            relay_url: text.to_owned(),
            pc_door: DOOR,
        };
        let back = Routing::parse(&routing.to_cbor(), &config);
        assert_eq!(back.is_ok(), accepted, "routing info of {text:?}");
        if let Ok(back) = back {
            assert_eq!(back, routing);
        }
    }
}

/// proto/link.md §5.1, with loopback decided on the parsed host.
fn model_accepts(text: &str, insecure_allowed: bool) -> bool {
    if text.is_empty() || text.len() > MAX_RELAY_URL || text.ends_with('/') {
        return false;
    }
    let Ok(url) = Url::parse(text) else {
        return false;
    };
    if url.query().is_some()
        || url.fragment().is_some()
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return false;
    }
    // The text must be its own serialisation (which adds a `/` for an empty path).
    let normal = url.as_str();
    if normal != text && normal.strip_suffix('/') != Some(text) {
        return false;
    }
    if !within_core_grammar(&url) {
        return false;
    }
    match url.scheme() {
        "https" => true,
        "http" => {
            insecure_allowed
                && match url.host() {
                    Some(Host::Ipv4(ip)) => ip.is_loopback(),
                    Some(Host::Ipv6(ip)) => ip.is_loopback(),
                    Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
                    None => false,
                }
        }
        _ => false,
    }
}

/// The restrictions of the core's URL grammar beyond the WHATWG normal form.
fn within_core_grammar(url: &Url) -> bool {
    let host_ok = match url.host() {
        Some(Host::Domain(d)) => d.split('.').all(|label| {
            !label.is_empty()
                && !label.starts_with("xn--")
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        }),
        Some(Host::Ipv4(_)) => true,
        // Rust writes an IPv4-mapped address with a dotted tail, the WHATWG in hex.
        Some(Host::Ipv6(ip)) => ip.to_ipv4_mapped().is_none(),
        None => false,
    };
    let path = url.path().as_bytes();
    let escapes_ok = path.iter().enumerate().all(|(i, &b)| {
        b != b'%'
            || (path.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && path.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
    });
    host_ok && escapes_ok
}

/// Seeds: routing info of valid and invalid URLs, and bare URLs.
pub fn seeds() -> Vec<(String, Vec<u8>)> {
    let urls = [
        ("https", "https://relay.example.com"),
        ("https_port_path", "https://relay.example.com:8443/v0/relay"),
        ("http_ipv4_loopback", "http://127.0.0.1:8080"),
        ("http_ipv6_loopback", "http://[::1]:8080"),
        ("http_localhost", "http://localhost:3000/relay"),
        ("http_remote", "http://relay.example.com"),
        ("trailing_slash", "https://relay.example.com/"),
        ("query", "https://relay.example.com?x=1"),
        ("user", "https://user@relay.example.com"),
        ("ftp", "ftp://relay.example.com"),
    ];
    let mut out = Vec::new();
    for (name, url) in urls {
        let routing = Routing {
            relay_url: url.to_owned(),
            pc_door: DOOR,
        };
        out.push((format!("routing_{name}"), routing.to_cbor()));
        out.push((format!("url_{name}"), url.as_bytes().to_vec()));
    }
    let extra = cbor::encode(&Value::map([
        (Value::int(1), Value::from("https://relay.example.com")),
        (Value::int(2), Value::Bytes(DOOR.to_vec())),
        (Value::int(3), Value::Null),
    ]));
    out.push(("routing_extra_key".to_owned(), extra));
    let short_door = cbor::encode(&Value::map([
        (Value::int(1), Value::from("https://relay.example.com")),
        (Value::int(2), Value::Bytes(vec![1; 15])),
    ]));
    out.push(("routing_short_door".to_owned(), short_door));
    out
}
