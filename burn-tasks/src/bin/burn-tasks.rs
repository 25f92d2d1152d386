//! `burn-tasks <TASK> --model <DIR|HUB_ID> [options] <INPUT>...`: runs a pipeline and prints
//! what `transformers.pipeline(TASK)` returns for the same inputs, as JSON on stdout.

use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use burn_models::hub::HubOptions;
use burn_tasks::pipelines::PipelineSource;
use burn_tasks::pipelines::audio_classification::{
    self, AudioClassificationOptions, AudioClassificationPipeline,
};
use burn_tasks::pipelines::automatic_speech_recognition::{
    self, AsrOptions, AudioInput, AutomaticSpeechRecognitionPipeline, ReturnTimestamps,
};
use burn_tasks::pipelines::ctc_speech_recognition::{
    self, CtcAsrOptions, CtcSpeechRecognitionPipeline,
};
use burn_tasks::pipelines::document_question_answering::{
    self, DocumentQaInput, DocumentQuestionAnsweringOptions, DocumentQuestionAnsweringPipeline,
};
use burn_tasks::pipelines::image_classification::{
    self, ImageClassificationOptions, ImageClassificationPipeline,
};
use burn_tasks::pipelines::image_segmentation::{
    self, ImageSegmentationOptions, ImageSegmentationPipeline, Subtask,
};
use burn_tasks::pipelines::object_detection::{
    self, ObjectDetectionOptions, ObjectDetectionPipeline,
};
use burn_tasks::pipelines::question_answering::{
    self, QaInput, QuestionAnsweringOptions, QuestionAnsweringPipeline,
};
use burn_tasks::pipelines::text_classification::{
    self, FunctionToApply, InputShape, TextClassificationOptions, TextClassificationPipeline,
    TextInput, TopK,
};
use burn_tasks::pipelines::text2text_generation::{
    self, Text2TextGenerationPipeline, Text2TextOptions,
};
use burn_tasks::pipelines::token_classification::{
    self, AggregationStrategy, TokenClassificationOptions, TokenClassificationPipeline,
};
use burn_tasks::pipelines::visual_question_answering::{
    self, VisualQuestionAnsweringOptions, VisualQuestionAnsweringPipeline, VqaInput,
};
use clap::{Args, Parser, Subcommand};
use serde_json::Value;

#[derive(Parser)]
#[command(
    name = "burn-tasks",
    version,
    about = "Hugging Face pipelines in Rust, on Burn"
)]
struct Cli {
    #[command(subcommand)]
    task: TaskCommand,
}

/// Options every task takes: where the model comes from and where it runs.
#[derive(Args)]
struct ModelArgs {
    /// A local model directory (config.json, weights, tokenizer files) or a hub id.
    /// Defaults to the model HF's pipeline uses for the task.
    #[arg(long)]
    model: Option<String>,
    /// auto, cpu, ndarray, wgpu, cuda or cuda:N (default: $BURN_DEVICE, else the best built in).
    #[arg(long)]
    device: Option<String>,
    /// Hub revision (branch, tag or commit).
    #[arg(long)]
    revision: Option<String>,
    /// Hub token for gated or private models (default: $HF_TOKEN or the cached login).
    #[arg(long)]
    token: Option<String>,
    /// Hub cache directory (default: $HF_HUB_CACHE, $HF_HOME/hub, ~/.cache/huggingface/hub).
    #[arg(long)]
    cache_dir: Option<std::path::PathBuf>,
    /// Use only cached files (also $HF_HUB_OFFLINE=1).
    #[arg(long)]
    offline: bool,
    /// A PEFT LoRA adapter directory (adapter_config.json, adapter_model.safetensors)
    /// applied on top of --model.
    #[arg(long)]
    adapter: Option<std::path::PathBuf>,
    /// Inputs run through the model at once.
    #[arg(long, default_value_t = 8)]
    batch_size: usize,
}

