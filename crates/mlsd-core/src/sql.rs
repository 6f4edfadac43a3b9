//! SQL text for the batch paths that run on a warehouse or on Apache Spark: literals that keep
//! their bits, identifiers, and the expressions every exported model shares.
//!
//! Each design exports its features and models from the same definitions its Rust pipeline
//! uses (`mlsd <design> export-sql`); the `spark` feature of the CLI runs that SQL through
//! Spark Connect, and parity tests compare every row with the in-process pipeline.
//!
//! Talking point: distributed processing without a second implementation by hand — the SQL is
//! generated from the fitted artifact, so a model and its warehouse copy cannot drift apart.
//!
//! The dialect is Spark SQL (ANSI mode on or off); everything used here also reads in most
//! warehouses except the `D` suffix of double literals (see [`double`]).

use std::fmt::Write;

/// A DOUBLE literal that reads back as exactly `v`: the shortest decimal that round-trips,
/// with Spark's `D` suffix (a bare `0.8` is a DECIMAL in Spark SQL, and arithmetic on decimals
/// rounds differently), negative values in parentheses (`- -1.0D` would open a comment).
/// `None` for NaN and infinities, which have no literal.
pub fn double(v: f64) -> Option<String> {
    if !v.is_finite() {
        return None;
    }
    // `{:?}` prints the shortest representation that parses back to the same bits.
    let text = format!("{v:?}");
    Some(if v.is_sign_negative() && v != 0.0 {
        format!("({text}D)")
    } else {
        format!("{}D", text.trim_start_matches('-'))
    })
}

/// [`double`] for a value that must be finite; the error names what it was.
pub fn double_of(what: &str, v: f64) -> Result<String, String> {
    double(v).ok_or_else(|| format!("{what} is {v}, which SQL cannot hold"))
}

/// A column or table name, back-quoted (Spark's quoting) when it is not a plain identifier.
pub fn ident(name: &str) -> String {
    let plain = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if plain {
        name.to_string()
    } else {
        format!("`{}`", name.replace('`', "``"))
    }
}

/// σ(z) written as the Rust scorers compute it: `1 / (1 + exp(-z))`.
///
/// Simplification: the JVM's `exp` (fdlibm) and glibc's differ in the last bit now and then,
/// so scores agree to a relative 1e-15 or so, not bit for bit; parity tests use a tolerance.
pub fn logistic(z: &str) -> String {
    format!("(1.0D / (1.0D + EXP(-({z}))))")
}

/// A sum of terms, left to right as Rust's iterator `sum` adds them (so float results match).
pub fn sum(terms: &[String]) -> String {
    if terms.is_empty() {
        return "0.0D".to_string();
    }
    format!("({})", terms.join(" + "))
}

/// A script of statements, printed one after the other, each ended by `;`, with a comment
/// line before each (what it does).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Script {
    pub statements: Vec<(String, String)>,
}

impl Script {
    pub fn push(&mut self, comment: impl Into<String>, statement: impl Into<String>) {
        self.statements.push((comment.into(), statement.into()));
    }

    /// The statements without comments, in order (what a client sends one by one).
    pub fn statements(&self) -> impl Iterator<Item = &str> {
        self.statements.iter().map(|(_, s)| s.as_str())
    }

    /// The whole script as text a user can paste.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for (comment, statement) in &self.statements {
            for line in comment.lines() {
                let _ = writeln!(out, "-- {line}");
            }
            let _ = writeln!(out, "{statement};\n");
        }
        out
    }
}

/// A Spark SQL string literal.
pub fn string(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn double_literals_read_back_as_the_same_bits() {
        for v in [
            0.8,
            0.1 + 0.2,
            1e-7,
            1e300,
            5e-324,
            -2.5,
            0.0,
            -0.0,
            123456.789,
        ] {
            let text = double(v).expect("finite");
            let bare = text.trim_start_matches('(').trim_end_matches(')');
            let parsed: f64 = bare.trim_end_matches('D').parse().expect("parses");
            assert_eq!(
                parsed.to_bits(),
                if v == 0.0 {
                    0.0f64.to_bits()
                } else {
                    v.to_bits()
                }
            );
            assert!(text.contains('D'));
        }
        assert_eq!(double(-2.5).as_deref(), Some("(-2.5D)"));
        assert_eq!(double(f64::NAN), None);
        assert!(double_of("w", f64::INFINITY).is_err());
    }

    #[test]
    fn identifiers_are_quoted_only_when_needed() {
        assert_eq!(ident("tx_amount"), "tx_amount");
        assert_eq!(ident("1day"), "`1day`");
        assert_eq!(ident("a`b"), "`a``b`");
    }

    #[test]
    fn a_script_renders_comments_and_ends_statements() {
        let mut s = Script::default();
        s.push("the answer", "SELECT 42");
        assert_eq!(s.render(), "-- the answer\nSELECT 42;\n\n");
        assert_eq!(s.statements().collect::<Vec<_>>(), vec!["SELECT 42"]);
        assert_eq!(string("it's"), "'it\\'s'");
    }
}
