//! `transformers.pipeline(task)` for Rust.
//!
//! Each task lives in one file that owns its whole surface, as transformers' pipeline files do:
//! the options with HF's names and defaults, reading them from HF's keyword arguments
//! (`_sanitize_parameters`), the inputs HF accepts, the typed call (preprocess, forward,
//! postprocess), and HF's JSON output. Each file declares its [`TaskSpec`]; [`TASKS`] lists
//! them, and both [`pipeline`] and the `burn-tasks` command line are built from that list.
//!
//! ```no_run
//! use burn_tasks::pipelines::{TaskPipeline, pipeline};
//! use burn_tasks::pipelines::text_classification::{TextClassificationPipeline, TextInput};
//! use serde_json::json;
//!
//! // Like `transformers.pipeline("sentiment-analysis", model=...)(text, top_k=None)`:
//! let classifier = pipeline("sentiment-analysis")?.model("path/to/model").build()?;
//! let scores = classifier.call(&json!("I love this!"), &json!({"top_k": null}))?;
//!
//! // The same task, typed:
//! let classifier = TextClassificationPipeline::builder().model("path/to/model").load()?;
//! // or, from the task's name: pipeline("sentiment-analysis")?.load_as::<TextClassificationPipeline>()
//! let scores = classifier.classify(&[TextInput::from("I love this!")], &Default::default())?;
//! # Ok::<(), burn_tasks::TaskError>(())
//! ```

pub mod audio_classification;
pub mod automatic_speech_recognition;
pub mod document_question_answering;
pub mod image_classification;
pub mod image_segmentation;
pub mod kwargs;
pub mod object_detection;
pub mod question_answering;
pub mod scores;
pub mod text2text_generation;
pub mod text_classification;
pub mod token_classification;
pub mod visual_question_answering;

use std::path::PathBuf;

use burn::tensor::Device;
use burn_models::hub::{HubOptions, ModelDir};
use serde_json::{Map, Value};

pub use audio_classification::AudioClassificationPipeline;
pub use automatic_speech_recognition::AutomaticSpeechRecognitionPipeline;
pub use document_question_answering::DocumentQuestionAnsweringPipeline;
pub use image_classification::ImageClassificationPipeline;
pub use image_segmentation::ImageSegmentationPipeline;
pub use kwargs::{InputKind, Kwargs, OptionSpec, ValueKind};
pub use object_detection::ObjectDetectionPipeline;
pub use question_answering::QuestionAnsweringPipeline;
pub use scores::{FunctionToApply, LabelScore};
pub use text_classification::TextClassificationPipeline;
pub use text2text_generation::Text2TextGenerationPipeline;
pub use token_classification::TokenClassificationPipeline;
pub use visual_question_answering::VisualQuestionAnsweringPipeline;

use crate::error::{Result, TaskError};

/// Every task, in the order `burn-tasks --help` lists them.
pub static TASKS: &[&TaskSpec] = &[
    &text_classification::TASK,
    &token_classification::TASK,
    &question_answering::TASK,
    &text2text_generation::SUMMARIZATION,
    &text2text_generation::TRANSLATION,
    &text2text_generation::TEXT2TEXT_GENERATION,
    &image_classification::TASK,
    &object_detection::TASK,
    &image_segmentation::TASK,
    &automatic_speech_recognition::TASK,
    &audio_classification::TASK,
    &document_question_answering::TASK,
    &visual_question_answering::TASK,
];

/// A task as `transformers.pipeline` knows it, and how to run it.
pub struct TaskSpec {
    /// HF's task name.
    pub name: &'static str,
    /// Other names of the task (`sentiment-analysis`, `ner`, `vqa`, ...).
    pub aliases: &'static [&'static str],
    /// One line on what the task does (the command line's help).
    pub summary: &'static str,
    /// The model `pipeline(task)` uses when none is given.
    pub default_model: &'static str,
    /// What the call's positional inputs are (the command line reads them as such).
    pub inputs: InputKind,
    /// The keyword arguments the call takes, with HF's names.
    pub options: &'static [OptionSpec],
    /// Loads the task's pipeline behind the JSON interface.
    load: fn(&PipelineBuilder) -> Result<Pipeline>,
}

