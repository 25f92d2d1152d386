//! Audio input: decoding files (WAV through `hound`; MP3, FLAC, OGG/Vorbis and anything else
//! through `symphonia`), mixing to mono and resampling to a model's rate (`rubato`).
//!
//! transformers reads files through ffmpeg (`ffmpeg -ac 1 -ar <rate> -f f32le`): integer PCM
//! becomes `sample / 2^(bits-1)` and channels are averaged, which is what this module does, so a
//! WAV file at the model's rate gives the exact samples HF sees. Resampling cannot match
//! ffmpeg's (or torchaudio's) filter bit for bit; `rubato`'s FFT resampler is a high-quality
//! band-limited one, within a few 1e-3 of the ideal signal on tones below the new Nyquist.

use std::io::Cursor;
use std::path::Path;

use rubato::{FftFixedIn, Resampler};

use crate::error::{Result, TaskError};

/// Mono audio: samples in `[-1, 1]` at `sampling_rate` Hz.
#[derive(Debug, Clone, PartialEq)]
pub struct Audio {
    /// Mono samples, nominally in `[-1, 1]`.
    pub samples: Vec<f32>,
    /// Samples per second (Hz).
    pub sampling_rate: u32,
}

fn invalid(message: impl Into<String>) -> TaskError {
    TaskError::InvalidInput(message.into())
}

impl Audio {
    /// Raw mono samples at a sampling rate (`{"raw": array, "sampling_rate": rate}` in HF).
    pub fn from_samples(samples: Vec<f32>, sampling_rate: u32) -> Result<Self> {
        if sampling_rate == 0 {
            return Err(invalid("sampling rate must be positive"));
        }
        if samples.is_empty() {
            return Err(invalid("empty audio: no samples"));
        }
        if let Some(i) = samples.iter().position(|s| !s.is_finite()) {
            return Err(invalid(format!("audio sample {i} is not a finite number")));
        }
        Ok(Self {
            samples,
            sampling_rate,
        })
    }

    /// Interleaved multi-channel samples, averaged to mono (ffmpeg's `-ac 1` for stereo).
    pub fn from_interleaved(samples: &[f32], channels: usize, sampling_rate: u32) -> Result<Self> {
        if channels == 0 {
            return Err(invalid("audio with 0 channels"));
        }
        let mono = if channels == 1 {
            samples.to_vec()
        } else {
            samples
                .chunks_exact(channels)
                .map(|frame| frame.iter().sum::<f32>() / channels as f32)
                .collect()
        };
        Self::from_samples(mono, sampling_rate)
    }

    /// Reads and decodes an audio file. The format is recognised from its content (the
    /// extension is only a hint).
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let bytes = std::fs::read(path)
            .map_err(|e| invalid(format!("cannot read audio file {}: {e}", path.display())))?;
        let extension = path.extension().and_then(|e| e.to_str());
        Self::decode(&bytes, extension)
            .map_err(|e| invalid(format!("{}: {}", path.display(), message_of(e))))
    }

    /// Decodes an encoded file held in memory (`bytes` input of HF's pipelines).
    pub fn decode(bytes: &[u8], extension_hint: Option<&str>) -> Result<Self> {
        if bytes.is_empty() {
            return Err(invalid("empty audio file"));
        }
        if bytes.starts_with(b"RIFF") && bytes.get(8..12) == Some(b"WAVE") {
            return decode_wav(bytes);
        }
        decode_symphonia(bytes, extension_hint)
    }

    /// Length in seconds.
    pub fn duration_seconds(&self) -> f64 {
        self.samples.len() as f64 / self.sampling_rate as f64
    }

    /// The audio at `rate` Hz: unchanged when already there, else band-limited sinc resampling.
    pub fn resampled(self, rate: u32) -> Result<Self> {
        if rate == self.sampling_rate {
            return Ok(self);
        }
        if rate == 0 {
            return Err(invalid("target sampling rate must be positive"));
        }
        let samples = resample(&self.samples, self.sampling_rate, rate)?;
        Self::from_samples(samples, rate)
    }
}

fn message_of(error: TaskError) -> String {
    match error {
        TaskError::InvalidInput(message) => message,
        other => other.to_string(),
    }
}

