//! The two fine-tuning recipes of the Hugging Face course and task guides, with their
//! defaults:
//!
//! * text classification: `google-bert/bert-base-cased` on `Yelp/yelp_review_full` (5 labels),
//!   `padding="max_length"` + truncation, lr 5e-5, batch 8, 3 epochs, accuracy on the test
//!   split; the course samples 1,000 training and 1,000 test reviews with seed 42;
//! * question answering: `distilbert/distilbert-base-uncased` on `rajpurkar/squad` (or
//!   `squad_v2`), max_length 384, doc_stride 128, lr 2e-5, weight decay 0.01, batch 16,
//!   3 epochs, EM/F1 on the validation split.

use std::collections::BTreeMap;
use std::path::PathBuf;

use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Int, Tensor, TensorData};
use burn_models::hub::{HubOptions, ModelDir};

use super::data::{
    ClassificationColumns, ClassificationExample, QaExample, load_split, shuffle_select,
};
use super::features::{
    ClassificationFeature, QaEvalFeature, QaTrainFeature, QaWindows, Tokens,
    classification_features, qa_eval_features, qa_train_features,
};
use super::metrics::{
    PostprocessOptions, accuracy, postprocess_qa_predictions, squad_v1, squad_v2,
};
use super::models::{
    ClassifierModel, Pretrained, QaModel, SaveHf, load_classifier, load_question_answering,
    save_pretrained,
};
use super::trainer::{TrainTask, TrainingArguments, train};
use crate::error::{Result, TaskError};
use crate::processors::TextTokenizer;

/// Mean cross-entropy of `logits` `[batch, classes]` against class indices.
pub fn cross_entropy(logits: Tensor<2>, targets: &[usize]) -> Tensor<1> {
    let [batch, _] = logits.dims();
    let device = logits.device();
    let targets: Tensor<2, Int> = Tensor::from_data(
        TensorData::new(
            targets.iter().map(|&t| t as i64).collect::<Vec<_>>(),
            [batch, 1],
        ),
        &device,
    );
    let picked = log_softmax(logits, 1).gather(1, targets);
    picked.mean().neg()
}

fn to_rows(tensor: Tensor<2>) -> Result<Vec<Vec<f32>>> {
    let [rows, cols] = tensor.dims();
    let values = tensor
        .into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .map_err(|e| TaskError::Internal(format!("reading logits: {e:?}")))?;
    Ok((0..rows)
        .map(|r| values[r * cols..(r + 1) * cols].to_vec())
        .collect())
}

fn argmax(row: &[f32]) -> usize {
    row.iter()
        .enumerate()
        .fold((0, f32::NEG_INFINITY), |best, (i, &v)| {
            if v > best.1 { (i, v) } else { best }
        })
        .0
}

// -----------------------------------------------------------------------------------------
// Text classification
// -----------------------------------------------------------------------------------------

/// Sequence classification on tokenized features.
pub struct ClassificationTask {
    /// Training features.
    pub train: Vec<ClassificationFeature>,
    /// Evaluation features.
    pub eval: Vec<ClassificationFeature>,
    /// Whether the model takes `token_type_ids` (BERT does, DistilBERT does not).
    pub token_types: bool,
}

impl TrainTask for ClassificationTask {
    type Model = ClassifierModel;

    fn train_len(&self) -> usize {
        self.train.len()
    }

    fn loss(&self, model: &ClassifierModel, batch: &[usize], device: &Device) -> Result<Tensor<1>> {
        let rows: Vec<&Tokens> = batch.iter().map(|&i| &self.train[i].tokens).collect();
        let labels: Vec<usize> = batch.iter().map(|&i| self.train[i].label).collect();
        let input = Tokens::batch(&rows, self.token_types, device)?;
        Ok(cross_entropy(model.logits(&input)?, &labels))
    }

    fn evaluate(
        &self,
        model: &ClassifierModel,
        device: &Device,
        batch_size: usize,
    ) -> Result<BTreeMap<String, f64>> {
        let (predictions, loss) =
            classify(model, &self.eval, self.token_types, device, batch_size)?;
        let references: Vec<usize> = self.eval.iter().map(|f| f.label).collect();
        Ok(BTreeMap::from([
            ("accuracy".to_string(), accuracy(&predictions, &references)),
            ("loss".to_string(), loss),
        ]))
    }
}

