//! Evaluation: accuracy, and SQuAD's exact match / F1 as the official evaluation scripts
//! compute them (v1.1 and v2.0), with the recipe's post-processing of start/end logits into
//! answer texts (`n_best_size`, `max_answer_length`, v2's null score threshold).

use std::collections::{BTreeMap, HashMap};

use super::data::QaExample;
use super::features::QaEvalFeature;

/// `evaluate.load("accuracy")`: the fraction of predictions equal to their reference.
pub fn accuracy(predictions: &[usize], references: &[usize]) -> f64 {
    if references.is_empty() {
        return 0.0;
    }
    let correct = predictions
        .iter()
        .zip(references)
        .filter(|(p, r)| p == r)
        .count();
    correct as f64 / references.len() as f64
}

/// SQuAD's `normalize_answer`: lower case, no ASCII punctuation, no articles (`a`, `an`,
/// `the` as whole words), single spaces.
pub fn normalize_answer(s: &str) -> String {
    let lowered = s.to_lowercase();
    let no_punct: String = lowered
        .chars()
        .filter(|c| !c.is_ascii_punctuation())
        .collect();
    // `re.sub(r"\b(a|an|the)\b", " ", text)`: a match is always a whole run of word characters.
    let mut no_articles = String::with_capacity(no_punct.len());
    let mut word = String::new();
    let is_word = |c: char| c.is_alphanumeric() || c == '_';
    let flush = |word: &mut String, out: &mut String| {
        if matches!(word.as_str(), "a" | "an" | "the") {
            out.push(' ');
        } else {
            out.push_str(word);
        }
        word.clear();
    };
    for c in no_punct.chars() {
        if is_word(c) {
            word.push(c);
        } else {
            flush(&mut word, &mut no_articles);
            no_articles.push(c);
        }
    }
    flush(&mut word, &mut no_articles);
    no_articles.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn token_f1(prediction: &[&str], truth: &[&str]) -> f64 {
    let mut counts: HashMap<&str, isize> = HashMap::new();
    for t in truth {
        *counts.entry(t).or_default() += 1;
    }
    let mut same = 0usize;
    for p in prediction {
        if let Some(c) = counts.get_mut(p)
            && *c > 0
        {
            *c -= 1;
            same += 1;
        }
    }
    if same == 0 {
        return 0.0;
    }
    let precision = same as f64 / prediction.len() as f64;
    let recall = same as f64 / truth.len() as f64;
    2.0 * precision * recall / (precision + recall)
}

/// Scores of `evaluate.load("squad")` (percentages).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SquadScores {
    /// `exact_match`: percentage of predictions equal to a reference after normalisation.
    pub exact_match: f64,
    /// `f1`: mean token-overlap F1 against the best reference, in percent.
    pub f1: f64,
}

/// SQuAD v1.1's official `evaluate`: for each question, the best EM and F1 over its reference
/// answers, averaged, in percent. `predictions` are `(id, text)`.
pub fn squad_v1(predictions: &BTreeMap<String, String>, examples: &[QaExample]) -> SquadScores {
    let (mut em, mut f1) = (0.0, 0.0);
    for example in examples {
        let prediction = predictions.get(&example.id).map_or("", String::as_str);
        let pred_norm = normalize_answer(prediction);
        let pred_tokens: Vec<&str> = pred_norm.split_whitespace().collect();
        let mut best_em = 0.0f64;
        let mut best_f1 = 0.0f64;
        for truth in &example.answers.text {
            let truth_norm = normalize_answer(truth);
            best_em = best_em.max(f64::from(u8::from(pred_norm == truth_norm)));
            let truth_tokens: Vec<&str> = truth_norm.split_whitespace().collect();
            best_f1 = best_f1.max(token_f1(&pred_tokens, &truth_tokens));
        }
        em += best_em;
        f1 += best_f1;
    }
    let n = examples.len().max(1) as f64;
    SquadScores {
        exact_match: 100.0 * em / n,
        f1: 100.0 * f1 / n,
    }
}

