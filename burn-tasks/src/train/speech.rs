//! LoRA fine-tuning of Whisper on an int8 base, as the PEFT "int8 training" Whisper notebook
//! does it: Common Voice rows -> decoded audio resampled to 16 kHz -> log-mel features, labels
//! from the tokenizer with the `<|startoftranscript|><|lang|><|task|><|notimestamps|>` prefix,
//! `DataCollatorSpeechSeq2SeqWithPadding`, a frozen int8 base with LoRA on `q_proj`/`v_proj`,
//! teacher-forced cross-entropy (labels -100 ignored), and evaluation by loss, CER and WER with
//! generation. The adapter is saved in PEFT's format.
//!
//! Audio is decoded batch by batch: the examples hold where a clip is (a path, or the
//! compressed bytes of a parquet row), never its samples or features.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Int, Tensor, TensorData};
use burn_models::config::read_config;
use burn_models::hub::{HubOptions, ModelDir, Weights};
use burn_models::whisper::{
    WhisperConfig, WhisperForConditionalGeneration, WhisperGenerateOptions,
    WhisperGenerationConfig, language_to_id,
};
use burn_peft::{LoraConfig, PeftModel, Quantization, WhisperDims, get_peft_model, whisper_shape};
use serde_json::Value;

use super::data::{Record, shuffle_select, split_files};
use super::trainer::{TrainTask, TrainingArguments, train};
use crate::error::{Result, TaskError};
use crate::input::audio::Audio;
use crate::processors::{TextTokenizer, WhisperFeatureExtractor};

/// The label id the loss ignores (PyTorch's `ignore_index`).
pub const IGNORE_INDEX: i64 = -100;

/// The recipe, with the notebook's defaults.
#[derive(Debug, Clone)]
pub struct WhisperLoraRecipe {
    /// Base model: a directory or hub id.
    pub model: String,
    /// Dataset: a Common Voice release directory (`{split}.tsv` + `clips/`), parquet files with
    /// an `audio` column (`{bytes, path}`) or a hub dataset id.
    pub data: String,
    /// The dataset configuration (Common Voice's locale), used for hub layouts `zh-CN/train/...`.
    pub dataset_config: Option<String>,
    /// Whisper's language: a name (`Chinese`), a code (`zh`); `Chinese (China)` is read as
    /// `Chinese`.
    pub language: String,
    /// Whisper's task: `transcribe` or `translate`.
    pub task: String,
    /// The split trained on (`train`).
    pub train_split: String,
    /// The split evaluated on (`test`).
    pub eval_split: String,
    /// Take this many training examples after a seeded shuffle (640; all when unset).
    pub train_samples: Option<usize>,
    /// Take this many evaluation examples after a seeded shuffle (320; all when unset).
    pub eval_samples: Option<usize>,
    /// The adapters (r=4, alpha=64, dropout 0.05 on `q_proj` and `v_proj`: see [`default_lora`]).
    pub lora: LoraConfig,
    /// `None`: an f32 base (LoRA on full precision), or full fine-tuning when `lora` is off.
    pub quantization: Option<Quantization>,
    /// Train every parameter in f32 instead of adapters (the baseline LoRA is measured against).
    pub full_finetune: bool,
    /// `generation_max_length`: prompt plus generated tokens during evaluation.
    pub generation_max_length: usize,
    /// Skip generation in evaluation (loss only).
    pub eval_generate: bool,
    /// The training loop's settings, as transformers' `Seq2SeqTrainingArguments`.
    pub args: TrainingArguments,
}

impl Default for WhisperLoraRecipe {
    fn default() -> Self {
        Self {
            model: "openai/whisper-large-v2".into(),
            data: "mozilla-foundation/common_voice_11_0".into(),
            dataset_config: Some("zh-CN".into()),
            language: "Chinese (China)".into(),
            task: "transcribe".into(),
            train_split: "train".into(),
            eval_split: "test".into(),
            train_samples: Some(640),
            eval_samples: Some(320),
            lora: default_lora(),
            quantization: Some(Quantization::Int8 {
                threshold: Some(burn_peft::quant::LLM_INT8_THRESHOLD),
            }),
            full_finetune: false,
            generation_max_length: 128,
            eval_generate: true,
            args: TrainingArguments {
                output_dir: PathBuf::from("whisper-large-v2-lora"),
                num_train_epochs: 1,
                per_device_train_batch_size: 64,
                per_device_eval_batch_size: 64,
                learning_rate: 1e-3,
                warmup_steps: 50,
                logging_steps: 10,
                ..TrainingArguments::default()
            },
        }
    }
}

