//! Running the same pipeline on another device: the backends are cargo features, the device is
//! chosen at run time.
//!
//! ```sh
//! cargo run -p burn-tasks --example pick_device -- cpu
//! cargo run -p burn-tasks --features wgpu --example pick_device -- wgpu
//! ```

use burn_tasks::pipeline;
use serde_json::json;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!(
        "compiled in: {}",
        burn_models::device::compiled_backends().join(", ")
    );
    // `auto`, `cpu`, `ndarray`, `wgpu`, `cuda` or `cuda:N`; without one, $BURN_DEVICE or the
    // best backend compiled in.
    let name = std::env::args().nth(1);
    let device = burn_models::device::parse_device(name.as_deref())?;
    println!("running on {device:?}");

    let model = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/bert-tokcls");
    let ner = pipeline("ner")?.model(model).device(device).build()?;
    let entities = ner.call(
        &json!("John lives in Paris"),
        &json!({"aggregation_strategy": "simple"}),
    )?;
    println!("{}", serde_json::to_string_pretty(&entities)?);
    Ok(())
}
