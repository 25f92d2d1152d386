//! `token-classification` (alias `ner`), as `transformers` 4.57's `TokenClassificationPipeline`
//! runs with a fast tokenizer: softmax per token, special tokens dropped, optional word and
//! entity aggregation, `ignore_labels`, and `stride` windows over texts longer than the model.
//!
//! Not supported: `is_split_into_words`/`delimiter`, user `offset_mapping`, and the deprecated
//! `grouped_entities`/`ignore_subwords` (use `aggregation_strategy`).

use std::str::FromStr;

use burn_models::auto::{load_token_classifier, model_type};
use burn_models::config::CommonConfig;
use burn_models::heads::TokenClassifier;
use burn_models::hub::ModelDir;
use serde::Serialize;
use serde_json::Value;
use tokenizers::{Encoding, TruncationStrategy};

use super::kwargs::{InputKind, Kwargs, OptionSpec, ValueKind};
use super::scores::{argmax, host_values, softmax};
use super::{InputForm, PipelineBuilder, TaskPipeline, TaskSpec};
use crate::error::{Result, TaskError};
use crate::processors::TextTokenizer;

/// The `token-classification` task (alias `ner`): its name, default model and options.
pub static TASK: TaskSpec = TaskSpec::new::<TokenClassificationPipeline>(
    "token-classification",
    &["ner"],
    "Label tokens or entities (named entity recognition)",
    "dbmdz/bert-large-cased-finetuned-conll03-english",
    InputKind::Texts,
    &[
        OptionSpec::new(
            "aggregation_strategy",
            ValueKind::Text,
            "none, simple, first, average or max (default none)",
        ),
        OptionSpec::new(
            "ignore_labels",
            ValueKind::List,
            "Labels to leave out, comma separated (default O; \"\" keeps all)",
        ),
        OptionSpec::new(
            "stride",
            ValueKind::Count,
            "Classify long texts in overlapping windows of the model's length, with this overlap",
        ),
        OptionSpec::new(
            "batch_size",
            ValueKind::Count,
            "Windows run at once (default 8)",
        ),
    ],
);

/// A `model_max_length` this large means "unset": transformers then does not truncate.
/// (The largest `usize` where 1e18 does not fit, as on wasm32.)
const UNBOUNDED_MAX_LENGTH: usize = if usize::BITS >= 64 {
    1_000_000_000_000_000_000_u64 as usize
} else {
    usize::MAX
};

/// `aggregation_strategy`: how tokens are fused into words and entities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AggregationStrategy {
    /// Every token on its own: `{entity, score, index, word, start, end}`.
    #[default]
    None,
    /// Adjacent tokens with the same entity (B-/I- scheme) grouped.
    Simple,
    /// Words take the label of their first token, then grouped.
    First,
    /// Words take the label of the average of their tokens' scores, then grouped.
    Average,
    /// Words take the label of their most confident token, then grouped.
    Max,
}

impl AggregationStrategy {
    /// HF's spelling of the strategy (`"simple"`).
    pub fn name(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Simple => "simple",
            Self::First => "first",
            Self::Average => "average",
            Self::Max => "max",
        }
    }

    fn is_word_based(self) -> bool {
        matches!(self, Self::First | Self::Average | Self::Max)
    }
}

impl std::fmt::Display for AggregationStrategy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

crate::kwarg_from_str!(AggregationStrategy);

impl FromStr for AggregationStrategy {
    type Err = TaskError;

    /// HF's names, case-insensitive (`AggregationStrategy[name.upper()]`).
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "none" => Self::None,
            "simple" => Self::Simple,
            "first" => Self::First,
            "average" => Self::Average,
            "max" => Self::Max,
            other => {
                return Err(TaskError::option(
                    "aggregation_strategy",
                    format!("`{other}` (expected none, simple, first, average or max)"),
                ));
            }
        })
    }
}

