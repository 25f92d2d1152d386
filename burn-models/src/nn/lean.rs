//! Differentiable ops with hand-written backward passes, so the autodiff graph keeps only what
//! those passes need. Burn's autodiff keeps every saved input of every op until the backward
//! pass: a frozen quantized layer then holds its dequantized f32 weight (the same bytes as an
//! f32 base), and attention holds its `[batch, heads, query, key]` scores and probabilities
//! (for Whisper's 1,500 encoder positions, ~100 MB per layer and example). The ops here compute
//! their output outside the graph and register one node whose backward recomputes what it needs:
//! a frozen linear layer dequantizes its int8/NF4 weight again (as bitsandbytes' backward does),
//! attention recomputes its probabilities from `q`, `k`, `v` (as PyTorch's flash/memory-efficient
//! SDPA kernels do). Gradients are the same as the composed ops' (tests compare them).
//!
//! Supported on the CPU backends (`flex`, `ndarray`) and the GPU ones (`wgpu`, `cuda`: Burn's
//! cubecl backend); elsewhere, and where an op's input has no autodiff, callers take the plain
//! composed path. Nothing here reads device memory back to the host on a GPU.
//! `BURN_MODELS_PLAIN_BACKWARD=1` forces the plain path everywhere (to measure the difference).

use std::cell::Cell;
use std::sync::{Arc, OnceLock};

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{
    Bool, Distribution, GradientCheckpointingStrategy, Gradients as TensorGradients, Int, Tensor,
};
use burn_autodiff::NodeId;
use burn_autodiff::checkpoint::base::Checkpointer;
use burn_autodiff::checkpoint::strategy::{
    BalancedCheckpointing, CheckpointStrategy, NoCheckpointing,
};
use burn_autodiff::grads::Gradients;
use burn_autodiff::ops::{Backward, Ops, OpsKind};
use burn_backend::Backend;
use burn_dispatch::backends::Autodiff;
use burn_dispatch::{DispatchKindConversion, DispatchTensor};

/// Gradients of an op's `N` inputs from the gradient of its output; `needed[i]` says whether
/// input `i` wants one (others may be `None`). Runs on tensors without autodiff.
pub type GradFn<const N: usize, const D: usize, const DO: usize> =
    Arc<dyn Fn(Tensor<DO>, [bool; N]) -> InputGrads<N, D> + Send + Sync>;

/// What a [`GradFn`] returns: the inputs' gradients, and gradients of other leaves of the graph
/// (a checkpointed layer's parameters) by node.
pub struct InputGrads<const N: usize, const D: usize> {
    /// The gradient of each input (`None` for inputs that need none).
    pub inputs: [Option<Tensor<D>>; N],
    /// Gradients of other leaves of the graph, by node.
    pub leaves: Vec<(NodeId, DispatchTensor)>,
}

impl<const N: usize, const D: usize> From<[Option<Tensor<D>>; N]> for InputGrads<N, D> {
    fn from(inputs: [Option<Tensor<D>>; N]) -> Self {
        Self {
            inputs,
            leaves: Vec::new(),
        }
    }
}

/// Whether the hand-written backward passes are switched on (not disabled by
/// `BURN_MODELS_PLAIN_BACKWARD`).
pub fn enabled() -> bool {
    static ENABLED: OnceLock<bool> = OnceLock::new();
    *ENABLED.get_or_init(|| {
        !matches!(
            std::env::var("BURN_MODELS_PLAIN_BACKWARD").as_deref(),
            Ok("1") | Ok("true")
        )
    })
}