impl TaskSpec {
    /// Declares a task served by the pipeline type `P`.
    pub const fn new<P: TaskPipeline + 'static>(
        name: &'static str,
        aliases: &'static [&'static str],
        summary: &'static str,
        default_model: &'static str,
        inputs: InputKind,
        options: &'static [OptionSpec],
    ) -> Self {
        Self {
            name,
            aliases,
            summary,
            default_model,
            inputs,
            options,
            load: load_json::<P>,
        }
    }

    /// The option named `name` (HF's snake_case name).
    pub fn option(&self, name: &str) -> Option<&'static OptionSpec> {
        self.options.iter().find(|o| o.name == name)
    }

    /// Whether `name` is this task's name or an alias; `translation_xx_to_yy` is translation.
    pub fn answers_to(&self, name: &str) -> bool {
        self.name == name
            || self.aliases.contains(&name)
            || (self.name == "translation" && is_translation_pair(name))
    }
}

impl std::fmt::Debug for TaskSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

impl PartialEq for TaskSpec {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl std::fmt::Display for TaskSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

/// `translation_en_to_fr`: a translation task naming its languages.
fn is_translation_pair(name: &str) -> bool {
    name.strip_prefix("translation_")
        .and_then(|pair| pair.split_once("_to_"))
        .is_some_and(|(src, tgt)| !src.is_empty() && !tgt.is_empty())
}

/// The task of an HF task name or alias.
pub fn task_spec(name: &str) -> Result<&'static TaskSpec> {
    TASKS
        .iter()
        .copied()
        .find(|task| task.answers_to(name))
        .ok_or_else(|| TaskError::UnknownTask(name.to_string()))
}

/// Starts building the pipeline of `task` (an HF task name or alias); without `.model(...)`
/// it loads the task's default hub model, as `pipeline(task)` does.
pub fn pipeline(task: &str) -> Result<PipelineBuilder> {
    Ok(PipelineBuilder::new(task_spec(task)?, task))
}

/// Where a pipeline gets its model and where it runs: `pipeline(task, model=..., device=...)`.
/// Every task's pipeline is loaded from one of these: `pipeline(task)` gives a builder whose
/// [`build`](PipelineBuilder::build) loads the JSON [`Pipeline`] of any task (or
/// [`load_as`](PipelineBuilder::load_as) a typed one), and `P::builder()` a builder whose
/// [`load`](PipelineBuilder::load) loads the typed pipeline `P`.
pub struct PipelineBuilder<P = Pipeline> {
    task: &'static TaskSpec,
    /// The name the task was asked by (`translation_en_to_fr` carries its languages).
    task_name: String,
    model: Option<String>,
    /// A model already opened (on disk or in memory), in place of `model`.
    model_dir: Option<ModelDir>,
    device: Option<Device>,
    hub: HubOptions,
    adapter: Option<PathBuf>,
    quantization: Quantization,
    pipeline: std::marker::PhantomData<fn() -> P>,
}

/// How a pipeline's linear layers compute.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Quantization {
    /// f32, as the checkpoint is loaded.
    #[default]
    None,
    /// Dynamic int8 on the CPU, as PyTorch's `quantize_dynamic` and CTranslate2's `int8` do
    /// it: every linear layer's weight in int8 per output row, its input quantized per row as
    /// it comes, products accumulated in int32 ([`burn_models::nn::quantize_dynamic`]).
    /// Embeddings, convolutions, norms and attention stay f32.
    Int8,
}

impl std::str::FromStr for Quantization {
    type Err = TaskError;

