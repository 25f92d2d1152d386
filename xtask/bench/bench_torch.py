"""PyTorch side of `cargo xtask bench`: the same workload on the same checkpoint directory.

Prints one JSON object: {"median_ms", "load_ms", "peak_rss_mb", "runs", "threads", "torch",
"transformers"}.
"""

import argparse
import json
import os
import resource
import statistics
import time

import torch
import transformers
from transformers import AutoModel


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--batch", type=int, required=True)
    parser.add_argument("--seq", type=int, required=True)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    with open(os.path.join(args.model, "config.json")) as f:
        model_type = json.load(f)["model_type"]
    start = time.perf_counter()
    # A bare ViTModel without its pooler, as ours (the pooler is not part of the encoder).
    extra = {"add_pooling_layer": False} if model_type == "vit" else {}
    model = AutoModel.from_pretrained(args.model, dtype=torch.float32, **extra).eval()
    load_ms = (time.perf_counter() - start) * 1e3

    if model_type == "vit":
        # `--seq` is the image side; the same pixel formula as the Rust side.
        n = args.batch * 3 * args.seq * args.seq
        pixels = ((torch.arange(n, dtype=torch.int64) * 37) % 251).float() / 125.5 - 1.0
        inputs = {"pixel_values": pixels.reshape(args.batch, 3, args.seq, args.seq)}
    else:
        ids = torch.tensor(
            [[(b * 131 + s * 7) % 30000 + 1000 for s in range(args.seq)] for b in range(args.batch)]
        )
        inputs = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
    with torch.inference_mode():
        model(**inputs)  # warm-up
        samples = []
        for _ in range(args.runs):
            t = time.perf_counter()
            model(**inputs)
            samples.append((time.perf_counter() - t) * 1e3)
    print(
        json.dumps(
            {
                "median_ms": statistics.median(samples),
                "load_ms": load_ms,
                # ru_maxrss is in KiB on Linux.
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "runs": args.runs,
                "threads": args.threads,
                "torch": torch.__version__,
                "transformers": transformers.__version__,
            }
        )
    )


if __name__ == "__main__":
    main()
