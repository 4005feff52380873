//! CSV user import (contract, `POST /admin/users/import`): a header line
//! `email,display_name[,group]`, then one user per line. Fields may be double-quoted (with
//! `""` for a quote), so "Doe, Jane" works; a quoted field cannot span lines.
//!
//! When the header has `group`, a line may still leave it out (the user gets "Everyone").
//! A bad line never stops the import: it is reported with its 1-based line number (the header
//! is line 1) and the reason. Blank lines are ignored.

use crate::error::ApiError;

pub struct CsvUser {
    pub line: usize,
    pub email: String,
    pub display_name: String,
    pub group: Option<String>,
}

pub enum CsvLine {
    User(CsvUser),
    Bad { line: usize, reason: String },
}

/// Splits one line into fields.
fn fields(line: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut field = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    let mut was_quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') if field.trim().is_empty() && !was_quoted => {
                field.clear();
                quoted = true;
                was_quoted = true;
            }
            (false, '"') => return Err("stray quote inside a field".into()),
            (false, ',') => {
                out.push(std::mem::take(&mut field));
                was_quoted = false;
            }
            (false, c) => field.push(c),
        }
    }
    if quoted {
        return Err("unterminated quoted field".into());
    }
    out.push(field);
    Ok(out)
}

pub fn parse(text: &str) -> Result<Vec<CsvLine>, ApiError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l));
    let header = lines
        .by_ref()
        .find(|(_, l)| !l.trim().is_empty())
        .and_then(|(_, l)| fields(l).ok())
        .map(|f| {
            f.iter()
                .map(|h| h.trim().to_lowercase())
                .collect::<Vec<_>>()
        });
    let with_group = match header.as_deref() {
        Some([e, d]) if e == "email" && d == "display_name" => false,
        Some([e, d, g]) if e == "email" && d == "display_name" && g == "group" => true,
        _ => {
            return Err(ApiError::bad_request(
                "the first line must be the header email,display_name[,group]",
            ));
        }
    };
    // The group column may be left out of a line even when the header names it.
    let (max_fields, expected) = if with_group { (3, "2 or 3") } else { (2, "2") };
    Ok(lines
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(line, text)| match fields(text) {
            Err(reason) => CsvLine::Bad { line, reason },
            Ok(f) if f.len() < 2 || f.len() > max_fields => CsvLine::Bad {
                line,
                reason: format!("expected {expected} fields, found {}", f.len()),
            },
            Ok(mut f) => {
                let group = if f.len() == 3 { f.pop() } else { None };
                let display_name = f.pop().unwrap_or_default();
                let email = f.pop().unwrap_or_default();
                CsvLine::User(CsvUser {
                    line,
                    email,
                    display_name,
                    group: group.filter(|g| !g.trim().is_empty()),
                })
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_fields_and_bad_lines() {
        let parsed = parse(
            "email,display_name,group\r\n\
             a@x.io,\"Doe, Jane\",Sales\r\n\
             b@x.io\r\n\
             \r\n\
             c@x.io,\"He said \"\"hi\"\"\",\r\n",
        )
        .unwrap();
        assert_eq!(parsed.len(), 3);
        match &parsed[0] {
            CsvLine::User(u) => {
                assert_eq!((u.line, u.display_name.as_str()), (2, "Doe, Jane"));
                assert_eq!(u.group.as_deref(), Some("Sales"));
            }
            CsvLine::Bad { .. } => panic!("line 2 is fine"),
        }
        assert!(matches!(&parsed[1], CsvLine::Bad { line: 3, .. }));
        match &parsed[2] {
            CsvLine::User(u) => {
                assert_eq!((u.line, u.display_name.as_str()), (5, "He said \"hi\""));
                assert_eq!(u.group, None);
            }
            CsvLine::Bad { .. } => panic!("line 5 is fine"),
        }
    }

    #[test]
    fn header_is_required() {
        assert!(parse("a@x.io,Alice\n").is_err());
        assert!(parse("").is_err());
    }
}