/// `LoraConfig(r=4, lora_alpha=64, target_modules=["q_proj", "v_proj"], lora_dropout=0.05,
/// bias="none")`.
pub fn default_lora() -> LoraConfig {
    LoraConfig {
        lora_dropout: 0.05,
        ..LoraConfig::new(4, 64.0, &["q_proj", "v_proj"])
    }
}

/// PEFT's `print_trainable_parameters` line for Whisper with `lora`, from `config.json` alone.
pub fn trainable_parameters_line(config_json: &Value, lora: &LoraConfig) -> Result<String> {
    let dims: WhisperDims = serde_json::from_value(config_json.clone())
        .map_err(|e| TaskError::InvalidModel(format!("Whisper config.json: {e}")))?;
    Ok(whisper_shape(&dims).trainable_parameters_line(lora)?)
}

/// `config.json` of a local directory or a hub model (downloading that file only).
pub fn model_config_json(model: &str) -> Result<Value> {
    let path = Path::new(model);
    if path.is_dir() {
        return Ok(ModelDir::local(path)?.config_json()?);
    }
    hub_config(model)
}

#[cfg(feature = "hub")]
fn hub_config(model: &str) -> Result<Value> {
    use hf_hub::{Cache, Repo, RepoType};
    let options = HubOptions::from_env();
    let error = |e: String| TaskError::InvalidModel(format!("{model}: config.json: {e}"));
    let cache = options
        .cache_dir
        .clone()
        .map(Cache::new)
        .unwrap_or_else(Cache::from_env);
    let repo = Repo::with_revision(
        model.to_string(),
        RepoType::Model,
        options.revision.clone().unwrap_or_else(|| "main".into()),
    );
    let path = match cache.repo(repo.clone()).get("config.json") {
        Some(path) => path,
        None if options.offline => {
            return Err(error("not in the hub cache and offline mode is on".into()));
        }
        None => hf_hub::api::sync::ApiBuilder::from_cache(cache)
            .with_token(options.token.clone().or_else(|| Cache::from_env().token()))
            .build()
            .map_err(|e| error(e.to_string()))?
            .repo(repo)
            .get("config.json")
            .map_err(|e| error(e.to_string()))?,
    };
    let text = std::fs::read_to_string(&path).map_err(|e| error(e.to_string()))?;
    serde_json::from_str(&text).map_err(|e| error(e.to_string()))
}

#[cfg(not(feature = "hub"))]
fn hub_config(model: &str) -> Result<Value> {
    Err(TaskError::InvalidModel(format!(
        "{model}: no such directory, and this build has no `hub` feature"
    )))
}

/// Where a clip's audio is.
#[derive(Debug, Clone)]
pub enum ClipSource {
    /// An audio file.
    File(PathBuf),
    /// Encoded bytes (MP3, WAV, ...) with the file name they came with.
    Bytes(Vec<u8>, Option<String>),
}

/// One Common Voice row after `remove_columns` (only the audio and the sentence are kept).
#[derive(Debug, Clone)]
pub struct SpeechExample {
    /// The clip.
    pub audio: ClipSource,
    /// Its transcription.
    pub sentence: String,
}

fn bytes_of(value: &Value) -> Option<Vec<u8>> {
    match value {
        Value::Array(items) => items
            .iter()
            .map(|v| v.as_u64().and_then(|b| u8::try_from(b).ok()))
            .collect(),
        _ => None,
    }
}

