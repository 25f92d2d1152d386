"""PyTorch side of the Whisper workloads of `cargo xtask bench`: 30 s of audio through
WhisperFeatureExtractor, then `model.generate()` of exactly 32 greedy tokens (min_new_tokens =
max_new_tokens = 32) on the same random checkpoint. Prints the same JSON as bench_torch.py.
"""

import argparse
import json
import resource
import statistics
import time

import numpy as np
import torch
import transformers
from transformers import WhisperFeatureExtractor, WhisperForConditionalGeneration


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--seq", type=int, default=0)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    model = WhisperForConditionalGeneration.from_pretrained(args.model, dtype=torch.float32).eval()
    load_ms = (time.perf_counter() - start) * 1e3
    extractor = WhisperFeatureExtractor()
    t = np.arange(30 * 16000) / 16000.0
    audio = (0.3 * np.sin(2 * np.pi * 440.0 * t) + 0.2 * np.sin(2 * np.pi * 1234.5 * t)).astype(np.float32)

    def run():
        features = extractor(audio, sampling_rate=16000, return_tensors="pt").input_features
        out = model.generate(features, min_new_tokens=32, max_new_tokens=32, num_beams=1, do_sample=False)
        assert out.shape[-1] >= 32, out.shape

    with torch.inference_mode():
        run()  # warm-up
        samples = []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            run()
            samples.append((time.perf_counter() - t0) * 1e3)
    print(
        json.dumps(
            {
                "median_ms": statistics.median(samples),
                "load_ms": load_ms,
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
