//! The ways code names a flag: the forms GitLab's housekeeper greps (the snake_case name,
//! its camelCase form, `glFeatures.<camel>`, `gon.features`, `push_frontend_feature_flag`,
//! `Feature.enabled?`), the SDKs' calls, and a team's aliases with `{snake}`-style
//! placeholders. One regular expression finds candidate lines at ripgrep's speed; only the
//! lines it finds are taken apart, to say which flag and which form.

use regex::bytes::Regex;
use std::collections::HashMap;
use std::fmt;

/// How an alias writes the flag's name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Case {
    /// `new_navigation_bar`.
    Snake,
    /// `newNavigationBar`, as Rails' `camelize(:lower)`.
    Camel,
    /// `NewNavigationBar`.
    Pascal,
    /// `new-navigation-bar`.
    Kebab,
    /// `NEW_NAVIGATION_BAR`.
    Upper,
}

const CASES: [(&str, Case); 5] = [
    ("snake", Case::Snake),
    ("camel", Case::Camel),
    ("pascal", Case::Pascal),
    ("kebab", Case::Kebab),
    ("upper", Case::Upper),
];

impl Case {
    /// `name` written this way.
    pub fn write(self, name: &str) -> String {
        let capitalized = |w: &str| {
            let mut c = w.chars();
            c.next().map_or(String::new(), |f| f.to_ascii_uppercase().to_string() + c.as_str())
        };
        match self {
            Case::Snake => name.to_string(),
            Case::Camel => {
                let mut words = name.split('_');
                let first = words.next().unwrap_or_default().to_string();
                words.fold(first, |acc, w| acc + &capitalized(w))
            }
            Case::Pascal => name.split('_').map(capitalized).collect(),
            Case::Kebab => name.replace('_', "-"),
            Case::Upper => name.to_ascii_uppercase(),
        }
    }
}

/// The flag name a camelCase identifier stands for (`newNavBar` → `new_nav_bar`).
pub fn snake_of_camel(camel: &str) -> String {
    let mut out = String::with_capacity(camel.len() + 4);
    for c in camel.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// A team's alias: literal text around placeholders (`FF_{upper}`, `features.{camel}`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Alias {
    text: String,
    pieces: Vec<Piece>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Piece {
    Text(String),
    Name(Case),
}

impl Alias {
    /// Reads `text`; the error names what is wrong with it.
    pub fn parse(text: &str) -> Result<Alias, String> {
        let names = || CASES.iter().map(|(n, _)| format!("{{{n}}}")).collect::<Vec<_>>().join(", ");
        let mut pieces = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find(['{', '}']) {
            if rest.as_bytes()[open] == b'}' {
                return Err(format!("{text:?}: a `}}` with no `{{` before it"));
            }
            if open > 0 {
                pieces.push(Piece::Text(rest[..open].to_string()));
            }
            let close = rest[open..].find('}').ok_or_else(|| format!("{text:?}: a `{{` that is never closed"))?;
            let name = &rest[open + 1..open + close];
            let case = CASES
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, c)| *c)
                .ok_or_else(|| format!("{text:?}: unknown placeholder {{{name}}} (placeholders: {})", names()))?;
            pieces.push(Piece::Name(case));
            rest = &rest[open + close + 1..];
        }
        if !rest.is_empty() {
            pieces.push(Piece::Text(rest.to_string()));
        }
        if !pieces.iter().any(|p| matches!(p, Piece::Name(_))) {
            return Err(format!("{text:?}: no placeholder, so it names no flag (use {})", names()));
        }
        Ok(Alias { text: text.to_string(), pieces })
    }

    /// The alias for `flag`.
    pub fn expand(&self, flag: &str) -> String {
        self.pieces
            .iter()
            .map(|p| match p {
                Piece::Text(t) => t.clone(),
                Piece::Name(c) => c.write(flag),
            })
            .collect()
    }
}