impl SpeechExample {
    /// A row: `sentence` and either `path` (a file under `clips/` next to the TSV, as in the
    /// Common Voice release) or `audio` (`{bytes, path}` as the hub's parquet, or a path).
    pub fn from_record(record: &Record, clips: Option<&Path>) -> Result<Self> {
        let sentence = record
            .get("sentence")
            .and_then(Value::as_str)
            .ok_or_else(|| TaskError::Dataset("a row has no `sentence` column".into()))?
            .to_string();
        let file = |name: &str| -> PathBuf {
            let p = Path::new(name);
            match clips {
                Some(dir) if !p.is_absolute() => dir.join(p),
                _ => p.to_path_buf(),
            }
        };
        let audio = match record.get("audio") {
            Some(Value::Object(audio)) => {
                let name = audio.get("path").and_then(Value::as_str);
                match audio.get("bytes").and_then(bytes_of) {
                    Some(bytes) if !bytes.is_empty() => {
                        ClipSource::Bytes(bytes, name.map(str::to_string))
                    }
                    _ => ClipSource::File(file(name.ok_or_else(|| {
                        TaskError::Dataset("an `audio` value has neither bytes nor path".into())
                    })?)),
                }
            }
            Some(Value::String(name)) => ClipSource::File(file(name)),
            _ => match record.get("path").and_then(Value::as_str) {
                Some(name) => ClipSource::File(file(name)),
                None => {
                    return Err(TaskError::Dataset(
                        "a row has neither an `audio` nor a `path` column".into(),
                    ));
                }
            },
        };
        Ok(Self { audio, sentence })
    }

    /// Decoded, mono, at `rate` Hz (Common Voice's 48 kHz is resampled here).
    pub fn load_audio(&self, rate: u32) -> Result<Audio> {
        let audio = match &self.audio {
            ClipSource::File(path) => Audio::from_file(path)?,
            ClipSource::Bytes(bytes, name) => {
                let hint = name
                    .as_deref()
                    .and_then(|n| Path::new(n).extension())
                    .and_then(|e| e.to_str());
                Audio::decode(bytes, hint)?
            }
        };
        audio.resampled(rate)
    }
}

/// Rows of a split: a Common Voice directory (`{split}.tsv`, clips under `clips/`), local
/// files, or a hub dataset (under `{config}/` when one is given). Parquet rows are read here
/// so that the `audio` bytes stay bytes (compressed clips; decoding happens batch by batch).
pub fn load_speech_split(
    data: &str,
    config: Option<&str>,
    split: &str,
    samples: Option<usize>,
    seed: u64,
) -> Result<Vec<SpeechExample>> {
    let dir = Path::new(data);
    let tsv = dir.join(format!("{split}.tsv"));
    let examples = if dir.is_dir() && tsv.is_file() {
        let clips = dir.join("clips");
        super::data::read_records(&tsv)?
            .iter()
            .map(|r| SpeechExample::from_record(r, Some(&clips)))
            .collect::<Result<Vec<_>>>()?
    } else {
        let split_name = match config {
            Some(c) if !dir.exists() => format!("{c}/{split}"),
            _ => split.to_string(),
        };
        let base = dir.is_dir().then(|| dir.to_path_buf());
        let mut examples = Vec::new();
        for file in split_files(data, &split_name)? {
            if file.extension().is_some_and(|e| e == "parquet") {
                examples.extend(read_speech_parquet(&file)?);
            } else {
                for record in super::data::read_records(&file)? {
                    examples.push(SpeechExample::from_record(&record, base.as_deref())?);
                }
            }
        }
        examples
    };
    Ok(shuffle_select(examples, samples, seed))
}

/// `sentence` and `audio{bytes, path}` of every row of a parquet file (other columns are
/// skipped).
pub fn read_speech_parquet(path: &Path) -> Result<Vec<SpeechExample>> {
    use parquet::file::reader::SerializedFileReader;
    use parquet::record::Field;
    let error = |m: String| TaskError::Dataset(format!("{}: {m}", path.display()));
    let file = std::fs::File::open(path).map_err(|e| TaskError::io(path, e))?;
    let reader = SerializedFileReader::new(file).map_err(|e| error(e.to_string()))?;
    let mut examples = Vec::new();
    for row in reader {
        let row = row.map_err(|e| error(e.to_string()))?;
        let (mut sentence, mut audio) = (None, None);
        for (name, field) in row.get_column_iter() {
            match (name.as_str(), field) {
                ("sentence", Field::Str(s)) => sentence = Some(s.clone()),
                ("audio", Field::Group(group)) => {
                    let (mut bytes, mut name) = (None, None);
                    for (key, value) in group.get_column_iter() {
                        match (key.as_str(), value) {
                            ("bytes", Field::Bytes(b)) => bytes = Some(b.data().to_vec()),
                            ("path", Field::Str(p)) => name = Some(p.clone()),
                            _ => {}
                        }
                    }
                    audio = match (bytes, name) {
                        (Some(b), name) if !b.is_empty() => Some(ClipSource::Bytes(b, name)),
                        (_, Some(name)) => Some(ClipSource::File(PathBuf::from(name))),
                        _ => None,
                    };
                }
                _ => {}
            }
        }
        match (sentence, audio) {
            (Some(sentence), Some(audio)) => examples.push(SpeechExample { audio, sentence }),
            _ => {
                return Err(error(
                    "a row lacks `sentence` or `audio` (bytes or path)".into(),
                ));
            }
        }
    }
    Ok(examples)
}

