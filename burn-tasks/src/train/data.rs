//! Datasets for fine-tuning, in the formats the Hugging Face hub serves them: parquet (as
//! `datasets` converts every hub dataset), JSON lines / JSON, and CSV; local files or
//! directories, or a hub dataset repository downloaded through `hf-hub` into its cache.
//!
//! Rows are read as JSON objects whatever the file format, then turned into typed examples
//! by column name: `text`/`label` for classification (Yelp), and
//! `id, title, context, question, answers{text, answer_start}` for SQuAD.

use std::fs::File;
use std::path::{Path, PathBuf};

use parquet::file::reader::SerializedFileReader;
use parquet::record::{Field, Row};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde_json::{Map, Value};

use crate::error::{Result, TaskError};

/// One row of a dataset, by column name.
pub type Record = Map<String, Value>;

/// Reads every row of a parquet, JSON lines / JSON, or CSV file (chosen by extension).
pub fn read_records(path: &Path) -> Result<Vec<Record>> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    match ext.as_str() {
        "parquet" => read_parquet(path),
        "jsonl" | "json" | "ndjson" => read_json(path),
        "csv" => read_delimited(path, b','),
        "tsv" => read_delimited(path, b'\t'),
        _ => Err(data_error(
            path,
            "unknown format: expected .parquet, .jsonl/.json or .csv/.tsv",
        )),
    }
}

fn data_error(path: &Path, message: impl std::fmt::Display) -> TaskError {
    TaskError::Dataset(format!("{}: {message}", path.display()))
}

fn read_parquet(path: &Path) -> Result<Vec<Record>> {
    let file = File::open(path).map_err(|e| TaskError::io(path, e))?;
    let reader = SerializedFileReader::new(file).map_err(|e| data_error(path, e))?;
    reader
        .into_iter()
        .map(|row| {
            let row = row.map_err(|e| data_error(path, e))?;
            Ok(row_to_json(&row))
        })
        .collect()
}

fn row_to_json(row: &Row) -> Record {
    row.get_column_iter()
        .map(|(name, field)| (name.clone(), field_to_json(field)))
        .collect()
}

/// A parquet value as JSON, the way `datasets` shows it: structs as objects, lists as arrays.
fn field_to_json(field: &Field) -> Value {
    match field {
        Field::Null => Value::Null,
        Field::Bool(b) => Value::Bool(*b),
        Field::Byte(n) => (*n).into(),
        Field::Short(n) => (*n).into(),
        Field::Int(n) => (*n).into(),
        Field::Long(n) => (*n).into(),
        Field::UByte(n) => (*n).into(),
        Field::UShort(n) => (*n).into(),
        Field::UInt(n) => (*n).into(),
        Field::ULong(n) => (*n).into(),
        Field::Float16(n) => {
            serde_json::Number::from_f64(f64::from(*n)).map_or(Value::Null, Value::Number)
        }
        Field::Float(n) => {
            serde_json::Number::from_f64(f64::from(*n)).map_or(Value::Null, Value::Number)
        }
        Field::Double(n) => serde_json::Number::from_f64(*n).map_or(Value::Null, Value::Number),
        Field::Str(s) => Value::String(s.clone()),
        Field::Group(row) => Value::Object(row_to_json(row)),
        Field::ListInternal(list) => {
            Value::Array(list.elements().iter().map(field_to_json).collect())
        }
        Field::MapInternal(map) => Value::Object(
            map.entries()
                .iter()
                .map(|(k, v)| {
                    let key = match k {
                        Field::Str(s) => s.clone(),
                        other => other.to_string(),
                    };
                    (key, field_to_json(v))
                })
                .collect(),
        ),
        other => Value::String(other.to_string()),
    }
}