/// Scores of `evaluate.load("squad_v2")` / `evaluate-v2.0.py` (percentages), overall and
/// split into answerable (`HasAns`) and unanswerable (`NoAns`) questions.
#[derive(Debug, Clone, PartialEq)]
pub struct SquadV2Scores {
    /// `exact`: percentage of exact matches, over all questions.
    pub exact: f64,
    /// `f1`: mean token F1 in percent, over all questions.
    pub f1: f64,
    /// `total`: questions evaluated.
    pub total: usize,
    /// `HasAns_exact`, `HasAns_f1`, `HasAns_total`: the same over answerable questions (`None`
    /// when there are none).
    pub has_ans: Option<(f64, f64, usize)>,
    /// `NoAns_exact`, `NoAns_f1`, `NoAns_total`: the same over unanswerable questions (`None`
    /// when there are none).
    pub no_ans: Option<(f64, f64, usize)>,
}

/// SQuAD v2.0's official evaluation: an unanswerable question (no reference answers, or only
/// empty ones) is right when the prediction is empty.
pub fn squad_v2(predictions: &BTreeMap<String, String>, examples: &[QaExample]) -> SquadV2Scores {
    let mut rows = Vec::new();
    for example in examples {
        let prediction = predictions.get(&example.id).map_or("", String::as_str);
        let mut gold: Vec<&str> = example
            .answers
            .text
            .iter()
            .map(String::as_str)
            .filter(|a| !normalize_answer(a).is_empty())
            .collect();
        if gold.is_empty() {
            gold.push("");
        }
        let pred_norm = normalize_answer(prediction);
        let pred_tokens: Vec<&str> = pred_norm.split_whitespace().collect();
        let mut exact = 0.0f64;
        let mut f1 = 0.0f64;
        for answer in gold {
            let norm = normalize_answer(answer);
            exact = exact.max(f64::from(u8::from(norm == pred_norm)));
            let gold_tokens: Vec<&str> = norm.split_whitespace().collect();
            let score = if gold_tokens.is_empty() || pred_tokens.is_empty() {
                f64::from(u8::from(gold_tokens == pred_tokens))
            } else {
                token_f1(&pred_tokens, &gold_tokens)
            };
            f1 = f1.max(score);
        }
        rows.push((!example.answers.text.is_empty(), exact, f1));
    }
    let summary = |keep: &dyn Fn(bool) -> bool| {
        let chosen: Vec<_> = rows.iter().filter(|(has, _, _)| keep(*has)).collect();
        (!chosen.is_empty()).then(|| {
            let n = chosen.len() as f64;
            (
                100.0 * chosen.iter().map(|r| r.1).sum::<f64>() / n,
                100.0 * chosen.iter().map(|r| r.2).sum::<f64>() / n,
                chosen.len(),
            )
        })
    };
    let (exact, f1, total) = summary(&|_| true).unwrap_or((0.0, 0.0, 0));
    SquadV2Scores {
        exact,
        f1,
        total,
        has_ans: summary(&|has| has),
        no_ans: summary(&|has| !has),
    }
}

/// Post-processing settings of the recipe (`postprocess_qa_predictions`).
#[derive(Debug, Clone, Copy)]
pub struct PostprocessOptions {
    /// `n_best_size`: start and end candidates considered per window (20).
    pub n_best_size: usize,
    /// `max_answer_length`: longest answer in tokens (30).
    pub max_answer_length: usize,
    /// SQuAD 2.0: predict "" when the null score beats the best span by more than
    /// `null_score_diff_threshold`.
    pub version_2_with_negative: bool,
    /// `null_score_diff_threshold` (0).
    pub null_score_diff_threshold: f64,
}

impl Default for PostprocessOptions {
    fn default() -> Self {
        Self {
            n_best_size: 20,
            max_answer_length: 30,
            version_2_with_negative: false,
            null_score_diff_threshold: 0.0,
        }
    }
}

/// Indices of the `n` largest values, largest first (`np.argsort(x)[-1:-n-1:-1]`; among equal
/// values numpy's stable sort puts the later index first in that reversed order).
fn top_indices(values: &[f32], n: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]).then(a.cmp(&b)));
    order.into_iter().rev().take(n).collect()
}

#[derive(Clone, Copy)]
/// Scores stay in f32, as numpy adds the float32 logits in the recipe: rankings and the
/// null-score comparison come out the same.
struct Candidate {
    offsets: (usize, usize),
    score: f32,
    start_logit: f32,
    end_logit: f32,
}

