//! The models fine-tuning trains: a pretrained encoder with a sequence classification or a
//! question answering head, loaded as `AutoModelFor*.from_pretrained(name, num_labels=...)`
//! does (a head the checkpoint lacks is initialised fresh, HF's `_init_weights`), and saved
//! back in the Hugging Face layout (config.json + model.safetensors with HF names +
//! tokenizer files) so that transformers and our pipelines load the result.

use std::collections::BTreeMap;
use std::path::Path;

use burn::module::{Module, Param};
use burn::nn::{DropoutConfig, LayerNorm};
use burn::tensor::{Device, Distribution, Tensor};
use burn_models::bert::{
    BertConfig, BertForQuestionAnswering, BertForSequenceClassification, BertModel, BertPooler,
};
use burn_models::distilbert::{
    DistilBertConfig, DistilBertForQuestionAnswering, DistilBertForSequenceClassification,
    DistilBertModel,
};
use burn_models::heads::{EncoderInput, QuestionAnswerer, SequenceClassifier};
use burn_models::hub::{ModelDir, WeightScope, Weights};
use burn_models::nn::{Linear, Linears};
use burn_models::nn::{PostNormEncoder, TextEmbeddings};
use serde_json::{Value, json};

use crate::error::{Result, TaskError};

/// A sequence classifier of any supported architecture, as one module the optimizer walks.
#[derive(Module, Debug)]
pub enum ClassifierModel {
    /// BERT (`BertForSequenceClassification`).
    Bert(BertForSequenceClassification),
    /// DistilBERT (`DistilBertForSequenceClassification`).
    DistilBert(DistilBertForSequenceClassification),
}

impl ClassifierModel {
    /// Logits `[batch, num_labels]`.
    pub fn logits(&self, input: &EncoderInput) -> Result<Tensor<2>> {
        Ok(match self {
            Self::Bert(m) => m.logits(input)?,
            Self::DistilBert(m) => m.logits(input)?,
        })
    }

    /// Whether the model takes token type ids.
    pub fn uses_token_types(&self) -> bool {
        matches!(self, Self::Bert(_))
    }
}

/// An extractive question answering model of any supported architecture.
#[derive(Module, Debug)]
// One model lives per training run: boxing the larger variant would buy nothing.
#[allow(clippy::large_enum_variant)]
pub enum QaModel {
    /// BERT (`BertForQuestionAnswering`).
    Bert(BertForQuestionAnswering),
    /// DistilBERT (`DistilBertForQuestionAnswering`).
    DistilBert(DistilBertForQuestionAnswering),
}

impl QaModel {
    /// Start and end logits `[batch, seq]`.
    pub fn span_logits(&self, input: &EncoderInput) -> Result<(Tensor<2>, Tensor<2>)> {
        Ok(match self {
            Self::Bert(m) => m.span_logits(input)?,
            Self::DistilBert(m) => m.span_logits(input)?,
        })
    }

    /// Whether the model takes token type ids.
    pub fn uses_token_types(&self) -> bool {
        matches!(self, Self::Bert(_))
    }
}

macro_rules! linears_of_variants {
    ($ty:ident: $($variant:ident),+) => {
        impl Linears for $ty {
            fn visit_linears(&self, f: &mut dyn FnMut(&burn_models::nn::Linear)) {
                match self {
                    $(Self::$variant(m) => m.visit_linears(f),)+
                }
            }
            fn visit_linears_mut(&mut self, f: &mut dyn FnMut(&mut burn_models::nn::Linear)) {
                match self {
                    $(Self::$variant(m) => m.visit_linears_mut(f),)+
                }
            }
            fn visit_vectors(&self, f: &mut dyn FnMut(&Param<Tensor<1>>)) {
                match self {
                    $(Self::$variant(m) => m.visit_vectors(f),)+
                }
            }
            fn map_vectors(
                &mut self,
                f: &mut dyn FnMut(Param<Tensor<1>>) -> Param<Tensor<1>>,
            ) {
                match self {
                    $(Self::$variant(m) => m.map_vectors(f),)+
                }
            }
        }
    };
}
linears_of_variants!(ClassifierModel: Bert, DistilBert);
linears_of_variants!(QaModel: Bert, DistilBert);