/// Keyword arguments of `token-classification`, as in transformers' `TokenClassificationPipeline`.
#[derive(Debug, Clone)]
pub struct TokenClassificationOptions {
    /// `aggregation_strategy`: how tokens are fused into words and entities (default `none`).
    pub aggregation_strategy: AggregationStrategy,
    /// Labels (for `none`) or entity groups (otherwise) left out of the results.
    pub ignore_labels: Vec<String>,
    /// Tokens of overlap between windows: with it the whole text is classified in windows of
    /// `model_max_length` tokens, without it the text is truncated to one window. Requires an
    /// aggregation strategy other than `none`, as in HF.
    pub stride: Option<usize>,
    /// Windows run through the model together, padded to the longest.
    pub batch_size: usize,
}

impl Default for TokenClassificationOptions {
    fn default() -> Self {
        Self {
            aggregation_strategy: AggregationStrategy::None,
            ignore_labels: vec!["O".to_string()],
            stride: None,
            batch_size: 8,
        }
    }
}

/// One token (`aggregation_strategy="none"`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TokenEntity {
    /// The token's label (`B-PER`, `O`, ...).
    pub entity: String,
    /// Softmax probability of that label.
    pub score: f32,
    /// Position of the token in its window's encoding (special tokens included).
    pub index: usize,
    /// The token as the tokenizer spells it (`##ing` for a continuation piece).
    pub word: String,
    /// Character offsets into the input text.
    pub start: usize,
    /// End character offset (exclusive).
    pub end: usize,
}

/// A group of tokens or words with one entity (every other strategy).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EntityGroup {
    /// The entity, its `B-`/`I-` prefix removed (`PER`).
    pub entity_group: String,
    /// Mean score of the grouped tokens or words.
    pub score: f32,
    /// The group's text, decoded from its tokens.
    pub word: String,
    /// Start character offset into the input text.
    pub start: usize,
    /// End character offset (exclusive).
    pub end: usize,
}

/// One result item; its JSON is HF's dict for the strategy used.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Entity {
    /// A token, for `aggregation_strategy="none"`.
    Token(TokenEntity),
    /// An entity group, for every other strategy.
    Group(EntityGroup),
}

impl Entity {
    /// The token's or group's score.
    pub fn score(&self) -> f32 {
        match self {
            Entity::Token(t) => t.score,
            Entity::Group(g) => g.score,
        }
    }

    /// Start character offset.
    pub fn start(&self) -> usize {
        match self {
            Entity::Token(t) => t.start,
            Entity::Group(g) => g.start,
        }
    }

    /// End character offset (exclusive).
    pub fn end(&self) -> usize {
        match self {
            Entity::Token(t) => t.end,
            Entity::Group(g) => g.end,
        }
    }
}

/// A token classifier (BERT, DistilBERT, LayoutLM, ...) and its tokenizer, as transformers'
/// `pipeline("token-classification")`.
pub struct TokenClassificationPipeline {
    model: Box<dyn TokenClassifier>,
    tokenizer: TextTokenizer,
    with_token_types: bool,
    unk_token_id: Option<u32>,
    device: burn::tensor::Device,
}

impl TaskPipeline for TokenClassificationPipeline {
    const TASKS: &'static [&'static TaskSpec] = &[&TASK];
    type Options = TokenClassificationOptions;
    type Input = String;
    type Output = Vec<Entity>;

    fn load(source: &PipelineBuilder<Self>) -> Result<Self> {
        let device = source.target_device()?;
        let dir = source.resolve()?;
        let model = source.prepare_model(load_token_classifier(&dir, &device)?)?;
        let tokenizer = TextTokenizer::from_model_dir(&dir)?;
        let with_token_types = model_type(&dir)? != "distilbert";
        let unk_token_id = special_token_id(&dir, &tokenizer, "unk_token");
        Ok(Self {
            model,
            tokenizer,
            with_token_types,
            unk_token_id,
            device,
        })
    }

    fn options(&self, kwargs: &mut Kwargs) -> Result<TokenClassificationOptions> {
        let mut options = TokenClassificationOptions::default();
        kwargs.update("aggregation_strategy", &mut options.aggregation_strategy)?;
        kwargs.update("ignore_labels", &mut options.ignore_labels)?;
        kwargs.update("stride", &mut options.stride)?;
        kwargs.update("batch_size", &mut options.batch_size)?;
        Ok(options)
    }

    /// A string or a list of strings.
    fn inputs(&self, inputs: &Value, _: &mut Kwargs) -> Result<(Vec<String>, InputForm)> {
        texts_from_json(inputs)
    }

    fn run(
        &self,
        inputs: &[String],
        options: &TokenClassificationOptions,
    ) -> Result<Vec<Vec<Entity>>> {
        self.classify(inputs, options)
    }

    /// The entity list for a single text, a list of them for a list.
    fn to_json(
        &self,
        outputs: Vec<Vec<Entity>>,
        form: InputForm,
        _: &TokenClassificationOptions,
    ) -> Result<Value> {
        let per_input = outputs
            .into_iter()
            .map(serde_json::to_value)
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| TaskError::Internal(e.to_string()))?;
        Ok(form.shape(per_input))
    }
}

