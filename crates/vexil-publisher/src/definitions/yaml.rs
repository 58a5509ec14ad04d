//! Just enough YAML to read GitLab's feature flag definitions the way GitLab does: a single
//! document holding a mapping of scalar keys, with scalars typed as Ruby's Psych types them
//! in `YAML.safe_load` (YAML 1.1: `yes`/`on` are true, `16.9` is a Float, `'16.9'` a String,
//! dates and aliases are refused). Every value keeps its line for error messages.

use saphyr_parser::{Event, Parser, ScalarStyle, Span, SpannedEventReceiver};

/// A value as Psych's `safe_load` would produce it.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// `~`, `null`, or nothing.
    Null,
    /// `true`, `yes`, `on`, … and their negations.
    Bool(bool),
    /// An Integer.
    Int(i64),
    /// A Float.
    Float(f64),
    /// A String.
    Str(String),
    /// A sequence or mapping (definitions have no use for them).
    Collection,
}

impl Value {
    /// How Ruby would describe the value's class, for error messages.
    pub fn ruby_class(&self) -> &'static str {
        match self {
            Value::Null => "nil",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an Integer",
            Value::Float(_) => "a Float",
            Value::Str(_) => "a String",
            Value::Collection => "a list or mapping",
        }
    }
}

/// One `key: value` entry of the top-level mapping.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// The key.
    pub key: String,
    /// The value.
    pub value: Value,
    /// 1-based line of the key.
    pub line: usize,
}

/// A YAML error with its line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct YamlError {
    /// 1-based line.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// Parses a document whose top level is a mapping of scalar keys. Later duplicates replace
/// earlier ones, as in Psych; they are reported in `duplicates`.
pub fn parse_mapping(text: &str) -> Result<(Vec<Entry>, Vec<Entry>), YamlError> {
    let mut r = Receiver::default();
    let mut parser = Parser::new_from_str(text);
    if let Err(e) = parser.load(&mut r, false) {
        return Err(YamlError { line: e.marker().line(), message: e.info().to_string() });
    }
    if let Some(e) = r.error {
        return Err(e);
    }
    match r.top {
        Top::Mapping => {}
        Top::Empty => return Err(YamlError { line: 1, message: "the file is empty".into() }),
        Top::Other(line) => {
            return Err(YamlError { line, message: "the document must be a mapping of `key: value` lines".into() })
        }
    }
    let mut entries: Vec<Entry> = Vec::new();
    let mut duplicates = Vec::new();
    for e in r.entries {
        if let Some(pos) = entries.iter().position(|x| x.key == e.key) {
            duplicates.push(entries.remove(pos));
        }
        entries.push(e);
    }
    Ok((entries, duplicates))
}

#[derive(Default)]
enum Top {
    #[default]
    Empty,
    Mapping,
    Other(usize),
}

#[derive(Default)]
struct Receiver {
    top: Top,
    depth: usize,
    pending_key: Option<(String, usize)>,
    entries: Vec<Entry>,
    error: Option<YamlError>,
    documents: usize,
}

impl Receiver {
    fn fail(&mut self, line: usize, message: impl Into<String>) {
        if self.error.is_none() {
            self.error = Some(YamlError { line, message: message.into() });
        }
    }

    fn value(&mut self, value: Value, line: usize) {
        if self.depth != 1 || !matches!(self.top, Top::Mapping) {
            return;
        }
        match self.pending_key.take() {
            None => match value {
                Value::Str(key) => self.pending_key = Some((key, line)),
                Value::Collection => self.fail(line, "keys must be plain scalars"),
                other => self.pending_key = Some((ruby_to_s(&other), line)),
            },
            Some((key, key_line)) => self.entries.push(Entry { key, value, line: key_line }),
        }
    }
}

fn ruby_to_s(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => f.to_string(),
        Value::Str(s) => s.clone(),
        Value::Collection => String::new(),
    }
}