/// `postprocess_qa_predictions` of transformers' question answering examples: for each
/// example, the best span over all its windows; in v2 mode, "" when the null answer wins.
/// `logits[i]` are the start and end logits of `features[i]`.
pub fn postprocess_qa_predictions(
    examples: &[QaExample],
    features: &[QaEvalFeature],
    logits: &[(Vec<f32>, Vec<f32>)],
    options: &PostprocessOptions,
) -> BTreeMap<String, String> {
    let mut by_example: Vec<Vec<usize>> = vec![Vec::new(); examples.len()];
    for (i, feature) in features.iter().enumerate() {
        by_example[feature.example].push(i);
    }
    let mut predictions = BTreeMap::new();
    for (example_index, example) in examples.iter().enumerate() {
        let mut min_null: Option<Candidate> = None;
        let mut candidates: Vec<Candidate> = Vec::new();
        for &fi in &by_example[example_index] {
            let (start_logits, end_logits) = &logits[fi];
            let offsets = &features[fi].offsets;
            let null_score = start_logits[0] + end_logits[0];
            if min_null.as_ref().is_none_or(|m| m.score > null_score) {
                min_null = Some(Candidate {
                    offsets: (0, 0),
                    score: null_score,
                    start_logit: start_logits[0],
                    end_logit: end_logits[0],
                });
            }
            let starts = top_indices(start_logits, options.n_best_size);
            let ends = top_indices(end_logits, options.n_best_size);
            for &s in &starts {
                for &e in &ends {
                    let (Some(Some(so)), Some(Some(eo))) = (offsets.get(s), offsets.get(e)) else {
                        continue;
                    };
                    if e < s || e - s + 1 > options.max_answer_length {
                        continue;
                    }
                    candidates.push(Candidate {
                        offsets: (so.0, eo.1),
                        score: start_logits[s] + end_logits[e],
                        start_logit: start_logits[s],
                        end_logit: end_logits[e],
                    });
                }
            }
        }
        let mut null_score = 0.0f32;
        if options.version_2_with_negative
            && let Some(null) = &min_null
        {
            null_score = null.score;
            candidates.push(*null);
        }
        // Python's sort is stable: equal scores keep their order.
        candidates.sort_by(|a, b| b.score.total_cmp(&a.score));
        candidates.truncate(options.n_best_size);
        if options.version_2_with_negative
            && let Some(null) = min_null
            && !candidates.iter().any(|c| c.offsets == (0, 0))
        {
            candidates.push(null);
        }
        let chars: Vec<char> = example.context.chars().collect();
        let mut entries: Vec<(String, f32, f32)> = candidates
            .iter()
            .map(|c| {
                let (s, e) = c.offsets;
                let text = chars[s.min(chars.len())..e.min(chars.len())]
                    .iter()
                    .collect();
                (text, c.start_logit, c.end_logit)
            })
            .collect();
        // The recipe's placeholder so that there is always a non-null answer to pick.
        if entries.is_empty() || (entries.len() == 1 && entries[0].0.is_empty()) {
            entries.insert(0, ("empty".to_string(), 0.0, 0.0));
        }
        let prediction = if !options.version_2_with_negative {
            entries[0].0.clone()
        } else {
            match entries.iter().find(|e| !e.0.is_empty()) {
                Some((text, start_logit, end_logit)) => {
                    let diff = null_score - start_logit - end_logit;
                    if f64::from(diff) > options.null_score_diff_threshold {
                        String::new()
                    } else {
                        text.clone()
                    }
                }
                None => String::new(),
            }
        };
        predictions.insert(example.id.clone(), prediction);
    }
    predictions
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalization_as_the_official_script() {
        assert_eq!(normalize_answer("The  Eiffel Tower!"), "eiffel tower");
        assert_eq!(normalize_answer("an apple a day"), "apple day");
        assert_eq!(normalize_answer("Saint-Denis, France"), "saintdenis france");
        assert_eq!(normalize_answer("theatre"), "theatre");
        assert_eq!(normalize_answer("“the” end"), "“ ” end");
    }

    #[test]
    fn top_indices_largest_first() {
        assert_eq!(top_indices(&[0.1, 0.5, 0.3, 0.5], 3), vec![3, 1, 2]);
    }
}