/// A string or a list of strings, as the text pipelines take them.
pub(crate) fn texts_from_json(inputs: &Value) -> Result<(Vec<String>, InputForm)> {
    let text = |value: &Value| -> Result<String> {
        value.as_str().map(str::to_string).ok_or_else(|| {
            TaskError::InvalidInput(format!(
                "expected a string or a list of strings, got {value}"
            ))
        })
    };
    Ok(match inputs {
        Value::Array(items) => (
            items.iter().map(text).collect::<Result<_>>()?,
            InputForm::List,
        ),
        single => (vec![text(single)?], InputForm::One),
    })
}

impl TokenClassificationPipeline {
    /// The model's config (labels).
    pub fn config(&self) -> &CommonConfig {
        self.model.common_config()
    }

    /// The tokenizer, for callers that need the encodings.
    pub fn tokenizer(&self) -> &TextTokenizer {
        &self.tokenizer
    }

    /// Entities per input text, in text order.
    pub fn classify<S: AsRef<str>>(
        &self,
        texts: &[S],
        options: &TokenClassificationOptions,
    ) -> Result<Vec<Vec<Entity>>> {
        self.check_options(options)?;
        if texts.is_empty() {
            return Err(TaskError::InvalidInput(
                "at least one input text is required".into(),
            ));
        }
        // Every window of every text, each remembering its text.
        let mut windows: Vec<(usize, Encoding)> = Vec::new();
        for (i, text) in texts.iter().enumerate() {
            for window in self.preprocess(text.as_ref(), options)? {
                windows.push((i, window));
            }
        }
        let mut scores: Vec<Vec<Vec<f32>>> = Vec::with_capacity(windows.len());
        for chunk in windows.chunks(options.batch_size) {
            let encodings: Vec<&Encoding> = chunk.iter().map(|(_, e)| e).collect();
            let batch = self
                .tokenizer
                .batch(&encodings, self.with_token_types, &self.device)?;
            let logits = self.model.logits(&batch)?;
            let [rows, seq, labels] = logits.dims();
            let values = host_values(logits)?;
            for (row, encoding) in encodings.iter().enumerate().take(rows) {
                let row_scores = (0..encoding.len())
                    .map(|t| {
                        let at = (row * seq + t) * labels;
                        softmax(&values[at..at + labels])
                    })
                    .collect();
                scores.push(row_scores);
            }
        }
        let mut results: Vec<Vec<Entity>> = vec![Vec::new(); texts.len()];
        let mut window_counts = vec![0usize; texts.len()];
        for ((text_index, encoding), window_scores) in windows.iter().zip(&scores) {
            let sentence = CharText::new(texts[*text_index].as_ref());
            let pre_entities = self.gather_pre_entities(&sentence, encoding, window_scores);
            let entities = self.aggregate(pre_entities, options.aggregation_strategy);
            results[*text_index].extend(
                entities
                    .into_iter()
                    .filter(|entity| !is_ignored(entity, &options.ignore_labels)),
            );
            window_counts[*text_index] += 1;
        }
        for (entities, count) in results.iter_mut().zip(window_counts) {
            if count > 1 {
                *entities = aggregate_overlapping_entities(std::mem::take(entities));
            }
        }
        Ok(results)
    }