/// JSON lines (one object per line), a JSON array of objects, or SQuAD's original nested
/// layout (`{"data": [{"title", "paragraphs": [{"context", "qas": [...]}]}]}`), flattened.
fn read_json(path: &Path) -> Result<Vec<Record>> {
    let text = std::fs::read_to_string(path).map_err(|e| TaskError::io(path, e))?;
    let trimmed = text.trim_start();
    if trimmed.starts_with('[') {
        let doc: Value = serde_json::from_str(trimmed).map_err(|e| data_error(path, e))?;
        return json_document_records(path, doc);
    }
    // A single document (SQuAD's layout) parses whole; JSON lines do not.
    if let Ok(doc @ Value::Object(_)) = serde_json::from_str::<Value>(trimmed)
        && doc.get("data").is_some_and(Value::is_array)
    {
        return json_document_records(path, doc);
    }
    let mut records = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str(line) {
            Ok(Value::Object(map)) => records.push(map),
            Ok(_) => {
                return Err(data_error(
                    path,
                    format!("line {}: not a JSON object", n + 1),
                ));
            }
            Err(e) => return Err(data_error(path, format!("line {}: {e}", n + 1))),
        }
    }
    Ok(records)
}

fn json_document_records(path: &Path, doc: Value) -> Result<Vec<Record>> {
    match doc {
        Value::Array(rows) => rows
            .into_iter()
            .enumerate()
            .map(|(i, row)| match row {
                Value::Object(map) => Ok(map),
                _ => Err(data_error(path, format!("row {i} is not a JSON object"))),
            })
            .collect(),
        Value::Object(mut map) => match map.remove("data") {
            Some(Value::Array(articles)) => flatten_squad(path, articles),
            _ => Err(data_error(
                path,
                "a JSON object must hold SQuAD's `data` list (or write one object per line)",
            )),
        },
        _ => Err(data_error(path, "expected JSON objects")),
    }
}

/// SQuAD's original files, one row per question as the hub's parquet has them.
fn flatten_squad(path: &Path, articles: Vec<Value>) -> Result<Vec<Record>> {
    let bad = |what: &str| data_error(path, format!("SQuAD layout: {what}"));
    let mut rows = Vec::new();
    for article in articles {
        let title = article
            .get("title")
            .cloned()
            .unwrap_or(Value::String(String::new()));
        let paragraphs = article
            .get("paragraphs")
            .and_then(Value::as_array)
            .ok_or_else(|| bad("an article without `paragraphs`"))?;
        for paragraph in paragraphs {
            let context = paragraph
                .get("context")
                .cloned()
                .ok_or_else(|| bad("a paragraph without `context`"))?;
            let qas = paragraph
                .get("qas")
                .and_then(Value::as_array)
                .ok_or_else(|| bad("a paragraph without `qas`"))?;
            for qa in qas {
                let answers = qa
                    .get("answers")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                let texts: Vec<Value> = answers
                    .iter()
                    .filter_map(|a| a.get("text").cloned())
                    .collect();
                let starts: Vec<Value> = answers
                    .iter()
                    .filter_map(|a| a.get("answer_start").cloned())
                    .collect();
                let mut row = Record::new();
                row.insert("id".into(), qa.get("id").cloned().unwrap_or(Value::Null));
                row.insert("title".into(), title.clone());
                row.insert("context".into(), context.clone());
                row.insert(
                    "question".into(),
                    qa.get("question").cloned().unwrap_or(Value::Null),
                );
                row.insert(
                    "answers".into(),
                    serde_json::json!({"text": texts, "answer_start": starts}),
                );
                rows.push(row);
            }
        }
    }
    Ok(rows)
}

fn read_delimited(path: &Path, delimiter: u8) -> Result<Vec<Record>> {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .from_path(path)
        .map_err(|e| data_error(path, e))?;
    let headers = reader.headers().map_err(|e| data_error(path, e))?.clone();
    reader
        .records()
        .map(|row| {
            let row = row.map_err(|e| data_error(path, e))?;
            Ok(headers
                .iter()
                .zip(row.iter())
                .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
                .collect())
        })
        .collect()
}

/// `dataset.shuffle(seed).select(range(n))`: a seeded shuffle, then the first `n` (all when
/// `None`). The permutation comes from `rand`'s StdRng, not numpy's, so the samples picked
/// differ from those `datasets` picks with the same seed.
pub fn shuffle_select<T>(mut items: Vec<T>, n: Option<usize>, seed: u64) -> Vec<T> {
    let mut rng = StdRng::seed_from_u64(seed);
    items.shuffle(&mut rng);
    if let Some(n) = n {
        items.truncate(n);
    }
    items
}

