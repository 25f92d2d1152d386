//! HF's keyword arguments: the options each task declares ([`OptionSpec`]), and reading them
//! from a call's `**kwargs` ([`Kwargs`]). The command line builds its flags from the same
//! declarations, so a flag is always a keyword argument of the library call.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::TaskSpec;
use crate::error::{Result, TaskError};

/// A keyword argument a task takes, as the command line offers it.
#[derive(Debug)]
pub struct OptionSpec {
    /// HF's name (`top_k`); the command line's flag is its kebab case (`--top-k`).
    pub name: &'static str,
    /// The values it takes.
    pub value: ValueKind,
    /// What it does and its default, for `--help`.
    pub help: &'static str,
}

impl OptionSpec {
    /// An option named `name` (HF's spelling) taking `value`, described by `help`.
    pub const fn new(name: &'static str, value: ValueKind, help: &'static str) -> Self {
        Self { name, value, help }
    }
}

/// The values an option takes, which decides how a command-line string becomes JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    /// `true`/`false`; `--flag` alone is `true`.
    Bool,
    /// A non-negative integer.
    Count,
    /// A non-negative integer, or `all`/`none` for HF's `None`.
    CountOrNone,
    /// A number.
    Number,
    /// A string.
    Text,
    /// A string, repeated for several inputs (`--question a --question b` is a list).
    Texts,
    /// A comma-separated list of strings (`""` is the empty list).
    List,
    /// `true`, `false` or a word (`return_timestamps=True` or `"word"`).
    BoolOrText,
    /// Seconds, or `LEFT,RIGHT` seconds.
    SecondsOrPair,
    /// A JSON file, read and passed as its value.
    JsonFile,
    /// A JSON value written out (`[[1, 2], [3]]`).
    Json,
}

/// What a task's positional inputs are, for the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputKind {
    /// Texts (one or more).
    Texts,
    /// Image files (one or more).
    Images,
    /// One image file, asked about with `--question`.
    Image,
    /// Audio files (one or more).
    AudioFiles,
    /// None: the inputs are keyword arguments (`--question`, `--context`).
    Keywords,
}

/// A call's keyword arguments, taken out one by one as the task reads them. What is left at
/// the end is an option the task does not have, and an error.
#[derive(Debug)]
pub struct Kwargs {
    task: &'static TaskSpec,
    values: BTreeMap<String, Value>,
    order: Vec<String>,
}

impl Kwargs {
    /// `kwargs` must be a JSON object or null.
    pub fn new(task: &'static TaskSpec, kwargs: &Value) -> Result<Self> {
        let map = match kwargs {
            Value::Object(map) => map.clone(),
            Value::Null => Map::new(),
            other => {
                return Err(TaskError::InvalidInput(format!(
                    "keyword arguments must be an object, got {other}"
                )));
            }
        };
        let order = map.keys().cloned().collect();
        Ok(Self {
            task,
            values: map.into_iter().collect(),
            order,
        })
    }

    /// The task whose options these are.
    pub fn task(&self) -> &'static TaskSpec {
        self.task
    }

    /// Takes `name`'s raw value, if given.
    pub fn take(&mut self, name: &str) -> Option<Value> {
        self.values.remove(name)
    }

    /// Whether `name` was given (and not yet taken).
    pub fn contains(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }

    /// Takes `name` and converts it; `Ok(None)` if it was not given.
    pub fn get<T: FromKwarg>(&mut self, name: &'static str) -> Result<Option<T>> {
        self.take(name)
            .map(|value| T::from_kwarg(name, &value))
            .transpose()
    }

    /// Sets `slot` from `name` if it was given.
    pub fn update<T: FromKwarg>(&mut self, name: &'static str, slot: &mut T) -> Result<()> {
        if let Some(value) = self.get(name)? {
            *slot = value;
        }
        Ok(())
    }

    /// What is left, in the order given (for tasks that pass unknown names on, as Whisper's
    /// pipeline passes them to `generate`).
    pub fn drain(&mut self) -> Vec<(String, Value)> {
        let mut left = Vec::new();
        for name in &self.order {
            if let Some(value) = self.values.remove(name) {
                left.push((name.clone(), value));
            }
        }
        left
    }

    /// Fails on the first name no stage took.
    pub fn finish(mut self) -> Result<()> {
        match self.drain().into_iter().next() {
            None => Ok(()),
            Some((name, _)) => {
                let known: Vec<&str> = self.task.options.iter().map(|o| o.name).collect();
                Err(TaskError::InvalidInput(format!(
                    "{} has no option `{name}` (its options: {})",
                    self.task,
                    known.join(", ")
                )))
            }
        }
    }
}

