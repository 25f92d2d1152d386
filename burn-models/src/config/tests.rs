//! Every config parsed from `{}` equals transformers 5.25's defaults.
//!
//! Each JSON below is `XConfig().to_dict()` of transformers 5.25, restricted to the fields the
//! Rust struct reads, e.g.
//! `python -c "import transformers as t, json; print(json.dumps(t.BertConfig().to_dict()))"`.
//! For `GenerationConfig`, whose fields are all `None` in 5.x, the values are
//! `GenerationConfig._get_default_generation_params()`: what `generate` uses when unset.
//! Fields transformers fills in from others after `__init__` are checked one by one.

use std::fmt::Debug;

use serde::de::DeserializeOwned;

use crate::bart::BartConfig;
use crate::bert::BertConfig;
use crate::detr::DetrConfig;
use crate::distilbert::DistilBertConfig;
use crate::generation::GenerationConfig;
use crate::layoutlm::LayoutLMConfig;
use crate::marian::MarianConfig;
use crate::resnet::ResNetConfig;
use crate::t5::T5Config;
use crate::vilt::ViltConfig;
use crate::vit::ViTConfig;
use crate::wav2vec2::Wav2Vec2Config;
use crate::whisper::WhisperConfig;

/// Parses `{}` and transformers' values: both, and `Default`, must give the same config.
fn defaults_match<T: DeserializeOwned + Default + PartialEq + Debug>(transformers: &str) -> T {
    let empty: T = serde_json::from_str("{}").expect("`{}` parses");
    let expected: T = serde_json::from_str(transformers).expect("transformers' values parse");
    assert_eq!(empty, expected);
    assert_eq!(empty, T::default());
    empty
}

#[test]
fn bert() {
    let c: BertConfig = defaults_match(BERT);
    // transformers 4.x's default; 5.x has no relative position embeddings for BERT.
    assert_eq!(c.position_embedding_type, "absolute");
}

#[test]
fn distilbert() {
    defaults_match::<DistilBertConfig>(DISTILBERT);
}

#[test]
fn bart() {
    let c: BartConfig = defaults_match(BART);
    // mBART's options, not `BartConfig` fields.
    assert!(!c.add_final_layer_norm && !c.normalize_before);
}

#[test]
fn marian() {
    let c: MarianConfig = defaults_match(MARIAN);
    // transformers sets `decoder_vocab_size = vocab_size` (58101); unset here, the model
    // reads `vocab_size`.
    assert_eq!(c.decoder_vocab_size, None);
}

#[test]
fn t5() {
    let c: T5Config = defaults_match(T5);
    // transformers sets `num_decoder_layers = num_layers` (6).
    assert_eq!(c.decoder_layers(), 6);
}

#[test]
fn vit() {
    defaults_match::<ViTConfig>(VIT);
}

#[test]
fn vilt() {
    defaults_match::<ViltConfig>(VILT);
}

#[test]
fn detr() {
    let c: DetrConfig = defaults_match(DETR);
    // transformers builds `backbone_config` = timm's `resnet50` with `out_indices` [1, 2, 3, 4]
    // (`use_timm_backbone` defaults to true) and `dilation` false.
    assert!(c.use_timm_backbone);
    assert_eq!(c.backbone.as_deref(), Some("resnet50"));
    assert_eq!(
        c.timm_out_features().unwrap(),
        ["stage1", "stage2", "stage3", "stage4"]
    );
    assert_ne!(c.dilation, Some(true));
}

#[test]
fn resnet() {
    let c: ResNetConfig = defaults_match(RESNET);
    // transformers sets `out_features` to the last stage (`["stage4"]`); unset here means
    // the same to the backbone loader.
    assert_eq!(c.out_features, None);
}

#[test]
fn wav2vec2() {
    defaults_match::<Wav2Vec2Config>(WAV2VEC2);
}

#[test]
fn whisper() {
    defaults_match::<WhisperConfig>(WHISPER);
}

#[test]
fn layoutlm() {
    defaults_match::<LayoutLMConfig>(LAYOUTLM);
}

#[test]
fn generation() {
    defaults_match::<GenerationConfig>(GENERATION);
}

const BERT: &str = r#"
{"vocab_size": 30522, "hidden_size": 768, "num_hidden_layers": 12,
"num_attention_heads": 12, "intermediate_size": 3072, "hidden_act": "gelu",
"hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1,
"max_position_embeddings": 512, "type_vocab_size": 2, "initializer_range": 0.02,
"layer_norm_eps": 1e-12, "pad_token_id": 0, "classifier_dropout": null}
"#;

const DISTILBERT: &str = r#"
{"vocab_size": 30522, "max_position_embeddings": 512, "sinusoidal_pos_embds": false,
"n_layers": 6, "n_heads": 12, "dim": 768, "hidden_dim": 3072, "dropout": 0.1,
"attention_dropout": 0.1, "activation": "gelu", "initializer_range": 0.02,
"qa_dropout": 0.1, "seq_classif_dropout": 0.2, "pad_token_id": 0}
"#;

const BART: &str = r#"
{"vocab_size": 50265, "d_model": 1024, "encoder_layers": 12, "decoder_layers": 12,
"encoder_attention_heads": 16, "decoder_attention_heads": 16, "encoder_ffn_dim": 4096,
"decoder_ffn_dim": 4096, "activation_function": "gelu", "max_position_embeddings": 1024,
"scale_embedding": false, "tie_word_embeddings": true, "pad_token_id": 1}
"#;

