"""PyTorch side of the Whisper workloads of `cargo xtask bench`: 30 s of audio through
WhisperFeatureExtractor, then `model.generate()` of exactly 32 tokens (min_new_tokens =
max_new_tokens = 32), greedy or with --num-beams, on the same random checkpoint; with
--quantize-dynamic, after `torch.ao.quantization.quantize_dynamic` of its Linear layers. Prints the
same JSON as bench_torch.py.

With --train-lora, times one LoRA training step instead (r=4, alpha 64, dropout 0.05 on
q_proj/v_proj; teacher-forced loss on --labels tokens of the same 30 s example, backward,
clip_grad_norm_(1.0), AdamW lr 1e-3) on an f32 base: our side's base is int8 (LLM.int8), but
bitsandbytes' int8 kernels need CUDA, so this is the closest CPU equivalent, not the same
computation.
"""

import argparse
import time

import torch
import transformers
from bench_common import report, test_audio, time_calls
from transformers import WhisperFeatureExtractor, WhisperForConditionalGeneration


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--seq", type=int, default=0)
    parser.add_argument("--train-lora", action="store_true")
    parser.add_argument("--num-beams", type=int, default=1)
    # Int8 rows: the Linear layers through torch.ao.quantization.quantize_dynamic (qint8).
    parser.add_argument("--quantize-dynamic", action="store_true")
    parser.add_argument("--labels", type=int, default=32)
    args = parser.parse_args()
    if args.train_lora:
        return train_lora_step(args)

    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    model = WhisperForConditionalGeneration.from_pretrained(args.model, dtype=torch.float32).eval()
    if args.quantize_dynamic:
        model = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
    load_ms = (time.perf_counter() - start) * 1e3
    extractor = WhisperFeatureExtractor()
    audio = test_audio()

    def run():
        features = extractor(audio, sampling_rate=16000, return_tensors="pt").input_features
        out = model.generate(
            features, min_new_tokens=32, max_new_tokens=32, num_beams=args.num_beams, do_sample=False
        )
        assert out.shape[-1] >= 32, out.shape

    with torch.inference_mode():
        samples = time_calls(run, args.runs)
    report(args, samples, load_ms, torch=torch.__version__, transformers=transformers.__version__)


def train_lora_step(args):
    from peft import LoraConfig, get_peft_model

    torch.set_num_threads(args.threads)
    torch.manual_seed(42)
    start = time.perf_counter()
    model = WhisperForConditionalGeneration.from_pretrained(args.model, dtype=torch.float32)
    lora = LoraConfig(r=4, lora_alpha=64, target_modules=["q_proj", "v_proj"], lora_dropout=0.05, bias="none")
    model = get_peft_model(model, lora).train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    load_ms = (time.perf_counter() - start) * 1e3
    features = WhisperFeatureExtractor()(test_audio(), sampling_rate=16000, return_tensors="pt").input_features
    # The same label ids as the Rust side's `lora_step_labels`; the model shifts them right.
    labels = torch.tensor([[(i * 131) % 50000 + 100 for i in range(args.labels)]])

    def step():
        loss = model(input_features=features, labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        optimizer.zero_grad()

    samples = time_calls(step, args.runs)
    report(args, samples, load_ms, torch=torch.__version__, transformers=transformers.__version__)

if __name__ == "__main__":
    main()
