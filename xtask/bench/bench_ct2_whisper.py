"""CTranslate2 side of the Whisper workloads of `cargo xtask bench` (the engine behind
faster-whisper): the same random checkpoint converted with CTranslate2's transformers converter
(float32 weights; `--compute-type int8` quantizes them when loading, as faster-whisper's
`compute_type="int8"` does), the same 30 s of audio through transformers' WhisperFeatureExtractor,
then `generate()` of exactly `--new-tokens` tokens with `--beams` beams: the end-of-text token is
suppressed, as `min_new_tokens` does on the other sides, so every run decodes the same number of
steps. Prints the same JSON as bench_torch.py.
"""

import argparse
import json
import os
import time

import ctranslate2
import numpy as np
from bench_common import report, test_audio, time_calls
from ctranslate2.converters import TransformersConverter
from transformers import WhisperFeatureExtractor


# The special tokens of the multilingual Whisper vocabulary, by id: CTranslate2 finds them by name.
_SPECIAL = {
    50257: "<|endoftext|>",
    50258: "<|startoftranscript|>",
    50358: "<|translate|>",
    50359: "<|transcribe|>",
    50360: "<|startoflm|>",
    50361: "<|startofprev|>",
    50362: "<|nocaptions|>",
    50363: "<|notimestamps|>",
}


class _Vocabulary:
    """Stands in for the tokenizer a random checkpoint does not have: CTranslate2 only reads the
    token strings (by id) and the language tokens (none here) from it."""

    def __init__(self, size):
        self.size = size
        self.additional_special_tokens = []

    def get_vocab(self):
        return {_SPECIAL.get(i, f"<|token{i}|>"): i for i in range(self.size)}


class _Converter(TransformersConverter):
    def __init__(self, model_dir, vocab_size):
        super().__init__(model_dir)
        self.vocab_size = vocab_size

    def load_tokenizer(self, tokenizer_class, model_name_or_path, **kwargs):
        return _Vocabulary(self.vocab_size)


def convert(model_dir, config):
    """The CTranslate2 model of `model_dir` (converted once, next to the checkpoint)."""
    out = os.path.join(model_dir, "ctranslate2-float32")
    stamp = os.path.join(out, "source-mtime")
    source = str(os.path.getmtime(os.path.join(model_dir, "model.safetensors")))
    if os.path.isfile(stamp) and open(stamp).read() == source:
        return out
    _Converter(model_dir, config["vocab_size"]).convert(out, quantization="float32", force=True)
    with open(stamp, "w") as f:
        f.write(source)
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--beams", type=int, default=1)
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--compute-type", default="float32")
    args = parser.parse_args()

    with open(os.path.join(args.model, "config.json")) as f:
        config = json.load(f)
    path = convert(args.model, config)
    start = time.perf_counter()
    model = ctranslate2.models.Whisper(
        path, device="cpu", compute_type=args.compute_type, intra_threads=args.threads, inter_threads=1
    )
    load_ms = (time.perf_counter() - start) * 1e3
    extractor = WhisperFeatureExtractor()
    audio = test_audio()
    # <|notimestamps|> switches off CTranslate2's timestamp rules (the other sides apply none).
    prompt = [[config["decoder_start_token_id"], 50363]]
    eos = config["eos_token_id"]

    def run():
        features = extractor(audio, sampling_rate=16000, return_tensors="np").input_features
        result = model.generate(
            ctranslate2.StorageView.from_array(np.ascontiguousarray(features)),
            prompt,
            beam_size=args.beams,
            num_hypotheses=1,
            # CTranslate2's Whisper decodes at most `max_length / 2` tokens (Whisper's
            # `sample_len = n_text_ctx // 2`): exactly `new_tokens` steps.
            max_length=2 * args.new_tokens,
            suppress_tokens=[eos],
            suppress_blank=False,
            return_scores=False,
        )
        generated = len(result[0].sequences_ids[0])
        assert generated == args.new_tokens, f"generated {generated} tokens"

    samples = time_calls(run, args.runs)
    report(args, samples, load_ms, ctranslate2=ctranslate2.__version__, compute_type=args.compute_type)

if __name__ == "__main__":
    main()