impl ModelArgs {
    fn source(&self) -> Result<PipelineSource> {
        let device = burn_models::device::parse_device(self.device.as_deref())?;
        let mut hub = HubOptions::from_env();
        hub.revision = self.revision.clone().or(hub.revision);
        hub.token = self.token.clone().or(hub.token);
        hub.cache_dir = self.cache_dir.clone().or(hub.cache_dir);
        hub.offline |= self.offline;
        Ok(PipelineSource {
            model: self.model.clone(),
            hub,
            device,
            adapter: self.adapter.clone(),
        })
    }
}

/// Generation options of the seq2seq tasks, by HF's `generate()` names.
#[derive(Args)]
struct GenerateArgs {
    /// New tokens to generate at most (HF pipelines default to 256 unless the model sets max_length).
    #[arg(long)]
    max_new_tokens: Option<usize>,
    /// Total output length at most, decoder start token included.
    #[arg(long)]
    max_length: Option<usize>,
    /// Shortest output, decoder start token included.
    #[arg(long)]
    min_length: Option<usize>,
    /// Beams of beam search (1 = greedy).
    #[arg(long)]
    num_beams: Option<usize>,
    /// Outputs per input (at most num_beams).
    #[arg(long)]
    num_return_sequences: Option<usize>,
    #[arg(long)]
    length_penalty: Option<f32>,
    /// true, false or never.
    #[arg(long)]
    early_stopping: Option<String>,
    #[arg(long)]
    no_repeat_ngram_size: Option<usize>,
    #[arg(long)]
    repetition_penalty: Option<f32>,
    /// Sample instead of searching (with --temperature, --top-k, --top-p, --seed).
    #[arg(long)]
    do_sample: bool,
    #[arg(long)]
    temperature: Option<f32>,
    #[arg(long)]
    top_k: Option<usize>,
    #[arg(long)]
    top_p: Option<f32>,
    #[arg(long)]
    seed: Option<u64>,
    /// Truncate overlong inputs silently (by default they are truncated with a warning).
    #[arg(long)]
    truncation: bool,
    /// Remove spaces before punctuation in the output.
    #[arg(long)]
    clean_up_tokenization_spaces: bool,
}

impl GenerateArgs {
    fn options(&self, batch_size: usize) -> Result<Text2TextOptions> {
        let mut kwargs = serde_json::Map::new();
        let mut put = |key: &str, value: Option<Value>| {
            if let Some(value) = value {
                kwargs.insert(key.to_string(), value);
            }
        };
        put("max_new_tokens", self.max_new_tokens.map(Value::from));
        put("max_length", self.max_length.map(Value::from));
        put("min_length", self.min_length.map(Value::from));
        put("num_beams", self.num_beams.map(Value::from));
        put(
            "num_return_sequences",
            self.num_return_sequences.map(Value::from),
        );
        put("length_penalty", self.length_penalty.map(Value::from));
        put(
            "no_repeat_ngram_size",
            self.no_repeat_ngram_size.map(Value::from),
        );
        put(
            "repetition_penalty",
            self.repetition_penalty.map(Value::from),
        );
        put("temperature", self.temperature.map(Value::from));
        put("top_k", self.top_k.map(Value::from));
        put("top_p", self.top_p.map(Value::from));
        if self.do_sample {
            put("do_sample", Some(Value::Bool(true)));
        }
        let early = match self.early_stopping.as_deref() {
            None => None,
            Some("true") => Some(Value::Bool(true)),
            Some("false") => Some(Value::Bool(false)),
            Some("never") => Some(Value::from("never")),
            Some(other) => bail!("--early-stopping takes true, false or never, not `{other}`"),
        };
        put("early_stopping", early);
        Ok(Text2TextOptions {
            generate_kwargs: kwargs,
            truncation: self.truncation.then_some(true),
            clean_up_tokenization_spaces: self.clean_up_tokenization_spaces,
            batch_size,
            seed: self.seed,
            ..Text2TextOptions::default()
        })
    }
}