/// What a model was loaded from: its (possibly edited) config, kept to be saved beside the
/// trained weights.
#[derive(Debug, Clone)]
pub struct Pretrained {
    /// The model's `config.json`, as saved with the trained weights.
    pub config: Value,
    /// Names of tensors initialised fresh because the checkpoint had none (HF's
    /// "newly initialized" warning).
    pub newly_initialized: Vec<String>,
}

/// A `Linear` as HF initialises it: weight ~ N(0, std), zero bias.
fn fresh_linear(
    path: String,
    d_input: usize,
    d_output: usize,
    std: f64,
    device: &Device,
) -> Linear {
    Linear::new(
        path,
        Param::from_tensor(Tensor::random(
            [d_input, d_output],
            Distribution::Normal(0.0, std),
            device,
        )),
        Some(Param::from_tensor(Tensor::zeros([d_output], device))),
    )
}

/// Loads `name` from the checkpoint when present with the right shape, otherwise a fresh layer.
fn linear_or_fresh(
    root: &WeightScope,
    name: &str,
    d_input: usize,
    d_output: usize,
    std: f64,
    fresh: &mut Vec<String>,
) -> Result<Linear> {
    let weight = format!("{name}.weight");
    if root.weights().shape(&root.name(&weight)) == Some(&[d_output, d_input][..]) {
        Ok(root.linear(name, d_input, d_output, true)?)
    } else {
        if root.contains(&weight) {
            log::warn!("{name}: the checkpoint's head has another shape; initialising a new one");
        }
        fresh.push(format!("{name}.weight"));
        fresh.push(format!("{name}.bias"));
        Ok(fresh_linear(
            root.name(name),
            d_input,
            d_output,
            std,
            root.device(),
        ))
    }
}

/// `config.json` with `num_labels` labels: the checkpoint's own labels if it has that many,
/// else `labels` (or `LABEL_i`), as `from_pretrained(..., num_labels=n)` does.
fn with_labels(mut config: Value, num_labels: usize, labels: Option<&[String]>) -> Value {
    let existing = config
        .get("id2label")
        .and_then(Value::as_object)
        .map_or(0, |m| m.len());
    if existing != num_labels || labels.is_some() {
        let names: Vec<String> = (0..num_labels)
            .map(|i| {
                labels
                    .and_then(|l| l.get(i).cloned())
                    .unwrap_or_else(|| format!("LABEL_{i}"))
            })
            .collect();
        let id2label: serde_json::Map<String, Value> = names
            .iter()
            .enumerate()
            .map(|(i, n)| (i.to_string(), Value::String(n.clone())))
            .collect();
        let label2id: serde_json::Map<String, Value> = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.clone(), json!(i)))
            .collect();
        config["id2label"] = Value::Object(id2label);
        config["label2id"] = Value::Object(label2id);
    }
    config
}

fn parse<T: serde::de::DeserializeOwned>(dir: &ModelDir, config: &Value) -> Result<T> {
    serde_json::from_value(config.clone()).map_err(|e| {
        TaskError::Model(burn_models::ModelError::Config {
            path: dir.config_path(),
            message: e.to_string(),
        })
    })
}

fn model_type(config: &Value) -> &str {
    config
        .get("model_type")
        .and_then(Value::as_str)
        .unwrap_or("")
}

fn bert_base(
    root: &WeightScope,
    c: &BertConfig,
    pooler: bool,
    fresh: &mut Vec<String>,
) -> Result<BertModel> {
    let prefix = if root.contains("bert.embeddings.word_embeddings.weight") {
        "bert."
    } else {
        ""
    };
    let has_pooler = root.contains(&format!("{prefix}pooler.dense.weight"));
    let mut model = BertModel::load(root, c, pooler && has_pooler)?;
    if pooler && !has_pooler {
        fresh.push("bert.pooler.dense.weight".into());
        fresh.push("bert.pooler.dense.bias".into());
        model.pooler = Some(BertPooler {
            dense: fresh_linear(
                "bert.pooler.dense".into(),
                c.hidden_size,
                c.hidden_size,
                c.initializer_range,
                root.device(),
            ),
        });
    }
    Ok(model)
}

