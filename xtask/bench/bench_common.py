"""What the peer benchmark scripts share: the timing loops, the test signal and the one JSON
line each prints for `cargo xtask-perf bench`."""

import json
import resource
import statistics
import time

import numpy as np


def time_calls(run, runs):
    """One untimed call (warm-up; for a training step, the one that allocates the optimizer
    state), then `runs` timed calls: milliseconds each."""
    run()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        run()
        samples.append((time.perf_counter() - start) * 1e3)
    return samples


def test_audio():
    """30 s of the same test signal as the Rust side's `bench_speech::audio`."""
    t = np.arange(30 * 16000) / 16000.0
    return (0.3 * np.sin(2 * np.pi * 440.0 * t) + 0.2 * np.sin(2 * np.pi * 1234.5 * t)).astype(np.float32)


def report(args, samples, load_ms, **versions):
    """Prints the result line: median, load time, peak memory, settings and library versions."""
    print(
        json.dumps(
            {
                "median_ms": statistics.median(samples),
                "load_ms": load_ms,
                # ru_maxrss is in KiB on Linux.
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "runs": args.runs,
                "threads": args.threads,
                **versions,
            }
        )
    )