#[derive(Subcommand)]
enum TaskCommand {
    /// Summarize texts (BART, T5). Prints [{"summary_text": ...}].
    #[command(name = "summarization")]
    Summarization {
        #[command(flatten)]
        model: ModelArgs,
        #[command(flatten)]
        generate: GenerateArgs,
        /// Texts to summarize.
        #[arg(required = true)]
        inputs: Vec<String>,
    },
    /// Translate texts (Marian, T5). `translation_xx_to_yy` sets --src-lang/--tgt-lang.
    /// Prints [{"translation_text": ...}].
    #[command(name = "translation")]
    Translation {
        #[command(flatten)]
        model: ModelArgs,
        #[command(flatten)]
        generate: GenerateArgs,
        /// Source language (selects T5's task prefix `translation_{src}_to_{tgt}`).
        #[arg(long)]
        src_lang: Option<String>,
        /// Target language.
        #[arg(long)]
        tgt_lang: Option<String>,
        /// Texts to translate.
        #[arg(required = true)]
        inputs: Vec<String>,
    },
    /// Generate text from text with an encoder-decoder. Prints [{"generated_text": ...}].
    #[command(name = "text2text-generation")]
    Text2TextGeneration {
        #[command(flatten)]
        model: ModelArgs,
        #[command(flatten)]
        generate: GenerateArgs,
        #[arg(required = true)]
        inputs: Vec<String>,
    },
    /// Classify texts or text pairs.
    #[command(name = "text-classification", alias = "sentiment-analysis")]
    TextClassification {
        #[command(flatten)]
        model: ModelArgs,
        /// Labels to return per input, best first; `all` (HF's top_k=None) returns every label.
        /// Without it, HF's legacy output: the best label per input.
        #[arg(long)]
        top_k: Option<String>,
        /// default, sigmoid, softmax or none.
        #[arg(long, default_value = "default")]
        function_to_apply: String,
        /// Second text of a pair, for a single INPUT (as {"text": INPUT, "text_pair": ...}).
        #[arg(long)]
        text_pair: Option<String>,
        /// Truncate inputs longer than the model instead of failing.
        #[arg(long)]
        truncation: bool,
        /// Texts to classify; several are one batched call.
        #[arg(required = true)]
        inputs: Vec<String>,
    },
    /// Label tokens or entities (named entity recognition).
    #[command(name = "token-classification", alias = "ner")]
    TokenClassification {
        #[command(flatten)]
        model: ModelArgs,
        /// none, simple, first, average or max.
        #[arg(long, default_value = "none")]
        aggregation_strategy: String,
        /// Labels to leave out (comma separated; default O). `--ignore-labels ""` keeps all.
        #[arg(long, value_delimiter = ',')]
        ignore_labels: Option<Vec<String>>,
        /// Classify long texts in overlapping windows of the model's length, with this overlap.
        #[arg(long)]
        stride: Option<usize>,
        /// Texts; several are one batched call.
        #[arg(required = true)]
        inputs: Vec<String>,
    },
    /// Extract the answer to a question from a context.
    #[command(name = "question-answering")]
    QuestionAnswering {
        #[command(flatten)]
        model: ModelArgs,
        /// The question; repeat --question/--context for several (a batched call).
        #[arg(long, required = true)]
        question: Vec<String>,
        /// The context the answer is taken from, one per --question.
        #[arg(long, required = true)]
        context: Vec<String>,
        /// Answers per question.
        #[arg(long, default_value_t = 1)]
        top_k: usize,
        /// Overlap of context windows in tokens (default min(max_seq_len / 2, 128)).
        #[arg(long)]
        doc_stride: Option<usize>,
        /// Longest answer in tokens.
        #[arg(long, default_value_t = 15)]
        max_answer_len: usize,
        /// Tokens per window (default min(model_max_length, 384)).
        #[arg(long)]
        max_seq_len: Option<usize>,
        /// Accepted as HF does; its fast-tokenizer path does not use it.
        #[arg(long, default_value_t = 64)]
        max_question_len: usize,
        /// Also consider the null answer ("" at 0..0).
        #[arg(long)]
        handle_impossible_answer: bool,
    },
    /// Label images (PNG, JPEG, WebP, BMP files).
    #[command(name = "image-classification")]
    ImageClassification {
        #[command(flatten)]
        model: ModelArgs,
        /// Labels per image, best first.
        #[arg(long, default_value_t = 5)]
        top_k: usize,
        /// default, sigmoid, softmax or none.
        #[arg(long, default_value = "default")]
        function_to_apply: String,
        /// Image files; several are one batched call.
        #[arg(required = true)]
        images: Vec<std::path::PathBuf>,
    },
    /// Answer a question about an image (ViLT).
    #[command(name = "visual-question-answering", alias = "vqa")]
    VisualQuestionAnswering {
        #[command(flatten)]
        model: ModelArgs,
        /// The question.
        #[arg(long)]
        question: String,
        /// Answers to return, best first.
        #[arg(long, default_value_t = 5)]
        top_k: usize,
        /// The image (PNG, JPEG, WebP, BMP).
        image: std::path::PathBuf,
    },
    /// Answer a question about a document image (LayoutLM): from its words and boxes, or
    /// from Tesseract OCR of the image (cargo feature `ocr`).
    #[command(name = "document-question-answering")]
    DocumentQuestionAnswering {
        #[command(flatten)]
        model: ModelArgs,
        /// The question.
        #[arg(long)]
        question: String,
        /// The document's words as JSON: a list of [word, [x0, y0, x1, y1]] in 0-1000 units.
        /// Without it the image is read by OCR.
        #[arg(long)]
        word_boxes: Option<std::path::PathBuf>,
        /// Answers to return.
        #[arg(long, default_value_t = 1)]
        top_k: usize,
        /// Overlap of windows in tokens (default min(max_seq_len / 2, 256)).
        #[arg(long)]
        doc_stride: Option<usize>,
        /// Longest answer in tokens.
        #[arg(long, default_value_t = 15)]
        max_answer_len: usize,
        /// Tokens per window (default: the tokenizer's model_max_length).
        #[arg(long)]
        max_seq_len: Option<usize>,
        /// Also consider the null answer ("" at word 0..0).
        #[arg(long)]
        handle_impossible_answer: bool,
        /// OCR language (Tesseract's -l), e.g. eng.
        #[arg(long)]
        lang: Option<String>,
        /// Extra Tesseract arguments for OCR.
        #[arg(long, default_value = "")]
        tesseract_config: String,
        /// The document image (PNG, JPEG, ...).
        image: std::path::PathBuf,
    },
    /// Find objects in images: labelled boxes in pixels of the original image.
    #[command(name = "object-detection")]
    ObjectDetection {
        #[command(flatten)]
        model: ModelArgs,
        /// Keep detections scoring above this.
        #[arg(long, default_value_t = 0.5)]
        threshold: f32,
        /// Image files; several are one call.
        #[arg(required = true)]
        images: Vec<std::path::PathBuf>,
    },
    /// Segment images: labelled masks, written as 0/255 grayscale PNGs at the original size.
    #[command(name = "image-segmentation")]
    ImageSegmentation {
        #[command(flatten)]
        model: ModelArgs,
        /// panoptic, instance or semantic (default: the first the model supports, in that order).
        #[arg(long)]
        subtask: Option<String>,
        /// Keep segments whose class probability is above this.
        #[arg(long, default_value_t = 0.9)]
        threshold: f32,
        /// Mask probabilities at or above this count as a segment's area.
        #[arg(long, default_value_t = 0.5)]
        mask_threshold: f32,
        /// Drop segments left with less than this share of their own mask area.
        #[arg(long, default_value_t = 0.5)]
        overlap_mask_area_threshold: f64,
        /// Where the mask PNGs go (default: a new temporary directory); `mask` holds their paths.
        #[arg(long)]
        masks_dir: Option<std::path::PathBuf>,
        /// Image files; several are one call.
        #[arg(required = true)]
        images: Vec<std::path::PathBuf>,
    },
    /// Transcribe (or translate) speech with Whisper, or transcribe it with a CTC model
    /// (wav2vec2: greedy decoding, no generation options).
    #[command(name = "automatic-speech-recognition", alias = "asr")]
    AutomaticSpeechRecognition {
        #[command(flatten)]
        model: ModelArgs,
        /// Spoken language (code `en`, token `<|en|>` or name `english`); detected when unset.
        #[arg(long)]
        language: Option<String>,
        /// transcribe or translate (to English).
        #[arg(long)]
        task: Option<String>,
        /// Most tokens to generate (default: the model's max_length).
        #[arg(long)]
        max_new_tokens: Option<usize>,
        /// Beam search width (the pipeline's default is 5 unless the model sets its own).
        #[arg(long)]
        num_beams: Option<usize>,
        /// `true` for segment timestamps, `word` for word timestamps ({text, chunks});
        /// `char` or `word` for CTC models.
        #[arg(long, default_value = "false")]
        return_timestamps: String,
        /// Transcribe long audio in chunks of this many seconds, merged.
        #[arg(long)]
        chunk_length_s: Option<f64>,
        /// Chunk overlap in seconds: one value for both sides or `LEFT,RIGHT`
        /// (default chunk_length_s / 6).
        #[arg(long, value_delimiter = ',')]
        stride_length_s: Option<Vec<f64>>,
        /// Audio files (WAV, MP3, FLAC, OGG/Vorbis); several give a list.
        #[arg(required = true)]
        inputs: Vec<std::path::PathBuf>,
    },
    /// Classify audio clips.
    #[command(name = "audio-classification")]
    AudioClassification {
        #[command(flatten)]
        model: ModelArgs,
        /// Labels per input, best first.
        #[arg(long, default_value_t = 5)]
        top_k: usize,
        /// softmax, sigmoid or none.
        #[arg(long, default_value = "softmax")]
        function_to_apply: String,
        /// Audio files; several give a list.
        #[arg(required = true)]
        inputs: Vec<std::path::PathBuf>,
    },
}