fn decode_wav(bytes: &[u8]) -> Result<Audio> {
    let reader = hound::WavReader::new(Cursor::new(bytes))
        .map_err(|e| invalid(format!("corrupt WAV file: {e}")))?;
    let spec = reader.spec();
    let corrupt = |e: hound::Error| invalid(format!("corrupt WAV data: {e}"));
    let samples: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Float if spec.bits_per_sample == 32 => reader
            .into_samples::<f32>()
            .collect::<std::result::Result<_, _>>()
            .map_err(corrupt)?,
        hound::SampleFormat::Int if (8..=32).contains(&spec.bits_per_sample) => {
            // ffmpeg's integer -> float conversion: divide by 2^(bits - 1).
            let scale = 1.0 / (1u64 << (spec.bits_per_sample - 1)) as f64;
            reader
                .into_samples::<i32>()
                .map(|s| s.map(|s| (s as f64 * scale) as f32))
                .collect::<std::result::Result<_, _>>()
                .map_err(corrupt)?
        }
        format => {
            return Err(invalid(format!(
                "unsupported WAV sample format: {format:?} with {} bits",
                spec.bits_per_sample
            )));
        }
    };
    if samples.is_empty() {
        return Err(invalid("empty audio: the WAV file holds no samples"));
    }
    Audio::from_interleaved(&samples, spec.channels as usize, spec.sample_rate)
}

