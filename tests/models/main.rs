//! Each model family against transformers on the committed tiny goldens: the model's outputs,
//! its processor (tokenizer, image processor, feature extractor) and the pipelines it serves.

mod bert;
mod int8;
mod layoutlm;
mod seq2seq;
mod vilt;
mod vision;
mod wav2vec2;
mod whisper;
