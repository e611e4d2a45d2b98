//! Expressions in `set.vars`, `branch.cases[].when` and `transfer.to`:
//! [`evalexpr`] syntax (`caller == "+8190..."`, `len(account) == 8`,
//! `attempts + 1`), parsed when the flow loads so a malformed one is a
//! load error, evaluated later against the call's variables (`caller`,
//! `dialled`, and the flow's own).
//!
//! Evaluation never touches the clock or IO; it is the interpreter's to
//! call with a variable map.

use std::collections::BTreeMap;
use std::fmt;

use evalexpr::{ContextWithMutableVariables, DefaultNumericTypes, HashMapContext, Node};
use schemars::JsonSchema;
use serde::Deserialize;

/// A value an expression reads or yields.
pub type Value = evalexpr::Value<DefaultNumericTypes>;

/// The variables every call has.
pub const BUILTIN_VARS: &[&str] = &["caller", "dialled"];

/// An expression that parsed.
#[derive(Clone)]
pub struct Expr {
    source: String,
    tree: Node<DefaultNumericTypes>,
}

/// An expression that does not parse or cannot be evaluated.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ExprError {
    /// Malformed text.
    #[error("bad expression `{text}`: {reason}")]
    Parse { text: String, reason: String },
    /// Evaluation failed (an unknown variable, a type mismatch).
    #[error("expression `{text}` failed: {reason}")]
    Eval { text: String, reason: String },
}

impl Expr {
    /// Parses `text`; empty text is refused.
    pub fn parse(text: &str) -> Result<Expr, ExprError> {
        let error = |reason: String| ExprError::Parse {
            text: text.to_owned(),
            reason,
        };
        if text.trim().is_empty() {
            return Err(error("empty".into()));
        }
        let tree = evalexpr::build_operator_tree::<DefaultNumericTypes>(text)
            .map_err(|e| error(e.to_string()))?;
        Ok(Expr {
            source: text.to_owned(),
            tree,
        })
    }

    /// The text as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The variables the expression reads.
    pub fn variables(&self) -> impl Iterator<Item = &str> {
        self.tree.iter_read_variable_identifiers()
    }

    /// Evaluates against `vars` (which should hold [`BUILTIN_VARS`]).
    pub fn eval(&self, vars: &BTreeMap<String, Value>) -> Result<Value, ExprError> {
        let error = |reason: String| ExprError::Eval {
            text: self.source.clone(),
            reason,
        };
        let mut context = HashMapContext::<DefaultNumericTypes>::new();
        for (name, value) in vars {
            context
                .set_value(name.clone(), value.clone())
                .map_err(|e| error(e.to_string()))?;
        }
        self.tree
            .eval_with_context(&context)
            .map_err(|e| error(e.to_string()))
    }

    /// Evaluates to a boolean (a `branch` condition).
    pub fn eval_bool(&self, vars: &BTreeMap<String, Value>) -> Result<bool, ExprError> {
        match self.eval(vars)? {
            Value::Boolean(b) => Ok(b),
            other => Err(ExprError::Eval {
                text: self.source.clone(),
                reason: format!("expected true or false, got {other}"),
            }),
        }
    }
}

impl fmt::Debug for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Expr({:?})", self.source)
    }
}

impl<'de> Deserialize<'de> for Expr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Expr::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for Expr {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Expression".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "minLength": 1,
            "description": "An evalexpr expression over `caller`, `dialled` and the flow's variables."
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> BTreeMap<String, Value> {
        BTreeMap::from([
            ("caller".to_owned(), Value::String("+81901234567".into())),
            ("attempts".to_owned(), Value::Int(2)),
        ])
    }

    #[test]
    fn parses_and_evaluates() {
        let e = Expr::parse("attempts + 1").unwrap();
        assert_eq!(e.eval(&vars()).unwrap(), Value::Int(3));
        let c = Expr::parse(r#"caller == "+81901234567" && attempts < 3"#).unwrap();
        assert!(c.eval_bool(&vars()).unwrap());
        assert_eq!(c.variables().collect::<Vec<_>>(), ["caller", "attempts"]);
        // The example in docs/ivr.md.
        let mut v = vars();
        v.insert("account".into(), Value::String("12345678".into()));
        v.insert("tier".into(), Value::String("gold".into()));
        let doc = Expr::parse(r#"len(account) == 8 && tier == "gold""#).unwrap();
        assert!(doc.eval_bool(&v).unwrap());
    }

    #[test]
    fn malformed_is_refused_with_its_text() {
        let e = Expr::parse("attempts == )").unwrap_err();
        assert!(
            e.to_string().starts_with("bad expression `attempts == )`:"),
            "{e}"
        );
        assert!(matches!(Expr::parse("  "), Err(ExprError::Parse { .. })));
        assert!(Expr::parse("(caller").is_err());
    }

    #[test]
    fn eval_errors_are_typed() {
        let e = Expr::parse("nobody + 1").unwrap();
        assert!(matches!(e.eval(&vars()), Err(ExprError::Eval { .. })));
        let not_bool = Expr::parse("attempts").unwrap();
        assert!(not_bool.eval_bool(&vars()).is_err());
    }
}