    /// `int8` (the command line's `--quantize` value).
    fn from_str(name: &str) -> Result<Self> {
        match name {
            "int8" => Ok(Self::Int8),
            other => Err(TaskError::InvalidOption {
                name: "quantize",
                message: format!("`{other}` is not a quantization this build has (int8)"),
            }),
        }
    }
}

impl<P> Clone for PipelineBuilder<P> {
    fn clone(&self) -> Self {
        Self {
            task: self.task,
            task_name: self.task_name.clone(),
            model: self.model.clone(),
            model_dir: self.model_dir.clone(),
            device: self.device.clone(),
            hub: self.hub.clone(),
            adapter: self.adapter.clone(),
            quantization: self.quantization,
            pipeline: std::marker::PhantomData,
        }
    }
}

impl<P> std::fmt::Debug for PipelineBuilder<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PipelineBuilder")
            .field("task", &self.task_name)
            .field("model", &self.model)
            .field("model_dir", &self.model_dir)
            .field("device", &self.device)
            .field("adapter", &self.adapter)
            .field("quantization", &self.quantization)
            .finish()
    }
}

impl PipelineBuilder {
    /// Loads the model and its processors once, behind the JSON interface of `pipe(inputs,
    /// **kwargs)`.
    pub fn build(self) -> Result<Pipeline> {
        (self.task.load)(&self)
    }

    /// Loads the typed pipeline `Q` of the builder's task.
    pub fn load_as<Q: TaskPipeline>(self) -> Result<Q> {
        self.typed::<Q>()?.load()
    }
}

impl<P: TaskPipeline> PipelineBuilder<P> {
    /// Loads the typed pipeline.
    pub fn load(self) -> Result<P> {
        P::load(&self)
    }
}

impl<P> PipelineBuilder<P> {
    fn new(task: &'static TaskSpec, task_name: &str) -> Self {
        Self {
            task,
            task_name: task_name.to_string(),
            model: None,
            model_dir: None,
            device: None,
            hub: HubOptions::from_env(),
            adapter: None,
            quantization: Quantization::None,
            pipeline: std::marker::PhantomData,
        }
    }

    /// The same builder for the typed pipeline `Q`, which must serve the builder's task.
    fn typed<Q: TaskPipeline>(self) -> Result<PipelineBuilder<Q>> {
        if !Q::TASKS.iter().any(|task| *task == self.task) {
            return Err(TaskError::InvalidInput(format!(
                "this builder is for {}, which {} does not serve",
                self.task,
                std::any::type_name::<Q>()
            )));
        }
        Ok(PipelineBuilder {
            task: self.task,
            task_name: self.task_name,
            model: self.model,
            model_dir: self.model_dir,
            device: self.device,
            hub: self.hub,
            adapter: self.adapter,
            quantization: self.quantization,
            pipeline: std::marker::PhantomData,
        })
    }

    /// A local model directory or a hub id.
    pub fn model(mut self, model: impl Into<String>) -> Self {
        self.model = Some(model.into());
        self.model_dir = None;
        self
    }

    /// A model already opened: a directory on disk, or files held in memory
    /// ([`ModelDir::from_files`], as a web page passes them).
    pub fn model_dir(mut self, dir: ModelDir) -> Self {
        self.model_dir = Some(dir);
        self.model = None;
        self
    }

    /// Where the model runs (default: `BURN_DEVICE`, else the best compiled-in backend).
    pub fn device(mut self, device: Device) -> Self {
        self.device = Some(device);
        self
    }

    /// A PEFT LoRA adapter directory (`adapter_config.json` + `adapter_model.safetensors`)
    /// applied on top of the model, as `PeftModel.from_pretrained(model, adapter)`.
    pub fn adapter(mut self, dir: impl Into<PathBuf>) -> Self {
        self.adapter = Some(dir.into());
        self
    }

