//! The catalogs of the window, the tray and the notifications
//! (ui/i18n/<lang>.json) against the code that uses them, without a GUI:
//!
//! - every key the code uses exists in English: `t('…')` / `tp('…')` and the
//!   `data-i18n*` attributes in ui/, `t(lang, "…")` (and the other catalog
//!   readers) in the Rust of the window shell, the tray and desktop-shared;
//! - every language has exactly English's keys, none empty, and the same
//!   `{placeholders}`; plural keys (`x.one`, `x.few`, `x.many`, `x.other`)
//!   have the forms of their language (Intl.PluralRules' categories);
//! - no English key is left unused.
//!
//! A failure lists the keys at fault per language.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

const LANGS: [&str; 4] = ["ru", "tr", "fr", "th"];
const PLURAL_FORMS: [&str; 6] = ["zero", "one", "two", "few", "many", "other"];

/// The plural forms a language must have, and those it may have (CLDR's
/// cardinal categories; French "many" is for millions and falls back to "other").
fn plural_forms(lang: &str) -> (&'static [&'static str], &'static [&'static str]) {
    match lang {
        "ru" => (&["one", "few", "many", "other"], &["one", "few", "many", "other"]),
        "fr" => (&["one", "other"], &["one", "many", "other"]),
        "th" => (&["other"], &["other"]),
        _ => (&["one", "other"], &["one", "other"]),
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the workspace").to_path_buf()
}

fn catalog(lang: &str) -> BTreeMap<String, String> {
    let path = root().join("ui/i18n").join(format!("{lang}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let value: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
    let map = value.as_object().unwrap_or_else(|| panic!("{} is not one flat object", path.display()));
    map.iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_else(|| panic!("{}: {k} is not a string", path.display())).to_string()))
        .collect()
}

/// Files under `dir` (recursively) whose name ends with one of `exts`.
fn files(dir: &Path, exts: &[&str], out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            files(&p, exts, out);
        } else if exts.iter().any(|x| p.to_string_lossy().ends_with(x)) {
            out.push(p);
        }
    }
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '$' || c == '.'
}