fn main() -> ExitCode {
    burn_models::malloc::tune_allocator();
    log::set_logger(&StderrLogger).ok();
    log::set_max_level(log::LevelFilter::Warn);
    // `translation_en_to_de ...` as HF names the task: `translation --src-lang en --tgt-lang de`.
    let mut args: Vec<String> = std::env::args().collect();
    if let Some(task) = args.get(1).cloned()
        && let Some(pair) = task.strip_prefix("translation_")
        && let Some((src, tgt)) = pair.split_once("_to_")
    {
        args.splice(
            1..2,
            [
                "translation".to_string(),
                "--src-lang".into(),
                src.into(),
                "--tgt-lang".into(),
                tgt.into(),
            ],
        );
    }
    match run(Cli::parse_from(args)) {
        Ok(json) => {
            println!(
                "{}",
                serde_json::to_string_pretty(&json).expect("JSON values serialize")
            );
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<Value> {
    match cli.task {
        TaskCommand::VisualQuestionAnswering {
            model,
            question,
            top_k,
            image,
        } => {
            let options = VisualQuestionAnsweringOptions {
                top_k,
                batch_size: model.batch_size,
            };
            let pipeline = VisualQuestionAnsweringPipeline::new(&model.source()?)?;
            let results = pipeline.answer(&[VqaInput::new(image, question)], &options)?;
            Ok(visual_question_answering::to_hf_json(results, true))
        }
        command @ TaskCommand::DocumentQuestionAnswering { .. } => {
            document_question_answering(command)
        }
        TaskCommand::Summarization {
            model,
            generate,
            inputs,
        } => run_text2text("summarization", &model, &generate, None, inputs),
        TaskCommand::Text2TextGeneration {
            model,
            generate,
            inputs,
        } => run_text2text("text2text-generation", &model, &generate, None, inputs),
        TaskCommand::Translation {
            model,
            generate,
            src_lang,
            tgt_lang,
            inputs,
        } => run_text2text(
            "translation",
            &model,
            &generate,
            Some((src_lang, tgt_lang)),
            inputs,
        ),
        TaskCommand::TextClassification {
            model,
            top_k,
            function_to_apply,
            text_pair,
            truncation,
            inputs,
        } => {
            let top_k = match top_k.as_deref() {
                None => TopK::Unset,
                Some("all" | "none" | "None") => TopK::All,
                Some(n) => TopK::Some(n.parse().context("--top-k takes a number or `all`")?),
            };
            let options = TextClassificationOptions {
                top_k,
                function_to_apply: function_to_apply.parse::<FunctionToApply>()?,
                truncation,
                batch_size: model.batch_size,
            };
            if text_pair.is_some() && inputs.len() != 1 {
                bail!("--text-pair goes with exactly one INPUT");
            }
            let shape = match (&text_pair, inputs.len()) {
                (Some(_), _) => InputShape::SinglePair,
                (None, 1) => InputShape::SingleText,
                _ => InputShape::List,
            };
            let inputs: Vec<TextInput> = inputs
                .into_iter()
                .map(|text| TextInput {
                    text,
                    text_pair: text_pair.clone(),
                })
                .collect();
            let pipeline = TextClassificationPipeline::new(&model.source()?)?;
            let results = pipeline.classify(&inputs, &options)?;
            Ok(text_classification::to_hf_json(results, shape, top_k))
        }
        TaskCommand::TokenClassification {
            model,
            aggregation_strategy,
            ignore_labels,
            stride,
            inputs,
        } => {
            let mut options = TokenClassificationOptions {
                aggregation_strategy: aggregation_strategy.parse::<AggregationStrategy>()?,
                stride,
                batch_size: model.batch_size,
                ..TokenClassificationOptions::default()
            };
            if let Some(labels) = ignore_labels {
                options.ignore_labels = labels.into_iter().filter(|l| !l.is_empty()).collect();
            }
            let shape = if inputs.len() == 1 {
                token_classification::InputShape::Single
            } else {
                token_classification::InputShape::List
            };
            let pipeline = TokenClassificationPipeline::new(&model.source()?)?;
            let results = pipeline.classify(&inputs, &options)?;
            Ok(token_classification::to_hf_json(results, shape))
        }
        TaskCommand::QuestionAnswering {
            model,
            question,
            context,
            top_k,
            doc_stride,
            max_answer_len,
            max_seq_len,
            max_question_len,
            handle_impossible_answer,
        } => {
            if question.len() != context.len() {
                bail!(
                    "{} --question but {} --context: give one context per question",
                    question.len(),
                    context.len()
                );
            }
            let options = QuestionAnsweringOptions {
                top_k,
                doc_stride,
                max_answer_len,
                max_seq_len,
                max_question_len,
                handle_impossible_answer,
                batch_size: model.batch_size,
                ..QuestionAnsweringOptions::default()
            };
            let inputs: Vec<QaInput> = question
                .into_iter()
                .zip(context)
                .map(|(q, c)| QaInput::new(q, c))
                .collect();
            let pipeline = QuestionAnsweringPipeline::new(&model.source()?)?;
            let results = pipeline.answer(&inputs, &options)?;
            Ok(question_answering::to_hf_json(results))
        }
        TaskCommand::ImageClassification {
            model,
            top_k,
            function_to_apply,
            images,
        } => {
            let options = ImageClassificationOptions {
                top_k,
                function_to_apply: function_to_apply.parse::<FunctionToApply>()?,
                batch_size: model.batch_size,
            };
            let single = images.len() == 1;
            let images: Vec<_> = images.into_iter().map(Into::into).collect();
            let pipeline = ImageClassificationPipeline::new(&model.source()?)?;
            let results = pipeline.classify(&images, &options)?;
            Ok(image_classification::to_hf_json(results, single))
        }
        TaskCommand::ObjectDetection {
            model,
            threshold,
            images,
        } => {
            let options = ObjectDetectionOptions {
                threshold,
                batch_size: model.batch_size,
            };
            let single = images.len() == 1;
            let images: Vec<_> = images.into_iter().map(Into::into).collect();
            let pipeline = ObjectDetectionPipeline::new(&model.source()?)?;
            let results = pipeline.detect(&images, &options)?;
            Ok(object_detection::to_hf_json(results, single))
        }
        TaskCommand::ImageSegmentation {
            model,
            subtask,
            threshold,
            mask_threshold,
            overlap_mask_area_threshold,
            masks_dir,
            images,
        } => {
            let options = ImageSegmentationOptions {
                subtask: subtask.as_deref().map(str::parse::<Subtask>).transpose()?,
                threshold,
                mask_threshold,
                overlap_mask_area_threshold,
                batch_size: model.batch_size,
            };
            let single = images.len() == 1;
            let images: Vec<_> = images.into_iter().map(Into::into).collect();
            let pipeline = ImageSegmentationPipeline::new(&model.source()?)?;
            let results = pipeline.segment(&images, &options)?;
            let dir = image_segmentation::masks_dir(masks_dir.as_deref())?;
            Ok(image_segmentation::to_hf_json(results, single, &dir)?)
        }
        TaskCommand::AutomaticSpeechRecognition {
            model,
            language,
            task,
            max_new_tokens,
            num_beams,
            return_timestamps,
            chunk_length_s,
            stride_length_s,
            inputs,
        } => {
            let source = model.source()?;
            if ctc_speech_recognition::uses_ctc(&source) {
                if language.is_some() || task.is_some() || max_new_tokens.is_some() {
                    bail!(
                        "--language, --task and --max-new-tokens apply to Whisper, not CTC models"
                    );
                }
                if num_beams.is_some() {
                    bail!("--num-beams: CTC models decode greedily");
                }
                let options = CtcAsrOptions {
                    chunk_length_s,
                    stride_length_s: match stride_length_s.as_deref() {
                        None => None,
                        Some([both]) => Some((*both, *both)),
                        Some([left, right]) => Some((*left, *right)),
                        Some(_) => bail!("--stride-length-s takes one value or LEFT,RIGHT"),
                    },
                    batch_size: model.batch_size,
                    return_timestamps: return_timestamps.parse()?,
                };
                let (inputs, single) = audio_files(inputs);
                let pipeline = CtcSpeechRecognitionPipeline::new(&source)?;
                let results = pipeline.transcribe(&inputs, &options)?;
                return Ok(ctc_speech_recognition::to_hf_json(results, single));
            }
            let stride_length_s = match stride_length_s.as_deref() {
                None => None,
                Some([both]) => Some((*both, *both)),
                Some([left, right]) => Some((*left, *right)),
                Some(_) => bail!("--stride-length-s takes one value or LEFT,RIGHT"),
            };
            let mut options = AsrOptions {
                chunk_length_s,
                stride_length_s,
                return_timestamps: match return_timestamps.as_str() {
                    "true" | "True" => ReturnTimestamps::Segments,
                    "false" | "False" => ReturnTimestamps::None,
                    "word" => ReturnTimestamps::Words,
                    other => bail!("--return-timestamps takes true, false or word, not `{other}`"),
                },
                ..AsrOptions::default()
            };
            let kwargs = &mut options.generate_kwargs;
            if let Some(language) = language {
                kwargs.insert("language".into(), language.into());
            }
            if let Some(task) = task {
                kwargs.insert("task".into(), task.into());
            }
            if let Some(n) = max_new_tokens {
                kwargs.insert("max_new_tokens".into(), n.into());
            }
            if let Some(n) = num_beams {
                kwargs.insert("num_beams".into(), n.into());
            }
            let (inputs, single) = audio_files(inputs);
            let pipeline = AutomaticSpeechRecognitionPipeline::new(&model.source()?)?;
            let results = pipeline.transcribe(&inputs, &options)?;
            Ok(automatic_speech_recognition::to_hf_json(results, single))
        }
        TaskCommand::AudioClassification {
            model,
            top_k,
            function_to_apply,
            inputs,
        } => {
            let options = AudioClassificationOptions {
                top_k,
                function_to_apply: function_to_apply.parse()?,
            };
            let (inputs, single) = audio_files(inputs);
            let pipeline = AudioClassificationPipeline::new(&model.source()?)?;
            let results = pipeline.classify(&inputs, &options)?;
            Ok(audio_classification::to_hf_json(results, single))
        }
    }
}

fn document_question_answering(command: TaskCommand) -> Result<Value> {
    let TaskCommand::DocumentQuestionAnswering {
        model,
        question,
        word_boxes,
        top_k,
        doc_stride,
        max_answer_len,
        max_seq_len,
        handle_impossible_answer,
        lang,
        tesseract_config,
        image,
    } = command
    else {
        unreachable!("called for document-question-answering only")
    };
    let word_boxes = match word_boxes {
        Some(path) => {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("reading --word-boxes {}", path.display()))?;
            let json: Value = serde_json::from_str(&text)
                .with_context(|| format!("--word-boxes {} is not JSON", path.display()))?;
            Some(document_question_answering::parse_word_boxes(&json)?)
        }
        None => None,
    };
    let options = DocumentQuestionAnsweringOptions {
        top_k,
        doc_stride,
        max_answer_len,
        max_seq_len,
        handle_impossible_answer,
        lang,
        tesseract_config,
        batch_size: model.batch_size,
        ..DocumentQuestionAnsweringOptions::default()
    };
    let input = DocumentQaInput {
        question,
        image: Some(image),
        word_boxes,
    };
    let pipeline = DocumentQuestionAnsweringPipeline::new(&model.source()?)?;
    let results = pipeline.answer(&[input], &options)?;
    Ok(document_question_answering::to_hf_json(results, true))
}

fn run_text2text(
    task: &str,
    model: &ModelArgs,
    generate: &GenerateArgs,
    langs: Option<(Option<String>, Option<String>)>,
    inputs: Vec<String>,
) -> Result<Value> {
    let mut options = generate.options(1)?;
    let mut task_name = task.to_string();
    if let Some((src, tgt)) = langs {
        if let (Some(s), Some(t)) = (&src, &tgt) {
            task_name = format!("translation_{s}_to_{t}");
        }
        options.src_lang = src;
        options.tgt_lang = tgt;
    }
    if model.batch_size != 8 {
        options.batch_size = model.batch_size;
    }
    let pipeline = Text2TextGenerationPipeline::new(&model.source()?, &task_name)?;
    let single = inputs.len() == 1;
    let results = pipeline.generate(&inputs, &options)?;
    Ok(text2text_generation::to_hf_json(
        pipeline.task(),
        results,
        single,
    ))
}

fn audio_files(inputs: Vec<std::path::PathBuf>) -> (Vec<AudioInput>, bool) {
    let single = inputs.len() == 1;
    (inputs.into_iter().map(AudioInput::File).collect(), single)
}

/// Library warnings (unused checkpoint tensors, truncation) go to stderr.
struct StderrLogger;

impl log::Log for StderrLogger {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.level() <= log::Level::Warn
    }
    fn log(&self, record: &log::Record) {
        if self.enabled(record.metadata()) {
            eprintln!("warning: {}", record.args());
        }
    }
    fn flush(&self) {}
}