    /// Quantizes the model after loading it (and its adapter): [`Quantization::Int8`] runs
    /// every linear layer in dynamic int8 on the CPU. Loading fails with a clear error on a
    /// device that does not support it.
    pub fn quantize(mut self, quantization: Quantization) -> Self {
        self.quantization = quantization;
        self
    }

    /// Hub revision, token, cache and offline mode.
    pub fn hub(mut self, hub: HubOptions) -> Self {
        self.hub = hub;
        self
    }

    /// The task being built.
    pub fn task(&self) -> &'static TaskSpec {
        self.task
    }

    /// The task's name as it was asked for (`translation_en_to_fr`, `sentiment-analysis`).
    pub fn task_name(&self) -> &str {
        &self.task_name
    }

    /// The device the pipeline runs on.
    pub(crate) fn target_device(&self) -> Result<Device> {
        match &self.device {
            Some(device) => Ok(device.clone()),
            None => Ok(burn_models::device::parse_device(None)?),
        }
    }

    /// The model directory: the given model, or the task's default hub model.
    pub(crate) fn resolve(&self) -> Result<ModelDir> {
        if let Some(dir) = &self.model_dir {
            return Ok(dir.clone());
        }
        let model = self.model.as_deref().unwrap_or(self.task.default_model);
        #[cfg(feature = "fs")]
        return Ok(ModelDir::resolve(model, &self.hub)?);
        #[cfg(not(feature = "fs"))]
        Err(TaskError::InvalidInput(format!(
            "{model}: this build reads no files; pass the model's files with \
             `model_dir(ModelDir::from_files(...))`"
        )))
    }

    /// The loaded `model` as the builder asks: its adapter, if one is set, loaded into it
    /// (left active, unmerged), then its quantization.
    pub(crate) fn prepare_model<M: burn_models::nn::Linears>(&self, model: M) -> Result<M> {
        let mut model = match &self.adapter {
            Some(dir) => burn_peft::PeftModel::from_pretrained(model, dir)?.base_model,
            None => model,
        };
        match self.quantization {
            Quantization::None => {}
            Quantization::Int8 => {
                if burn_models::nn::quantize_dynamic(&mut model)? == 0 {
                    return Err(TaskError::InvalidModel(
                        "without linear layers: nothing to quantize to int8".into(),
                    ));
                }
            }
        }
        Ok(model)
    }
}

/// How a call's inputs were given, which decides the shape of HF's output: one input gives
/// one result (a bare string is sometimes still wrapped in a list), a list gives a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputForm {
    /// One input given as a string (a text, a path).
    One,
    /// One input given as a dict (`{"text", "text_pair"}`, `{"image", "question"}`).
    Dict,
    /// A list of inputs.
    List,
}

impl InputForm {
    /// Whether the call gave one input rather than a list.
    pub fn is_single(self) -> bool {
        self != Self::List
    }

    /// HF's usual output shape: the one result for one input, the list of results otherwise.
    pub fn shape(self, mut results: Vec<Value>) -> Value {
        if self.is_single() && results.len() == 1 {
            results.pop().expect("one result")
        } else {
            Value::Array(results)
        }
    }
}