/// Predicted classes and mean loss over `features`.
pub fn classify(
    model: &ClassifierModel,
    features: &[ClassificationFeature],
    token_types: bool,
    device: &Device,
    batch_size: usize,
) -> Result<(Vec<usize>, f64)> {
    let mut predictions = Vec::with_capacity(features.len());
    let mut loss_sum = 0.0;
    for chunk in features.chunks(batch_size.max(1)) {
        let rows: Vec<&Tokens> = chunk.iter().map(|f| &f.tokens).collect();
        let labels: Vec<usize> = chunk.iter().map(|f| f.label).collect();
        let logits = model.logits(&Tokens::batch(&rows, token_types, device)?)?;
        loss_sum += f64::from(cross_entropy(logits.clone(), &labels).into_scalar::<f32>())
            * chunk.len() as f64;
        predictions.extend(to_rows(logits)?.iter().map(|r| argmax(r)));
    }
    Ok((predictions, loss_sum / features.len().max(1) as f64))
}

/// Settings of the text classification recipe.
#[derive(Debug, Clone)]
pub struct TextClassificationRecipe {
    /// A model directory or hub id.
    pub model: String,
    /// A dataset file, directory, or hub id.
    pub data: String,
    /// The split trained on (`train`).
    pub train_split: String,
    /// The split evaluated on (`test`).
    pub eval_split: String,
    /// Take this many training / evaluation examples after a seeded shuffle (all when unset).
    pub train_samples: Option<usize>,
    /// See `train_samples`.
    pub eval_samples: Option<usize>,
    /// Which columns hold the text and the label.
    pub columns: ClassificationColumns,
    /// Classes of the classifier head (5 for Yelp's star ratings).
    pub num_labels: usize,
    /// Padding/truncation length; the tokenizer's `model_max_length` (capped at 512) when unset.
    pub max_length: Option<usize>,
    /// Evaluate once before training too (reported as `initial_metrics`).
    pub evaluate_before_training: bool,
    /// The training loop's settings, as transformers' `TrainingArguments`.
    pub args: TrainingArguments,
}

impl Default for TextClassificationRecipe {
    fn default() -> Self {
        Self {
            model: "google-bert/bert-base-cased".into(),
            data: "Yelp/yelp_review_full".into(),
            train_split: "train".into(),
            eval_split: "test".into(),
            train_samples: Some(1000),
            eval_samples: Some(1000),
            columns: ClassificationColumns::default(),
            num_labels: 5,
            max_length: None,
            evaluate_before_training: false,
            args: TrainingArguments {
                output_dir: "test_trainer".into(),
                ..TrainingArguments::default()
            },
        }
    }
}

/// What a recipe run returns.
#[derive(Debug, Clone)]
pub struct RecipeOutput {
    /// Metrics of the final evaluation.
    pub metrics: BTreeMap<String, f64>,
    /// Metrics of the evaluation before training, with `evaluate_before_training`.
    pub initial_metrics: Option<BTreeMap<String, f64>>,
    /// Mean training loss of each epoch run.
    pub epoch_losses: Vec<f64>,
    /// Optimizer steps taken.
    pub global_step: usize,
    /// The final model, in the Hugging Face layout.
    pub model_dir: PathBuf,
    /// How many training features there were (tokenized examples; windows for QA).
    pub train_features: usize,
    /// How many evaluation features there were.
    pub eval_features: usize,
    /// Weights the checkpoint lacked, initialised fresh (HF's "newly initialized" warning).
    pub newly_initialized: Vec<String>,
}

fn resolve_model(model: &str) -> Result<ModelDir> {
    Ok(ModelDir::resolve(model, &HubOptions::from_env())?)
}

/// What both recipes do once their task is built: evaluate first if asked, train, save the
/// model in the Hugging Face layout under `args.output_dir`, and report.
#[allow(clippy::too_many_arguments)]
fn train_and_save<T: TrainTask>(
    task: &T,
    model: T::Model,
    pretrained: Pretrained,
    source: &ModelDir,
    args: &TrainingArguments,
    evaluate_before_training: bool,
    eval_features: usize,
    device: &Device,
) -> Result<RecipeOutput>
where
    T::Model: SaveHf,
{
    if !pretrained.newly_initialized.is_empty() {
        log::warn!(
            "newly initialized (train this model before using it): {}",
            pretrained.newly_initialized.join(", ")
        );
    }
    let plain = device.clone().inner();
    let initial_metrics = if evaluate_before_training {
        Some(task.evaluate(
            &burn::module::Module::valid(&model),
            &plain,
            args.per_device_eval_batch_size,
        )?)
    } else {
        None
    };
    let out = train(task, model, args, device)?;
    save_pretrained(&out.model, &pretrained, source, &args.output_dir)?;
    Ok(RecipeOutput {
        metrics: out.metrics,
        initial_metrics,
        epoch_losses: out.epoch_losses,
        global_step: out.state.global_step,
        model_dir: args.output_dir.clone(),
        train_features: task.train_len(),
        eval_features,
        newly_initialized: pretrained.newly_initialized,
    })
}

fn recipe_max_length(tokenizer: &TextTokenizer, max_length: Option<usize>) -> usize {
    max_length.unwrap_or_else(|| tokenizer.model_max_length.min(512))
}