/// The tokens every label starts with: `<|startoftranscript|><|lang|><|task|><|notimestamps|>`
/// (what `WhisperTokenizer(language=, task=)` puts before the text).
pub fn label_prefix(
    generation: &WhisperGenerationConfig,
    config: &WhisperConfig,
    language: &str,
    task: &str,
) -> Result<Vec<usize>> {
    let mut prefix = vec![
        generation
            .decoder_start_token_id
            .unwrap_or(config.decoder_start_token_id),
    ];
    if let Some(lang_to_id) = &generation.lang_to_id {
        prefix.push(language_to_id(&whisper_language(language), lang_to_id)?);
    }
    if let Some(task_to_id) = &generation.task_to_id {
        prefix.push(*task_to_id.get(task).ok_or_else(|| {
            TaskError::option(
                "task",
                format!("`{task}`: expected transcribe or translate"),
            )
        })?);
    }
    if let Some(id) = generation.no_timestamps_token_id {
        prefix.push(id);
    }
    Ok(prefix)
}

/// `Chinese (China)` (Common Voice's locale name) -> `Chinese` (Whisper's).
fn whisper_language(language: &str) -> String {
    match language.find(" (") {
        Some(i) => language[..i].to_string(),
        None => language.to_string(),
    }
}

/// Tokenizes sentences into labels: prefix + text + `<|endoftext|>`.
pub struct LabelTokenizer {
    /// Whisper's tokenizer.
    pub tokenizer: TextTokenizer,
    /// The decoder prompt put before the text: start of transcript, language, task,
    /// no-timestamps.
    pub prefix: Vec<usize>,
    /// Id of `<|endoftext|>`, appended to each label sequence.
    pub eos: usize,
    /// `max_target_positions`: longer labels are cut (keeping the end-of-text).
    pub max_len: usize,
}

impl LabelTokenizer {
    /// The label ids of `sentence`: prefix and tokens cut to `max_len`, then end of text.
    pub fn labels(&self, sentence: &str) -> Result<Vec<usize>> {
        let encoding = self
            .tokenizer
            .inner()
            .encode(sentence, false)
            .map_err(|e| TaskError::Dataset(format!("tokenizing `{sentence}`: {e}")))?;
        let mut ids = self.prefix.clone();
        ids.extend(encoding.get_ids().iter().map(|&i| i as usize));
        // The decoder sees labels minus the start token, so max_len + 1 ids fit.
        ids.truncate(self.max_len);
        ids.push(self.eos);
        Ok(ids)
    }

    /// The text of `ids`, special tokens skipped and whitespace trimmed.
    pub fn decode(&self, ids: &[usize]) -> String {
        let ids: Vec<u32> = ids.iter().map(|&i| i as u32).collect();
        self.tokenizer
            .inner()
            .decode(&ids, true)
            .unwrap_or_default()
            .trim()
            .to_string()
    }
}

/// A collated batch.
pub struct SpeechBatch {
    /// `[batch, mels, frames]`.
    pub input_features: Tensor<3>,
    /// `[batch, len]`, padded with -100.
    pub labels: Vec<Vec<i64>>,
}