impl<'a> SpannedEventReceiver<'a> for Receiver {
    fn on_event(&mut self, ev: Event<'a>, span: Span) {
        let line = span.start.line();
        match ev {
            Event::DocumentStart(_) => {
                self.documents += 1;
                if self.documents > 1 {
                    self.fail(line, "only one YAML document is allowed per definition file");
                }
            }
            Event::Alias(_) => {
                self.fail(line, "aliases are not allowed (GitLab loads definitions with YAML.safe_load)")
            }
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                let is_mapping = matches!(ev, Event::MappingStart(..));
                if self.depth == 0 {
                    self.top = if is_mapping { Top::Mapping } else { Top::Other(line) };
                } else if self.depth == 1 {
                    self.value(Value::Collection, line);
                }
                self.depth += 1;
            }
            Event::MappingEnd | Event::SequenceEnd => self.depth = self.depth.saturating_sub(1),
            Event::Scalar(text, style, _anchor, tag) => {
                if self.depth == 0 {
                    self.top = Top::Other(line);
                    return;
                }
                let value = match tag {
                    Some(tag) if tag.handle == "tag:yaml.org,2002:" && tag.suffix == "str" => {
                        Value::Str(text.to_string())
                    }
                    Some(tag) => {
                        self.fail(line, format!("unsupported tag `{}{}`", tag.handle, tag.suffix));
                        return;
                    }
                    None if style == ScalarStyle::Plain => match resolve_plain(&text) {
                        Ok(v) => v,
                        Err(m) => {
                            self.fail(line, m);
                            return;
                        }
                    },
                    None => Value::Str(text.to_string()),
                };
                self.value(value, line);
            }
            _ => {}
        }
    }
}

