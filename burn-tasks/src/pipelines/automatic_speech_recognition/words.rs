//! Word-level timestamps of Whisper's ASR output, as `tokenization_whisper` groups tokens:
//! `_collate_word_timestamps`, `_combine_tokens_into_words`, `_split_tokens_on_unicode`,
//! `_split_tokens_on_spaces` and `_merge_punctuations`, with their quirks (Python's
//! substring `in` for the punctuation tests, `str.strip` whitespace, tokens after the last
//! complete character dropped).

use serde::Serialize;

use crate::error::Result;

/// HF's default `prepend_punctuations`.
pub const PREPEND_PUNCTUATIONS: &str = "\"'“¡¿([{-";
/// HF's default `append_punctuations`.
pub const APPEND_PUNCTUATIONS: &str = "\"'.。,，!！?？:：”)]}、";
const PUNCTUATION: &str = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";
const REPLACEMENT: char = '\u{fffd}';

/// Languages written without spaces: their words are split at character boundaries.
const NO_SPACE_LANGUAGES: &[&str] = &["chinese", "japanese", "thai", "lao", "myanmar", "cantonese"];

/// One word of `return_timestamps="word"`: `{"text", "timestamp": [start, end]}`, with
/// `"language"` when `return_language` is set.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AsrWord {
    /// The word (or character).
    pub text: String,
    /// `[start, end]` in seconds.
    pub timestamp: (f64, f64),
    /// The chunk's language, present (possibly `null`) only with `return_language`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language: Option<Option<String>>,
}

/// Groups tokens into words, as the pipeline's post-processing does.
pub struct WordGrouper<'a> {
    /// The tokenizer's `decode(ids)` (special tokens kept, the pipeline's clean-up).
    pub decode: &'a dyn Fn(&[u32]) -> Result<String>,
    /// `tokenizer.eos_token_id`: tokens from here on count as special words.
    pub eos_token_id: u32,
    /// `tokenizer.language`, used when the output names no language.
    pub default_language: Option<String>,
}

type Grouped = (Vec<String>, Vec<Vec<u32>>, Vec<Vec<usize>>);

impl WordGrouper<'_> {
    /// `_collate_word_timestamps`: each word with the start of its first token and the end of
    /// its last one.
    pub fn collate(
        &self,
        tokens: &[u32],
        token_timestamps: &[(f64, f64)],
        language: Option<&str>,
        return_language: bool,
    ) -> Result<Vec<AsrWord>> {
        let (words, _, indices) = self.combine_tokens_into_words(tokens, language)?;
        Ok(words
            .into_iter()
            .zip(indices)
            .map(|(text, indices)| AsrWord {
                text,
                timestamp: (
                    token_timestamps[indices[0]].0,
                    token_timestamps[*indices.last().expect("non-empty word")].1,
                ),
                language: return_language.then(|| language.map(str::to_string)),
            })
            .collect())
    }

    /// `_combine_tokens_into_words` with HF's default punctuation sets.
    pub fn combine_tokens_into_words(
        &self,
        tokens: &[u32],
        language: Option<&str>,
    ) -> Result<Grouped> {
        let language = language
            .or(self.default_language.as_deref())
            .unwrap_or("english");
        let (mut words, mut word_tokens, mut indices) = if NO_SPACE_LANGUAGES.contains(&language) {
            self.split_tokens_on_unicode(tokens)?
        } else {
            self.split_tokens_on_spaces(tokens)?
        };
        merge_punctuations(
            &mut words,
            &mut word_tokens,
            &mut indices,
            PREPEND_PUNCTUATIONS,
            APPEND_PUNCTUATIONS,
        );
        Ok((words, word_tokens, indices))
    }

    /// `_split_tokens_on_unicode`: a word ends where the decoded tokens form whole characters
    /// (no replacement character, or one the full text also has there).
    pub fn split_tokens_on_unicode(&self, tokens: &[u32]) -> Result<Grouped> {
        let full: Vec<char> = (self.decode)(tokens)?.chars().collect();
        let mut out: Grouped = Default::default();
        let mut current_tokens = Vec::new();
        let mut current_indices = Vec::new();
        let mut offset = 0;
        for (index, &token) in tokens.iter().enumerate() {
            current_tokens.push(token);
            current_indices.push(index);
            let decoded = (self.decode)(&current_tokens)?;
            let chars: Vec<char> = decoded.chars().collect();
            let complete = match chars.iter().position(|&c| c == REPLACEMENT) {
                None => true,
                Some(at) => full.get(offset + at) == Some(&REPLACEMENT),
            };
            if complete {
                offset += chars.len();
                out.0.push(decoded);
                out.1.push(std::mem::take(&mut current_tokens));
                out.2.push(std::mem::take(&mut current_indices));
            }
        }
        Ok(out)
    }

    /// `_split_tokens_on_spaces`: subwords join the previous word unless they start with a
    /// space, are punctuation, or are special tokens.
    pub fn split_tokens_on_spaces(&self, tokens: &[u32]) -> Result<Grouped> {
        let (subwords, subword_tokens, subword_indices) = self.split_tokens_on_unicode(tokens)?;
        let mut out: Grouped = Default::default();
        for ((subword, toks), idx) in subwords
            .into_iter()
            .zip(subword_tokens)
            .zip(subword_indices)
        {
            let special = toks[0] >= self.eos_token_id;
            let with_space = subword.starts_with(' ');
            // Python's `in` on strings: a substring test (the empty string included).
            let punctuation = PUNCTUATION.contains(py_strip(&subword));
            if special || with_space || punctuation || out.0.is_empty() {
                out.0.push(subword);
                out.1.push(toks);
                out.2.push(idx);
            } else {
                out.0.last_mut().expect("non-empty").push_str(&subword);
                out.1.last_mut().expect("non-empty").extend(toks);
                out.2.last_mut().expect("non-empty").extend(idx);
            }
        }
        Ok(out)
    }
}

