//! Text search dictionaries and configurations (`Schema::ts_dictionaries`,
//! `ts_configurations`). Parsers and templates need C functions and stay unmodeled.

use super::{Reader, R, TS_CONFIGS, TS_DICTIONARIES};
use crate::catalog::resolve::class::{PG_TS_CONFIG, PG_TS_DICT};
use crate::catalog::CatalogError;
use crate::model::{ObjectId, QName, TextSearchConfiguration, TextSearchDictionary};
use std::collections::BTreeMap;

/// `dictinitoption` (`key = 'value', other = E'a\\b'`, keys quoted as identifiers where
/// needed, every value a quoted literal: `serialize_deflist` in tsearchcmds.c) as (key, value)
/// pairs of SQL text, in the order written.
pub(crate) fn parse_dict_options(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        while i < b.len() && (b[i] == b' ' || b[i] == b',') {
            i += 1;
        }
        if i >= b.len() {
            break;
        }
        // the key: an identifier, maybe "quoted"
        let start = i;
        if b[i] == b'"' {
            i += 1;
            while i < b.len() {
                if b[i] == b'"' {
                    if b.get(i + 1) == Some(&b'"') {
                        i += 2;
                        continue;
                    }
                    i += 1;
                    break;
                }
                i += 1;
            }
        } else {
            while i < b.len() && b[i] != b' ' && b[i] != b'=' {
                i += 1;
            }
        }
        let key = text[start..i].to_string();
        while i < b.len() && (b[i] == b' ' || b[i] == b'=') {
            i += 1;
        }
        // the value: [E]'...' with '' (and, after E, \\ and \') escapes
        let vstart = i;
        let escaped = b.get(i) == Some(&b'E');
        if escaped {
            i += 1;
        }
        if b.get(i) == Some(&b'\'') {
            i += 1;
            while i < b.len() {
                if escaped && b[i] == b'\\' {
                    i += 2;
                    continue;
                }
                if b[i] == b'\'' {
                    if b.get(i + 1) == Some(&b'\'') {
                        i += 2;
                        continue;
                    }
                    i += 1;
                    break;
                }
                i += 1;
            }
        } else {
            while i < b.len() && b[i] != b',' {
                i += 1;
            }
        }
        out.push((key, text[vstart..i.min(b.len())].trim().to_string()));
    }
    out
}

impl Reader<'_, '_> {
    /// Runs before comments, owners and depends (a configuration depends on its
    /// dictionaries through pg_depend).
    pub(super) fn text_search(&mut self) -> Result<(), CatalogError> {
        for row in self.run(&TS_DICTIONARIES)? {
            let r = R {
                row: &row,
                query: TS_DICTIONARIES.name,
            };
            let name = QName::new(r.get::<String>("schema")?, r.get::<String>("name")?);
            self.resolver.add_exact(
                PG_TS_DICT,
                r.get("oid")?,
                ObjectId::TextSearchDictionary(name.clone()),
            );
            let options: Option<String> = r.get("options")?;
            let options = parse_dict_options(options.as_deref().unwrap_or(""));
            self.schema.ts_dictionaries.insert(
                name.clone(),
                TextSearchDictionary {
                    name,
                    template: QName::new(
                        r.get::<String>("template_schema")?,
                        r.get::<String>("template_name")?,
                    ),
                    options,
                },
            );
        }
        for row in self.run(&TS_CONFIGS)? {
            let r = R {
                row: &row,
                query: TS_CONFIGS.name,
            };
            let name = QName::new(r.get::<String>("schema")?, r.get::<String>("name")?);
            self.resolver.add_exact(
                PG_TS_CONFIG,
                r.get("oid")?,
                ObjectId::TextSearchConfiguration(name.clone()),
            );
            let tokens: Vec<String> = r.get("map_tokens")?;
            let schemas: Vec<String> = r.get("map_dict_schemas")?;
            let names: Vec<String> = r.get("map_dict_names")?;
            let mut mappings: BTreeMap<String, Vec<QName>> = BTreeMap::new();
            for ((t, s), n) in tokens.into_iter().zip(schemas).zip(names) {
                mappings.entry(t).or_default().push(QName::new(s, n));
            }
            self.schema.ts_configurations.insert(
                name.clone(),
                TextSearchConfiguration {
                    name,
                    parser: QName::new(
                        r.get::<String>("parser_schema")?,
                        r.get::<String>("parser_name")?,
                    ),
                    mappings,
                },
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::parse_dict_options;

    #[test]
    fn dictionary_options_parse_as_postgresql_serializes_them() {
        assert_eq!(
            parse_dict_options("language = 'english', \"Stop Words\" = 'it''s', x = E'a\\\\b'"),
            vec![
                ("language".to_string(), "'english'".to_string()),
                ("\"Stop Words\"".to_string(), "'it''s'".to_string()),
                ("x".to_string(), "E'a\\\\b'".to_string()),
            ]
        );
        assert!(parse_dict_options("").is_empty());
    }
}
