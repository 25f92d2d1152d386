//! `visual-question-answering` (alias `vqa`), as `transformers` 4.57's
//! `VisualQuestionAnsweringPipeline` runs classifier models such as ViLT: the question is
//! tokenized (no truncation), the image goes through the model's image processor, and the
//! answers are the `top_k` labels by sigmoid score.

use burn::tensor::Device;
use burn_models::auto::load_visual_question_answerer;
use burn_models::config::CommonConfig;
use burn_models::heads::VisualQuestionAnswerer;
use serde::Serialize;
use serde_json::Value;

use super::image_classification::{image_from_json, to_json_per_input};
use super::kwargs::{InputKind, Kwargs, OptionSpec, ValueKind};
use super::scores::{FunctionToApply, host_values, map_rows, ranked, require_labels};
use super::{InputForm, PipelineBuilder, TaskPipeline, TaskSpec};
use crate::error::{Result, TaskError};
use crate::input::ImageInput;
use crate::processors::{ImageProcessor, TextTokenizer};

/// The `visual-question-answering` task: its name, default model and options.
pub static TASK: TaskSpec = TaskSpec::new::<VisualQuestionAnsweringPipeline>(
    "visual-question-answering",
    &["vqa"],
    "Answer a question about an image (ViLT)",
    "dandelin/vilt-b32-finetuned-vqa",
    InputKind::Image,
    &[
        OptionSpec::new("question", ValueKind::Text, "The question"),
        OptionSpec::new(
            "image",
            ValueKind::Text,
            "The image, if not given as the input",
        ),
        OptionSpec::new(
            "top_k",
            ValueKind::Count,
            "Answers to return, best first (default 5)",
        ),
        OptionSpec::new(
            "batch_size",
            ValueKind::Count,
            "Questions run at once (default 1)",
        ),
    ],
);

/// Keyword arguments of `visual-question-answering`, as in transformers'
/// `VisualQuestionAnsweringPipeline`.
#[derive(Debug, Clone)]
pub struct VisualQuestionAnsweringOptions {
    /// Answers per question, best first (clamped to the answer vocabulary). HF's default is 5.
    pub top_k: usize,
    /// Questions run through the model together (images padded to the largest, as the
    /// processor pads them; the masked padding does not change the answers).
    pub batch_size: usize,
}

impl Default for VisualQuestionAnsweringOptions {
    fn default() -> Self {
        Self {
            top_k: 5,
            batch_size: 1,
        }
    }
}

/// A question about an image.
#[derive(Debug, Clone)]
pub struct VqaInput {
    /// The image.
    pub image: ImageInput,
    /// The question about it.
    pub question: String,
}

impl VqaInput {
    /// A question about `image`.
    pub fn new(image: impl Into<ImageInput>, question: impl Into<String>) -> Self {
        Self {
            image: image.into(),
            question: question.into(),
        }
    }
}

/// One answer: `{"score", "answer"}` as HF's pipeline returns it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VqaAnswer {
    /// Sigmoid score of the answer.
    pub score: f32,
    /// The answer, from the config's `id2label`.
    pub answer: String,
}

/// A ViLT visual question-answering model with its tokenizer and image processor, as
/// transformers' `pipeline("visual-question-answering")`.
pub struct VisualQuestionAnsweringPipeline {
    model: Box<dyn VisualQuestionAnswerer>,
    tokenizer: TextTokenizer,
    processor: ImageProcessor,
    device: Device,
}