/// `_merge_punctuations`: opening punctuation joins the next word, closing punctuation the
/// previous one; emptied words are removed.
pub fn merge_punctuations(
    words: &mut Vec<String>,
    tokens: &mut Vec<Vec<u32>>,
    indices: &mut Vec<Vec<usize>>,
    prepended: &str,
    appended: &str,
) {
    let n = words.len();
    if n >= 2 {
        let mut i = n as isize - 2;
        let mut j = n - 1;
        while i >= 0 {
            let iu = i as usize;
            if words[iu].starts_with(' ') && prepended.contains(py_strip(&words[iu])) {
                words[j] = std::mem::take(&mut words[iu]) + &words[j];
                let mut t = std::mem::take(&mut tokens[iu]);
                t.append(&mut tokens[j]);
                tokens[j] = t;
                let mut x = std::mem::take(&mut indices[iu]);
                x.append(&mut indices[j]);
                indices[j] = x;
            } else {
                j = iu;
            }
            i -= 1;
        }
    }
    let mut i = 0;
    let mut j = 1;
    while j < words.len() {
        if !words[i].ends_with(' ') && appended.contains(words[j].as_str()) {
            let w = std::mem::take(&mut words[j]);
            words[i].push_str(&w);
            let mut t = std::mem::take(&mut tokens[j]);
            tokens[i].append(&mut t);
            let mut x = std::mem::take(&mut indices[j]);
            indices[i].append(&mut x);
        } else {
            i = j;
        }
        j += 1;
    }
    words.retain(|w| !w.is_empty());
    tokens.retain(|t| !t.is_empty());
    indices.retain(|x| !x.is_empty());
}

/// Python's `str.isspace` (Rust's `char::is_whitespace` plus the separators U+001C..U+001F).
fn py_isspace(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Python's `str.strip()`.
fn py_strip(s: &str) -> &str {
    s.trim_matches(py_isspace)
}

/// Python's `round(x, 2)`: the double nearest to the correctly rounded decimal (Rust's
/// formatting rounds the exact binary value half-to-even, as CPython does).
pub fn py_round2(x: f64) -> f64 {
    format!("{x:.2}").parse().unwrap_or(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn merged(words: &[&str]) -> Vec<String> {
        let mut w: Vec<String> = words.iter().map(|s| s.to_string()).collect();
        let mut t: Vec<Vec<u32>> = (0..w.len() as u32).map(|i| vec![i]).collect();
        let mut x: Vec<Vec<usize>> = (0..w.len()).map(|i| vec![i]).collect();
        merge_punctuations(
            &mut w,
            &mut t,
            &mut x,
            PREPEND_PUNCTUATIONS,
            APPEND_PUNCTUATIONS,
        );
        assert_eq!(w.len(), t.len());
        w
    }

    #[test]
    fn punctuation_joins_its_word() {
        assert_eq!(
            merged(&[" Hello", ",", " (", "world", ")", " !"]),
            vec![" Hello,", " (world)", " !"]
        );
    }

    #[test]
    fn python_rounding() {
        assert_eq!(py_round2(0.125), 0.12);
        assert_eq!(py_round2(0.14000000059604645), 0.14);
        assert_eq!(py_round2(2.675), 2.67);
        assert_eq!(py_strip("\u{1c} a\u{1f}"), "a");
    }
}
