//! Audio input: decoding files (WAV through `hound`; MP3, FLAC, OGG/Vorbis and anything else
//! through `symphonia`), mixing to mono and resampling to a model's rate.
//!
//! transformers reads files through ffmpeg (`ffmpeg -ac 1 -ar <rate> -f f32le`), and so does
//! [`Audio::from_file_at`]: integer PCM becomes `sample / 2^(bits-1)`, each channel is resampled
//! with libswresample's filter ([`super::audio_resample`]), then the channels are mixed with
//! ffmpeg's default downmix matrix (stereo: `(left + right) / sqrt(2)`, not their mean). WAV and
//! FLAC files thus give HF's samples bit for bit (on x86 with FMA3 when resampling); MP3 and
//! Vorbis go through other decoders than ffmpeg's and differ from it by decoder rounding.

use std::io::Cursor;
use std::path::Path;

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

    /// Interleaved multi-channel samples, averaged to mono (what the pipelines do with a
    /// `(channels, samples)` array; files are mixed as ffmpeg mixes them, see
    /// [`from_file_at`](Self::from_file_at)).
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

    /// Reads and decodes an audio file at its own rate, mixed to mono as `ffmpeg -ac 1` does.
    /// The format is recognised from its content (the extension is only a hint).
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        Self::from_file_inner(path.as_ref(), None)
    }

    /// What transformers' pipelines read from a file (`ffmpeg -ac 1 -ar <rate>`): decoded,
    /// each channel resampled to `rate`, then mixed to mono.
    pub fn from_file_at(path: impl AsRef<Path>, rate: u32) -> Result<Self> {
        Self::from_file_inner(path.as_ref(), Some(rate))
    }

    fn from_file_inner(path: &Path, rate: Option<u32>) -> Result<Self> {
        let bytes = std::fs::read(path)
            .map_err(|e| invalid(format!("cannot read audio file {}: {e}", path.display())))?;
        let extension = path.extension().and_then(|e| e.to_str());
        Decoded::from_bytes(&bytes, extension)
            .and_then(|decoded| decoded.into_mono(rate))
            .map_err(|e| invalid(format!("{}: {}", path.display(), message_of(e))))
    }

    /// Decodes an encoded file held in memory (`bytes` input of HF's pipelines), at its own
    /// rate, mixed to mono as `ffmpeg -ac 1` does.
    pub fn decode(bytes: &[u8], extension_hint: Option<&str>) -> Result<Self> {
        Decoded::from_bytes(bytes, extension_hint)?.into_mono(None)
    }

    /// [`decode`](Self::decode) at `rate`, as [`from_file_at`](Self::from_file_at).
    pub fn decode_at(bytes: &[u8], extension_hint: Option<&str>, rate: u32) -> Result<Self> {
        Decoded::from_bytes(bytes, extension_hint)?.into_mono(Some(rate))
    }

    /// Length in seconds.
    pub fn duration_seconds(&self) -> f64 {
        self.samples.len() as f64 / self.sampling_rate as f64
    }

    /// The audio at `rate` Hz: unchanged when already there, else resampled with ffmpeg's
    /// filter ([`resample`]).
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

pub use super::audio_resample::resample;

/// A decoded file before mixing: one buffer per channel, in the file's order.
struct Decoded {
    channels: Vec<Vec<f32>>,
    sampling_rate: u32,
}

impl Decoded {
    fn from_bytes(bytes: &[u8], extension_hint: Option<&str>) -> Result<Self> {
        if bytes.is_empty() {
            return Err(invalid("empty audio file"));
        }
        let (interleaved, channels, rate) =
            if bytes.starts_with(b"RIFF") && bytes.get(8..12) == Some(b"WAVE") {
                decode_wav(bytes)?
            } else {
                decode_symphonia(bytes, extension_hint)?
            };
        if rate == 0 {
            return Err(invalid("the audio stream has a sampling rate of 0"));
        }
        if channels == 0 {
            return Err(invalid("audio with 0 channels"));
        }
        if let Some(i) = interleaved.iter().position(|s| !s.is_finite()) {
            return Err(invalid(format!("audio sample {i} is not a finite number")));
        }
        let frames = interleaved.len() / channels;
        let channels = (0..channels)
            .map(|c| (0..frames).map(|f| interleaved[f * channels + c]).collect())
            .collect();
        Ok(Self {
            channels,
            sampling_rate: rate,
        })
    }

    /// `ffmpeg -ac 1 [-ar rate]`: each channel resampled, then mixed by the default matrix.
    fn into_mono(self, rate: Option<u32>) -> Result<Audio> {
        let weights = downmix_weights(self.channels.len())?;
        let rate = rate.unwrap_or(self.sampling_rate);
        let channels = self
            .channels
            .into_iter()
            .map(|channel| resample(&channel, self.sampling_rate, rate))
            .collect::<Result<Vec<_>>>()?;
        let mono = if channels.len() == 1 {
            channels.into_iter().next().expect("one channel")
        } else {
            let len = channels.iter().map(Vec::len).min().unwrap_or(0);
            (0..len)
                .map(|i| {
                    channels
                        .iter()
                        .zip(&weights)
                        .fold(0.0f32, |sum, (channel, &w)| sum + channel[i] * w)
                })
                .collect()
        };
        Audio::from_samples(mono, rate)
    }
}

/// Per-channel weights of ffmpeg's downmix to mono for the default channel layout of each
/// channel count (mono; stereo; 2.1; 4.0; 5.0; 5.1; 6.1; 7.1): front left/right 1/sqrt(2),
/// centre 1, LFE 0, back and side 1/2, with no normalisation for float output.
fn downmix_weights(channels: usize) -> Result<Vec<f32>> {
    let side = std::f32::consts::FRAC_1_SQRT_2;
    let weights: &[f32] = match channels {
        1 => &[1.0],
        2 => &[side, side],
        3 => &[side, side, 0.0],
        4 => &[side, side, 1.0, 0.5],
        5 => &[side, side, 1.0, 0.5, 0.5],
        6 => &[side, side, 1.0, 0.0, 0.5, 0.5],
        7 => &[side, side, 1.0, 0.0, 0.5, 0.5, 0.5],
        8 => &[side, side, 1.0, 0.0, 0.5, 0.5, 0.5, 0.5],
        n => {
            return Err(invalid(format!(
                "audio with {n} channels: mixing to mono supports 1 to 8"
            )));
        }
    };
    Ok(weights.to_vec())
}

fn message_of(error: TaskError) -> String {
    match error {
        TaskError::InvalidInput(message) => message,
        other => other.to_string(),
    }
}

/// Interleaved samples, channel count and rate of a WAV file.
fn decode_wav(bytes: &[u8]) -> Result<(Vec<f32>, usize, u32)> {
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
    Ok((samples, spec.channels as usize, spec.sample_rate))
}

/// Interleaved samples, channel count and rate of any other format.
fn decode_symphonia(bytes: &[u8], extension_hint: Option<&str>) -> Result<(Vec<f32>, usize, u32)> {
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
            &FormatOptions {
                // Drop the encoder delay and padding (LAME tag, Ogg granule positions), as
                // ffmpeg does.
                enable_gapless: true,
                ..FormatOptions::default()
            },
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
    Ok((interleaved, channels, rate))
}

#[cfg(test)]
mod tests {
    use super::*;

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
