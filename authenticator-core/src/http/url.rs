//! The addresses the core connects to (the workspace API, relays, hybrid tunnel servers), read by
//! one strict grammar instead of a general URL library: `scheme://host[:port][/path]`.
//!
//! Invariants: a URL is accepted only as its own WHATWG serialisation would write it (lower-case
//! scheme and host, no default port, no dot segments, nothing the serialiser would escape), so
//! the text that is stored or compared is exactly where requests go. No user, password, query
//! or fragment. Hosts are ASCII: LDH labels (and `_`), a dotted-decimal IPv4 address, or a
//! bracketed IPv6 address in its RFC 5952 form; IDN (`xn--`) labels, IPv4-mapped IPv6 literals
//! and the WHATWG's lenient IPv4 forms (`127.1`, octal, hex) are refused, never guessed at.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why a URL was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    /// Not of the form `scheme://host[:port][/path]`.
    #[error("not a URL ({0})")]
    NotAUrl(&'static str),
    /// A user, password, query or fragment.
    #[error("must not have a query, fragment, user or password")]
    Extras,
    /// A URL, but not written the way its serialisation writes it.
    #[error("not in normal form ({0})")]
    NotNormal(&'static str),
}

/// A parsed URL; its parts borrow from the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url<'a> {
    /// Lower-case letters, e.g. `https`.
    pub scheme: &'a str,
    /// As written: a domain, dotted IPv4, or `[IPv6]` with its brackets.
    pub host: &'a str,
    /// The explicit port, never the scheme's default one.
    pub port: Option<u16>,
    /// Empty or starting with `/`.
    pub path: &'a str,
}

impl<'a> Url<'a> {
    pub fn parse(text: &'a str) -> Result<Self, UrlError> {
        let (scheme, rest) = text.split_once("://").ok_or(UrlError::NotAUrl("no scheme"))?;
        if scheme.is_empty() || !scheme.bytes().all(|b| b.is_ascii_alphabetic()) {
            return Err(UrlError::NotAUrl("bad scheme"));
        }
        if scheme.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(UrlError::NotNormal("upper-case scheme"));
        }
        if rest.contains(['?', '#']) {
            return Err(UrlError::Extras);
        }
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        if authority.contains('@') {
            return Err(UrlError::Extras);
        }
        let (host, port) = split_port(authority)?;
        check_host(host)?;
        let port = match port {
            None => None,
            Some(digits) => {
                let port = parse_port(digits)?;
                if Some(port) == default_port(scheme) {
                    return Err(UrlError::NotNormal("the scheme's default port"));
                }
                Some(port)
            }
        };
        check_path(path)?;
        Ok(Self {
            scheme,
            host,
            port,
            path,
        })
    }

    /// The port connected to: the explicit one or the scheme's default.
    pub fn port_or_default(&self) -> Option<u16> {
        self.port.or_else(|| default_port(self.scheme))
    }

    /// The host without IPv6 brackets, as sockets and TLS server names want it.
    pub fn bare_host(&self) -> &'a str {
        bare(self.host)
    }

    /// 127.0.0.0/8, `::1` or `localhost`: where plain http is allowed for tests.
    pub fn is_loopback(&self) -> bool {
        is_loopback_host(self.host)
    }
}

/// `host` (brackets allowed) names this machine: 127.0.0.0/8, `::1` or `localhost`.
pub fn is_loopback_host(host: &str) -> bool {
    match bare(host).parse::<IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => host.eq_ignore_ascii_case("localhost"),
    }
}

fn bare(host: &str) -> &str {
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
}

pub fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" | "ws" => Some(80),
        "https" | "wss" => Some(443),
        _ => None,
    }
}

fn split_port(authority: &str) -> Result<(&str, Option<&str>), UrlError> {
    let host_end = if authority.starts_with('[') {
        authority.find(']').ok_or(UrlError::NotAUrl("unclosed IPv6 address"))? + 1
    } else {
        authority.find(':').unwrap_or(authority.len())
    };
    let (host, rest) = authority.split_at(host_end);
    match rest.strip_prefix(':') {
        None if rest.is_empty() => Ok((host, None)),
        None => Err(UrlError::NotAUrl("bad character after the host")),
        Some("") => Err(UrlError::NotNormal("an empty port")),
        Some(digits) => Ok((host, Some(digits))),
    }
}

