//! Whisper's languages: transformers' `TO_LANGUAGE_CODE` table and the lookup of a language
//! token from a code, token or name.

use std::collections::BTreeMap;

use crate::error::{ModelError, Result};

/// The language token of `language` (code, `<|code|>` token or full name), checked against
/// the model's `lang_to_id`, as `_retrieve_init_tokens.language_to_id`.
pub fn language_to_id(language: &str, lang_to_id: &BTreeMap<String, usize>) -> Result<usize> {
    let language = language.to_lowercase();
    let token = if lang_to_id.contains_key(&language) {
        language.clone()
    } else if let Some((_, code)) = TO_LANGUAGE_CODE.iter().find(|(name, _)| *name == language) {
        format!("<|{code}|>")
    } else if TO_LANGUAGE_CODE.iter().any(|(_, code)| *code == language) {
        format!("<|{language}|>")
    } else {
        let is_code = language.chars().count() == 2;
        let choices: Vec<&str> = if is_code {
            TO_LANGUAGE_CODE.iter().map(|(_, c)| *c).collect()
        } else {
            TO_LANGUAGE_CODE.iter().map(|(n, _)| *n).collect()
        };
        return Err(ModelError::InvalidInput(format!(
            "Unsupported language: {language}. Language should be one of: {}.",
            choices.join(", ")
        )));
    };
    lang_to_id.get(&token).copied().ok_or_else(|| {
        ModelError::InvalidInput(format!(
            "{token} is not supported by this specific model as it is not in the \
             `generation_config.lang_to_id`"
        ))
    })
}

/// transformers' `TO_LANGUAGE_CODE`: language names (and aliases) to Whisper codes.
pub const TO_LANGUAGE_CODE: &[(&str, &str)] = &[
    ("english", "en"),
    ("chinese", "zh"),
    ("german", "de"),
    ("spanish", "es"),
    ("russian", "ru"),
    ("korean", "ko"),
    ("french", "fr"),
    ("japanese", "ja"),
    ("portuguese", "pt"),
    ("turkish", "tr"),
    ("polish", "pl"),
    ("catalan", "ca"),
    ("dutch", "nl"),
    ("arabic", "ar"),
    ("swedish", "sv"),
    ("italian", "it"),
    ("indonesian", "id"),
    ("hindi", "hi"),
    ("finnish", "fi"),
    ("vietnamese", "vi"),
    ("hebrew", "he"),
    ("ukrainian", "uk"),
    ("greek", "el"),
    ("malay", "ms"),
    ("czech", "cs"),
    ("romanian", "ro"),
    ("danish", "da"),
    ("hungarian", "hu"),
    ("tamil", "ta"),
    ("norwegian", "no"),
    ("thai", "th"),
    ("urdu", "ur"),
    ("croatian", "hr"),
    ("bulgarian", "bg"),
    ("lithuanian", "lt"),
    ("latin", "la"),
    ("maori", "mi"),
    ("malayalam", "ml"),
    ("welsh", "cy"),
    ("slovak", "sk"),
    ("telugu", "te"),
    ("persian", "fa"),
    ("latvian", "lv"),
    ("bengali", "bn"),
    ("serbian", "sr"),
    ("azerbaijani", "az"),
    ("slovenian", "sl"),
    ("kannada", "kn"),
    ("estonian", "et"),
    ("macedonian", "mk"),
    ("breton", "br"),
    ("basque", "eu"),
    ("icelandic", "is"),
    ("armenian", "hy"),
    ("nepali", "ne"),
    ("mongolian", "mn"),
    ("bosnian", "bs"),
    ("kazakh", "kk"),
    ("albanian", "sq"),
    ("swahili", "sw"),
    ("galician", "gl"),
    ("marathi", "mr"),
    ("punjabi", "pa"),
    ("sinhala", "si"),
    ("khmer", "km"),
    ("shona", "sn"),
    ("yoruba", "yo"),
    ("somali", "so"),
    ("afrikaans", "af"),
    ("occitan", "oc"),
    ("georgian", "ka"),
    ("belarusian", "be"),
    ("tajik", "tg"),
    ("sindhi", "sd"),
    ("gujarati", "gu"),
    ("amharic", "am"),
    ("yiddish", "yi"),
    ("lao", "lo"),
    ("uzbek", "uz"),
    ("faroese", "fo"),
    ("haitian creole", "ht"),
    ("pashto", "ps"),
    ("turkmen", "tk"),
    ("nynorsk", "nn"),
    ("maltese", "mt"),
    ("sanskrit", "sa"),
    ("luxembourgish", "lb"),
    ("myanmar", "my"),
    ("tibetan", "bo"),
    ("tagalog", "tl"),
    ("malagasy", "mg"),
    ("assamese", "as"),
    ("tatar", "tt"),
    ("hawaiian", "haw"),
    ("lingala", "ln"),
    ("hausa", "ha"),
    ("bashkir", "ba"),
    ("javanese", "jw"),
    ("sundanese", "su"),
    ("cantonese", "yue"),
    ("burmese", "my"),
    ("valencian", "ca"),
    ("flemish", "nl"),
    ("haitian", "ht"),
    ("letzeburgesch", "lb"),
    ("pushto", "ps"),
    ("panjabi", "pa"),
    ("moldavian", "ro"),
    ("moldovan", "ro"),
    ("sinhalese", "si"),
    ("castilian", "es"),
    ("mandarin", "zh"),
];