/// Fine-tunes a sequence classifier (the Yelp recipe) and saves it under `args.output_dir`.
pub fn run_text_classification(
    recipe: &TextClassificationRecipe,
    device: &Device,
) -> Result<RecipeOutput> {
    let dir = resolve_model(&recipe.model)?;
    let tokenizer = TextTokenizer::from_model_dir(&dir)?;
    let examples = |split: &str, samples: Option<usize>| -> Result<Vec<ClassificationExample>> {
        let records = shuffle_select(load_split(&recipe.data, split)?, samples, recipe.args.seed);
        records
            .iter()
            .map(|r| ClassificationExample::from_record(r, &recipe.columns, recipe.num_labels))
            .collect()
    };
    let train_examples = examples(&recipe.train_split, recipe.train_samples)?;
    let eval_examples = examples(&recipe.eval_split, recipe.eval_samples)?;
    let max_length = recipe_max_length(&tokenizer, recipe.max_length);
    // HF's `set_seed(seed)` before `from_pretrained`: fresh heads are reproducible.
    let plain = device.clone().inner();
    plain.seed(recipe.args.seed);
    let (model, pretrained) = load_classifier(&dir, &plain, recipe.num_labels, None)?;
    let task = ClassificationTask {
        train: classification_features(&tokenizer, &train_examples, max_length)?,
        eval: classification_features(&tokenizer, &eval_examples, max_length)?,
        token_types: model.uses_token_types(),
    };
    let eval_features = task.eval.len();
    train_and_save(
        &task,
        model,
        pretrained,
        &dir,
        &recipe.args,
        recipe.evaluate_before_training,
        eval_features,
        device,
    )
}

// -----------------------------------------------------------------------------------------
// Question answering
// -----------------------------------------------------------------------------------------

/// Extractive question answering on SQuAD windows.
pub struct QuestionAnsweringTask {
    /// Training windows, with their answer positions.
    pub train: Vec<QaTrainFeature>,
    /// The evaluation examples, for the metrics.
    pub eval_examples: Vec<QaExample>,
    /// Evaluation windows, mapped back to their examples.
    pub eval: Vec<QaEvalFeature>,
    /// How span logits become answers (n-best size, maximum length, null threshold).
    pub postprocess: PostprocessOptions,
    /// Whether the model takes `token_type_ids` (BERT does, DistilBERT does not).
    pub token_types: bool,
}

impl TrainTask for QuestionAnsweringTask {
    type Model = QaModel;

    fn train_len(&self) -> usize {
        self.train.len()
    }

    /// `(CE(start) + CE(end)) / 2`, as `*ForQuestionAnswering` computes it.
    fn loss(&self, model: &QaModel, batch: &[usize], device: &Device) -> Result<Tensor<1>> {
        let rows: Vec<&Tokens> = batch.iter().map(|&i| &self.train[i].tokens).collect();
        let starts: Vec<usize> = batch
            .iter()
            .map(|&i| self.train[i].start_position)
            .collect();
        let ends: Vec<usize> = batch.iter().map(|&i| self.train[i].end_position).collect();
        let (start_logits, end_logits) =
            model.span_logits(&Tokens::batch(&rows, self.token_types, device)?)?;
        Ok(
            (cross_entropy(start_logits, &starts) + cross_entropy(end_logits, &ends))
                .div_scalar(2.0),
        )
    }

    fn evaluate(
        &self,
        model: &QaModel,
        device: &Device,
        batch_size: usize,
    ) -> Result<BTreeMap<String, f64>> {
        let logits = span_logits(model, &self.eval, self.token_types, device, batch_size)?;
        let predictions =
            postprocess_qa_predictions(&self.eval_examples, &self.eval, &logits, &self.postprocess);
        Ok(if self.postprocess.version_2_with_negative {
            let s = squad_v2(&predictions, &self.eval_examples);
            let mut m = BTreeMap::from([
                ("exact".to_string(), s.exact),
                ("f1".to_string(), s.f1),
                ("total".to_string(), s.total as f64),
            ]);
            for (name, part) in [("HasAns", s.has_ans), ("NoAns", s.no_ans)] {
                if let Some((exact, f1, total)) = part {
                    m.insert(format!("{name}_exact"), exact);
                    m.insert(format!("{name}_f1"), f1);
                    m.insert(format!("{name}_total"), total as f64);
                }
            }
            m
        } else {
            let s = squad_v1(&predictions, &self.eval_examples);
            BTreeMap::from([
                ("exact_match".to_string(), s.exact_match),
                ("f1".to_string(), s.f1),
            ])
        })
    }
}