/// `AutoModelForSequenceClassification.from_pretrained(dir, num_labels=...)` on `device`
/// (an autodiff device to train). Fresh heads are drawn from the device's RNG: seed it first.
pub fn load_classifier(
    dir: &ModelDir,
    device: &Device,
    num_labels: usize,
    labels: Option<&[String]>,
) -> Result<(ClassifierModel, Pretrained)> {
    let config = with_labels(dir.config_json()?, num_labels, labels);
    let weights = Weights::from_model_dir(dir.path())?;
    let root = weights.root(device);
    let mut fresh = Vec::new();
    let model = match model_type(&config) {
        "bert" => {
            let c: BertConfig = parse(dir, &config)?;
            let std = c.initializer_range;
            ClassifierModel::Bert(BertForSequenceClassification {
                bert: bert_base(&root, &c, true, &mut fresh)?,
                dropout: DropoutConfig::new(c.classifier_dropout.unwrap_or(c.hidden_dropout_prob))
                    .init(),
                classifier: linear_or_fresh(
                    &root,
                    "classifier",
                    c.hidden_size,
                    num_labels,
                    std,
                    &mut fresh,
                )?,
            })
        }
        "distilbert" => {
            let c: DistilBertConfig = parse(dir, &config)?;
            let std = c.initializer_range;
            ClassifierModel::DistilBert(DistilBertForSequenceClassification {
                distilbert: DistilBertModel::load(&root, &c)?,
                pre_classifier: linear_or_fresh(
                    &root,
                    "pre_classifier",
                    c.dim,
                    c.dim,
                    std,
                    &mut fresh,
                )?,
                classifier: linear_or_fresh(
                    &root,
                    "classifier",
                    c.dim,
                    num_labels,
                    std,
                    &mut fresh,
                )?,
                dropout: DropoutConfig::new(c.seq_classif_dropout).init(),
            })
        }
        other => {
            return Err(TaskError::InvalidModel(format!(
                "{}: model_type `{other}` cannot be fine-tuned here (supported: bert, distilbert)",
                dir.path().display()
            )));
        }
    };
    let mut config = config;
    config["architectures"] = json!([match &model {
        ClassifierModel::Bert(_) => "BertForSequenceClassification",
        ClassifierModel::DistilBert(_) => "DistilBertForSequenceClassification",
    }]);
    Ok((
        model,
        Pretrained {
            config,
            newly_initialized: fresh,
        },
    ))
}

/// `AutoModelForQuestionAnswering.from_pretrained(dir)` on `device`.
pub fn load_question_answering(dir: &ModelDir, device: &Device) -> Result<(QaModel, Pretrained)> {
    let mut config = dir.config_json()?;
    let weights = Weights::from_model_dir(dir.path())?;
    let root = weights.root(device);
    let mut fresh = Vec::new();
    let model = match model_type(&config) {
        "bert" => {
            let c: BertConfig = parse(dir, &config)?;
            QaModel::Bert(BertForQuestionAnswering {
                bert: bert_base(&root, &c, false, &mut fresh)?,
                qa_outputs: linear_or_fresh(
                    &root,
                    "qa_outputs",
                    c.hidden_size,
                    2,
                    c.initializer_range,
                    &mut fresh,
                )?,
            })
        }
        "distilbert" => {
            let c: DistilBertConfig = parse(dir, &config)?;
            QaModel::DistilBert(DistilBertForQuestionAnswering {
                distilbert: DistilBertModel::load(&root, &c)?,
                dropout: DropoutConfig::new(c.qa_dropout).init(),
                qa_outputs: linear_or_fresh(
                    &root,
                    "qa_outputs",
                    c.dim,
                    2,
                    c.initializer_range,
                    &mut fresh,
                )?,
            })
        }
        other => {
            return Err(TaskError::InvalidModel(format!(
                "{}: model_type `{other}` cannot be fine-tuned here (supported: bert, distilbert)",
                dir.path().display()
            )));
        }
    };
    config["architectures"] = json!([match &model {
        QaModel::Bert(_) => "BertForQuestionAnswering",
        QaModel::DistilBert(_) => "DistilBertForQuestionAnswering",
    }]);
    Ok((
        model,
        Pretrained {
            config,
            newly_initialized: fresh,
        },
    ))
}

// -----------------------------------------------------------------------------------------
// Saving in the Hugging Face layout
// -----------------------------------------------------------------------------------------

