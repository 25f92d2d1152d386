//! Audio front ends: `WhisperFeatureExtractor` (log-mel spectrogram), configured from
//! `preprocessor_config.json` as transformers does.

use burn_models::hub::ModelDir;
use std::sync::Arc;

use realfft::{RealFftPlanner, RealToComplex};
use serde::Deserialize;

use crate::error::{Result, TaskError};

/// `WhisperFeatureExtractor`'s settings, with HF's defaults.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct WhisperFeatureConfig {
    /// `feature_size`: mel bins per frame (80; 128 for large-v3).
    pub feature_size: usize,
    /// `sampling_rate`: the rate the audio must have, in Hz (16000).
    pub sampling_rate: u32,
    /// `hop_length`: samples between frames (160, 10 ms at 16 kHz).
    pub hop_length: usize,
    /// `chunk_length`: seconds the audio is padded or cut to (30).
    pub chunk_length: usize,
    /// `n_fft`: STFT window size in samples (400).
    pub n_fft: usize,
    /// `padding_value`: the sample value the audio is padded with (0).
    pub padding_value: f32,
    /// `dither`: HF's noise amplitude. Not applied: features are computed without dither
    /// (with a warning when it is set).
    pub dither: f32,
}

impl Default for WhisperFeatureConfig {
    fn default() -> Self {
        Self {
            feature_size: 80,
            sampling_rate: 16_000,
            hop_length: 160,
            chunk_length: 30,
            n_fft: 400,
            padding_value: 0.0,
            dither: 0.0,
        }
    }
}

/// Log-mel features exactly as `WhisperFeatureExtractor` computes them: the audio padded (or cut)
/// to `chunk_length` seconds, a centred STFT (reflect padding) with a periodic Hann window, the
/// power spectrum through a Slaney mel filterbank, `log10` floored at 1e-10, clamped to 8 below
/// the maximum, and mapped by `(x + 4) / 4`.
pub struct WhisperFeatureExtractor {
    /// The settings it was built with.
    pub config: WhisperFeatureConfig,
    /// `[n_fft / 2 + 1][feature_size]`, row per frequency bin.
    mel_filters: Vec<Vec<f64>>,
    window: Vec<f64>,
    fft: Arc<dyn RealToComplex<f64>>,
}

impl std::fmt::Debug for WhisperFeatureExtractor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WhisperFeatureExtractor")
            .field("config", &self.config)
            .finish()
    }
}

/// Features of one clip: `[feature_size, frames]` row-major.
#[derive(Debug, Clone)]
pub struct LogMel {
    /// The log-mel values, `mel_bins` rows of `frames` values.
    pub data: Vec<f32>,
    /// Mel bins per frame (`feature_size`).
    pub mel_bins: usize,
    /// Frames (`chunk_length * sampling_rate / hop_length`).
    pub frames: usize,
}