// -----------------------------------------------------------------------------------------
// Typed examples
// -----------------------------------------------------------------------------------------

/// A text with its class (`yelp_review_full`: `label` 0-4, `text`).
#[derive(Debug, Clone, PartialEq)]
pub struct ClassificationExample {
    /// The text to classify.
    pub text: String,
    /// Its class index, below the recipe's `num_labels`.
    pub label: usize,
}

/// Column names of a classification dataset.
#[derive(Debug, Clone)]
pub struct ClassificationColumns {
    /// The column of the text (`text`).
    pub text: String,
    /// The column of the class index (`label`).
    pub label: String,
}

impl Default for ClassificationColumns {
    fn default() -> Self {
        Self {
            text: "text".into(),
            label: "label".into(),
        }
    }
}

impl ClassificationExample {
    /// Reads a row. `num_labels` bounds the label: a row outside it is an error, not a panic
    /// in the loss later.
    pub fn from_record(
        record: &Record,
        columns: &ClassificationColumns,
        num_labels: usize,
    ) -> Result<Self> {
        let text = match record.get(&columns.text) {
            Some(Value::String(s)) => s.clone(),
            Some(other) => return Err(column_error(&columns.text, "a string", other)),
            None => return Err(missing_column(&columns.text, record)),
        };
        let label = match record.get(&columns.label) {
            Some(Value::Number(n)) => n.as_u64().map(|n| n as usize),
            Some(Value::String(s)) => s.trim().parse::<usize>().ok(),
            Some(_) => None,
            None => return Err(missing_column(&columns.label, record)),
        };
        let label = label.filter(|&l| l < num_labels).ok_or_else(|| {
            TaskError::Dataset(format!(
                "column `{}`: {} is not a class index below {num_labels}",
                columns.label, record[&columns.label]
            ))
        })?;
        Ok(Self { text, label })
    }
}

/// The answers of a SQuAD question: parallel lists, empty for SQuAD 2.0's unanswerable ones.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Answers {
    /// The reference answers' texts.
    pub text: Vec<String>,
    /// Character offsets of each answer in the context.
    pub answer_start: Vec<usize>,
}

/// One SQuAD question (`rajpurkar/squad`, `rajpurkar/squad_v2`).
#[derive(Debug, Clone, PartialEq)]
pub struct QaExample {
    /// The question's id, which predictions are keyed by.
    pub id: String,
    /// The Wikipedia article's title.
    pub title: String,
    /// The paragraph that holds the answer.
    pub context: String,
    /// The question.
    pub question: String,
    /// The reference answers.
    pub answers: Answers,
}