/// `DataCollatorSpeechSeq2SeqWithPadding`: stack the (already 30 s) features, pad labels
/// with -100, and drop the leading start token when every label has it (the model puts it
/// back by shifting the labels right).
pub fn collate(
    features: Vec<Vec<f32>>,
    mels: usize,
    frames: usize,
    labels: Vec<Vec<usize>>,
    decoder_start: usize,
    device: &Device,
) -> SpeechBatch {
    let batch = features.len();
    let data: Vec<f32> = features.into_iter().flatten().collect();
    let input_features = Tensor::from_data(TensorData::new(data, [batch, mels, frames]), device);
    let drop_first = labels.iter().all(|l| l.first() == Some(&decoder_start));
    let labels: Vec<Vec<i64>> = labels
        .into_iter()
        .map(|l| {
            l.into_iter()
                .skip(usize::from(drop_first))
                .map(|t| t as i64)
                .collect()
        })
        .collect();
    let width = labels.iter().map(Vec::len).max().unwrap_or(0);
    let labels = labels
        .into_iter()
        .map(|mut l| {
            l.resize(width, IGNORE_INDEX);
            l
        })
        .collect();
    SpeechBatch {
        input_features,
        labels,
    }
}

/// `shift_tokens_right(labels, pad, decoder_start)`: the teacher-forced decoder input.
pub fn shift_tokens_right(labels: &[Vec<i64>], pad: usize, start: usize) -> Vec<Vec<i64>> {
    labels
        .iter()
        .map(|l| {
            std::iter::once(start as i64)
                .chain(l.iter().take(l.len().saturating_sub(1)).copied())
                .map(|t| if t == IGNORE_INDEX { pad as i64 } else { t })
                .collect()
        })
        .collect()
}

/// Mean cross-entropy over the label positions that are not -100 (`CrossEntropyLoss()`).
pub fn masked_cross_entropy(logits: Tensor<3>, labels: &[Vec<i64>]) -> Tensor<1> {
    let [batch, len, vocab] = logits.dims();
    let device = logits.device();
    let flat: Vec<i64> = labels.iter().flatten().copied().collect();
    let count = flat.iter().filter(|&&t| t != IGNORE_INDEX).count().max(1);
    let targets: Vec<i64> = flat.iter().map(|&t| t.max(0)).collect();
    let mask: Vec<f32> = flat
        .iter()
        .map(|&t| if t == IGNORE_INDEX { 0.0 } else { 1.0 })
        .collect();
    let targets: Tensor<2, Int> =
        Tensor::from_data(TensorData::new(targets, [batch * len, 1]), &device);
    let mask: Tensor<2> = Tensor::from_data(TensorData::new(mask, [batch * len, 1]), &device);
    let picked = log_softmax(logits.reshape([batch * len, vocab]), 1).gather(1, targets);
    (picked * mask).sum().div_scalar(count as f64).neg()
}

/// Character and word error rates (as `evaluate`'s `cer` / `wer`: total edits over total
/// reference length).
pub fn error_rates(predictions: &[String], references: &[String]) -> (f64, f64) {
    let (mut char_edits, mut chars, mut word_edits, mut words) = (0, 0, 0, 0);
    for (p, r) in predictions.iter().zip(references) {
        let pc: Vec<char> = p.chars().collect();
        let rc: Vec<char> = r.chars().collect();
        char_edits += edit_distance(&pc, &rc);
        chars += rc.len();
        let pw: Vec<&str> = p.split_whitespace().collect();
        let rw: Vec<&str> = r.split_whitespace().collect();
        word_edits += edit_distance(&pw, &rw);
        words += rw.len();
    }
    (
        char_edits as f64 / chars.max(1) as f64,
        word_edits as f64 / words.max(1) as f64,
    )
}

/// Levenshtein distance.
pub fn edit_distance<T: PartialEq>(a: &[T], b: &[T]) -> usize {
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, x) in a.iter().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, y) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(x != y)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// The training task: examples, the feature extractor and tokenizer that turn them into
/// batches on the fly.
pub struct WhisperSpeechTask {
    /// Training examples.
    pub train: Vec<SpeechExample>,
    /// Evaluation examples.
    pub eval: Vec<SpeechExample>,
    /// Turns clips into log-mel features.
    pub features: WhisperFeatureExtractor,
    /// Turns sentences into label ids.
    pub labels: LabelTokenizer,
    /// The model's generation config, for evaluation by generation.
    pub generation: WhisperGenerationConfig,
    /// The model's config.
    pub config: WhisperConfig,
    /// Whisper's language for the prompt.
    pub language: String,
    /// Whisper's task (`transcribe` or `translate`).
    pub task: String,
    /// Prompt plus generated tokens during evaluation.
    pub generation_max_length: usize,
    /// Skip generation in evaluation (loss only).
    pub eval_generate: bool,
}