const MARIAN: &str = r#"
{"vocab_size": 58101, "d_model": 1024, "encoder_layers": 12, "decoder_layers": 12,
"encoder_attention_heads": 16, "decoder_attention_heads": 16, "encoder_ffn_dim": 4096,
"decoder_ffn_dim": 4096, "activation_function": "gelu", "max_position_embeddings": 1024,
"scale_embedding": false, "tie_word_embeddings": true,
"share_encoder_decoder_embeddings": true, "pad_token_id": 58100}
"#;

const T5: &str = r#"
{"vocab_size": 32128, "d_model": 512, "d_kv": 64, "d_ff": 2048, "num_layers": 6,
"num_heads": 8, "relative_attention_num_buckets": 32,
"relative_attention_max_distance": 128, "layer_norm_epsilon": 1e-06,
"feed_forward_proj": "relu", "tie_word_embeddings": true}
"#;

const VIT: &str = r#"
{"hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
"intermediate_size": 3072, "hidden_act": "gelu", "hidden_dropout_prob": 0.0,
"attention_probs_dropout_prob": 0.0, "layer_norm_eps": 1e-12, "image_size": 224,
"patch_size": 16, "num_channels": 3, "qkv_bias": true}
"#;

const VILT: &str = r#"
{"vocab_size": 30522, "type_vocab_size": 2, "modality_type_vocab_size": 2,
"max_position_embeddings": 40, "hidden_size": 768, "num_hidden_layers": 12,
"num_attention_heads": 12, "intermediate_size": 3072, "hidden_act": "gelu",
"hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0, "layer_norm_eps": 1e-12,
"image_size": 384, "patch_size": 32, "num_channels": 3, "qkv_bias": true,
"max_image_length": -1}
"#;

const DETR: &str = r#"
{"num_channels": 3, "num_queries": 100, "d_model": 256, "encoder_layers": 6,
"decoder_layers": 6, "encoder_attention_heads": 8, "decoder_attention_heads": 8,
"encoder_ffn_dim": 2048, "decoder_ffn_dim": 2048, "activation_function": "relu",
"position_embedding_type": "sine"}
"#;

const RESNET: &str = r#"
{"num_channels": 3, "embedding_size": 64, "hidden_sizes": [256, 512, 1024, 2048],
"depths": [3, 4, 6, 3], "layer_type": "bottleneck", "hidden_act": "relu",
"downsample_in_first_stage": false, "downsample_in_bottleneck": false}
"#;

const WAV2VEC2: &str = r#"
{"vocab_size": 32, "hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
"intermediate_size": 3072, "hidden_act": "gelu", "hidden_dropout": 0.1,
"feat_proj_dropout": 0.0, "final_dropout": 0.1, "layer_norm_eps": 1e-05,
"feat_extract_norm": "group", "feat_extract_activation": "gelu",
"conv_dim": [512, 512, 512, 512, 512, 512, 512], "conv_stride": [5, 2, 2, 2, 2, 2, 2],
"conv_kernel": [10, 3, 3, 3, 3, 2, 2], "conv_bias": false, "num_conv_pos_embeddings": 128,
"num_conv_pos_embedding_groups": 16, "do_stable_layer_norm": false,
"use_weighted_layer_sum": false, "classifier_proj_size": 256, "pad_token_id": 0,
"add_adapter": false, "adapter_attn_dim": null}
"#;

const WHISPER: &str = r#"
{"vocab_size": 51865, "num_mel_bins": 80, "encoder_layers": 4, "encoder_attention_heads": 6,
"decoder_layers": 4, "decoder_attention_heads": 6, "encoder_ffn_dim": 1536,
"decoder_ffn_dim": 1536, "d_model": 384, "activation_function": "gelu",
"max_source_positions": 1500, "max_target_positions": 448, "scale_embedding": false,
"decoder_start_token_id": 50257, "pad_token_id": 50256, "eos_token_id": 50256,
"classifier_proj_size": 256, "use_weighted_layer_sum": false, "median_filter_width": 7}
"#;

const LAYOUTLM: &str = r#"
{"max_2d_position_embeddings": 1024, "vocab_size": 30522, "hidden_size": 768,
"num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072,
"hidden_act": "gelu", "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1,
"max_position_embeddings": 512, "type_vocab_size": 2, "initializer_range": 0.02,
"layer_norm_eps": 1e-12, "pad_token_id": 0}
"#;

const GENERATION: &str = r#"
{"max_length": 20, "max_new_tokens": null, "min_length": 0, "min_new_tokens": null,
"early_stopping": false, "num_beams": 1, "do_sample": false, "temperature": 1.0,
"top_k": 50, "top_p": 1.0, "repetition_penalty": 1.0, "length_penalty": 1.0,
"no_repeat_ngram_size": 0, "bad_words_ids": null, "forced_bos_token_id": null,
"forced_eos_token_id": null, "num_return_sequences": 1, "pad_token_id": null,
"bos_token_id": null, "eos_token_id": null, "decoder_start_token_id": null,
"suppress_tokens": null, "begin_suppress_tokens": null, "use_cache": true}
"#;