thread_local! {
    static PLAIN: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` with the plain composed backward passes on this thread (tests compare the two).
pub fn with_plain_backward<R>(f: impl FnOnce() -> R) -> R {
    let before = PLAIN.with(|p| p.replace(true));
    let result = f();
    PLAIN.with(|p| p.set(before));
    result
}

/// Whether an op on `input` should take the hand-written path: it is switched on, autodiff is
/// on for `input` and its backend is supported.
pub fn applies<const D: usize>(input: &Tensor<D>) -> bool {
    enabled() && !PLAIN.with(Cell::get) && input.is_autodiff() && supported(input)
}

/// Burn's `attention` (same arguments and output) whose backward pass recomputes the attention
/// probabilities from `q`, `k`, `v`, one example at a time, instead of keeping the scores and
/// probabilities of every layer (PyTorch's SDPA kernels don't keep them either). Falls back to
/// Burn's op where the hand-written path does not apply, with a trainable `bias`, a softcap or
/// `is_causal` (the models here pass causal masks explicitly).
pub fn attention(
    query: Tensor<4>,
    key: Tensor<4>,
    value: Tensor<4>,
    mask: Option<Tensor<4, Bool>>,
    bias: Option<Tensor<4>>,
    options: AttentionModuleOptions,
) -> Tensor<4> {
    let lean = applies(&query)
        && options.softcap.is_none()
        && !options.is_causal
        && bias.as_ref().is_none_or(|b| !b.is_tracked());
    if !lean {
        return super::cpu_kernels::attention(query, key, value, mask, bias, options);
    }
    let (q, k, v) = (
        query.clone().inner(),
        key.clone().inner(),
        value.clone().inner(),
    );
    let mask = mask.map(Tensor::inner);
    let bias = bias.map(Tensor::inner);
    let output = super::cpu_kernels::attention(
        q.clone(),
        k.clone(),
        v.clone(),
        mask.clone(),
        bias.clone(),
        options,
    );
    let head_dim = q.dims()[3];
    let scale = options
        .scale
        .unwrap_or_else(|| 1.0 / (head_dim as f64).sqrt());
    let backward: GradFn<3, 4, 4> = Arc::new(move |grad: Tensor<4>, needed: [bool; 3]| {
        let batch = q.dims()[0];
        let pick = |t: &Tensor<4>, b: usize| t.clone().slice(b..b + 1);
        let (mut dq, mut dk, mut dv) = (Vec::new(), Vec::new(), Vec::new());
        for b in 0..batch {
            let (qb, kb, vb, gb) = (pick(&q, b), pick(&k, b), pick(&v, b), pick(&grad, b));
            // The forward's probabilities, as Burn's attention computes them (NaN-safe for
            // fully masked rows, which get zero probabilities and gradients).
            let mut scores = qb
                .clone()
                .matmul(kb.clone().swap_dims(2, 3))
                .mul_scalar(scale);
            if let Some(m) = &mask {
                let m = if m.dims()[0] == batch {
                    pick_bool(m, b)
                } else {
                    m.clone()
                };
                scores = scores.mask_fill(m, f32::NEG_INFINITY);
            }
            if let Some(bias) = &bias {
                scores = scores
                    + if bias.dims()[0] == batch {
                        pick(bias, b)
                    } else {
                        bias.clone()
                    };
            }
            let max = scores.clone().max_dim(3).clamp_min(f32::MIN);
            let exp = (scores - max).exp();
            let sum = exp.clone().sum_dim(3).clamp_min(f32::MIN_POSITIVE);
            let probs = exp / sum;
            if needed[2] {
                dv.push(probs.clone().swap_dims(2, 3).matmul(gb.clone()));
            }
            if needed[0] || needed[1] {
                let dprobs = gb.matmul(vb.swap_dims(2, 3));
                let row = (dprobs.clone() * probs.clone()).sum_dim(3);
                let dscores = (probs * (dprobs - row)).mul_scalar(scale);
                if needed[0] {
                    dq.push(dscores.clone().matmul(kb));
                }
                if needed[1] {
                    dk.push(dscores.swap_dims(2, 3).matmul(qb));
                }
            }
        }
        let join = |parts: Vec<Tensor<4>>| (!parts.is_empty()).then(|| Tensor::cat(parts, 0));
        [join(dq), join(dk), join(dv)].into()
    });
    record(&[query, key, value], output, backward)
}

/// Exact GELU ([`cpu_kernels::gelu`](super::cpu_kernels::gelu)) whose backward pass is one
/// fused kernel on the CPU (Burn's evaluates `erf` and `exp` per element on one core). Elsewhere,
/// and without autodiff, it is `cpu_kernels::gelu`.
pub fn gelu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    #[cfg(feature = "flex")]
    if x.dtype() == burn::tensor::DType::F32 && applies(&x) {
        let input = x.clone().inner();
        if input
            .clone()
            .try_into_primitive::<burn_dispatch::backends::Flex>()
            .is_ok()
        {
            let output = super::cpu_kernels::gelu(input.clone());
            let backward: GradFn<1, D, D> = Arc::new(move |grad: Tensor<D>, _| {
                [Some(super::cpu_kernels::gelu_backward(input.clone(), grad))].into()
            });
            return record(&[x], output, backward);
        }
    }
    super::cpu_kernels::gelu(x)
}

fn pick_bool(t: &Tensor<4, Bool>, b: usize) -> Tensor<4, Bool> {
    t.clone().slice(b..b + 1)
}

fn supported<const D: usize>(input: &Tensor<D>) -> bool {
    on_host(input) || on_gpu(input)
}

/// Whether `input` is on a CPU backend (where reading a value back is a copy, not a sync).
pub(crate) fn on_host<const D: usize>(input: &Tensor<D>) -> bool {
    let _ = input;
    #[cfg(feature = "flex")]
    if is_on::<burn_dispatch::backends::Flex, D>(input) {
        return true;
    }
    #[cfg(feature = "ndarray")]
    if is_on::<burn_dispatch::backends::NdArray, D>(input) {
        return true;
    }
    false
}

/// Whether `input` is on Burn's cubecl backend (wgpu, CUDA: one backend type, the device says
/// which runtime). Burn's `wgpu`/`cuda` features turn on burn-dispatch's of the same name,
/// which defines it.
fn on_gpu<const D: usize>(input: &Tensor<D>) -> bool {
    let _ = input;
    #[cfg(any(feature = "wgpu", feature = "cuda"))]
    if is_on::<burn_dispatch::backends::Cube, D>(input) {
        return true;
    }
    false
}

#[allow(dead_code)]
fn is_on<B: Backend, const D: usize>(input: &Tensor<D>) -> bool
where
    DispatchTensor: DispatchKindConversion<Autodiff<B, NoCheckpointing>>
        + DispatchKindConversion<Autodiff<B, BalancedCheckpointing>>,
{
    let t = input.clone();
    t.clone()
        .try_into_primitive::<Autodiff<B, NoCheckpointing>>()
        .is_ok()
        || t.try_into_primitive::<Autodiff<B, BalancedCheckpointing>>()
            .is_ok()
}

/// Records `output` (computed from the inputs' values without autodiff) as the result of one
/// op on `inputs` whose backward pass is `backward`. Only `backward`'s captures are kept for
/// the backward pass. Panics if [`applies`] is false for `inputs[0]`.
pub fn record<const N: usize, const D: usize, const DO: usize>(
    inputs: &[Tensor<D>; N],
    output: Tensor<DO>,
    backward: GradFn<N, D, DO>,
) -> Tensor<DO> {
    #[cfg(feature = "flex")]
    if let Some(out) =
        record_on::<burn_dispatch::backends::Flex, N, D, DO>(inputs, &output, &backward)
    {
        return out;
    }
    #[cfg(feature = "ndarray")]
    if let Some(out) =
        record_on::<burn_dispatch::backends::NdArray, N, D, DO>(inputs, &output, &backward)
    {
        return out;
    }
    #[cfg(any(feature = "wgpu", feature = "cuda"))]
    if let Some(out) =
        record_on::<burn_dispatch::backends::Cube, N, D, DO>(inputs, &output, &backward)
    {
        return out;
    }
    let _ = (inputs, output, backward);
    panic!("lean::record on a tensor without a supported autodiff backend")
}

#[allow(dead_code)]
fn record_on<B: Backend, const N: usize, const D: usize, const DO: usize>(
    inputs: &[Tensor<D>; N],
    output: &Tensor<DO>,
    backward: &GradFn<N, D, DO>,
) -> Option<Tensor<DO>>
where
    DispatchTensor: DispatchKindConversion<B>
        + DispatchKindConversion<Autodiff<B, NoCheckpointing>>
        + DispatchKindConversion<Autodiff<B, BalancedCheckpointing>>,
{
    match inputs[0].gradient_checkpointing_strategy()? {
        burn::tensor::GradientCheckpointingStrategy::Disabled => {
            record_with::<B, NoCheckpointing, N, D, DO>(inputs, output, backward)
        }
        burn::tensor::GradientCheckpointingStrategy::Balanced => {
            record_with::<B, BalancedCheckpointing, N, D, DO>(inputs, output, backward)
        }
    }
}

fn record_with<B: Backend, C: CheckpointStrategy, const N: usize, const D: usize, const DO: usize>(
    inputs: &[Tensor<D>; N],
    output: &Tensor<DO>,
    backward: &GradFn<N, D, DO>,
) -> Option<Tensor<DO>>
where
    DispatchTensor: DispatchKindConversion<B> + DispatchKindConversion<Autodiff<B, C>>,
{
    let mut primitives = Vec::with_capacity(N);
    for input in inputs {
        primitives.push(input.clone().try_into_primitive::<Autodiff<B, C>>().ok()?);
    }
    let out = output.clone().try_into_primitive::<B>().ok()?;
    let guards = std::array::from_fn(|i| primitives[i].node());
    let out = match Custom::<N, D, DO>
        .prepare::<C>(guards)
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish(State(backward.clone()), out),
        OpsKind::UnTracked(prep) => prep.finish(out),
    };
    Some(Tensor::from_primitive::<Autodiff<B, C>>(out))
}

#[derive(Debug)]
struct Custom<const N: usize, const D: usize, const DO: usize>;

#[derive(Clone)]
struct State<const N: usize, const D: usize, const DO: usize>(GradFn<N, D, DO>);

impl<const N: usize, const D: usize, const DO: usize> std::fmt::Debug for State<N, D, DO> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("lean::State")
    }
}

impl<B: Backend, const N: usize, const D: usize, const DO: usize> Backward<B, N>
    for Custom<N, D, DO>
where
    DispatchTensor: DispatchKindConversion<B>,
{
    type State = State<N, D, DO>;

    fn backward(
        self,
        ops: Ops<Self::State, N>,
        grads: &mut Gradients,
        _checkpointer: &mut Checkpointer,
    ) {
        let grad = Tensor::<DO>::from_primitive::<B>(grads.consume::<B>(&ops.node));
        let needed = std::array::from_fn(|i| ops.parents[i].is_some());
        let out = (ops.state.0)(grad, needed);
        for (parent, grad) in ops.parents.into_iter().zip(out.inputs) {
            if let (Some(node), Some(grad)) = (parent, grad) {
                let grad = grad
                    .try_into_primitive::<B>()
                    .expect("lean backward: gradient on the op's own backend");
                grads.register::<B>(node.id, grad);
            }
        }
        for (node, grad) in out.leaves {
            let grad = <DispatchTensor as DispatchKindConversion<B>>::try_into_backend(grad)
                .expect("lean backward: gradient on the op's own backend")
                .float();
            grads.register::<B>(node, grad);
        }
    }
}

/// The autodiff node of `tensor`, on a supported backend.
fn node_id<const D: usize>(tensor: &Tensor<D>) -> Option<NodeId> {
    let _ = tensor;
    #[cfg(feature = "flex")]
    if let Some(id) = node_id_on::<burn_dispatch::backends::Flex, D>(tensor) {
        return Some(id);
    }
    #[cfg(feature = "ndarray")]
    if let Some(id) = node_id_on::<burn_dispatch::backends::NdArray, D>(tensor) {
        return Some(id);
    }
    #[cfg(any(feature = "wgpu", feature = "cuda"))]
    if let Some(id) = node_id_on::<burn_dispatch::backends::Cube, D>(tensor) {
        return Some(id);
    }
    None
}

#[allow(dead_code)]
fn node_id_on<B: Backend, const D: usize>(tensor: &Tensor<D>) -> Option<NodeId>
where
    DispatchTensor: DispatchKindConversion<Autodiff<B, NoCheckpointing>>
        + DispatchKindConversion<Autodiff<B, BalancedCheckpointing>>,
{
    if let Ok(t) = tensor
        .clone()
        .try_into_primitive::<Autodiff<B, NoCheckpointing>>()
    {
        return Some(t.id());
    }
    tensor
        .clone()
        .try_into_primitive::<Autodiff<B, BalancedCheckpointing>>()
        .ok()
        .map(|t| t.id())
}

/// Gradient checkpointing of one layer (`torch.utils.checkpoint`, what HF's
/// `gradient_checkpointing_enable()` does per layer): `layer(module, x)` runs without recording
/// a graph, and the backward pass runs it again, with autodiff, from the kept input `x`, to get
/// the gradients of `x` and of the module's trainable parameters. Only the layer's input is
/// kept between the passes. Dropout masks are the same in both runs (the device's RNG is
/// seeded alike before each).
///
/// Applies when `x`'s device has gradient checkpointing on
/// (`Device::autodiff().gradient_checkpointing()`) and [`applies`]; otherwise it is `layer(module, x)`.
pub fn checkpoint<M: Module + 'static>(
    module: &M,
    x: Tensor<3>,
    layer: fn(&M, Tensor<3>) -> Tensor<3>,
) -> Tensor<3> {
    if !checkpoints(&x) {
        return layer(module, x);
    }
    let (anchor, nodes) = anchor(module, &x);
    checkpoint_inputs(module, [x, anchor], nodes, move |m, [x, _]| layer(m, x))
}

/// [`checkpoint`] of a layer that also reads a `context` it does not change (a decoder layer's
/// encoder output): the context is kept by reference, not copied, and gets its gradient from
/// the recomputation too. Without it, each decoder layer of an encoder-decoder would keep its
/// cross-attention keys and values over every encoder position until the backward pass.
pub fn checkpoint_with_context<M: Module + 'static>(
    module: &M,
    x: Tensor<3>,
    context: Tensor<3>,
    layer: fn(&M, Tensor<3>, Tensor<3>) -> Tensor<3>,
) -> Tensor<3> {
    if !checkpoints(&x) {
        return layer(module, x, context);
    }
    let (anchor, nodes) = anchor(module, &x);
    checkpoint_inputs(
        module,
        [x, context, anchor],
        nodes,
        move |m, [x, context, _]| layer(m, x, context),
    )
}

/// Whether [`checkpoint`] recomputes a layer on `x` (rather than just running it).
fn checkpoints(x: &Tensor<3>) -> bool {
    x.gradient_checkpointing_strategy() == Some(GradientCheckpointingStrategy::Balanced)
        && applies(x)
}

/// A zero `[1, 1, 1]` computed from the module's trainable parameters: as the last input of a
/// checkpointed layer it ties the op to them, so the op is recorded whenever they train (its
/// own gradient is zero; theirs are registered directly). Also returns the trainable
/// parameters' nodes in the graph, by id, which the backward pass addresses.
fn anchor<M: Module>(module: &M, x: &Tensor<3>) -> (Tensor<3>, Vec<(ParamId, NodeId)>) {
    let mut trainable = Trainable::default();
    module.visit(&mut trainable);
    let anchor = trainable
        .params
        .into_iter()
        .map(|(_, t)| t.slice(0..1).sum().mul_scalar(0.0))
        .reduce(|a, b| a + b)
        .unwrap_or_else(|| Tensor::<1>::zeros([1], &x.device()))
        .reshape([1, 1, 1]);
    (anchor, trainable.nodes)
}

/// The checkpointed op on `inputs`, whose last one is the [`anchor`] (`nodes`: its parameter
/// nodes); `layer` gets all of them (and ignores the anchor).
fn checkpoint_inputs<M: Module + 'static, const N: usize>(
    module: &M,
    inputs: [Tensor<3>; N],
    nodes: Vec<(ParamId, NodeId)>,
    layer: impl Fn(&M, [Tensor<3>; N]) -> Tensor<3> + Send + Sync + 'static,
) -> Tensor<3> {
    let strategy = GradientCheckpointingStrategy::Balanced;
    // Dropout masks: the same in both runs.
    let device = inputs[0].device();
    let seed = dropout_seed(&inputs[0]);
    device.seed(seed);
    let frozen = module.clone().no_grad();
    let output = layer(&frozen, inputs.clone().map(|t| t.detach())).inner();
    drop(frozen);
    // Modules are `Send` but not always `Sync`; the backward closure must be both.
    let module = std::sync::Mutex::new(module.clone());
    let kept = inputs.clone().map(Tensor::inner);
    let backward: GradFn<N, 3, 3> = Arc::new(move |grad: Tensor<3>, needed: [bool; N]| {
        let on = |t: Tensor<3>| t.autodiff().with_gradient_checkpointing_strategy(strategy);
        let real = N - 1;
        let xs: [Tensor<3>; N] = std::array::from_fn(|i| {
            let t = on(kept[i].clone());
            if i < real && needed[i] {
                t.require_grad()
            } else {
                t
            }
        });
        let fresh = module
            .lock()
            .expect("checkpointed module")
            .clone()
            .map(&mut Fresh { strategy });
        xs[0].device().seed(seed);
        let y = layer(&fresh, xs.clone());
        let inner = (y * on(grad)).sum().backward();
        let mut collect = Collect {
            grads: &inner,
            nodes: &nodes,
            out: Vec::new(),
        };
        fresh.visit(&mut collect);
        let inputs = std::array::from_fn(|i| {
            if !needed[i] {
                None
            } else if i < real {
                xs[i].grad(&inner)
            } else {
                // The anchor's own gradient: zero (it only ties the parameters to the op).
                Some(Tensor::<3>::zeros([1, 1, 1], &kept[i].device()))
            }
        });
        InputGrads {
            inputs,
            leaves: collect.out,
        }
    });
    record(&inputs, output, backward)
}

thread_local! {
    /// SplitMix64 state of [`seed`]'s stream.
    static SEEDS: Cell<u64> = const { Cell::new(0x5EED_C4EC_0F49_0001) };
}

/// Seeds the stream that gives checkpointed layers their dropout seeds on a GPU (this thread's;
/// the trainer calls it with the device's seed before each step). On the CPU backends the seed
/// is drawn from the device's own random stream instead; on a GPU that would read a value back
/// to the host, which waits for every queued kernel, once per layer.
pub fn seed(seed: u64) {
    SEEDS.with(|s| s.set(seed));
}

/// The seed a checkpointed layer's two runs share (see [`seed`]); on the CPU backends, drawn
/// from the device's random stream (also the seed of [`super::dropout`]'s masks).
pub(crate) fn dropout_seed<const D: usize>(x: &Tensor<D>) -> u64 {
    if on_host(x) {
        // From the device's own random stream, so a seeded device gives reproducible runs.
        return Tensor::<1>::random([2], Distribution::Uniform(0.0, 1.0), &x.device())
            .into_data()
            .convert::<f32>()
            .try_to_vec::<f32>()
            .map_or(0, |v| {
                (u64::from(v[0].to_bits()) << 32) | u64::from(v[1].to_bits())
            });
    }
    SEEDS.with(|s| {
        let state = s.get();
        s.set(state.wrapping_add(super::dropout::GOLDEN));
        super::dropout::split_mix(state)
    })
}

/// Float parameters that require gradients.
#[derive(Default)]
struct Trainable {
    /// Flattened, for the anchor.
    params: Vec<(ParamId, Tensor<1>)>,
    /// Each parameter's own (leaf) node.
    nodes: Vec<(ParamId, NodeId)>,
}

impl ModuleVisitor for Trainable {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let t = param.val();
        if t.is_require_grad() {
            if let Some(node) = node_id(&t) {
                self.nodes.push((param.id, node));
            }
            self.params.push((param.id, t.flatten(0, D - 1)));
        }
    }
}

/// Replaces trainable parameters by new leaves (same values and ids) outside any recorded
/// graph, so the recomputation builds its own graph.
struct Fresh {
    strategy: GradientCheckpointingStrategy,
}

impl ModuleMapper for Fresh {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        if !param.val().is_require_grad() {
            return param;
        }
        let strategy = self.strategy;
        param.map(|t| {
            t.inner()
                .autodiff()
                .with_gradient_checkpointing_strategy(strategy)
                .require_grad()
        })
    }
}

/// The recomputation's parameter gradients, addressed to the original parameters' nodes.
struct Collect<'a> {
    grads: &'a TensorGradients,
    nodes: &'a [(ParamId, NodeId)],
    out: Vec<(NodeId, DispatchTensor)>,
}

impl ModuleVisitor for Collect<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let Some((_, node)) = self.nodes.iter().find(|(id, _)| *id == param.id) else {
            return;
        };
        if let Some(grad) = param.val().grad(self.grads) {
            self.out.push((*node, grad.into_dispatch()));
        }
    }
}

/// Puts every parameter of `module` under `strategy` (Burn's `Module::train` enables autodiff
/// with checkpointing off; a model trained on a `gradient_checkpointing()` device needs its
/// parameters on that strategy too, as tensors of one op must share it).
pub fn with_checkpointing_strategy<M: Module>(
    module: M,
    strategy: GradientCheckpointingStrategy,
) -> M {
    struct Strategy(GradientCheckpointingStrategy);
    impl ModuleMapper for Strategy {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            let strategy = self.0;
            param.map(|t| {
                if t.is_autodiff() {
                    t.with_gradient_checkpointing_strategy(strategy)
                } else {
                    t
                }
            })
        }
        fn map_int<const D: usize>(
            &mut self,
            param: Param<Tensor<D, Int>>,
        ) -> Param<Tensor<D, Int>> {
            let strategy = self.0;
            param.map(|t| {
                if t.is_autodiff() {
                    t.with_gradient_checkpointing_strategy(strategy)
                } else {
                    t
                }
            })
        }
    }
    module.map(&mut Strategy(strategy))
}

#[cfg(all(test, feature = "flex"))]
mod tests {
    use crate::testing::{assert_close, rand};
    use burn::tensor::{Device, Tensor};

    #[test]
    fn gelu_gradient_matches_burns() {
        let device = Device::flex().autodiff();
        let data = rand([3, 7, 50], &Device::flex()).into_data();
        let weights = rand([3, 7, 50], &device);
        let grad_of = |ours: bool| {
            let x = Tensor::<3>::from_data(data.clone(), &device).require_grad();
            // The hand-written backward pass is the one under test.
            assert!(super::applies(&x));
            let y = if ours {
                super::gelu(x.clone())
            } else {
                burn::tensor::activation::gelu(x.clone())
            };
            let grads = (y.clone() * weights.clone()).sum().backward();
            (y.inner(), x.grad(&grads).expect("gradient"))
        };
        let (y_ours, g_ours) = grad_of(true);
        let (y_burn, g_burn) = grad_of(false);
        assert_close(y_ours, y_burn, 1e-5, "forward");
        assert_close(g_ours, g_burn, 1e-5, "gradient");
    }
}