fn parse_port(digits: &str) -> Result<u16, UrlError> {
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(UrlError::NotAUrl("bad port"));
    }
    let port: u16 = digits.parse().map_err(|_| UrlError::NotAUrl("bad port"))?;
    if port.to_string() != digits {
        return Err(UrlError::NotNormal("a port with leading zeros"));
    }
    Ok(port)
}

fn check_host(host: &str) -> Result<(), UrlError> {
    if host.is_empty() {
        return Err(UrlError::NotAUrl("no host"));
    }
    if let Some(inner) = host.strip_prefix('[') {
        let inner = inner.strip_suffix(']').unwrap_or(inner);
        let ip: Ipv6Addr = inner
            .parse()
            .map_err(|_| UrlError::NotAUrl("bad IPv6 address"))?;
        // Rust writes IPv6 as RFC 5952 does, as the WHATWG serialiser does, except for the
        // IPv4-mapped forms (dotted there, hex here): those are refused.
        if inner.contains('.') || ip.to_string() != inner {
            return Err(UrlError::NotNormal("an IPv6 address not in RFC 5952 form"));
        }
        return Ok(());
    }
    let labels: Vec<&str> = host.split('.').collect();
    // The WHATWG parser reads a host whose last label is a number as IPv4 (also in octal or
    // hex, or with fewer than four parts); only the dotted-decimal form is its own normal form.
    let last = labels.last().copied().unwrap_or("");
    // (WHATWG "ends in a number": all digits, or `0x` and hex digits, possibly none.)
    let hex = last
        .strip_prefix("0x")
        .or_else(|| last.strip_prefix("0X"));
    let numeric = !last.is_empty()
        && (last.bytes().all(|b| b.is_ascii_digit())
            || hex.is_some_and(|h| h.bytes().all(|b| b.is_ascii_hexdigit())));
    if numeric {
        let ip: Ipv4Addr = host
            .parse()
            .map_err(|_| UrlError::NotNormal("an IPv4 address not in dotted-decimal form"))?;
        if ip.to_string() != host {
            return Err(UrlError::NotNormal(
                "an IPv4 address not in dotted-decimal form",
            ));
        }
        return Ok(());
    }
    for label in labels {
        if label.is_empty() {
            return Err(UrlError::NotAUrl("an empty label in the host"));
        }
        if label.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(UrlError::NotNormal("an upper-case host"));
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        {
            return Err(UrlError::NotAUrl("a host character other than a-z, 0-9, - and _"));
        }
        if label.starts_with("xn--") {
            return Err(UrlError::NotAUrl("an internationalised host name"));
        }
    }
    Ok(())
}

/// Path bytes the WHATWG serialiser writes as they are (it escapes controls, space, `"`, `#`,
/// `<`, `>`, `?`, `` ` ``, `{`, `}` and non-ASCII, and reads `\` as `/`).
fn is_path_byte(b: u8) -> bool {
    (0x21..=0x7e).contains(&b) && !b"\"#<>?`{}\\".contains(&b)
}