impl WhisperFeatureExtractor {
    /// A feature extractor for `config`; fails on settings it cannot compute with.
    pub fn new(config: WhisperFeatureConfig) -> Result<Self> {
        let bad = |message: &str| TaskError::option("preprocessor_config", message.to_string());
        if config.n_fft < 2 || config.hop_length == 0 || config.feature_size == 0 {
            return Err(bad("n_fft, hop_length and feature_size must be positive"));
        }
        if config.chunk_length == 0 || config.sampling_rate == 0 {
            return Err(bad("chunk_length and sampling_rate must be positive"));
        }
        if config.dither != 0.0 {
            // Dithering adds random noise: results could never be reproduced.
            log::warn!("preprocessor_config sets dither; features are computed without it");
        }
        let mel_filters = mel_filter_bank(
            config.n_fft / 2 + 1,
            config.feature_size,
            0.0,
            8000.0,
            config.sampling_rate,
        );
        let n = config.n_fft;
        let window = (0..n)
            .map(|i| 0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / n as f64).cos())
            .collect();
        let fft = RealFftPlanner::<f64>::new().plan_fft_forward(n);
        Ok(Self {
            config,
            mel_filters,
            window,
            fft,
        })
    }

    /// From a model directory's `preprocessor_config.json`.
    pub fn from_model_dir(dir: &ModelDir) -> Result<Self> {
        Self::new(super::preprocessor_settings(dir)?)
    }

    /// Samples per window: `chunk_length * sampling_rate`.
    pub fn n_samples(&self) -> usize {
        self.config.chunk_length * self.config.sampling_rate as usize
    }

    /// Frames per window (3000 for 30 s at hop 160).
    pub fn nb_max_frames(&self) -> usize {
        self.n_samples() / self.config.hop_length
    }

    /// Features of mono `samples` at the extractor's rate, padded or truncated to one window.
    pub fn extract(&self, samples: &[f32]) -> LogMel {
        let n_samples = self.n_samples();
        let mut wave = vec![self.config.padding_value as f64; n_samples];
        for (w, s) in wave.iter_mut().zip(samples) {
            *w = *s as f64;
        }
        self.log_mel(&wave)
    }

    /// Features of audio longer than one window, unpadded (`truncation=False,
    /// padding="longest"`, as the ASR pipeline asks for long-form decoding): `len / hop` frames.
    pub fn extract_long(&self, samples: &[f32]) -> LogMel {
        let wave: Vec<f64> = samples.iter().map(|&s| s as f64).collect();
        self.log_mel(&wave)
    }

    fn log_mel(&self, wave: &[f64]) -> LogMel {
        let power = self.power_spectrogram(wave);
        let bins = self.config.n_fft / 2 + 1;
        let mels = self.config.feature_size;
        // torch.stft yields len / hop + 1 frames; Whisper drops the last one.
        let frames = power.len() / bins - 1;
        let mut log_spec = vec![0f64; mels * frames];
        for t in 0..frames {
            let column = &power[t * bins..(t + 1) * bins];
            for (m, value) in (0..mels).map(|m| {
                let energy: f64 = column
                    .iter()
                    .zip(&self.mel_filters)
                    .map(|(p, row)| p * row[m])
                    .sum();
                (m, energy.max(1e-10).log10())
            }) {
                log_spec[m * frames + t] = value;
            }
        }
        let max = log_spec.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let data = log_spec
            .into_iter()
            .map(|v| ((v.max(max - 8.0) + 4.0) / 4.0) as f32)
            .collect();
        LogMel {
            data,
            mel_bins: mels,
            frames,
        }
    }

    /// `|STFT|^2` of a centred, reflect-padded signal: `[frames][n_fft / 2 + 1]` flattened.
    fn power_spectrogram(&self, wave: &[f64]) -> Vec<f64> {
        let n_fft = self.config.n_fft;
        let hop = self.config.hop_length;
        let pad = n_fft / 2;
        let len = wave.len();
        let padded: Vec<f64> = (0..len + 2 * pad)
            .map(|i| {
                let j = i as isize - pad as isize;
                let j = if j < 0 {
                    -j
                } else if j >= len as isize {
                    2 * (len as isize - 1) - j
                } else {
                    j
                };
                wave[j.clamp(0, len as isize - 1) as usize]
            })
            .collect();
        let frames = 1 + (padded.len() - n_fft) / hop;
        let bins = n_fft / 2 + 1;
        let mut input = self.fft.make_input_vec();
        let mut spectrum = self.fft.make_output_vec();
        let mut scratch = self.fft.make_scratch_vec();
        let mut power = Vec::with_capacity(frames * bins);
        for t in 0..frames {
            let start = t * hop;
            for (k, x) in input.iter_mut().enumerate() {
                *x = padded[start + k] * self.window[k];
            }
            self.fft
                .process_with_scratch(&mut input, &mut spectrum, &mut scratch)
                .expect("buffers sized by the planner");
            power.extend(spectrum.iter().map(|c| c.norm_sqr()));
        }
        power
    }
}

fn hertz_to_mel_slaney(freq: f64) -> f64 {
    let (min_log_hertz, min_log_mel) = (1000.0, 15.0);
    let logstep = 27.0 / 6.4f64.ln();
    if freq >= min_log_hertz {
        min_log_mel + (freq / min_log_hertz).ln() * logstep
    } else {
        3.0 * freq / 200.0
    }
}

fn mel_to_hertz_slaney(mels: f64) -> f64 {
    let (min_log_hertz, min_log_mel) = (1000.0, 15.0);
    let logstep = 6.4f64.ln() / 27.0;
    if mels >= min_log_mel {
        min_log_hertz * (logstep * (mels - min_log_mel)).exp()
    } else {
        200.0 * mels / 3.0
    }
}

/// transformers' `mel_filter_bank(..., norm="slaney", mel_scale="slaney")`:
/// `[num_frequency_bins][num_mel_filters]`.
pub fn mel_filter_bank(
    num_frequency_bins: usize,
    num_mel_filters: usize,
    min_frequency: f64,
    max_frequency: f64,
    sampling_rate: u32,
) -> Vec<Vec<f64>> {
    let (mel_min, mel_max) = (
        hertz_to_mel_slaney(min_frequency),
        hertz_to_mel_slaney(max_frequency),
    );
    let points = num_mel_filters + 2;
    let filter_freqs: Vec<f64> = (0..points)
        .map(|i| {
            mel_to_hertz_slaney(mel_min + (mel_max - mel_min) * i as f64 / (points - 1) as f64)
        })
        .collect();
    let nyquist = (sampling_rate / 2) as f64;
    let fft_freqs: Vec<f64> = (0..num_frequency_bins)
        .map(|i| nyquist * i as f64 / (num_frequency_bins - 1).max(1) as f64)
        .collect();
    let diff: Vec<f64> = filter_freqs.windows(2).map(|w| w[1] - w[0]).collect();
    fft_freqs
        .iter()
        .map(|&f| {
            (0..num_mel_filters)
                .map(|m| {
                    let down = -(filter_freqs[m] - f) / diff[m];
                    let up = (filter_freqs[m + 2] - f) / diff[m + 1];
                    let enorm = 2.0 / (filter_freqs[m + 2] - filter_freqs[m]);
                    down.min(up).max(0.0) * enorm
                })
                .collect()
        })
        .collect()
}
