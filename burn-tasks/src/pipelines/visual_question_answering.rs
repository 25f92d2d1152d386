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

use super::{PipelineSource, Task, sigmoid};
use crate::error::{Result, TaskError};
use crate::input::ImageInput;
use crate::processors::{ImageProcessor, TextTokenizer};

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
    pub image: ImageInput,
    pub question: String,
}

impl VqaInput {
    pub fn new(image: impl Into<ImageInput>, question: impl Into<String>) -> Self {
        Self {
            image: image.into(),
            question: question.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VqaAnswer {
    pub score: f32,
    pub answer: String,
}

pub struct VisualQuestionAnsweringPipeline {
    model: Box<dyn VisualQuestionAnswerer>,
    tokenizer: TextTokenizer,
    processor: ImageProcessor,
    device: Device,
}

impl VisualQuestionAnsweringPipeline {
    pub fn new(source: &PipelineSource) -> Result<Self> {
        let dir = source.resolve(Task::VisualQuestionAnswering)?;
        let model = source.apply_adapter(load_visual_question_answerer(&dir, &source.device)?)?;
        if model.common_config().num_labels() == 0 {
            return Err(TaskError::InvalidInput(format!(
                "{}: the config defines no answers (empty id2label)",
                dir.path().display()
            )));
        }
        let processor_path = dir.file("preprocessor_config.json").ok_or_else(|| {
            TaskError::InvalidInput(format!(
                "{}: no preprocessor_config.json (the image processor's settings)",
                dir.path().display()
            ))
        })?;
        Ok(Self {
            model,
            tokenizer: TextTokenizer::from_model_dir(&dir)?,
            processor: ImageProcessor::from_file(&processor_path)?,
            device: source.device.clone(),
        })
    }

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
            let values = logits
                .into_data()
                .try_to_vec::<f32>()
                .map_err(|e| TaskError::InvalidInput(format!("reading logits: {e:?}")))?;
            for row in values.chunks(labels) {
                let mut scored: Vec<(usize, f32)> =
                    row.iter().map(|&v| sigmoid(v)).enumerate().collect();
                // torch.topk: largest first.
                scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
                results.push(
                    scored
                        .into_iter()
                        .take(top_k)
                        .map(|(i, score)| VqaAnswer {
                            score,
                            answer: config.label(i),
                        })
                        .collect(),
                );
            }
        }
        Ok(results)
    }
}

/// HF's JSON for a call: one question gives its list of answers, several a list of lists.
pub fn to_hf_json(results: Vec<Vec<VqaAnswer>>, single: bool) -> Value {
    let mut values: Vec<Value> = results
        .into_iter()
        .map(|answers| serde_json::to_value(answers).expect("answers serialize"))
        .collect();
    if single && values.len() == 1 {
        values.pop().expect("one result")
    } else {
        Value::Array(values)
    }
}
