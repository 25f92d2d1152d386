//! Embedding a pipeline in an application: load it once, then classify whatever comes in.
//!
//! ```sh
//! cargo run -p burn-tasks --example embed_pipeline -- [MODEL_DIR_OR_HUB_ID] < texts.txt
//! ```
//!
//! Without a model it uses the committed tiny test checkpoint, whose labels are random.

use std::io::BufRead;

use burn_tasks::TaskPipeline;
use burn_tasks::pipelines::text_classification::{
    TextClassificationOptions, TextClassificationPipeline, TextInput, TopK,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let model = std::env::args().nth(1).unwrap_or_else(|| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/bert-seqcls").to_string()
    });
    // Loading reads the weights and builds the tokenizer: do it once, not per request.
    let classifier = TextClassificationPipeline::from_pretrained(&model)?;
    let options = TextClassificationOptions {
        top_k: TopK::Some(2),
        ..Default::default()
    };

    let stdin = std::io::stdin();
    let lines: Vec<String> = stdin.lock().lines().collect::<Result<_, _>>()?;
    let texts: Vec<String> = if lines.is_empty() {
        vec!["the food was great".into(), "the service was slow".into()]
    } else {
        lines
    };
    let inputs: Vec<TextInput> = texts.iter().map(|t| TextInput::from(t.as_str())).collect();
    // One call batches the inputs (`batch_size` of them through the model at once).
    for (text, scores) in texts.iter().zip(classifier.classify(&inputs, &options)?) {
        let best = &scores[0];
        println!("{:.4} {:<10} {text}", best.score, best.label);
    }
    Ok(())
}