/// The string literals of the argument at the start of `s`, up to its end
/// (a `,` or `)` outside quotes and brackets): `'a.b'`, or both keys of
/// `cond ? 'a.b' : 'a.c'`.
fn argument_literals(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0_i32;
    let mut rest = s;
    while let Some(c) = rest.chars().next() {
        match c {
            '\'' | '"' => {
                let Some(end) = rest[1..].find(c) else { break };
                if end > 0 {
                    out.push(rest[1..=end].to_string());
                }
                rest = &rest[end + 2..];
                continue;
            }
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' if depth > 0 => depth -= 1,
            ',' | ')' => break,
            _ => {}
        }
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// Every quoted string in `text` outside comment lines (keys handed to a
/// helper that calls `t()`, such as `failed(e, 'history.delete.failed')`).
fn all_literals(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let code = line.trim_start();
        if code.starts_with("//") || code.starts_with('*') || code.starts_with("/*") {
            continue;
        }
        let mut rest = line;
        while let Some(at) = rest.find(['\'', '"']) {
            let q = rest[at..].chars().next().unwrap_or('"');
            let after = &rest[at + 1..];
            let Some(end) = after.find(q) else { break };
            out.push(after[..end].to_string());
            rest = &after[end + 1..];
        }
    }
    out
}

/// Each literal first (or, with `skip_first`, second) argument of a call to
/// one of `names` in `text`: `t('a.b')`, `t(lang, "a.b", …)`.
fn call_keys(text: &str, names: &[&str], skip_first: bool) -> Vec<String> {
    let mut keys = Vec::new();
    for line in text.lines() {
        let code = line.trim_start();
        if code.starts_with("//") || code.starts_with('*') || code.starts_with("/*") {
            continue;
        }
        for name in names {
            let pat = format!("{name}(");
            let mut from = 0;
            while let Some(at) = line[from..].find(&pat) {
                let start = from + at;
                from = start + pat.len();
                if line[..start].chars().next_back().is_some_and(is_ident) {
                    continue;
                }
                let args = &line[start + pat.len()..];
                let arg = if skip_first {
                    // The first argument is an expression without a comma (`lang`, `Lang::Ru`, `self.lang`).
                    match args.find(',') {
                        Some(comma) if !args[..comma].contains(['"', '\'', '(']) => &args[comma + 1..],
                        _ => continue,
                    }
                } else {
                    args
                };
                keys.extend(argument_literals(arg));
            }
        }
    }
    keys
}

/// The values of `attr="…"` in `text`.
fn attr_keys(text: &str, attr: &str) -> Vec<String> {
    let pat = format!("{attr}=\"");
    text.match_indices(&pat).filter_map(|(at, _)| {
        let rest = &text[at + pat.len()..];
        rest.find('"').map(|end| rest[..end].to_string())
    }).collect()
}

/// The keys the code uses: (plain keys, plural bases), each with where it is used.
fn used_keys() -> (BTreeMap<String, String>, BTreeMap<String, String>) {
    let mut plain = BTreeMap::new();
    let mut plural = BTreeMap::new();
    let r = root();
    let mut ui = Vec::new();
    files(&r.join("ui"), &[".js", ".html"], &mut ui);
    for f in &ui {
        let text = std::fs::read_to_string(f).unwrap();
        let name = f.strip_prefix(&r).unwrap().display().to_string();
        for k in call_keys(&text, &["t"], false) {
            plain.entry(k).or_insert_with(|| name.clone());
        }
        for k in call_keys(&text, &["tp"], false) {
            plural.entry(k).or_insert_with(|| name.clone());
        }
        if name.ends_with(".js") {
            for k in all_literals(&text).into_iter().filter(|l| looks_like_key(l)) {
                plain.entry(k).or_insert_with(|| name.clone());
            }
        }
        for attr in ["data-i18n", "data-i18n-aria-label", "data-i18n-title", "data-i18n-placeholder"] {
            for k in attr_keys(&text, attr) {
                plain.entry(k).or_insert_with(|| name.clone());
            }
        }
    }
    let mut rust = Vec::new();
    for dir in ["src-tauri/src", "crates/tray/src", "crates/desktop-shared/src"] {
        files(&r.join(dir), &[".rs"], &mut rust);
    }
    for f in &rust {
        let text = std::fs::read_to_string(f).unwrap();
        let name = f.strip_prefix(&r).unwrap().display().to_string();
        for k in call_keys(&text, &["t", "format_time"], true) {
            plain.entry(k).or_insert_with(|| name.clone());
        }
        for k in call_keys(&text, &["tp"], true) {
            plural.entry(k).or_insert_with(|| name.clone());
        }
    }
    // A plural base written as a literal (the tp() call) is not a plain key.
    plain.retain(|k, _| !plural.contains_key(k));
    (plain, plural)
}

/// A literal that is a catalog key by its shape: a known area, a dot, then
/// letters, digits, `_` and dots (not a file name such as `'./i18n.js'`).
fn looks_like_key(s: &str) -> bool {
    const AREAS: [&str; 17] = ["app", "dashboard", "start", "settings", "alerts", "charts", "logs", "history", "restore", "unit", "when", "progress", "stage", "language", "tray", "notify", "format"];
    let Some((area, rest)) = s.split_once('.') else { return false };
    AREAS.contains(&area) && !rest.is_empty() && !s.ends_with(".js") && !s.ends_with(".json") && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
}

/// `key` split into its plural base and form, when it ends in a plural form.
fn plural_of(key: &str) -> Option<(&str, &str)> {
    let (base, form) = key.rsplit_once('.')?;
    PLURAL_FORMS.contains(&form).then_some((base, form))
}

fn placeholders(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close) if !after[..close].is_empty() && after[..close].chars().all(|c| c.is_alphanumeric() || c == '_') => {
                out.insert(after[..close].to_string());
                rest = &after[close + 1..];
            }
            _ => rest = after,
        }
    }
    out
}

/// English's plural bases: base → its forms.
fn plural_bases(en: &BTreeMap<String, String>) -> BTreeMap<String, BTreeSet<String>> {
    let mut bases: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for k in en.keys() {
        if let Some((base, form)) = plural_of(k) {
            bases.entry(base.to_string()).or_default().insert(form.to_string());
        }
    }
    bases
}

#[test]
fn every_key_the_code_uses_is_in_english_and_every_english_key_is_used() {
    let en = catalog("en");
    let bases = plural_bases(&en);
    let (plain, plural) = used_keys();
    let mut report = String::new();
    for (k, at) in &plain {
        if !en.contains_key(k) {
            let _ = writeln!(report, "  {k} (used in {at}) is not in en.json");
        }
    }
    for (k, at) in &plural {
        if !bases.get(k).is_some_and(|f| f.contains("other") && f.contains("one")) {
            let _ = writeln!(report, "  {k} (a plural, tp() in {at}) needs {k}.one and {k}.other in en.json");
        }
    }
    for k in en.keys() {
        let used = plain.contains_key(k) || plural_of(k).is_some_and(|(base, _)| plural.contains_key(base));
        if !used {
            let _ = writeln!(report, "  {k} is in en.json but no code uses it");
        }
    }
    for (base, forms) in &bases {
        if !forms.contains("other") {
            let _ = writeln!(report, "  {base}.other is missing in en.json ({base} has plural forms)");
        }
        if en.contains_key(base) {
            let _ = writeln!(report, "  {base} is both a plain key and a plural base in en.json");
        }
    }
    assert!(report.is_empty(), "English catalog against the code:\n{report}");
}