/// Tensors by HF name, as f32 row-major data with their shapes.
#[derive(Default)]
struct HfTensors(BTreeMap<String, (Vec<f32>, Vec<usize>)>);

fn values<const D: usize>(tensor: Tensor<D>) -> Result<Vec<f32>> {
    tensor
        .into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .map_err(|e| TaskError::Internal(format!("reading a weight: {e:?}")))
}

impl HfTensors {
    fn tensor<const D: usize>(&mut self, name: String, tensor: Tensor<D>) -> Result<()> {
        let shape = tensor.dims().to_vec();
        self.0.insert(name, (values(tensor)?, shape));
        Ok(())
    }

    /// Burn keeps `[in, out]`; PyTorch's `nn.Linear` stores `[out, in]`.
    fn linear(&mut self, name: &str, linear: &Linear) -> Result<()> {
        let weight = linear.weight.dense().transpose();
        self.tensor(format!("{name}.weight"), weight)?;
        if let Some(bias) = &linear.bias {
            self.tensor(format!("{name}.bias"), bias.val())?;
        }
        Ok(())
    }

    fn layer_norm(&mut self, name: &str, norm: &LayerNorm) -> Result<()> {
        self.tensor(format!("{name}.weight"), norm.gamma.val())?;
        if let Some(beta) = &norm.beta {
            self.tensor(format!("{name}.bias"), beta.val())?;
        }
        Ok(())
    }

    fn embeddings(&mut self, prefix: &str, e: &TextEmbeddings) -> Result<()> {
        self.tensor(
            format!("{prefix}.word_embeddings.weight"),
            e.word_embeddings.weight.val(),
        )?;
        self.tensor(
            format!("{prefix}.position_embeddings.weight"),
            e.position_embeddings.weight.val(),
        )?;
        if let Some(types) = &e.token_type_embeddings {
            self.tensor(
                format!("{prefix}.token_type_embeddings.weight"),
                types.weight.val(),
            )?;
        }
        self.layer_norm(&format!("{prefix}.LayerNorm"), &e.layer_norm)
    }

    fn bert(&mut self, m: &BertModel) -> Result<()> {
        self.embeddings("bert.embeddings", &m.embeddings)?;
        self.encoder(&m.encoder, "bert.encoder.layer", BERT_LAYER_NAMES)?;
        if let Some(pooler) = &m.pooler {
            self.linear("bert.pooler.dense", &pooler.dense)?;
        }
        Ok(())
    }

    fn distilbert(&mut self, m: &DistilBertModel) -> Result<()> {
        self.embeddings("distilbert.embeddings", &m.embeddings)?;
        self.encoder(
            &m.transformer,
            "distilbert.transformer.layer",
            DISTILBERT_LAYER_NAMES,
        )
    }

    fn encoder(&mut self, encoder: &PostNormEncoder, prefix: &str, names: [&str; 8]) -> Result<()> {
        let [q, k, v, o, attn_norm, up, down, out_norm] = names;
        for (i, layer) in encoder.layers.iter().enumerate() {
            let p = format!("{prefix}.{i}");
            self.linear(&format!("{p}.{q}"), &layer.attention.query)?;
            self.linear(&format!("{p}.{k}"), &layer.attention.key)?;
            self.linear(&format!("{p}.{v}"), &layer.attention.value)?;
            self.linear(&format!("{p}.{o}"), &layer.attention.output)?;
            self.layer_norm(&format!("{p}.{attn_norm}"), &layer.attention_norm)?;
            self.linear(&format!("{p}.{up}"), &layer.feed_forward.up)?;
            self.linear(&format!("{p}.{down}"), &layer.feed_forward.down)?;
            self.layer_norm(&format!("{p}.{out_norm}"), &layer.output_norm)?;
        }
        Ok(())
    }

    fn write(self, path: &Path) -> Result<()> {
        use safetensors::tensor::{Dtype, TensorView};
        let bytes: Vec<(String, Vec<u8>, Vec<usize>)> = self
            .0
            .into_iter()
            .map(|(name, (values, shape))| {
                let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
                (name, bytes, shape)
            })
            .collect();
        let views = bytes
            .iter()
            .map(|(name, data, shape)| {
                TensorView::new(Dtype::F32, shape.clone(), data)
                    .map(|view| (name.clone(), view))
                    .map_err(|e| TaskError::Internal(format!("tensor {name}: {e}")))
            })
            .collect::<Result<Vec<_>>>()?;
        let metadata = Some([("format".to_string(), "pt".to_string())].into());
        let serialized = safetensors::tensor::serialize(views, metadata)
            .map_err(|e| TaskError::Internal(format!("safetensors: {e}")))?;
        write_atomic(path, &serialized)
    }
}

