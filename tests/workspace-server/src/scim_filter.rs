//! The SCIM filter grammar (RFC 7644 §3.4.2.2) and PATCH paths (§3.5.2), parsed here and
//! evaluated on a resource's JSON form.
//!
//! Grammar (keywords and attribute names case-insensitive):
//! ```text
//! filter    = or
//! or        = and *("or" and)
//! and       = unary *("and" unary)
//! unary     = "not" "(" filter ")" / "(" filter ")" / attrExp
//! attrExp   = path "pr" / path compareOp value / valuePath
//! path      = attr ["[" filter "]"] ["." subAttr]       ; Entra: emails[type eq "work"].value
//! compareOp = eq / ne / co / sw / ew / gt / ge / lt / le
//! value     = JSON string / number / true / false / null
//! ```
//! An attribute may carry the core schema URN (`urn:...:core:2.0:User:userName`). Strings
//! compare without case except `id` and `externalId` (RFC 7643 `caseExact`). An unknown
//! attribute matches nothing. Bad input is `invalidFilter` (or `invalidPath` for PATCH
//! paths) naming what was wrong; nesting deeper than `MAX_DEPTH` and text longer than
//! `MAX_LEN` are refused, so a hostile client cannot exhaust the stack or the CPU.

use serde_json::Value;

use crate::scim_error::ScimError;

pub const MAX_DEPTH: usize = 16;
pub const MAX_LEN: usize = 4096;
/// Core schema URNs an attribute may be prefixed with (RFC 7643 §8.7.1).
const CORE_URNS: [&str; 2] = [
    "urn:ietf:params:scim:schemas:core:2.0:user:",
    "urn:ietf:params:scim:schemas:core:2.0:group:",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

/// `attr[filter].sub`, names lower-cased.
#[derive(Debug, Clone, PartialEq)]
pub struct AttrPath {
    pub attr: String,
    pub filter: Option<Box<Filter>>,
    pub sub: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    Or(Box<Filter>, Box<Filter>),
    And(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    Present(AttrPath),
    Compare(AttrPath, Op, Value),
    /// `emails[type eq "work"]` on its own: some element matches.
    Has(AttrPath),
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Open,
    Close,
    OpenBracket,
    CloseBracket,
    Str(String),
    Word(String),
}

fn lex(text: &str) -> Result<Vec<Token>, String> {
    if text.len() > MAX_LEN {
        return Err(format!("longer than {MAX_LEN} bytes"));
    }
    let bytes = text.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        match c {
            b' ' | b'\t' | b'\r' | b'\n' => i += 1,
            b'(' => {
                tokens.push(Token::Open);
                i += 1;
            }
            b')' => {
                tokens.push(Token::Close);
                i += 1;
            }
            b'[' => {
                tokens.push(Token::OpenBracket);
                i += 1;
            }
            b']' => {
                tokens.push(Token::CloseBracket);
                i += 1;
            }
            b'"' => {
                let mut j = i + 1;
                while j < bytes.len() && bytes[j] != b'"' {
                    j += if bytes[j] == b'\\' { 2 } else { 1 };
                }
                if j >= bytes.len() {
                    return Err("unterminated string".into());
                }
                let literal = &text[i..=j];
                let value: String = serde_json::from_str(literal)
                    .map_err(|_| format!("bad string literal {literal}"))?;
                tokens.push(Token::Str(value));
                i = j + 1;
            }
            _ if c.is_ascii_alphanumeric() || b"_-:.$+".contains(&c) => {
                let start = i;
                while i < bytes.len()
                    && (bytes[i].is_ascii_alphanumeric() || b"_-:.$+".contains(&bytes[i]))
                {
                    i += 1;
                }
                tokens.push(Token::Word(text[start..i].to_owned()));
            }
            _ => {
                let ch = text[i..].chars().next().unwrap_or('?');
                return Err(format!("unexpected character {ch:?}"));
            }
        }
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
    depth: usize,
}

fn op(word: &str) -> Option<Op> {
    Some(match word.to_ascii_lowercase().as_str() {
        "eq" => Op::Eq,
        "ne" => Op::Ne,
        "co" => Op::Co,
        "sw" => Op::Sw,
        "ew" => Op::Ew,
        "gt" => Op::Gt,
        "ge" => Op::Ge,
        "lt" => Op::Lt,
        "le" => Op::Le,
        _ => return None,
    })
}

/// Lower-cased attribute name without a core schema URN; `None` if it is not a name.
fn attr_name(word: &str) -> Option<String> {
    let lower = word.to_ascii_lowercase();
    let name = CORE_URNS
        .iter()
        .find_map(|urn| lower.strip_prefix(urn))
        .map(str::to_owned)
        .unwrap_or(lower);
    let valid = name.split('.').all(|part| {
        part.chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '$')
            && part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '$')
    });
    (valid && name.split('.').count() <= 2).then_some(name)
}