impl WhisperSpeechTask {
    /// Decodes, featurizes, tokenizes and collates `examples`.
    pub fn batch(&self, examples: &[&SpeechExample], device: &Device) -> Result<SpeechBatch> {
        let rate = self.features.config.sampling_rate;
        let mut features = Vec::with_capacity(examples.len());
        let mut labels = Vec::with_capacity(examples.len());
        let (mut mels, mut frames) = (0, 0);
        for example in examples {
            let audio = example.load_audio(rate)?;
            let mel = self.features.extract(&audio.samples);
            (mels, frames) = (mel.mel_bins, mel.frames);
            features.push(mel.data);
            labels.push(self.labels.labels(&example.sentence)?);
        }
        Ok(collate(
            features,
            mels,
            frames,
            labels,
            self.config.decoder_start_token_id,
            device,
        ))
    }

    /// Teacher-forced loss of a batch (`model(input_features, labels=labels).loss`).
    pub fn batch_loss(
        &self,
        model: &WhisperForConditionalGeneration,
        batch: SpeechBatch,
        device: &Device,
    ) -> Result<Tensor<1>> {
        let pad = self.config.pad_token_id;
        let inputs = shift_tokens_right(&batch.labels, pad, self.config.decoder_start_token_id);
        let [b, len] = [inputs.len(), inputs.first().map_or(0, Vec::len)];
        let ids: Tensor<2, Int> = Tensor::from_data(
            TensorData::new(inputs.into_iter().flatten().collect::<Vec<_>>(), [b, len]),
            device,
        );
        let logits = model.forward(batch.input_features, ids)?;
        Ok(masked_cross_entropy(logits, &batch.labels))
    }

    /// Greedy transcription of one example, as `predict_with_generate` does.
    pub fn transcribe(
        &self,
        model: &WhisperForConditionalGeneration,
        example: &SpeechExample,
        device: &Device,
    ) -> Result<String> {
        let batch = self.batch(&[example], device)?;
        let prompt = self.labels.prefix.len();
        let limit = self
            .generation_max_length
            .min(self.config.max_target_positions);
        let options = WhisperGenerateOptions {
            language: Some(whisper_language(&self.language)),
            task: Some(self.task.clone()),
            max_new_tokens: Some(limit.saturating_sub(prompt).max(1)),
            ..Default::default()
        };
        let out = model.generate(batch.input_features, &self.generation, &options)?;
        Ok(self.labels.decode(&out.tokens))
    }
}

impl TrainTask for WhisperSpeechTask {
    type Model = WhisperForConditionalGeneration;

    fn train_len(&self) -> usize {
        self.train.len()
    }

    fn loss(&self, model: &Self::Model, batch: &[usize], device: &Device) -> Result<Tensor<1>> {
        let examples: Vec<&SpeechExample> = batch.iter().map(|&i| &self.train[i]).collect();
        let batch = self.batch(&examples, device)?;
        self.batch_loss(model, batch, device)
    }

    fn evaluate(
        &self,
        model: &Self::Model,
        device: &Device,
        batch_size: usize,
    ) -> Result<BTreeMap<String, f64>> {
        let mut total = 0.0;
        let mut batches = 0;
        let refs: Vec<&SpeechExample> = self.eval.iter().collect();
        for chunk in refs.chunks(batch_size.max(1)) {
            let batch = self.batch(chunk, device)?;
            total += f64::from(self.batch_loss(model, batch, device)?.into_scalar::<f32>());
            batches += 1;
        }
        let mut metrics = BTreeMap::new();
        metrics.insert("loss".to_string(), total / batches.max(1) as f64);
        if self.eval_generate && !self.eval.is_empty() {
            let mut predictions = Vec::new();
            for example in &self.eval {
                predictions.push(self.transcribe(model, example, device)?);
            }
            let references: Vec<String> = self.eval.iter().map(|e| e.sentence.clone()).collect();
            let (cer, wer) = error_rates(&predictions, &references);
            metrics.insert("cer".to_string(), 100.0 * cer);
            metrics.insert("wer".to_string(), 100.0 * wer);
        }
        Ok(metrics)
    }
}