fn check_path(path: &str) -> Result<(), UrlError> {
    if path.is_empty() {
        return Ok(());
    }
    let bytes = path.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if !is_path_byte(b) {
            return Err(UrlError::NotNormal(
                "a path character that is written escaped",
            ));
        }
        if b == b'%'
            && !(bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
        {
            return Err(UrlError::NotAUrl("a % not followed by two hex digits"));
        }
    }
    for segment in path.split('/').skip(1) {
        let dots = segment.to_ascii_lowercase().replace("%2e", ".");
        if dots == "." || dots == ".." {
            return Err(UrlError::NotNormal("a dot segment in the path"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_of_accepted_urls() {
        let url = Url::parse("https://relay.example.com:8443/v0/r_1").unwrap();
        assert_eq!(
            url,
            Url {
                scheme: "https",
                host: "relay.example.com",
                port: Some(8443),
                path: "/v0/r_1",
            }
        );
        assert_eq!(url.port_or_default(), Some(8443));
        let url = Url::parse("wss://[::1]/cable/new/00AA").unwrap();
        assert_eq!((url.host, url.bare_host()), ("[::1]", "::1"));
        assert_eq!(url.port_or_default(), Some(443));
        assert!(url.is_loopback());
        assert_eq!(Url::parse("http://10.0.0.1").unwrap().port_or_default(), Some(80));
        assert!(Url::parse("http://127.0.0.2:9").unwrap().is_loopback());
        assert!(Url::parse("http://localhost").unwrap().is_loopback());
        assert!(!Url::parse("http://127.0.0.1.example.com").unwrap().is_loopback());
        assert!(Url::parse("https://r.example/a/%41b/.well-known/x;y=1,2@:").is_ok());
        // Not numbers to the WHATWG parser, so domains.
        assert!(Url::parse("https://0x0x").is_ok());
        assert!(Url::parse("https://1.0xg").is_ok());
    }

    #[test]
    fn refusals_say_why() {
        use UrlError::*;
        for (text, error) in [
            ("relay.example.com", NotAUrl("no scheme")),
            ("ht-tp://r.example", NotAUrl("bad scheme")),
            ("HTTPS://r.example", NotNormal("upper-case scheme")),
            ("https://r.example?x=1", Extras),
            ("https://r.example/a#f", Extras),
            ("https://u@r.example", Extras),
            ("https://:p@r.example", Extras),
            ("https://", NotAUrl("no host")),
            ("https://:443", NotAUrl("no host")),
            ("https://r.example:", NotNormal("an empty port")),
            ("https://r.example:443", NotNormal("the scheme's default port")),
            ("http://r.example:80/a", NotNormal("the scheme's default port")),
            ("https://r.example:08443", NotNormal("a port with leading zeros")),
            ("https://r.example:65536", NotAUrl("bad port")),
            ("https://r.example:+1", NotAUrl("bad port")),
            ("https://R.example", NotNormal("an upper-case host")),
            ("https://r..example", NotAUrl("an empty label in the host")),
            ("https://r.example.", NotAUrl("an empty label in the host")),
            ("https://r!.example", NotAUrl("a host character other than a-z, 0-9, - and _")),
            // Found by a differential run against the `url` crate: a byte slice inside `ß`.
            ("https://~ß", NotAUrl("a host character other than a-z, 0-9, - and _")),
            ("https://bücher.example", NotAUrl("a host character other than a-z, 0-9, - and _")),
            ("https://xn--bcher-kva.example", NotAUrl("an internationalised host name")),
            ("https://127.1", NotNormal("an IPv4 address not in dotted-decimal form")),
            ("https://0x7f.0.0.1", NotNormal("an IPv4 address not in dotted-decimal form")),
            ("https://a.0x", NotNormal("an IPv4 address not in dotted-decimal form")),
            ("https://1.2.3.0x4", NotNormal("an IPv4 address not in dotted-decimal form")),
            ("https://example.123", NotNormal("an IPv4 address not in dotted-decimal form")),
            ("https://[::1", NotAUrl("unclosed IPv6 address")),
            ("https://[::g]", NotAUrl("bad IPv6 address")),
            ("https://[0:0::1]", NotNormal("an IPv6 address not in RFC 5952 form")),
            ("https://[::ffff:1.2.3.4]", NotNormal("an IPv6 address not in RFC 5952 form")),
            ("https://[::1]x", NotAUrl("bad character after the host")),
            ("https://r.example/a b", NotNormal("a path character that is written escaped")),
            ("https://r.example/a\n", NotNormal("a path character that is written escaped")),
            ("https://r.example/a\\b", NotNormal("a path character that is written escaped")),
            ("https://r.example/é", NotNormal("a path character that is written escaped")),
            ("https://r.example/%4", NotAUrl("a % not followed by two hex digits")),
            ("https://r.example/a/..", NotNormal("a dot segment in the path")),
            ("https://r.example/./a", NotNormal("a dot segment in the path")),
            ("https://r.example/a/%2E%2e/b", NotNormal("a dot segment in the path")),
            ("https://r.example/.%2e", NotNormal("a dot segment in the path")),
        ] {
            assert_eq!(Url::parse(text), Err(error), "{text:?}");
        }
    }
}