#[test]
fn every_language_has_exactly_the_english_keys_with_the_same_placeholders() {
    let en = catalog("en");
    let bases = plural_bases(&en);
    let mut report = String::new();
    for lang in LANGS {
        let cat = catalog(lang);
        let (required, allowed) = plural_forms(lang);
        let mut problems = Vec::new();
        // Plain keys: the same set, none empty, the same placeholders.
        for (k, v) in en.iter().filter(|(k, _)| plural_of(k).is_none_or(|(b, _)| !bases.contains_key(b))) {
            match cat.get(k) {
                None => problems.push(format!("missing {k}")),
                Some(t) if t.trim().is_empty() => problems.push(format!("empty {k}")),
                Some(t) if placeholders(t) != placeholders(v) => problems.push(format!("{k} has {:?}, English {:?}", placeholders(t), placeholders(v))),
                Some(_) => {}
            }
        }
        // Plural keys: the language's own forms, the same placeholders ({n} may be left out of a form).
        for base in bases.keys() {
            let want: BTreeSet<String> = placeholders(&en[&format!("{base}.other")]).into_iter().filter(|p| p != "n").collect();
            for form in required {
                if !cat.contains_key(&format!("{base}.{form}")) {
                    problems.push(format!("missing {base}.{form}"));
                }
            }
            for form in PLURAL_FORMS {
                let k = format!("{base}.{form}");
                let Some(t) = cat.get(&k) else { continue };
                if !allowed.contains(&form) {
                    problems.push(format!("extra {k} ({lang} has no “{form}” form)"));
                } else if t.trim().is_empty() {
                    problems.push(format!("empty {k}"));
                } else {
                    let has: BTreeSet<String> = placeholders(t).into_iter().filter(|p| p != "n").collect();
                    if has != want {
                        problems.push(format!("{k} has {has:?}, English {want:?} (and {{n}})"));
                    }
                }
            }
        }
        for k in cat.keys() {
            let known = en.contains_key(k) || plural_of(k).is_some_and(|(b, _)| bases.contains_key(b));
            if !known {
                problems.push(format!("extra {k} (not in en.json)"));
            }
        }
        if !problems.is_empty() {
            let _ = writeln!(report, "{lang}.json ({} problems):", problems.len());
            for p in problems {
                let _ = writeln!(report, "  {p}");
            }
        }
    }
    assert!(report.is_empty(), "Catalogs against en.json:\n{report}");
}

#[test]
fn the_scanner_finds_keys_as_the_code_writes_them() {
    let js = "const a = t('dash.x'); h('p', { text: tp('dash.runs', n, { zone }) });\n  // t('not.this')\nconst b = format('x'); at('no')";
    assert_eq!(call_keys(js, &["t"], false), ["dash.x"]);
    assert_eq!(call_keys(js, &["tp"], false), ["dash.runs"]);
    let rs = "let q = t(lang, \"tray.quit\", &[]);\nlet s = i18n::t(Lang::Ru, \"notify.failed\", &[(\"job\", j)]);\n    /// t(lang, \"doc.only\")\nlet x = fmt(a, \"no\");";
    assert_eq!(call_keys(rs, &["t"], true), ["tray.quit", "notify.failed"]);
    let js = "message(t(test ? 'history.a.start' : 'history.b.start', { name }));\nawait failed(e, 'history.c.failed'); import x from './i18n.js';";
    assert_eq!(call_keys(js, &["t"], false), ["history.a.start", "history.b.start"]);
    let keys: Vec<String> = all_literals(js).into_iter().filter(|l| looks_like_key(l)).collect();
    assert_eq!(keys, ["history.a.start", "history.b.start", "history.c.failed"]);
    assert_eq!(attr_keys("<p data-i18n=\"a.b\" data-i18n-title=\"c.d\">", "data-i18n"), ["a.b"]);
    assert_eq!(placeholders("{n} runs of {job}, {not a} {}"), BTreeSet::from(["job".to_string(), "n".to_string()]));
}