/// What [`run_whisper_lora`] returns.
#[derive(Debug, Clone)]
pub struct WhisperLoraOutput {
    /// PEFT's `print_trainable_parameters` line (`trainable params: ...`).
    pub trainable_line: String,
    /// Metrics of the final evaluation: `loss`, and `cer` and `wer` in percent with generation.
    pub metrics: BTreeMap<String, f64>,
    /// Mean training loss of each epoch run.
    pub epoch_losses: Vec<f64>,
    /// Every logged training loss (`logging_steps`), in order.
    pub logged_losses: Vec<f64>,
    /// Optimizer steps taken.
    pub global_step: usize,
    /// Where the PEFT adapter (or, with `full_finetune`, nothing) was saved.
    pub adapter_dir: PathBuf,
    /// Training examples used.
    pub train_examples: usize,
    /// Evaluation examples used.
    pub eval_examples: usize,
    /// The trained model (adapters attached and active).
    pub model: WhisperForConditionalGeneration,
}

/// The base model, its generation config, tokenizer and features.
pub struct WhisperParts {
    /// The model folder it was loaded from.
    pub dir: ModelDir,
    /// The model's config.
    pub config: WhisperConfig,
    /// The model, quantized as asked.
    pub model: WhisperForConditionalGeneration,
}

/// Loads Whisper from `model` on `device`, quantized per `quantization` (the tied output
/// projection stays in full precision, as transformers keeps the lm head out of int8).
pub fn load_whisper(
    model: &str,
    quantization: Option<Quantization>,
    device: &Device,
) -> Result<WhisperParts> {
    let dir = ModelDir::resolve(model, &HubOptions::from_env())?;
    let config: WhisperConfig = read_config(&dir.config_path())?;
    let weights = Weights::from_model_dir(dir.path())?;
    let mut whisper = WhisperForConditionalGeneration::load(&weights.root(device), &config)?;
    if let Some(scheme) = quantization {
        burn_peft::quantize_model(
            &mut whisper,
            scheme,
            &["proj_out", "model.decoder.embed_tokens"],
        )?;
    }
    Ok(WhisperParts {
        dir,
        config,
        model: whisper,
    })
}

/// Builds the task for `recipe` from the model directory.
pub fn speech_task(recipe: &WhisperLoraRecipe, parts: &WhisperParts) -> Result<WhisperSpeechTask> {
    let generation = WhisperGenerationConfig::from_model_dir(parts.dir.path(), &parts.config)?;
    let prefix = label_prefix(&generation, &parts.config, &recipe.language, &recipe.task)?;
    let eos = generation
        .eos_token_ids()
        .first()
        .copied()
        .unwrap_or(parts.config.eos_token_id);
    let seed = recipe.args.seed;
    let config = recipe.dataset_config.as_deref();
    let train = load_speech_split(
        &recipe.data,
        config,
        &recipe.train_split,
        recipe.train_samples,
        seed,
    )?;
    let eval = load_speech_split(
        &recipe.data,
        config,
        &recipe.eval_split,
        recipe.eval_samples,
        seed,
    )?;
    Ok(WhisperSpeechTask {
        train,
        eval,
        features: WhisperFeatureExtractor::from_model_dir(&parts.dir)?,
        labels: LabelTokenizer {
            tokenizer: TextTokenizer::from_model_dir(&parts.dir)?,
            prefix,
            eos,
            max_len: parts.config.max_target_positions,
        },
        generation,
        config: parts.config.clone(),
        language: recipe.language.clone(),
        task: recipe.task.clone(),
        generation_max_length: recipe.generation_max_length,
        eval_generate: recipe.eval_generate,
    })
}