/// A task's pipeline: HF's `Pipeline` subclass in four stages. Implementors get the same
/// constructors ([`builder`](Self::builder), [`from_pretrained`](Self::from_pretrained)) and the
/// JSON interface through [`Pipeline`].
pub trait TaskPipeline: Sized {
    /// The tasks this pipeline serves; the first is what [`builder`](Self::builder) builds.
    const TASKS: &'static [&'static TaskSpec];
    /// The call's options, with HF's names and defaults.
    type Options: Default;
    /// One input: a text, an image, a question with its context, ...
    type Input;
    /// The result for one input.
    type Output;

    /// Loads the model and its processors.
    fn load(source: &PipelineBuilder<Self>) -> Result<Self>;

    /// The task this pipeline was loaded for.
    fn task(&self) -> &'static TaskSpec {
        Self::TASKS[0]
    }

    /// `_sanitize_parameters`: the options from HF's keyword arguments. Names it does not take
    /// are left in `kwargs` (and then refused).
    fn options(&self, kwargs: &mut Kwargs) -> Result<Self::Options>;

    /// The call's inputs as HF takes them (JSON), with the keyword arguments that name inputs
    /// (`question=`, `context=`, `image=`) taken out of `kwargs`.
    fn inputs(&self, inputs: &Value, kwargs: &mut Kwargs) -> Result<(Vec<Self::Input>, InputForm)>;

    /// Preprocess, forward and postprocess: one output per input.
    fn run(&self, inputs: &[Self::Input], options: &Self::Options) -> Result<Vec<Self::Output>>;

    /// HF's JSON for one call's outputs.
    fn to_json(
        &self,
        outputs: Vec<Self::Output>,
        form: InputForm,
        options: &Self::Options,
    ) -> Result<Value>;

    /// A builder for this pipeline's (first) task.
    fn builder() -> PipelineBuilder<Self> {
        PipelineBuilder::new(Self::TASKS[0], Self::TASKS[0].name)
    }

    /// The pipeline of a local model directory or hub id, on the default device.
    fn from_pretrained(model: &str) -> Result<Self> {
        Self::builder().model(model).load()
    }

    /// `pipe(inputs, **kwargs)` with JSON in and out.
    fn call_json(&self, inputs: &Value, kwargs: &Value) -> Result<Value> {
        let mut kwargs = Kwargs::new(self.task(), kwargs)?;
        let (inputs, form) = self.inputs(inputs, &mut kwargs)?;
        let options = self.options(&mut kwargs)?;
        kwargs.finish()?;
        if inputs.is_empty() {
            return Err(TaskError::InvalidInput(format!(
                "{}: no inputs to run",
                self.task()
            )));
        }
        let outputs = self.run(&inputs, &options)?;
        self.to_json(outputs, form, &options)
    }
}

/// A loaded pipeline of any task, called as a transformers pipeline: JSON inputs and keyword
/// arguments in, HF's JSON out.
pub struct Pipeline {
    task: &'static TaskSpec,
    inner: Box<dyn CallJson>,
}

impl Pipeline {
    /// The task the pipeline runs.
    pub fn task(&self) -> &'static TaskSpec {
        self.task
    }

    /// `pipe(inputs, **kwargs)`: inputs and keyword arguments as transformers takes them, the
    /// result as transformers returns it. Unknown keyword arguments are errors.
    pub fn call(&self, inputs: &Value, kwargs: &Value) -> Result<Value> {
        self.inner.call(inputs, kwargs)
    }
}

/// The JSON interface of a typed pipeline, as an object.
trait CallJson {
    fn call(&self, inputs: &Value, kwargs: &Value) -> Result<Value>;
}

impl<P: TaskPipeline> CallJson for P {
    fn call(&self, inputs: &Value, kwargs: &Value) -> Result<Value> {
        self.call_json(inputs, kwargs)
    }
}

fn load_json<P: TaskPipeline + 'static>(source: &PipelineBuilder) -> Result<Pipeline> {
    let pipeline = source.clone().typed::<P>()?.load()?;
    Ok(Pipeline {
        task: pipeline.task(),
        inner: Box::new(pipeline),
    })
}

/// The parsed contents of a model file such as `tokenizer_config.json`, if the model has it
/// and it is JSON.
pub(crate) fn optional_json(dir: &ModelDir, name: &str) -> Result<Option<Map<String, Value>>> {
    let Some(bytes) = crate::processors::model_file(dir, name)? else {
        return Ok(None);
    };
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(map)) => Ok(Some(map)),
        Ok(_) | Err(_) => Err(TaskError::InvalidModel(format!(
            "{}: not a JSON object",
            dir.location(name).display()
        ))),
    }
}
