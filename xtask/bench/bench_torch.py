"""PyTorch side of `cargo xtask bench`: the same workload on the same checkpoint directory.

With --quantize-dynamic, the model's Linear layers go through PyTorch's dynamic int8
quantization (`torch.ao.quantization.quantize_dynamic`, qint8 weights) first, as the int8 rows'
other side.

With --train, times one fine-tuning step instead of a forward pass: a fresh
`num_labels` classification head, dropout on, cross-entropy, backward, clip_grad_norm_(1.0),
AdamW (lr 5e-5) as `Trainer` takes it.

Prints one JSON object: {"median_ms", "load_ms", "peak_rss_mb", "runs", "threads", "torch",
"transformers"}.
"""

import argparse
import json
import os
import time

import torch
import transformers
from bench_common import report, time_calls
from transformers import (
    AutoModel,
    AutoModelForObjectDetection,
    AutoModelForSeq2SeqLM,
    AutoModelForSequenceClassification,
)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--batch", type=int, required=True)
    parser.add_argument("--seq", type=int, required=True)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    # Seq2seq workloads: time `generate()` of exactly this many new tokens with beam search.
    parser.add_argument("--generate-new-tokens", type=int)
    parser.add_argument("--num-beams", type=int, default=1)
    # Vision workloads: `--seq` is the image height, `--width` its width (default: square).
    parser.add_argument("--width", type=int)
    parser.add_argument("--train", action="store_true")
    # Int8 rows: the Linear layers through torch.ao.quantization.quantize_dynamic (qint8).
    parser.add_argument("--quantize-dynamic", action="store_true")
    parser.add_argument("--num-labels", type=int, default=5)
    args = parser.parse_args()
    if args.train:
        return train_step(args)

    torch.set_num_threads(args.threads)
    with open(os.path.join(args.model, "config.json")) as f:
        model_type = json.load(f)["model_type"]
    start = time.perf_counter()
    # A bare ViTModel without its pooler, as ours (the pooler is not part of the encoder).
    extra = {"add_pooling_layer": False} if model_type == "vit" else {}
    if args.generate_new_tokens:
        auto = AutoModelForSeq2SeqLM
    elif model_type == "detr":
        auto = AutoModelForObjectDetection
    else:
        auto = AutoModel
    model, info = auto.from_pretrained(args.model, dtype=torch.float32, output_loading_info=True, **extra)
    model.eval()
    if args.quantize_dynamic:
        model = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
    load_ms = (time.perf_counter() - start) * 1e3
    # The same checkpoint on both sides: every weight of the model must come from the file.
    if model_type in ("layoutlm", "detr") and info["missing_keys"]:
        raise SystemExit(f"weights missing from the checkpoint: {info['missing_keys'][:5]}")

    if model_type == "vit":
        # `--seq` is the image side; the same pixel formula as the Rust side.
        n = args.batch * 3 * args.seq * args.seq
        pixels = ((torch.arange(n, dtype=torch.int64) * 37) % 251).float() / 125.5 - 1.0
        inputs = {"pixel_values": pixels.reshape(args.batch, 3, args.seq, args.seq)}
    elif model_type == "detr":
        # One image, `--seq` x `--width`, all of it valid (pixel_mask of ones); the model
        # forward (logits and boxes), not post-processing.
        h, w = args.seq, args.width or args.seq
        n = args.batch * 3 * h * w
        pixels = ((torch.arange(n, dtype=torch.int64) * 37) % 251).float() / 125.5 - 1.0
        inputs = {
            "pixel_values": pixels.reshape(args.batch, 3, h, w),
            "pixel_mask": torch.ones(args.batch, h, w, dtype=torch.int64),
        }
    else:
        ids = torch.tensor(
            [[(b * 131 + s * 7) % 30000 + 1000 for s in range(args.seq)] for b in range(args.batch)]
        )
        inputs = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
        if model_type == "layoutlm":
            # One box per token in 0..1000, the same formula as the Rust side's `bench_boxes`.
            def box(b, s):
                x0, y0 = (b * 37 + s * 13) % 900, (b * 53 + s * 29) % 900
                return [x0, y0, x0 + (s * 7) % 100, y0 + (b + s) % 100]

            inputs["bbox"] = torch.tensor([[box(b, s) for s in range(args.seq)] for b in range(args.batch)])
    if args.generate_new_tokens:
        n = args.generate_new_tokens

        def run():
            out = model.generate(
                **inputs,
                num_beams=args.num_beams,
                max_new_tokens=n,
                min_new_tokens=n,
                no_repeat_ngram_size=0,
            )
            assert out.shape[1] == n + 1, out.shape

    else:

        def run():
            model(**inputs)

    with torch.inference_mode():
        samples = time_calls(run, args.runs)
    report(args, samples, load_ms, torch=torch.__version__, transformers=transformers.__version__)


def train_step(args):
    torch.set_num_threads(args.threads)
    torch.manual_seed(42)
    start = time.perf_counter()
    model = AutoModelForSequenceClassification.from_pretrained(
        args.model, num_labels=args.num_labels, dtype=torch.float32
    ).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-5, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    load_ms = (time.perf_counter() - start) * 1e3
    ids = torch.tensor(
        [[(b * 131 + s * 7) % 30000 + 1000 for s in range(args.seq)] for b in range(args.batch)]
    )
    mask = torch.ones_like(ids)
    labels = torch.tensor([b % args.num_labels for b in range(args.batch)])

    def step():
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad()

    samples = time_calls(step, args.runs)
    report(args, samples, load_ms, torch=torch.__version__, transformers=transformers.__version__)

if __name__ == "__main__":
    main()