impl Parser {
    fn new(text: &str) -> Result<Self, String> {
        Ok(Self {
            tokens: lex(text)?,
            at: 0,
            depth: 0,
        })
    }

    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.at).cloned();
        self.at += 1;
        t
    }

    fn keyword(&self, word: &str) -> bool {
        matches!(self.peek(), Some(Token::Word(w)) if w.eq_ignore_ascii_case(word))
    }

    fn expect(&mut self, token: &Token, what: &str) -> Result<(), String> {
        match self.next() {
            Some(t) if &t == token => Ok(()),
            _ => Err(format!("expected {what}")),
        }
    }

    fn enter(&mut self) -> Result<(), String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(format!("nested deeper than {MAX_DEPTH}"));
        }
        Ok(())
    }

    fn filter(&mut self) -> Result<Filter, String> {
        self.enter()?;
        let mut left = self.and()?;
        while self.keyword("or") {
            self.at += 1;
            left = Filter::Or(Box::new(left), Box::new(self.and()?));
        }
        self.depth -= 1;
        Ok(left)
    }

    fn and(&mut self) -> Result<Filter, String> {
        let mut left = self.unary()?;
        while self.keyword("and") {
            self.at += 1;
            left = Filter::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Filter, String> {
        if self.keyword("not") && self.tokens.get(self.at + 1) == Some(&Token::Open) {
            self.at += 2;
            let inner = self.filter()?;
            self.expect(&Token::Close, "\")\"")?;
            return Ok(Filter::Not(Box::new(inner)));
        }
        if self.peek() == Some(&Token::Open) {
            self.at += 1;
            let inner = self.filter()?;
            self.expect(&Token::Close, "\")\"")?;
            return Ok(inner);
        }
        let path = self.path()?;
        match self.peek() {
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("pr") => {
                self.at += 1;
                Ok(Filter::Present(path))
            }
            Some(Token::Word(w)) if op(w).is_some() => {
                let operator = op(w).unwrap_or(Op::Eq);
                self.at += 1;
                let value = self.value()?;
                let ordered = !matches!(operator, Op::Eq | Op::Ne);
                if ordered && !(value.is_string() || value.is_number()) {
                    return Err(format!(
                        "{} needs a string or number, not {value}",
                        format!("{operator:?}").to_lowercase()
                    ));
                }
                Ok(Filter::Compare(path, operator, value))
            }
            _ if path.filter.is_some() && path.sub.is_none() => Ok(Filter::Has(path)),
            Some(Token::Word(w)) => Err(format!("unknown operator {w:?}")),
            _ => Err(format!("expected an operator after {}", path.attr)),
        }
    }

    fn value(&mut self) -> Result<Value, String> {
        match self.next() {
            Some(Token::Str(s)) => Ok(Value::String(s)),
            Some(Token::Word(w)) => match w.to_ascii_lowercase().as_str() {
                "true" => Ok(Value::Bool(true)),
                "false" => Ok(Value::Bool(false)),
                "null" => Ok(Value::Null),
                _ => serde_json::from_str::<serde_json::Number>(&w)
                    .map(Value::Number)
                    .map_err(|_| format!("{w:?} is not a value (strings need double quotes)")),
            },
            _ => Err("expected a value".into()),
        }
    }

    fn path(&mut self) -> Result<AttrPath, String> {
        let Some(Token::Word(word)) = self.next() else {
            return Err("expected an attribute name".into());
        };
        let name = attr_name(&word).ok_or_else(|| format!("{word:?} is not an attribute name"))?;
        let mut path = AttrPath {
            attr: name,
            filter: None,
            sub: None,
        };
        if self.peek() == Some(&Token::OpenBracket) {
            if path.attr.contains('.') {
                return Err(format!(
                    "{word:?}[...]: a filter needs a multi-valued attribute"
                ));
            }
            self.at += 1;
            self.enter()?;
            let inner = self.filter()?;
            self.depth -= 1;
            self.expect(&Token::CloseBracket, "\"]\"")?;
            path.filter = Some(Box::new(inner));
            if let Some(Token::Word(w)) = self.peek()
                && let Some(sub) = w.strip_prefix('.')
            {
                let sub = attr_name(sub)
                    .filter(|s| !s.contains('.'))
                    .ok_or_else(|| format!("{w:?} is not a sub-attribute"))?;
                path.sub = Some(sub);
                self.at += 1;
            }
        } else if let Some((attr, sub)) = path.attr.split_once('.') {
            path = AttrPath {
                attr: attr.to_owned(),
                filter: None,
                sub: Some(sub.to_owned()),
            };
        }
        Ok(path)
    }

    fn finish(&self) -> Result<(), String> {
        match self.peek() {
            None => Ok(()),
            Some(t) => Err(format!("unexpected {} after the end", describe(t))),
        }
    }
}

fn describe(token: &Token) -> String {
    match token {
        Token::Open => "\"(\"".into(),
        Token::Close => "\")\"".into(),
        Token::OpenBracket => "\"[\"".into(),
        Token::CloseBracket => "\"]\"".into(),
        Token::Str(s) => format!("string {s:?}"),
        Token::Word(w) => format!("{w:?}"),
    }
}

/// A `filter` query parameter.
pub fn parse(text: &str) -> Result<Filter, ScimError> {
    let run = || -> Result<Filter, String> {
        let mut parser = Parser::new(text)?;
        if parser.peek().is_none() {
            return Err("empty filter".into());
        }
        let filter = parser.filter()?;
        parser.finish()?;
        Ok(filter)
    };
    run().map_err(|e| ScimError::invalid_filter(format!("invalid filter: {e}")))
}

/// A PATCH operation's `path`.
pub fn parse_path(text: &str) -> Result<AttrPath, ScimError> {
    let run = || -> Result<AttrPath, String> {
        let mut parser = Parser::new(text)?;
        let path = parser.path()?;
        parser.finish()?;
        Ok(path)
    };
    run().map_err(|e| ScimError::invalid_path(format!("invalid path {text:?}: {e}")))
}

/// `object[key]` ignoring the key's case (RFC 7643 §2.1: attribute names are case-insensitive).
pub fn get_ci<'a>(object: &'a Value, key: &str) -> Option<&'a Value> {
    object
        .as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v)
}