/// Runs the recipe: prints PEFT's trainable-parameter line, trains, evaluates, and saves the
/// adapter (PEFT format) to `recipe.args.output_dir`.
pub fn run_whisper_lora(recipe: &WhisperLoraRecipe, device: &Device) -> Result<WhisperLoraOutput> {
    let plain = device.clone().inner();
    plain.seed(recipe.args.seed);
    let quantization = if recipe.full_finetune {
        None
    } else {
        recipe.quantization
    };
    let parts = load_whisper(&recipe.model, quantization, &plain)?;
    let task = speech_task(recipe, &parts)?;
    let config_json = parts.dir.config_json()?;
    let (model, peft, trainable_line) = if recipe.full_finetune {
        let shape = whisper_shape(
            &serde_json::from_value(config_json)
                .map_err(|e| TaskError::InvalidModel(format!("config.json: {e}")))?,
        );
        let n = shape.num_params();
        let line = burn_peft::format_trainable(n, n);
        (parts.model, None, line)
    } else {
        let line = trainable_parameters_line(&config_json, &recipe.lora)?;
        let peft = get_peft_model(parts.model, recipe.lora.clone())?;
        let (trainable, _) = peft.get_nb_trainable_parameters();
        let (expected, _) = whisper_shape(
            &serde_json::from_value(config_json)
                .map_err(|e| TaskError::InvalidModel(format!("config.json: {e}")))?,
        )
        .trainable_with(&recipe.lora)?;
        if trainable != expected {
            return Err(TaskError::Internal(format!(
                "adapters hold {trainable} parameters, the config says {expected}"
            )));
        }
        let model = peft.base_model.clone();
        (model, Some(peft), line)
    };
    println!("{trainable_line}");
    let out = train(&task, model, &recipe.args, device)?;
    let adapter_dir = recipe.args.output_dir.clone();
    let model = match peft {
        Some(mut peft) => {
            peft.base_model = out.model;
            peft.save_pretrained(&adapter_dir)?;
            peft.base_model
        }
        None => out.model,
    };
    let logged_losses = out
        .state
        .log_history
        .iter()
        .filter_map(|e| e.get("loss").and_then(Value::as_f64))
        .collect();
    Ok(WhisperLoraOutput {
        trainable_line,
        metrics: out.metrics,
        epoch_losses: out.epoch_losses,
        logged_losses,
        global_step: out.state.global_step,
        adapter_dir,
        train_examples: task.train.len(),
        eval_examples: task.eval.len(),
        model,
    })
}

/// Loads a base model with a saved adapter (for checks and the pipeline).
pub fn load_with_adapter(
    model: &str,
    quantization: Option<Quantization>,
    adapter: &Path,
    device: &Device,
) -> Result<WhisperForConditionalGeneration> {
    let parts = load_whisper(model, quantization, device)?;
    Ok(PeftModel::from_pretrained(parts.model, adapter)?.base_model)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distances() {
        assert_eq!(edit_distance(&['a', 'b', 'c'], &['a', 'c']), 1);
        assert_eq!(edit_distance::<char>(&[], &['a']), 1);
        let (cer, wer) = error_rates(&["hello word".into()], &["hello world".into()]);
        assert!((cer - 1.0 / 11.0).abs() < 1e-12);
        assert!((wer - 0.5).abs() < 1e-12);
    }

    #[test]
    fn collator_drops_start_and_pads() {
        // `BURN_DEVICE` as the tests read it (Burn's own `Device::default()` gives `cpu` another
        // meaning: its CubeCL CPU backend).
        let device = burn_models::device::parse_device(None).unwrap();
        let batch = collate(
            vec![vec![0.0; 6], vec![0.0; 6]],
            2,
            3,
            vec![vec![9, 1, 2, 3], vec![9, 4]],
            9,
            &device,
        );
        assert_eq!(batch.labels, vec![vec![1, 2, 3], vec![4, -100, -100]]);
        assert_eq!(
            shift_tokens_right(&batch.labels, 0, 9),
            vec![vec![9, 1, 2], vec![9, 4, 0]]
        );
        // Kept when a label lacks it.
        let batch = collate(
            vec![vec![0.0; 6]; 2],
            2,
            3,
            vec![vec![9, 1], vec![1]],
            9,
            &device,
        );
        assert_eq!(batch.labels, vec![vec![9, 1], vec![1, -100]]);
    }
}