    fn check_options(&self, options: &TokenClassificationOptions) -> Result<()> {
        if options.batch_size == 0 {
            return Err(TaskError::option("batch_size", "must be at least 1"));
        }
        if let Some(stride) = options.stride {
            if stride >= self.tokenizer.model_max_length {
                return Err(TaskError::option(
                    "stride",
                    format!(
                        "{stride} must be less than the tokenizer's model_max_length ({}), \
                         less the special tokens it adds",
                        self.tokenizer.model_max_length
                    ),
                ));
            }
            if options.aggregation_strategy == AggregationStrategy::None {
                return Err(TaskError::option(
                    "stride",
                    "`stride` classifies the whole text in windows, which needs an aggregation_strategy \
                     other than `none`",
                ));
            }
        }
        Ok(())
    }

    /// The windows of a text: one truncated to `model_max_length`, or all of them with `stride`.
    fn preprocess(
        &self,
        text: &str,
        options: &TokenClassificationOptions,
    ) -> Result<Vec<Encoding>> {
        if text.trim().is_empty() {
            return Err(TaskError::InvalidInput(
                "empty text: nothing to classify".into(),
            ));
        }
        let max_length = self.tokenizer.model_max_length;
        if max_length == 0 || max_length >= UNBOUNDED_MAX_LENGTH {
            // transformers does not truncate without a model_max_length.
            return Ok(vec![self.tokenizer.encode(text, None)?]);
        }
        let added = self.added_tokens();
        let stride = options.stride.unwrap_or(0);
        if max_length <= added {
            return Err(TaskError::InvalidInput(format!(
                "the tokenizer's model_max_length ({max_length}) leaves no room beside its {added} special tokens"
            )));
        }
        if stride >= max_length - added {
            return Err(TaskError::option(
                "stride",
                format!(
                    "{stride} must be less than model_max_length ({max_length}) less the {added} special \
                     tokens the tokenizer adds"
                ),
            ));
        }
        let mut encoding = self.tokenizer.encode_windows(
            text,
            None,
            max_length,
            stride,
            TruncationStrategy::LongestFirst,
        )?;
        let overflowing = encoding.take_overflowing();
        let mut windows = vec![encoding];
        if options.stride.is_some() {
            windows.extend(overflowing);
        }
        Ok(windows)
    }

    fn added_tokens(&self) -> usize {
        use tokenizers::PostProcessor;
        self.tokenizer
            .inner()
            .get_post_processor()
            .map_or(0, |p| p.added_tokens(false))
    }

    /// `gather_pre_entities`: the non-special tokens with their scores, offsets and whether
    /// they continue a word.
    fn gather_pre_entities(
        &self,
        sentence: &CharText,
        encoding: &Encoding,
        scores: &[Vec<f32>],
    ) -> Vec<PreEntity> {
        let word_aware = self
            .tokenizer
            .continuing_subword_prefix
            .as_deref()
            .is_some_and(|p| !p.is_empty());
        let mut pre_entities = Vec::new();
        for (idx, token_scores) in scores.iter().enumerate() {
            if encoding.get_special_tokens_mask()[idx] != 0 {
                continue;
            }
            let id = encoding.get_ids()[idx];
            let mut word = self
                .tokenizer
                .inner()
                .id_to_token(id)
                .unwrap_or_else(|| encoding.get_tokens()[idx].clone());
            let (start, end) = encoding.get_offsets()[idx];
            let word_ref = sentence.slice(start, end);
            let mut is_subword = if word_aware {
                word.chars().count() != word_ref.chars().count()
            } else {
                // HF's fallback heuristic for tokenizers without word continuations.
                start > 0 && !sentence.slice(start - 1, start + 1).contains(' ')
            };
            if Some(id) == self.unk_token_id {
                word = word_ref.to_string();
                is_subword = false;
            }
            pre_entities.push(PreEntity {
                word,
                scores: token_scores.clone(),
                start,
                end,
                index: idx,
                is_subword,
            });
        }
        pre_entities
    }

    fn aggregate(
        &self,
        pre_entities: Vec<PreEntity>,
        strategy: AggregationStrategy,
    ) -> Vec<Entity> {
        let config = self.model.common_config();
        let entities: Vec<TokenEntity> = if strategy.is_word_based() {
            self.aggregate_words(pre_entities, strategy)
        } else {
            pre_entities
                .into_iter()
                .map(|pre| {
                    let best = argmax(&pre.scores);
                    TokenEntity {
                        entity: config.label(best),
                        score: pre.scores[best],
                        index: pre.index,
                        word: pre.word,
                        start: pre.start,
                        end: pre.end,
                    }
                })
                .collect()
        };
        if strategy == AggregationStrategy::None {
            return entities.into_iter().map(Entity::Token).collect();
        }
        self.group_entities(entities)
            .into_iter()
            .map(Entity::Group)
            .collect()
    }