/// Psych's `ScalarScanner#tokenize` for plain scalars, restricted to what `safe_load` allows.
pub(crate) fn resolve_plain(s: &str) -> Result<Value, String> {
    let lower = s.to_ascii_lowercase();
    match lower.as_str() {
        "" | "~" | "null" => return Ok(Value::Null),
        "yes" | "true" | "on" => return Ok(Value::Bool(true)),
        "no" | "false" | "off" => return Ok(Value::Bool(false)),
        ".inf" | "+.inf" => return Ok(Value::Float(f64::INFINITY)),
        "-.inf" => return Ok(Value::Float(f64::NEG_INFINITY)),
        ".nan" => return Ok(Value::Float(f64::NAN)),
        _ => {}
    }
    let b = s.as_bytes();
    // Dates and times load as Date/Time, which safe_load refuses.
    if b.len() >= 10
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && b[5..7].iter().all(u8::is_ascii_digit)
        && b[7] == b'-'
    {
        return Err(format!("`{s}` is a date, which GitLab's YAML.safe_load refuses; quote it"));
    }
    let (sign, body) = match b.first() {
        Some(b'-') => (-1i64, &s[1..]),
        Some(b'+') => (1, &s[1..]),
        _ => (1, s),
    };
    let digits_only = |t: &str, radix: u32| !t.is_empty() && t.chars().all(|c| c == '_' || c.is_digit(radix));
    let int = |t: &str, radix: u32| i64::from_str_radix(&t.replace('_', ""), radix).ok().map(|v| Value::Int(sign * v));
    if let Some(hex) = body.strip_prefix("0x") {
        if digits_only(hex, 16) {
            if let Some(v) = int(hex, 16) {
                return Ok(v);
            }
        }
    }
    if let Some(bin) = body.strip_prefix("0b") {
        if digits_only(bin, 2) {
            if let Some(v) = int(bin, 2) {
                return Ok(v);
            }
        }
    }
    if body.len() > 1 && body.starts_with('0') && digits_only(&body[1..], 8) {
        if let Some(v) = int(&body[1..], 8) {
            return Ok(v);
        }
    }
    if !body.is_empty()
        && body.chars().all(|c| c.is_ascii_digit() || c == '_' || c == ',')
        && body.as_bytes()[0].is_ascii_digit()
    {
        if let Ok(v) = body.replace(['_', ','], "").parse::<i64>() {
            return Ok(Value::Int(sign * v));
        }
    }
    // Sexagesimal integers: Psych sums `n * 60 ** (index - 2).abs`, so `12:30` is 45000.
    if body.contains(':') && body.split(':').all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit() || c == '_'))
    {
        let mut v: i64 = 0;
        for (i, part) in body.split(':').enumerate() {
            let n = part.replace('_', "").parse::<i64>().unwrap_or(0);
            let power = 60i64.saturating_pow((i as i64 - 2).unsigned_abs() as u32);
            v = v.saturating_add(n.saturating_mul(power));
        }
        return Ok(Value::Int(sign * v));
    }
    // Floats need a point in Psych: `1e3` stays a String.
    if body.contains('.') {
        let (mantissa, exp) = match body.find(['e', 'E']) {
            Some(i) => (&body[..i], Some(&body[i + 1..])),
            None => (body, None),
        };
        let mantissa_ok = mantissa.chars().all(|c| c.is_ascii_digit() || c == '_' || c == ',' || c == '.')
            && mantissa.matches('.').count() == 1
            && mantissa.chars().any(|c| c.is_ascii_digit());
        let exp_ok = exp.is_none_or(|e| {
            let e = e.strip_prefix(['+', '-']).unwrap_or(e);
            !e.is_empty() && e.chars().all(|c| c.is_ascii_digit())
        });
        if mantissa_ok && exp_ok {
            let text: String = body.chars().filter(|&c| c != '_' && c != ',').collect();
            if let Ok(f) = text.parse::<f64>() {
                return Ok(Value::Float(sign as f64 * f));
            }
        }
    }
    Ok(Value::Str(s.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> Value {
        let (entries, _) = parse_mapping(&format!("a: {text}\n")).unwrap();
        entries[0].value.clone()
    }

    /// Expected values printed by Ruby 3.1's `YAML.safe_load`.
    #[test]
    fn types_scalars_like_psych() {
        assert_eq!(one("yes"), Value::Bool(true));
        assert_eq!(one("On"), Value::Bool(true));
        assert_eq!(one("NO"), Value::Bool(false));
        assert_eq!(one("y"), Value::Str("y".into()));
        assert_eq!(one("16.9"), Value::Float(16.9));
        assert_eq!(one("'16.9'"), Value::Str("16.9".into()));
        assert_eq!(one("~"), Value::Null);
        assert_eq!(one(""), Value::Null);
        assert_eq!(one("1_0"), Value::Int(10));
        assert_eq!(one("0x1f"), Value::Int(31));
        assert_eq!(one("1e3"), Value::Str("1e3".into()));
        assert_eq!(one(".5"), Value::Float(0.5));
        assert_eq!(one("010"), Value::Int(8));
        assert_eq!(one("12:30"), Value::Int(45000));
        assert_eq!(one("https://gitlab.com/x/-/issues/1"), Value::Str("https://gitlab.com/x/-/issues/1".into()));
        assert_eq!(one("group::composition analysis"), Value::Str("group::composition analysis".into()));
        assert!(parse_mapping("a: 2024-01-01\n").is_err());
        assert!(parse_mapping("a: &x 1\nb: *x\n").is_err());
        assert!(parse_mapping("a: &x 1\n").is_ok(), "anchors alone load in safe_load");
    }

    #[test]
    fn lines_and_duplicates() {
        let (entries, dups) = parse_mapping("---\n# c\nname: x\n\ntype: beta\nname: y\n").unwrap();
        assert_eq!(entries.iter().map(|e| (e.key.as_str(), e.line)).collect::<Vec<_>>(), [("type", 5), ("name", 6)]);
        assert_eq!(dups.len(), 1);
        assert_eq!(parse_mapping("- a\n").unwrap_err().line, 1);
        assert_eq!(parse_mapping("a: [1\n").unwrap_err().line, 2);
    }
}