/// The values `path` names in `resource`, multi-valued attributes flattened.
pub fn resolve<'a>(path: &AttrPath, resource: &'a Value) -> Vec<&'a Value> {
    let Some(top) = get_ci(resource, &path.attr) else {
        return Vec::new();
    };
    let mut items: Vec<&Value> = match top {
        Value::Array(items) => items.iter().collect(),
        Value::Null => Vec::new(),
        other => vec![other],
    };
    if let Some(filter) = &path.filter {
        items.retain(|item| matches(filter, item));
    }
    match &path.sub {
        None => items,
        Some(sub) => items
            .into_iter()
            .filter_map(|item| get_ci(item, sub))
            .flat_map(|v| match v {
                Value::Array(a) => a.iter().collect::<Vec<_>>(),
                Value::Null => Vec::new(),
                other => vec![other],
            })
            .collect(),
    }
}

fn case_exact(path: &AttrPath) -> bool {
    path.sub.is_none() && matches!(path.attr.as_str(), "id" | "externalid")
}

fn compare(found: &Value, operator: Op, wanted: &Value, exact: bool) -> bool {
    use std::cmp::Ordering;
    let ordering: Option<Ordering> = match (found, wanted) {
        (Value::String(a), Value::String(b)) => {
            let (a, b) = if exact {
                (a.clone(), b.clone())
            } else {
                (a.to_lowercase(), b.to_lowercase())
            };
            match operator {
                Op::Co => return a.contains(&b),
                Op::Sw => return a.starts_with(&b),
                Op::Ew => return a.ends_with(&b),
                _ => Some(a.cmp(&b)),
            }
        }
        (Value::Number(a), Value::Number(b)) => a
            .as_f64()
            .zip(b.as_f64())
            .and_then(|(a, b)| a.partial_cmp(&b)),
        (Value::Bool(a), Value::Bool(b)) => Some(a.cmp(b)),
        _ => None,
    };
    match (operator, ordering) {
        (Op::Eq, Some(o)) => o == Ordering::Equal,
        (Op::Ne, Some(o)) => o != Ordering::Equal,
        (Op::Ne, None) => true,
        (Op::Gt, Some(o)) => o == Ordering::Greater,
        (Op::Ge, Some(o)) => o != Ordering::Less,
        (Op::Lt, Some(o)) => o == Ordering::Less,
        (Op::Le, Some(o)) => o != Ordering::Greater,
        _ => false,
    }
}