impl QaExample {
    /// Reads a SQuAD row (`id`, `title`, `context`, `question`, `answers`).
    pub fn from_record(record: &Record) -> Result<Self> {
        let string = |name: &str, required: bool| -> Result<String> {
            match record.get(name) {
                Some(Value::String(s)) => Ok(s.clone()),
                Some(Value::Number(n)) if name == "id" => Ok(n.to_string()),
                None | Some(Value::Null) if !required => Ok(String::new()),
                Some(other) => Err(column_error(name, "a string", other)),
                None => Err(missing_column(name, record)),
            }
        };
        let answers = match record.get("answers") {
            Some(Value::Object(a)) => {
                let texts = a
                    .get("text")
                    .and_then(Value::as_array)
                    .ok_or_else(|| TaskError::Dataset("column `answers`: no `text` list".into()))?;
                let starts = a
                    .get("answer_start")
                    .and_then(Value::as_array)
                    .ok_or_else(|| {
                        TaskError::Dataset("column `answers`: no `answer_start` list".into())
                    })?;
                if texts.len() != starts.len() {
                    return Err(TaskError::Dataset(format!(
                        "column `answers`: {} texts but {} answer_start values",
                        texts.len(),
                        starts.len()
                    )));
                }
                Answers {
                    text: texts
                        .iter()
                        .map(|t| t.as_str().map(str::to_string))
                        .collect::<Option<_>>()
                        .ok_or_else(|| TaskError::Dataset("column `answers`: a text that is not a string".into()))?,
                    answer_start: starts
                        .iter()
                        .map(|s| s.as_u64().map(|s| s as usize))
                        .collect::<Option<_>>()
                        .ok_or_else(|| TaskError::Dataset("column `answers`: an answer_start that is not a non-negative integer".into()))?,
                }
            }
            Some(Value::String(s)) => {
                // CSV stores the struct as JSON text.
                let value: Value = serde_json::from_str(s)
                    .map_err(|e| TaskError::Dataset(format!("column `answers`: {e}")))?;
                let mut copy = record.clone();
                copy.insert("answers".into(), value);
                return Self::from_record(&copy);
            }
            Some(other) => {
                return Err(column_error(
                    "answers",
                    "an object {text, answer_start}",
                    other,
                ));
            }
            None => return Err(missing_column("answers", record)),
        };
        let example = Self {
            id: string("id", true)?,
            title: string("title", false)?,
            context: string("context", true)?,
            question: string("question", true)?,
            answers,
        };
        let context_len = example.context.chars().count();
        for (text, &start) in example
            .answers
            .text
            .iter()
            .zip(&example.answers.answer_start)
        {
            if start + text.chars().count() > context_len {
                return Err(TaskError::Dataset(format!(
                    "question {}: answer {text:?} at {start} runs past the end of its context",
                    example.id
                )));
            }
        }
        Ok(example)
    }
}

fn missing_column(name: &str, record: &Record) -> TaskError {
    let have: Vec<&str> = record.keys().map(String::as_str).collect();
    TaskError::Dataset(format!(
        "the dataset has no column `{name}` (columns: {})",
        have.join(", ")
    ))
}

fn column_error(name: &str, expected: &str, found: &Value) -> TaskError {
    TaskError::Dataset(format!(
        "column `{name}`: expected {expected}, found {found}"
    ))
}

// -----------------------------------------------------------------------------------------
// Finding the files of a split
// -----------------------------------------------------------------------------------------

const DATA_EXTENSIONS: &[&str] = &["parquet", "jsonl", "json", "ndjson", "csv", "tsv"];

fn is_data_file(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| DATA_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// Whether a file name (as `datasets` names split files: `train-00000-of-00001.parquet`,
/// `validation.jsonl`, `data/test/...`) belongs to `split`.
fn belongs_to_split(relative: &str, split: &str) -> bool {
    relative.split(['/', '\\']).any(|part| {
        part == split
            || part.starts_with(&format!("{split}-"))
            || part.starts_with(&format!("{split}."))
            || part.starts_with(&format!("{split}_"))
    })
}

/// Data files under `dir` for `split`, sorted (shards in order).
fn split_files_in_dir(dir: &Path, split: &str) -> Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(current) = stack.pop() {
        let entries = std::fs::read_dir(&current).map_err(|e| TaskError::io(&current, e))?;
        for entry in entries {
            let path = entry.map_err(|e| TaskError::io(&current, e))?.path();
            if path.is_dir() {
                if !path
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
                {
                    stack.push(path);
                }
            } else if is_data_file(&path) {
                let relative = path
                    .strip_prefix(dir)
                    .unwrap_or(&path)
                    .to_string_lossy()
                    .replace('\\', "/");
                if belongs_to_split(&relative, split) {
                    found.push(path);
                }
            }
        }
    }
    found.sort();
    Ok(found)
}

/// Where a split's rows come from: `data` is a file (used whatever the split), a directory
/// holding split files, or a hub dataset id (`Yelp/yelp_review_full`) whose parquet files
/// are downloaded into the hub cache (`HF_HOME`/`HF_HUB_CACHE`, offline with `HF_HUB_OFFLINE=1`).
pub fn split_files(data: &str, split: &str) -> Result<Vec<PathBuf>> {
    let path = Path::new(data);
    if path.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    if path.is_dir() {
        let files = split_files_in_dir(path, split)?;
        if files.is_empty() {
            return Err(data_error(
                path,
                format!("no {split} files (*.parquet, *.jsonl, *.csv named after the split)"),
            ));
        }
        return Ok(files);
    }
    hub_split_files(data, split)
}