/// A value read from a keyword argument, with an error naming the option when it is not one.
pub trait FromKwarg: Sized {
    /// Converts `value`, the keyword argument `name`, or fails with an error naming it.
    fn from_kwarg(name: &'static str, value: &Value) -> Result<Self>;
}

impl FromKwarg for bool {
    fn from_kwarg(name: &'static str, value: &Value) -> Result<Self> {
        value
            .as_bool()
            .ok_or_else(|| TaskError::option(name, format!("expected true or false, got {value}")))
    }
}

impl FromKwarg for usize {
    fn from_kwarg(name: &'static str, value: &Value) -> Result<Self> {
        value.as_u64().map(|v| v as usize).ok_or_else(|| {
            TaskError::option(
                name,
                format!("expected a non-negative integer, got {value}"),
            )
        })
    }
}

impl FromKwarg for u64 {
    fn from_kwarg(name: &'static str, value: &Value) -> Result<Self> {
        usize::from_kwarg(name, value).map(|v| v as u64)
    }
}

impl FromKwarg for f64 {
    fn from_kwarg(name: &'static str, value: &Value) -> Result<Self> {
        value
            .as_f64()
            .ok_or_else(|| TaskError::option(name, format!("expected a number, got {value}")))
    }
}

impl FromKwarg for f32 {
    fn from_kwarg(name: &'static str, value: &Value) -> Result<Self> {
        f64::from_kwarg(name, value).map(|v| v as f32)
    }
}

impl FromKwarg for String {
    fn from_kwarg(name: &'static str, value: &Value) -> Result<Self> {
        value
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| TaskError::option(name, format!("expected a string, got {value}")))
    }
}

impl FromKwarg for Vec<String> {
    fn from_kwarg(name: &'static str, value: &Value) -> Result<Self> {
        value
            .as_array()
            .ok_or_else(|| {
                TaskError::option(name, format!("expected a list of strings, got {value}"))
            })?
            .iter()
            .map(|item| String::from_kwarg(name, item))
            .collect()
    }
}

/// `None` is HF's `None` (JSON null).
impl<T: FromKwarg> FromKwarg for Option<T> {
    fn from_kwarg(name: &'static str, value: &Value) -> Result<Self> {
        match value {
            Value::Null => Ok(None),
            value => T::from_kwarg(name, value).map(Some),
        }
    }
}

impl FromKwarg for Value {
    fn from_kwarg(_: &'static str, value: &Value) -> Result<Self> {
        Ok(value.clone())
    }
}

impl FromKwarg for Map<String, Value> {
    fn from_kwarg(name: &'static str, value: &Value) -> Result<Self> {
        value
            .as_object()
            .cloned()
            .ok_or_else(|| TaskError::option(name, format!("expected an object, got {value}")))
    }
}

/// Seconds, or a `[left, right]` pair (`stride_length_s`); one number is both sides.
impl FromKwarg for (f64, f64) {
    fn from_kwarg(name: &'static str, value: &Value) -> Result<Self> {
        let seconds = |v: &Value| {
            v.as_f64()
                .ok_or_else(|| TaskError::option(name, format!("expected seconds, got {v}")))
        };
        match value {
            Value::Array(pair) if pair.len() == 2 => Ok((seconds(&pair[0])?, seconds(&pair[1])?)),
            Value::Array(_) => Err(TaskError::option(
                name,
                format!("expected seconds or a [left, right] pair, got {value}"),
            )),
            v => {
                let s = seconds(v)?;
                Ok((s, s))
            }
        }
    }
}

/// Implements [`FromKwarg`] for an option enum read from its name (`FromStr`).
#[macro_export]
macro_rules! kwarg_from_str {
    ($($ty:ty),* $(,)?) => {$(
        impl $crate::pipelines::kwargs::FromKwarg for $ty {
            fn from_kwarg(name: &'static str, value: &serde_json::Value) -> $crate::Result<Self> {
                <String as $crate::pipelines::kwargs::FromKwarg>::from_kwarg(name, value)?.parse()
            }
        }
    )*};
}

/// The JSON a command-line value stands for.
pub fn cli_value(option: &OptionSpec, text: &str) -> Result<Value> {
    let name = option.name;
    let bad = |what: &str| TaskError::option(name, format!("`{text}` is not {what}"));
    Ok(match option.value {
        ValueKind::Bool => Value::Bool(parse_bool(text).ok_or_else(|| bad("true or false"))?),
        ValueKind::Count => Value::from(text.parse::<u64>().map_err(|_| bad("a count"))?),
        ValueKind::CountOrNone => match text {
            "all" | "none" | "None" | "null" => Value::Null,
            n => Value::from(n.parse::<u64>().map_err(|_| bad("a count or `all`"))?),
        },
        ValueKind::Number => Value::from(text.parse::<f64>().map_err(|_| bad("a number"))?),
        ValueKind::Text | ValueKind::Texts => Value::from(text),
        ValueKind::List => Value::Array(
            text.split(',')
                .filter(|item| !item.is_empty())
                .map(Value::from)
                .collect(),
        ),
        ValueKind::BoolOrText => match parse_bool(text) {
            Some(flag) => Value::Bool(flag),
            None => Value::from(text),
        },
        ValueKind::SecondsOrPair => {
            let seconds = |s: &str| s.trim().parse::<f64>().map_err(|_| bad("seconds"));
            match text.split_once(',') {
                Some((left, right)) => Value::from(vec![seconds(left)?, seconds(right)?]),
                None => Value::from(seconds(text)?),
            }
        }
        ValueKind::Json => serde_json::from_str(text)
            .map_err(|e| TaskError::option(name, format!("`{text}` is not JSON: {e}")))?,
        ValueKind::JsonFile => {
            let json = std::fs::read_to_string(text).map_err(|source| TaskError::Io {
                path: text.into(),
                source,
            })?;
            serde_json::from_str(&json)
                .map_err(|e| TaskError::option(name, format!("{text} is not JSON: {e}")))?
        }
    })
}

fn parse_bool(text: &str) -> Option<bool> {
    match text {
        "true" | "True" | "1" | "yes" => Some(true),
        "false" | "False" | "0" | "no" => Some(false),
        _ => None,
    }
}