/// Start and end logits of each feature.
pub fn span_logits(
    model: &QaModel,
    features: &[QaEvalFeature],
    token_types: bool,
    device: &Device,
    batch_size: usize,
) -> Result<Vec<(Vec<f32>, Vec<f32>)>> {
    let mut out = Vec::with_capacity(features.len());
    for chunk in features.chunks(batch_size.max(1)) {
        let rows: Vec<&Tokens> = chunk.iter().map(|f| &f.tokens).collect();
        let (start, end) = model.span_logits(&Tokens::batch(&rows, token_types, device)?)?;
        out.extend(to_rows(start)?.into_iter().zip(to_rows(end)?));
    }
    Ok(out)
}

/// Settings of the question answering recipe.
#[derive(Debug, Clone)]
pub struct QuestionAnsweringRecipe {
    /// A model directory or hub id.
    pub model: String,
    /// A dataset file, directory, or hub id.
    pub data: String,
    /// The split trained on (`train`).
    pub train_split: String,
    /// The split evaluated on (`validation`).
    pub eval_split: String,
    /// Take this many training / evaluation examples after a seeded shuffle (all when unset).
    pub train_samples: Option<usize>,
    /// See `train_samples`.
    pub eval_samples: Option<usize>,
    /// How contexts are cut into windows (`max_length` 384, `stride` 128).
    pub windows: QaWindows,
    /// SQuAD 2.0: unanswerable questions, null answers, v2 metrics.
    pub version_2_with_negative: bool,
    /// `n_best_size` of the recipe's postprocessing: start and end candidates considered (20).
    pub n_best_size: usize,
    /// `max_answer_length`: longest answer in tokens (30).
    pub max_answer_length: usize,
    /// `null_score_diff_threshold`: SQuAD 2.0 answers "" when the null score beats the best span
    /// by more than this (0).
    pub null_score_diff_threshold: f64,
    /// Evaluate once before training too (reported as `initial_metrics`).
    pub evaluate_before_training: bool,
    /// The training loop's settings, as transformers' `TrainingArguments`.
    pub args: TrainingArguments,
}

impl Default for QuestionAnsweringRecipe {
    fn default() -> Self {
        Self {
            model: "distilbert/distilbert-base-uncased".into(),
            data: "rajpurkar/squad".into(),
            train_split: "train".into(),
            eval_split: "validation".into(),
            train_samples: None,
            eval_samples: None,
            windows: QaWindows::default(),
            version_2_with_negative: false,
            n_best_size: 20,
            max_answer_length: 30,
            null_score_diff_threshold: 0.0,
            evaluate_before_training: false,
            args: TrainingArguments {
                output_dir: "my_awesome_qa_model".into(),
                learning_rate: 2e-5,
                per_device_train_batch_size: 16,
                per_device_eval_batch_size: 16,
                weight_decay: 0.01,
                ..TrainingArguments::default()
            },
        }
    }
}

/// Fine-tunes an extractive question answering model (the SQuAD recipe).
pub fn run_question_answering(
    recipe: &QuestionAnsweringRecipe,
    device: &Device,
) -> Result<RecipeOutput> {
    let dir = resolve_model(&recipe.model)?;
    let tokenizer = TextTokenizer::from_model_dir(&dir)?;
    let examples = |split: &str, samples: Option<usize>| -> Result<Vec<QaExample>> {
        let records = shuffle_select(load_split(&recipe.data, split)?, samples, recipe.args.seed);
        records.iter().map(QaExample::from_record).collect()
    };
    let train_examples = examples(&recipe.train_split, recipe.train_samples)?;
    let eval_examples = examples(&recipe.eval_split, recipe.eval_samples)?;
    let unanswerable = train_examples
        .iter()
        .filter(|e| e.answers.text.is_empty())
        .count();
    if unanswerable > 0 && !recipe.version_2_with_negative {
        return Err(TaskError::Dataset(format!(
            "{unanswerable} training questions have no answer: that is SQuAD 2.0, train with --v2"
        )));
    }
    let plain = device.clone().inner();
    plain.seed(recipe.args.seed);
    let (model, pretrained) = load_question_answering(&dir, &plain)?;
    let task = QuestionAnsweringTask {
        train: qa_train_features(&tokenizer, &train_examples, recipe.windows)?,
        eval: qa_eval_features(&tokenizer, &eval_examples, recipe.windows)?,
        eval_examples,
        postprocess: PostprocessOptions {
            n_best_size: recipe.n_best_size,
            max_answer_length: recipe.max_answer_length,
            version_2_with_negative: recipe.version_2_with_negative,
            null_score_diff_threshold: recipe.null_score_diff_threshold,
        },
        token_types: model.uses_token_types(),
    };
    let eval_features = task.eval.len();
    train_and_save(
        &task,
        model,
        pretrained,
        &dir,
        &recipe.args,
        recipe.evaluate_before_training,
        eval_features,
        device,
    )
}