/// Reads every row of a split (see [`split_files`]).
pub fn load_split(data: &str, split: &str) -> Result<Vec<Record>> {
    let mut rows = Vec::new();
    for file in split_files(data, split)? {
        rows.extend(read_records(&file)?);
    }
    Ok(rows)
}

#[cfg(feature = "hub")]
fn hub_split_files(id: &str, split: &str) -> Result<Vec<PathBuf>> {
    use burn_models::hub::HubOptions;
    use hf_hub::{Cache, Repo, RepoType};

    let hub_error = |message: String| TaskError::Dataset(format!("{id}: {message}"));
    let options = HubOptions::from_env();
    let revision = options.revision.clone().unwrap_or_else(|| "main".into());
    let repo = Repo::with_revision(id.to_string(), RepoType::Dataset, revision.clone());
    let cache = options
        .cache_dir
        .clone()
        .map(Cache::new)
        .unwrap_or_else(Cache::from_env);

    if options.offline {
        // The snapshot the revision points at, as huggingface_hub lays the cache out.
        let folder = cache
            .path()
            .join(format!("datasets--{}", id.replace('/', "--")));
        let commit =
            std::fs::read_to_string(folder.join("refs").join(&revision)).map_err(|_| {
                hub_error(format!(
                    "not in the cache {} and offline mode is on",
                    cache.path().display()
                ))
            })?;
        let snapshot = folder.join("snapshots").join(commit.trim());
        let files = split_files_in_dir(&snapshot, split)?;
        if files.is_empty() {
            return Err(hub_error(format!(
                "the cached snapshot has no {split} files"
            )));
        }
        return Ok(files);
    }

    let api = hf_hub::api::sync::ApiBuilder::from_cache(cache)
        .with_progress(options.progress)
        .with_token(options.token.clone().or_else(|| Cache::from_env().token()))
        .build()
        .map_err(|e| hub_error(e.to_string()))?;
    let remote = api.repo(repo);
    let info = remote.info().map_err(|e| hub_error(e.to_string()))?;
    let mut names: Vec<String> = info
        .siblings
        .into_iter()
        .map(|s| s.rfilename)
        .filter(|name| is_data_file(Path::new(name)) && belongs_to_split(name, split))
        .collect();
    // Prefer parquet, the hub's own conversion, when a repo also has raw files.
    if names.iter().any(|n| n.ends_with(".parquet")) {
        names.retain(|n| n.ends_with(".parquet"));
    }
    names.sort();
    if names.is_empty() {
        return Err(hub_error(format!(
            "no {split} data files in the repository"
        )));
    }
    names
        .iter()
        .map(|name| {
            remote
                .get(name)
                .map_err(|e| hub_error(format!("{name}: {e}")))
        })
        .collect()
}

#[cfg(not(feature = "hub"))]
fn hub_split_files(id: &str, _split: &str) -> Result<Vec<PathBuf>> {
    Err(TaskError::Dataset(format!(
        "{id}: no such file or directory, and this build has no `hub` feature to download it"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_names() {
        assert!(belongs_to_split(
            "plain_text/train-00000-of-00001.parquet",
            "train"
        ));
        assert!(belongs_to_split(
            "yelp_review_full/test-00000-of-00001.parquet",
            "test"
        ));
        assert!(belongs_to_split("data/validation/part.jsonl", "validation"));
        assert!(!belongs_to_split(
            "plain_text/train-00000-of-00001.parquet",
            "validation"
        ));
        assert!(!belongs_to_split("trainer.jsonl", "train"));
    }

    #[test]
    fn shuffle_select_is_seeded() {
        let a = shuffle_select((0..100).collect(), Some(10), 42);
        let b = shuffle_select((0..100).collect(), Some(10), 42);
        let c = shuffle_select((0..100).collect(), Some(10), 43);
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a.len(), 10);
    }
}