impl TaskPipeline for VisualQuestionAnsweringPipeline {
    const TASKS: &'static [&'static TaskSpec] = &[&TASK];
    type Options = VisualQuestionAnsweringOptions;
    type Input = VqaInput;
    type Output = Vec<VqaAnswer>;

    fn load(source: &PipelineBuilder<Self>) -> Result<Self> {
        let device = source.target_device()?;
        let dir = source.resolve()?;
        let model = source.prepare_model(load_visual_question_answerer(&dir, &device)?)?;
        require_labels(model.common_config(), &dir)?;
        Ok(Self {
            model,
            tokenizer: TextTokenizer::from_model_dir(&dir)?,
            processor: ImageProcessor::from_model_dir(&dir)?,
            device,
        })
    }

    fn options(&self, kwargs: &mut Kwargs) -> Result<VisualQuestionAnsweringOptions> {
        let mut options = VisualQuestionAnsweringOptions::default();
        kwargs.update("top_k", &mut options.top_k)?;
        kwargs.update("batch_size", &mut options.batch_size)?;
        Ok(options)
    }

    /// `pipe(image, question=...)`, `pipe(image=..., question=...)`, `pipe({"image",
    /// "question"})` or a list of such dicts; `image` is a path.
    fn inputs(&self, inputs: &Value, kwargs: &mut Kwargs) -> Result<(Vec<VqaInput>, InputForm)> {
        let image = kwargs.take("image");
        let question = kwargs.take("question");
        let vqa_input = |value: &Value| -> Result<VqaInput> {
            let question = match value.get("question") {
                Some(Value::String(q)) => q.clone(),
                _ => {
                    return Err(TaskError::InvalidInput(format!(
                        "a visual-question-answering input needs a string \"question\", got {value}"
                    )));
                }
            };
            let image = value.get("image").unwrap_or(&Value::Null);
            Ok(VqaInput::new(image_from_json(image)?, question))
        };
        Ok(match (inputs, image, question) {
            (Value::Array(items), None, None) => (
                items.iter().map(vqa_input).collect::<Result<_>>()?,
                InputForm::List,
            ),
            (Value::Object(_), None, None) => (vec![vqa_input(inputs)?], InputForm::Dict),
            // `pipe(image, question=...)` or `pipe(image=..., question=...)`.
            (Value::String(_), None, Some(question)) => {
                let one = serde_json::json!({"image": inputs, "question": question});
                (vec![vqa_input(&one)?], InputForm::One)
            }
            (Value::Null, Some(image), Some(question)) => {
                let one = serde_json::json!({"image": image, "question": question});
                (vec![vqa_input(&one)?], InputForm::One)
            }
            _ => {
                return Err(TaskError::InvalidInput(
                    "visual-question-answering takes {\"image\", \"question\"} dicts, or image and question="
                        .into(),
                ));
            }
        })
    }

    fn run(
        &self,
        inputs: &[VqaInput],
        options: &VisualQuestionAnsweringOptions,
    ) -> Result<Vec<Vec<VqaAnswer>>> {
        self.answer(inputs, options)
    }

    /// One question gives its list of answers, several a list of lists.
    fn to_json(
        &self,
        outputs: Vec<Vec<VqaAnswer>>,
        form: InputForm,
        _: &VisualQuestionAnsweringOptions,
    ) -> Result<Value> {
        to_json_per_input(outputs, form)
    }
}

impl VisualQuestionAnsweringPipeline {
    /// The model's config (the answer vocabulary).
    pub fn config(&self) -> &CommonConfig {
        self.model.common_config()
    }

    /// Answers per question, best first.
    pub fn answer(
        &self,
        inputs: &[VqaInput],
        options: &VisualQuestionAnsweringOptions,
    ) -> Result<Vec<Vec<VqaAnswer>>> {
        if options.batch_size == 0 {
            return Err(TaskError::option("batch_size", "must be at least 1"));
        }
        if options.top_k == 0 {
            return Err(TaskError::option("top_k", "should be >= 1 (got 0)"));
        }
        if inputs.is_empty() {
            return Err(TaskError::InvalidInput(
                "at least one question is required".into(),
            ));
        }
        let config = self.model.common_config();
        let labels = config.num_labels();
        let top_k = options.top_k.min(labels);
        let mut results = Vec::with_capacity(inputs.len());
        for chunk in inputs.chunks(options.batch_size) {
            let mut encodings = Vec::with_capacity(chunk.len());
            for input in chunk {
                if input.question.trim().is_empty() {
                    return Err(TaskError::InvalidInput("`question` cannot be empty".into()));
                }
                encodings.push(self.tokenizer.encode(&input.question, None)?);
            }
            let images = chunk
                .iter()
                .map(|input| input.image.load())
                .collect::<Result<Vec<_>>>()?;
            let pixels = self.processor.process(&images)?;
            let text =
                self.tokenizer
                    .batch(&encodings.iter().collect::<Vec<_>>(), true, &self.device)?;
            let logits = self.model.logits(
                &text,
                pixels.pixel_values(&self.device),
                pixels.pixel_mask(&self.device),
            )?;
            let values = host_values(logits)?;
            results.extend(map_rows(&values, labels, |row| {
                ranked(
                    FunctionToApply::Sigmoid.apply(row),
                    |i| config.label(i),
                    top_k,
                )
                .into_iter()
                .map(|l| VqaAnswer {
                    score: l.score,
                    answer: l.label,
                })
                .collect()
            }));
        }
        Ok(results)
    }
}
