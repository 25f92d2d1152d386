//! `question-answering`. Being written.

#[derive(Debug, Clone, Default)]
pub struct QuestionAnsweringOptions {}

pub struct QuestionAnsweringPipeline {}