fn decode_symphonia(bytes: &[u8], extension_hint: Option<&str>) -> Result<Audio> {
    use symphonia::core::audio::SampleBuffer;
    use symphonia::core::codecs::{CODEC_TYPE_NULL, DecoderOptions};
    use symphonia::core::errors::Error;
    use symphonia::core::formats::FormatOptions;
    use symphonia::core::io::MediaSourceStream;
    use symphonia::core::meta::MetadataOptions;
    use symphonia::core::probe::Hint;

    let stream = MediaSourceStream::new(Box::new(Cursor::new(bytes.to_vec())), Default::default());
    let mut hint = Hint::new();
    if let Some(extension) = extension_hint {
        hint.with_extension(extension);
    }
    let probed = symphonia::default::get_probe()
        .format(
            &hint,
            stream,
            &FormatOptions::default(),
            &MetadataOptions::default(),
        )
        .map_err(|e| {
            invalid(format!(
                "unsupported or corrupt audio (supported: WAV, MP3, FLAC, OGG/Vorbis): {e}"
            ))
        })?;
    let mut format = probed.format;
    let track = format
        .tracks()
        .iter()
        .find(|t| t.codec_params.codec != CODEC_TYPE_NULL)
        .ok_or_else(|| invalid("the file has no audio track"))?;
    let track_id = track.id;
    let mut rate = track.codec_params.sample_rate;
    let mut decoder = symphonia::default::get_codecs()
        .make(&track.codec_params, &DecoderOptions::default())
        .map_err(|e| invalid(format!("unsupported audio codec: {e}")))?;
    let mut interleaved = Vec::new();
    let mut channels = 0usize;
    loop {
        let packet = match format.next_packet() {
            Ok(packet) => packet,
            Err(Error::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(Error::ResetRequired) => break,
            Err(e) => return Err(invalid(format!("corrupt audio stream: {e}"))),
        };
        if packet.track_id() != track_id {
            continue;
        }
        let decoded = match decoder.decode(&packet) {
            Ok(decoded) => decoded,
            // A damaged packet is skipped, as ffmpeg does.
            Err(Error::DecodeError(e)) => {
                log::warn!("skipping an undecodable audio packet: {e}");
                continue;
            }
            Err(e) => return Err(invalid(format!("cannot decode audio: {e}"))),
        };
        let spec = *decoded.spec();
        rate = Some(spec.rate);
        channels = spec.channels.count();
        let mut buffer = SampleBuffer::<f32>::new(decoded.capacity() as u64, spec);
        buffer.copy_interleaved_ref(decoded);
        interleaved.extend_from_slice(buffer.samples());
    }
    if interleaved.is_empty() || channels == 0 {
        return Err(invalid("empty audio: no samples could be decoded"));
    }
    let rate = rate.ok_or_else(|| invalid("the audio stream has no sampling rate"))?;
    Audio::from_interleaved(&interleaved, channels, rate)
}

/// Resamples mono `samples` from `from` Hz to `to` Hz, aligned in time (the filter's delay is
/// removed) and `round(len * to / from)` samples long. `rubato`'s synchronous FFT resampler works
/// on the exact rational ratio (e.g. 3:1 for 48 kHz -> 16 kHz) with a steep anti-aliasing filter.
pub fn resample(samples: &[f32], from: u32, to: u32) -> Result<Vec<f32>> {
    const CHUNK: usize = 1024;
    let failed =
        |e: &dyn std::fmt::Display| invalid(format!("resampling {from} Hz -> {to} Hz: {e}"));
    let mut resampler =
        FftFixedIn::<f32>::new(from as usize, to as usize, CHUNK, 2, 1).map_err(|e| failed(&e))?;
    let delay = resampler.output_delay();
    let wanted = (samples.len() as f64 * to as f64 / from as f64).round() as usize;
    let mut out = Vec::with_capacity(wanted + delay + CHUNK);
    let mut position = 0;
    while position < samples.len() {
        let need = resampler.input_frames_next();
        let end = (position + need).min(samples.len());
        let chunk = &samples[position..end];
        let produced = if chunk.len() == need {
            resampler.process(&[chunk], None)
        } else {
            resampler.process_partial(Some(&[chunk]), None)
        }
        .map_err(|e| failed(&e))?;
        out.extend_from_slice(&produced[0]);
        position = end;
    }
    // Flush the filter's tail until the delayed samples are all out.
    while out.len() < wanted + delay {
        let produced = resampler
            .process_partial::<&[f32]>(None, None)
            .map_err(|e| failed(&e))?;
        if produced[0].is_empty() {
            break;
        }
        out.extend_from_slice(&produced[0]);
    }
    out.drain(..delay.min(out.len()));
    out.truncate(wanted);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(freq: f64, rate: u32, seconds: f64) -> Vec<f32> {
        (0..(rate as f64 * seconds) as usize)
            .map(|i| (2.0 * std::f64::consts::PI * freq * i as f64 / rate as f64).sin() as f32)
            .collect()
    }

    #[test]
    fn resampling_48k_to_16k_keeps_a_tone_in_place() {
        let input = sine(440.0, 48_000, 1.0);
        let output = resample(&input, 48_000, 16_000).unwrap();
        assert_eq!(output.len(), 16_000);
        let expected = sine(440.0, 16_000, 1.0);
        // Away from the edges (where the filter sees zeros) the tone is reproduced; decimation
        // may place samples up to one input sample (21 us) off the ideal grid: at 440 Hz that
        // is an error of at most 2 pi 440 / 48000 = 0.058.
        let worst = output[500..15_500]
            .iter()
            .zip(&expected[500..15_500])
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(worst < 0.06, "max error {worst}");
    }

    #[test]
    fn upsampling_is_aligned() {
        let mut impulse = vec![0f32; 8_000];
        impulse[4_037] = 1.0;
        let output = resample(&impulse, 8_000, 16_000).unwrap();
        assert_eq!(output.len(), 16_000);
        let peak = (0..output.len())
            .max_by(|&a, &b| output[a].total_cmp(&output[b]))
            .unwrap();
        assert_eq!(peak, 8_074);
        let tone = resample(&sine(440.0, 16_000, 1.0), 16_000, 24_000).unwrap();
        let expected = sine(440.0, 24_000, 1.0);
        let worst = tone[500..23_500]
            .iter()
            .zip(&expected[500..23_500])
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(worst < 2e-3, "max error {worst}");
    }

    #[test]
    fn resampling_removes_content_above_the_new_nyquist() {
        // 7 kHz survives 22.05 kHz -> 16 kHz; 10 kHz (above 8 kHz) must be filtered out.
        let output = resample(&sine(10_000.0, 22_050, 0.5), 22_050, 16_000).unwrap();
        let rms = (output[400..7600].iter().map(|x| x * x).sum::<f32>() / 7200.0).sqrt();
        assert!(rms < 0.01, "aliased energy {rms}");
        let kept = resample(&sine(7_000.0, 22_050, 0.5), 22_050, 16_000).unwrap();
        let rms = (kept[400..7600].iter().map(|x| x * x).sum::<f32>() / 7200.0).sqrt();
        assert!(
            (rms - std::f32::consts::FRAC_1_SQRT_2).abs() < 0.02,
            "rms {rms}"
        );
    }

    #[test]
    fn bad_input_is_an_error() {
        assert!(Audio::decode(b"", None).is_err());
        assert!(Audio::decode(b"RIFF\x10\0\0\0WAVEjunkjunk", Some("wav")).is_err());
        assert!(Audio::decode(b"this is not audio at all, just text", Some("mp3")).is_err());
        assert!(Audio::from_samples(vec![], 16_000).is_err());
        assert!(Audio::from_samples(vec![0.0, f32::NAN], 16_000).is_err());
        assert!(Audio::from_samples(vec![0.0], 0).is_err());
    }

    #[test]
    fn channels_are_averaged() {
        let audio = Audio::from_interleaved(&[1.0, 0.0, 0.5, -0.5], 2, 8_000).unwrap();
        assert_eq!(audio.samples, vec![0.5, 0.0]);
    }
}
