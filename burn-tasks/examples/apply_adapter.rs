//! A PEFT LoRA adapter on top of a model, as `PeftModel.from_pretrained(model, adapter)`:
//! the same pipeline with and without it.
//!
//! ```sh
//! cargo run -p burn-tasks --example apply_adapter -- [MODEL] [ADAPTER_DIR]
//! ```
//!
//! The adapter directory holds `adapter_config.json` and `adapter_model.safetensors`, as PEFT's
//! `save_pretrained` writes them (or `burn_peft::PeftModel::save_pretrained`).

use burn_tasks::TaskPipeline;
use burn_tasks::pipelines::text_classification::{
    TextClassificationOptions, TextClassificationPipeline, TextInput, TopK,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures");
    let mut args = std::env::args().skip(1);
    let model = args
        .next()
        .unwrap_or_else(|| format!("{fixtures}/bert-seqcls"));
    let adapter = args
        .next()
        .unwrap_or_else(|| format!("{fixtures}/peft-bert-seqcls"));

    let base = TextClassificationPipeline::from_pretrained(&model)?;
    let adapted: TextClassificationPipeline = TextClassificationPipeline::builder()
        .model(&model)
        .adapter(&adapter)
        .load()?;

    let inputs = [TextInput::from("the food was great")];
    let options = TextClassificationOptions {
        top_k: TopK::All,
        ..Default::default()
    };
    for (name, pipeline) in [("base", &base), ("with adapter", &adapted)] {
        let scores = pipeline.classify(&inputs, &options)?;
        let line: Vec<String> = scores[0]
            .iter()
            .map(|s| format!("{} {:.4}", s.label, s.score))
            .collect();
        println!("{name:>12}: {}", line.join(", "));
    }
    Ok(())
}
