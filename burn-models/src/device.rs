//! Choosing a device at run time from a name (`--device`, `BURN_DEVICE`).

use burn::tensor::Device;

use crate::error::{ModelError, Result};

/// Backends compiled into this build, best first.
pub fn compiled_backends() -> Vec<&'static str> {
    let mut names = Vec::new();
    if cfg!(feature = "cuda") {
        names.push("cuda");
    }
    if cfg!(feature = "wgpu") {
        names.push("wgpu");
    }
    if cfg!(feature = "flex") {
        names.push("flex");
    }
    if cfg!(feature = "ndarray") {
        names.push("ndarray");
    }
    names
}

/// Parses a device name: `cpu`/`flex`, `ndarray`, `wgpu`, `cuda`, `cuda:N`, or `auto` (the
/// best compiled-in backend). `None` reads `BURN_DEVICE`, then falls back to `auto`.
pub fn parse_device(name: Option<&str>) -> Result<Device> {
    let env = std::env::var("BURN_DEVICE").ok();
    let name = name
        .or(env.as_deref())
        .unwrap_or("auto")
        .trim()
        .to_ascii_lowercase();
    let not_compiled = |feature: &str| {
        ModelError::InvalidInput(format!(
            "device `{name}` needs the `{feature}` cargo feature; this build has: {}",
            compiled_backends().join(", ")
        ))
    };
    let (kind, index) = match name.split_once(':') {
        Some((kind, index)) => {
            let index: usize = index
                .parse()
                .map_err(|_| ModelError::InvalidInput(format!("bad device index in `{name}`")))?;
            (kind.to_string(), index)
        }
        None => (name.clone(), 0),
    };
    match kind.as_str() {
        "auto" => {
            if compiled_backends().is_empty() {
                return Err(not_compiled("flex"));
            }
            Ok(Device::default())
        }
        "cpu" | "flex" => {
            #[cfg(feature = "flex")]
            return Ok(Device::flex());
            #[allow(unreachable_code)]
            Err(not_compiled("flex"))
        }
        "ndarray" => {
            #[cfg(feature = "ndarray")]
            return Ok(Device::ndarray());
            #[allow(unreachable_code)]
            Err(not_compiled("ndarray"))
        }
        "wgpu" | "vulkan" | "gpu" => {
            #[cfg(feature = "wgpu")]
            return Ok(Device::wgpu(burn::tensor::DeviceKind::DefaultDevice));
            #[allow(unreachable_code)]
            Err(not_compiled("wgpu"))
        }
        "cuda" => {
            #[cfg(feature = "cuda")]
            return Ok(Device::cuda(index));
            #[allow(unreachable_code)]
            {
                let _ = index;
                Err(not_compiled("cuda"))
            }
        }
        other => Err(ModelError::InvalidInput(format!(
            "unknown device `{other}` (expected auto, cpu, ndarray, wgpu, cuda or cuda:N)"
        ))),
    }
}

/// Parses a comma-separated list of device names (`cuda:0,cuda:1`), each as [`parse_device`],
/// for data-parallel training.
pub fn parse_devices(list: &str) -> Result<Vec<Device>> {
    let names: Vec<&str> = list.split(',').map(str::trim).collect();
    if names.iter().any(|n| n.is_empty()) {
        return Err(ModelError::InvalidInput(format!(
            "bad device list `{list}`: expected names separated by commas, e.g. cuda:0,cuda:1"
        )));
    }
    names.into_iter().map(|n| parse_device(Some(n))).collect()
}