/// HF names of an encoder layer's parts: query, key, value, attention output, attention norm,
/// feed-forward up and down, output norm.
const BERT_LAYER_NAMES: [&str; 8] = [
    "attention.self.query",
    "attention.self.key",
    "attention.self.value",
    "attention.output.dense",
    "attention.output.LayerNorm",
    "intermediate.dense",
    "output.dense",
    "output.LayerNorm",
];
const DISTILBERT_LAYER_NAMES: [&str; 8] = [
    "attention.q_lin",
    "attention.k_lin",
    "attention.v_lin",
    "attention.out_lin",
    "sa_layer_norm",
    "ffn.lin1",
    "ffn.lin2",
    "output_layer_norm",
];

impl ClassifierModel {
    fn hf_tensors(&self) -> Result<HfTensors> {
        let mut t = HfTensors::default();
        match self {
            Self::Bert(m) => {
                t.bert(&m.bert)?;
                t.linear("classifier", &m.classifier)?;
            }
            Self::DistilBert(m) => {
                t.distilbert(&m.distilbert)?;
                t.linear("pre_classifier", &m.pre_classifier)?;
                t.linear("classifier", &m.classifier)?;
            }
        }
        Ok(t)
    }
}

impl QaModel {
    fn hf_tensors(&self) -> Result<HfTensors> {
        let mut t = HfTensors::default();
        match self {
            Self::Bert(m) => t.bert(&m.bert)?,
            Self::DistilBert(m) => t.distilbert(&m.distilbert)?,
        }
        let head = match self {
            Self::Bert(m) => &m.qa_outputs,
            Self::DistilBert(m) => &m.qa_outputs,
        };
        t.linear("qa_outputs", head)?;
        Ok(t)
    }
}

/// A model that can be written in the Hugging Face layout.
pub trait SaveHf {
    /// Writes the weights, with Hugging Face's tensor names, to the safetensors file `path`.
    fn save_hf_weights(&self, path: &Path) -> Result<()>;
}

impl SaveHf for ClassifierModel {
    fn save_hf_weights(&self, path: &Path) -> Result<()> {
        self.hf_tensors()?.write(path)
    }
}

impl SaveHf for QaModel {
    fn save_hf_weights(&self, path: &Path) -> Result<()> {
        self.hf_tensors()?.write(path)
    }
}

/// Tokenizer files copied beside a saved model, when the source has them.
const TOKENIZER_FILES: &[&str] = &[
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.txt",
];

/// `save_pretrained` + `tokenizer.save_pretrained`: config.json, model.safetensors (HF names,
/// f32) and the tokenizer files of `source`, each written atomically.
pub fn save_pretrained(
    model: &impl SaveHf,
    pretrained: &Pretrained,
    source: &ModelDir,
    out: &Path,
) -> Result<()> {
    std::fs::create_dir_all(out).map_err(|e| io_error(out, e))?;
    model.save_hf_weights(&out.join("model.safetensors"))?;
    let config = serde_json::to_string_pretty(&pretrained.config).expect("JSON values serialize");
    write_atomic(&out.join("config.json"), config.as_bytes())?;
    for name in TOKENIZER_FILES {
        if let Some(file) = source.file(name) {
            let bytes = std::fs::read(&file).map_err(|e| io_error(&file, e))?;
            write_atomic(&out.join(name), &bytes)?;
        }
    }
    Ok(())
}

pub(crate) fn io_error(path: &Path, e: std::io::Error) -> TaskError {
    TaskError::io(path, e)
}

/// Writes through a temporary file in the same directory and renames it over `path`, so a
/// crash never leaves a half-written file under the final name.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| io_error(dir, e))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| io_error(dir, e))?;
    tmp.write_all(bytes).map_err(|e| io_error(path, e))?;
    tmp.as_file().sync_all().map_err(|e| io_error(path, e))?;
    tmp.persist(path).map_err(|e| io_error(path, e.error))?;
    Ok(())
}