pub fn matches(filter: &Filter, resource: &Value) -> bool {
    match filter {
        Filter::Or(a, b) => matches(a, resource) || matches(b, resource),
        Filter::And(a, b) => matches(a, resource) && matches(b, resource),
        Filter::Not(inner) => !matches(inner, resource),
        Filter::Present(path) => resolve(path, resource).iter().any(|v| match v {
            Value::String(s) => !s.is_empty(),
            Value::Array(a) => !a.is_empty(),
            Value::Object(o) => !o.is_empty(),
            Value::Null => false,
            _ => true,
        }),
        Filter::Has(path) => !resolve(path, resource).is_empty(),
        Filter::Compare(path, Op::Ne, value) => {
            let found = resolve(path, resource);
            found.is_empty()
                || found
                    .iter()
                    .all(|v| compare(v, Op::Ne, value, case_exact(path)))
        }
        Filter::Compare(path, operator, value) => {
            if value.is_null() {
                // `eq null`: the attribute has no value.
                return *operator == Op::Eq && resolve(path, resource).is_empty();
            }
            resolve(path, resource)
                .iter()
                .any(|v| compare(v, *operator, value, case_exact(path)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn user() -> Value {
        json!({
            "id": "usr_1", "externalId": "AbC", "userName": "Alice@Example.com",
            "displayName": "Alice Doe", "active": true,
            "name": { "givenName": "Alice", "familyName": "Doe" },
            "emails": [
                { "value": "alice@home.example", "type": "home" },
                { "value": "alice@example.com", "type": "work", "primary": true }
            ],
            "meta": { "lastModified": "2026-01-02T00:00:00Z" }
        })
    }

    fn yes(text: &str) -> bool {
        matches(&parse(text).unwrap(), &user())
    }

    #[test]
    fn entra_filters_and_operators() {
        assert!(
            yes(r#"userName eq "alice@example.com""#),
            "userName is not caseExact"
        );
        assert!(yes(r#"externalId eq "AbC""#));
        assert!(!yes(r#"externalId eq "abc""#), "externalId is caseExact");
        assert!(yes(
            r#"emails[type eq "work"].value eq "alice@example.com""#
        ));
        assert!(!yes(
            r#"emails[type eq "work"].value eq "alice@home.example""#
        ));
        assert!(yes(r#"emails[type eq "work" and value co "example.com"]"#));
        assert!(yes(r#"name.givenName sw "Al" and name.familyName ew "oe""#));
        assert!(yes(
            r#"urn:ietf:params:scim:schemas:core:2.0:User:userName co "@EXAMPLE""#
        ));
        assert!(yes(r#"title pr or displayName pr"#));
        assert!(!yes(r#"title pr"#));
        assert!(yes(
            r#"not (active eq false) and (userName eq "x" or id eq "usr_1")"#
        ));
        assert!(yes(r#"meta.lastModified gt "2026-01-01T00:00:00Z""#));
        assert!(yes(r#"emails.value eq "alice@home.example""#));
        assert!(yes(r#"title ne "boss""#));
        assert!(yes("ACTIVE EQ TRUE"));
    }

    #[test]
    fn bad_filters_are_invalid_filter_errors() {
        for (text, detail) in [
            ("", "invalid filter: empty filter"),
            ("userName eq", "invalid filter: expected a value"),
            (
                "userName eq alice",
                "invalid filter: \"alice\" is not a value (strings need double quotes)",
            ),
            (
                "userName xx \"a\"",
                "invalid filter: unknown operator \"xx\"",
            ),
            ("(userName pr", "invalid filter: expected \")\""),
            (
                "userName pr)",
                "invalid filter: unexpected \")\" after the end",
            ),
            ("userName eq \"a", "invalid filter: unterminated string"),
            (
                "active gt true",
                "invalid filter: gt needs a string or number, not true",
            ),
            ("emails[type eq \"work\"", "invalid filter: expected \"]\""),
            (
                "userName pr and",
                "invalid filter: expected an attribute name",
            ),
            (
                "1abc pr",
                "invalid filter: \"1abc\" is not an attribute name",
            ),
            (
                "userName eq 'a'",
                "invalid filter: unexpected character '\\''",
            ),
        ] {
            let error = parse(text).unwrap_err();
            assert_eq!(
                (error.scim_type, error.detail.as_str()),
                (Some("invalidFilter"), detail),
                "{text}"
            );
        }
        let deep = format!("{}userName pr{}", "(".repeat(40), ")".repeat(40));
        assert!(
            parse(&deep)
                .unwrap_err()
                .detail
                .contains("nested deeper than 16")
        );
        assert!(parse(&"a".repeat(5000)).is_err());
    }

    #[test]
    fn patch_paths() {
        let path = parse_path(r#"members[value eq "usr_1"]"#).unwrap();
        assert_eq!(path.attr, "members");
        assert!(path.filter.is_some() && path.sub.is_none());
        let path = parse_path("name.givenName").unwrap();
        assert_eq!(
            (path.attr.as_str(), path.sub.as_deref()),
            ("name", Some("givenname"))
        );
        let path = parse_path(r#"emails[type eq "work"].value"#).unwrap();
        assert_eq!(path.sub.as_deref(), Some("value"));
        let error = parse_path("members[value eq ").unwrap_err();
        assert_eq!(error.scim_type, Some("invalidPath"));
        assert!(parse_path("a b").is_err());
    }
}