    /// `aggregate_words`: tokens of one word (a token and the subwords after it) forced to agree.
    fn aggregate_words(
        &self,
        pre_entities: Vec<PreEntity>,
        strategy: AggregationStrategy,
    ) -> Vec<TokenEntity> {
        let mut words = Vec::new();
        let mut group: Vec<PreEntity> = Vec::new();
        for pre in pre_entities {
            if !group.is_empty() && !pre.is_subword {
                words.push(self.aggregate_word(&group, strategy));
                group.clear();
            }
            group.push(pre);
        }
        if !group.is_empty() {
            words.push(self.aggregate_word(&group, strategy));
        }
        words
    }

    fn aggregate_word(&self, tokens: &[PreEntity], strategy: AggregationStrategy) -> TokenEntity {
        let config = self.model.common_config();
        let word = self
            .tokenizer
            .tokens_to_string(&tokens.iter().map(|t| t.word.clone()).collect::<Vec<_>>());
        let (label, score) = match strategy {
            AggregationStrategy::First => {
                let best = argmax(&tokens[0].scores);
                (best, tokens[0].scores[best])
            }
            AggregationStrategy::Max => {
                // Python's max(): the first token holding the highest score.
                let mut chosen = &tokens[0];
                for token in &tokens[1..] {
                    if max_of(&token.scores) > max_of(&chosen.scores) {
                        chosen = token;
                    }
                }
                let best = argmax(&chosen.scores);
                (best, chosen.scores[best])
            }
            _ => {
                let labels = tokens[0].scores.len();
                let average: Vec<f32> = (0..labels)
                    .map(|l| nanmean(tokens.iter().map(|t| t.scores[l])))
                    .collect();
                let best = argmax(&average);
                (best, average[best])
            }
        };
        TokenEntity {
            entity: config.label(label),
            score,
            index: tokens[0].index,
            word,
            start: tokens[0].start,
            end: tokens[tokens.len() - 1].end,
        }
    }

    /// `group_entities`: adjacent entities with the same tag merge unless the next one is a `B-`.
    fn group_entities(&self, entities: Vec<TokenEntity>) -> Vec<EntityGroup> {
        let mut groups = Vec::new();
        let mut pending: Vec<TokenEntity> = Vec::new();
        for entity in entities {
            if let Some(last) = pending.last() {
                let (bi, tag) = get_tag(&entity.entity);
                let (_, last_tag) = get_tag(&last.entity);
                if !(tag == last_tag && bi != "B") {
                    groups.push(self.group_sub_entities(&pending));
                    pending.clear();
                }
            }
            pending.push(entity);
        }
        if !pending.is_empty() {
            groups.push(self.group_sub_entities(&pending));
        }
        groups
    }

    fn group_sub_entities(&self, entities: &[TokenEntity]) -> EntityGroup {
        // `entity.split("-", 1)[-1]`: everything after the first dash.
        let first = &entities[0].entity;
        let entity_group = first
            .split_once('-')
            .map_or(first.as_str(), |(_, rest)| rest);
        let words: Vec<String> = entities.iter().map(|e| e.word.clone()).collect();
        EntityGroup {
            entity_group: entity_group.to_string(),
            score: nanmean(entities.iter().map(|e| e.score)),
            word: self.tokenizer.tokens_to_string(&words),
            start: entities[0].start,
            end: entities[entities.len() - 1].end,
        }
    }
}

struct PreEntity {
    word: String,
    scores: Vec<f32>,
    start: usize,
    end: usize,
    index: usize,
    is_subword: bool,
}

fn is_ignored(entity: &Entity, ignore_labels: &[String]) -> bool {
    let label = match entity {
        Entity::Token(t) => &t.entity,
        Entity::Group(g) => &g.entity_group,
    };
    ignore_labels.iter().any(|l| l == label)
}

