"""PyTorch side of `cargo xtask bench`: the same workload on the same checkpoint directory.

Prints one JSON object: {"median_ms", "load_ms", "peak_rss_mb", "runs", "threads", "torch",
"transformers"}.
"""

import argparse
import json
import resource
import statistics
import time

import torch
import transformers
from transformers import AutoModel, AutoModelForSeq2SeqLM


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
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    auto = AutoModelForSeq2SeqLM if args.generate_new_tokens else AutoModel
    model = auto.from_pretrained(args.model, dtype=torch.float32).eval()
    load_ms = (time.perf_counter() - start) * 1e3

    ids = torch.tensor(
        [[(b * 131 + s * 7) % 30000 + 1000 for s in range(args.seq)] for b in range(args.batch)]
    )
    mask = torch.ones_like(ids)
    if args.generate_new_tokens:
        n = args.generate_new_tokens

        def run():
            out = model.generate(
                input_ids=ids,
                attention_mask=mask,
                num_beams=args.num_beams,
                max_new_tokens=n,
                min_new_tokens=n,
                no_repeat_ngram_size=0,
            )
            assert out.shape[1] == n + 1, out.shape

    else:

        def run():
            model(input_ids=ids, attention_mask=mask)

    with torch.inference_mode():
        run()  # warm-up
        samples = []
        for _ in range(args.runs):
            t = time.perf_counter()
            run()
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