impl fmt::Display for Alias {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// A form whose call or accessor names any flag, defined or not: what finds typos.
struct Call {
    form: &'static str,
    pattern: &'static str,
    /// The name is written in camelCase.
    camel: bool,
}

// `[ \t]*`, not `\s*`: a match never spans lines.
const CALLS: [Call; 7] = [
    Call {
        form: "push_frontend_feature_flag",
        pattern: r#"push_frontend_feature_flag\([ \t]*:?['"]?([a-z0-9_]+)"#,
        camel: false,
    },
    Call {
        form: "Feature.enabled?",
        pattern: r#"Feature\.(?:enabled|disabled)\?\([ \t]*:?['"]?([a-z0-9_]+)"#,
        camel: false,
    },
    Call { form: "glFeatures", pattern: r"glFeatures\??\.([a-z][a-zA-Z0-9]*)", camel: true },
    Call { form: "gon.features", pattern: r"gon\.features\??\.([a-z][a-zA-Z0-9]*)", camel: true },
    Call { form: "isEnabled", pattern: r#"isEnabled\([ \t]*['"`]([a-z0-9_]+)['"`]"#, camel: false },
    Call { form: "evaluate", pattern: r#"evaluate\([ \t]*['"`]([a-z0-9_]+)['"`]"#, camel: false },
    Call {
        form: "getBooleanValue",
        pattern: r#"getBoolean(?:Value|Details)\([ \t]*['"`]([a-z0-9_]+)['"`]"#,
        camel: false,
    },
];

/// One flag named on one line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    /// Byte offset in the line.
    pub offset: usize,
    /// The flag.
    pub flag: String,
    /// The form (`glFeatures`, `camelCase`, `alias FF_{upper}`).
    pub form: String,
}

/// The compiled forms for a set of flags.
pub struct Forms {
    /// What the searcher runs over every file.
    pub search: String,
    calls: Vec<(&'static str, Regex, bool)>,
    literal: Option<Regex>,
    literals: HashMap<Vec<u8>, (String, String)>,
}

impl Forms {
    /// The forms of `flags` and `aliases`, and every call form.
    pub fn new<'a>(flags: impl IntoIterator<Item = &'a str>, aliases: &[Alias]) -> Forms {
        let mut literals: HashMap<Vec<u8>, (String, String)> = HashMap::new();
        for flag in flags {
            // Aliases first: a longer, more specific form wins over the bare name in it.
            for a in aliases {
                literals.entry(a.expand(flag).into_bytes()).or_insert((flag.to_string(), format!("alias {a}")));
            }
            literals.entry(flag.as_bytes().to_vec()).or_insert((flag.to_string(), "snake_case".into()));
            let camel = Case::Camel.write(flag);
            if camel != flag {
                literals.entry(camel.into_bytes()).or_insert((flag.to_string(), "camelCase".into()));
            }
        }
        let mut texts: Vec<&Vec<u8>> = literals.keys().collect();
        // Longest first, so the leftmost-first alternation prefers the longest literal.
        texts.sort_by(|a, b| b.len().cmp(&a.len()).then(a.cmp(b)));
        let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
        let alternatives: Vec<String> = texts
            .iter()
            .map(|t| {
                let before = if t.first().is_some_and(|&b| word(b)) { r"(?-u:\b)" } else { "" };
                let after = if t.last().is_some_and(|&b| word(b)) { r"(?-u:\b)" } else { "" };
                format!("{before}{}{after}", regex::escape(&String::from_utf8_lossy(t)))
            })
            .collect();
        let literal = (!alternatives.is_empty()).then(|| alternatives.join("|"));
        let search = CALLS.iter().map(|c| c.pattern.to_string()).chain(literal.clone()).collect::<Vec<_>>().join("|");
        Forms {
            search,
            calls: CALLS
                .iter()
                .map(|c| (c.form, Regex::new(c.pattern).expect("a constant pattern compiles"), c.camel))
                .collect(),
            literal: literal.map(|l| Regex::new(&l).expect("escaped literals compile")),
            literals,
        }
    }

    /// Every flag named on `line`, left to right; a call form wins over the bare name in it.
    pub fn find(&self, line: &[u8]) -> Vec<Found> {
        let mut found = Vec::new();
        let mut covered: Vec<(usize, usize)> = Vec::new();
        for (form, regex, camel) in &self.calls {
            for caps in regex.captures_iter(line) {
                let (Some(all), Some(name)) = (caps.get(0), caps.get(1)) else { continue };
                let text = String::from_utf8_lossy(name.as_bytes());
                let flag = if *camel { snake_of_camel(&text) } else { text.into_owned() };
                covered.push((all.start(), all.end()));
                found.push(Found { offset: name.start(), flag, form: form.to_string() });
            }
        }
        if let Some(literal) = &self.literal {
            for m in literal.find_iter(line) {
                if covered.iter().any(|&(s, e)| m.start() < e && s < m.end()) {
                    continue;
                }
                if let Some((flag, form)) = self.literals.get(m.as_bytes()) {
                    found.push(Found { offset: m.start(), flag: flag.clone(), form: form.clone() });
                }
            }
        }
        found.sort_by_key(|f| f.offset);
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cases_and_aliases_write_the_name_as_code_does() {
        assert_eq!(Case::Camel.write("new_nav_2x"), "newNav2x");
        assert_eq!(Case::Pascal.write("new_nav"), "NewNav");
        assert_eq!(Case::Kebab.write("new_nav"), "new-nav");
        assert_eq!(Case::Upper.write("new_nav"), "NEW_NAV");
        assert_eq!(snake_of_camel("newNavBar"), "new_nav_bar");
        assert_eq!(Alias::parse("FF_{upper}").unwrap().expand("new_nav"), "FF_NEW_NAV");
        assert_eq!(Alias::parse("{kebab}-enabled").unwrap().expand("a_b"), "a-b-enabled");
        for (bad, says) in [
            ("FF_{upcase}", "unknown placeholder {upcase}"),
            ("FF_{upper", "never closed"),
            ("FF_}", "no `{` before it"),
            ("plain", "no placeholder"),
            ("", "no placeholder"),
        ] {
            let e = Alias::parse(bad).unwrap_err();
            assert!(e.contains(says), "{bad:?}: {e}");
        }
    }

    #[test]
    fn a_line_is_taken_apart_into_flags_and_forms() {
        let forms = Forms::new(["new_nav", "dark_mode"], &[Alias::parse("FF_{upper}").unwrap()]);
        let flags = |line: &str| -> Vec<(String, String)> {
            forms.find(line.as_bytes()).into_iter().map(|f| (f.flag, f.form)).collect()
        };
        let pair = |f: &str, form: &str| (f.to_string(), form.to_string());
        assert_eq!(flags("if Feature.enabled?(:new_nav, user)"), [pair("new_nav", "Feature.enabled?")]);
        assert_eq!(
            flags("push_frontend_feature_flag(:dark_mode, project)"),
            [pair("dark_mode", "push_frontend_feature_flag")]
        );
        assert_eq!(
            flags("if (glFeatures.newNav && gon.features?.darkMode)"),
            [pair("new_nav", "glFeatures"), pair("dark_mode", "gon.features")]
        );
        assert_eq!(
            flags("client.isEnabled('new_nav') || evaluate(\"dark_mode\", ctx)"),
            [pair("new_nav", "isEnabled"), pair("dark_mode", "evaluate")]
        );
        assert_eq!(flags("await c.getBooleanValue('new_nav', false)"), [pair("new_nav", "getBooleanValue")]);
        assert_eq!(
            flags("const newNav = FF_NEW_NAV; // new_nav"),
            [pair("new_nav", "camelCase"), pair("new_nav", "alias FF_{upper}"), pair("new_nav", "snake_case")]
        );
        assert_eq!(flags("new_nav_v2 renew_nav newNavBar"), [], "whole words only");
        assert_eq!(flags("isEnabled('new_nvа')").len(), 0, "not a flag name");
        assert_eq!(flags("isEnabled('nwe_nav')"), [pair("nwe_nav", "isEnabled")], "a typo is still a reference");
        assert!(Regex::new(&forms.search).unwrap().is_match(b"x FF_DARK_MODE y"));
    }
}