/// `get_tag`: (`B`|`I`, tag); names without a `B-`/`I-` prefix count as `I`.
fn get_tag(name: &str) -> (&'static str, &str) {
    if let Some(tag) = name.strip_prefix("B-") {
        ("B", tag)
    } else if let Some(tag) = name.strip_prefix("I-") {
        ("I", tag)
    } else {
        ("I", name)
    }
}

/// Entities of overlapping windows: of those starting inside another, keep the longest (then
/// the most confident), as `aggregate_overlapping_entities` does.
fn aggregate_overlapping_entities(mut entities: Vec<Entity>) -> Vec<Entity> {
    if entities.is_empty() {
        return entities;
    }
    entities.sort_by_key(Entity::start); // stable, like Python's sorted
    let mut aggregated = Vec::new();
    // HF starts by comparing the first entity with itself (which duplicates it if it is empty).
    let mut previous = entities[0].clone();
    for entity in entities {
        if previous.start() <= entity.start() && entity.start() < previous.end() {
            let current_length = entity.end() as i64 - entity.start() as i64;
            let previous_length = previous.end() as i64 - previous.start() as i64;
            if current_length > previous_length
                || (current_length == previous_length && entity.score() > previous.score())
            {
                previous = entity;
            }
        } else {
            aggregated.push(std::mem::replace(&mut previous, entity));
        }
    }
    aggregated.push(previous);
    aggregated
}

fn max_of(values: &[f32]) -> f32 {
    values.iter().copied().fold(f32::NEG_INFINITY, f32::max)
}

/// `np.nanmean` over float32 values.
fn nanmean(values: impl Iterator<Item = f32>) -> f32 {
    let (sum, count) = values
        .filter(|v| !v.is_nan())
        .fold((0f32, 0usize), |(s, n), v| (s + v, n + 1));
    if count == 0 {
        f32::NAN
    } else {
        sum / count as f32
    }
}

/// A text sliced by character (code point) offsets, as Python slices `str`.
pub(crate) struct CharText<'a> {
    text: &'a str,
    /// Byte position of every char, and the text's length last.
    bytes: Vec<usize>,
}

impl<'a> CharText<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        let mut bytes: Vec<usize> = text.char_indices().map(|(b, _)| b).collect();
        bytes.push(text.len());
        Self { text, bytes }
    }

    /// `text[start:end]` in Python: clamped, empty when `start >= end`.
    pub(crate) fn slice(&self, start: usize, end: usize) -> &'a str {
        let chars = self.bytes.len() - 1;
        let (start, end) = (start.min(chars), end.min(chars));
        if start >= end {
            return "";
        }
        &self.text[self.bytes[start]..self.bytes[end]]
    }
}

/// The id of a special token (`unk_token`, `cls_token`, ...) as transformers resolves it:
/// `tokenizer_config.json`, then `special_tokens_map.json`, then the tokenizer model's own.
pub(crate) fn special_token_id(
    dir: &ModelDir,
    tokenizer: &TextTokenizer,
    key: &str,
) -> Option<u32> {
    let from_file = |name: &str| -> Option<String> {
        let bytes = dir.read_file(name).ok()??;
        let json: Value = serde_json::from_slice(&bytes).ok()?;
        match json.get(key)? {
            Value::String(s) => Some(s.clone()),
            Value::Object(o) => o.get("content").and_then(Value::as_str).map(str::to_string),
            _ => None,
        }
    };
    let token = from_file("tokenizer_config.json")
        .or_else(|| from_file("special_tokens_map.json"))
        .or_else(|| match (key, tokenizer.inner().get_model()) {
            ("unk_token", tokenizers::ModelWrapper::WordPiece(wp)) => Some(wp.unk_token.clone()),
            ("unk_token", tokenizers::ModelWrapper::BPE(bpe)) => bpe.unk_token.clone(),
            ("unk_token", tokenizers::ModelWrapper::WordLevel(wl)) => Some(wl.unk_token.clone()),
            ("cls_token", tokenizers::ModelWrapper::WordPiece(_)) => Some("[CLS]".to_string()),
            _ => None,
        })?;
    tokenizer.inner().token_to_id(&token)
}
