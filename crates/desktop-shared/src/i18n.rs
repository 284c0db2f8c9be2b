//! The app's languages on the Rust side (the tray menu and tooltip, the
//! notifications): the same catalogs as the window (`ui/i18n/<lang>.json`,
//! flat `"area.key": "text"` objects with `{name}` placeholders), built
//! into the binary. A key missing in a language falls back to English.
//!
//! Keys are always written literally at the call (`t(lang, "tray.quit",
//! &[])`), so the key test finds every key in use.

use std::collections::HashMap;
use std::sync::OnceLock;

/// A language the app speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Lang {
    #[default]
    En,
    Ru,
    Tr,
    Fr,
    Th,
}

impl Lang {
    /// Every language, English first.
    pub const ALL: [Self; 5] = [Self::En, Self::Ru, Self::Tr, Self::Fr, Self::Th];

    /// The code the config file and the catalogs use (`en`, `ru`, …).
    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            Self::En => "en",
            Self::Ru => "ru",
            Self::Tr => "tr",
            Self::Fr => "fr",
            Self::Th => "th",
        }
    }

    /// The language's name in itself ("Русский"), as a language menu shows it.
    #[must_use]
    pub fn native_name(self) -> &'static str {
        match self {
            Self::En => "English",
            Self::Ru => "Русский",
            Self::Tr => "Türkçe",
            Self::Fr => "Français",
            Self::Th => "ไทย",
        }
    }

    /// The language whose code is `code`.
    #[must_use]
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|l| l.code() == code)
    }

    /// The catalog file's text.
    fn source(self) -> &'static str {
        match self {
            Self::En => include_str!("../../../ui/i18n/en.json"),
            Self::Ru => include_str!("../../../ui/i18n/ru.json"),
            Self::Tr => include_str!("../../../ui/i18n/tr.json"),
            Self::Fr => include_str!("../../../ui/i18n/fr.json"),
            Self::Th => include_str!("../../../ui/i18n/th.json"),
        }
    }
}

/// The language for a `[ui] language` choice: `auto` (or anything that is
/// not a language's code) follows the system's locale.
#[must_use]
pub fn resolve(choice: &str) -> Lang {
    Lang::from_code(choice.trim()).unwrap_or_else(system)
}

/// The language of the system's locale (English when it is none of ours).
#[must_use]
pub fn system() -> Lang {
    sys_locale::get_locale().map_or(Lang::En, |l| from_locale(&l))
}

/// The language of a locale name: `ru-RU`, `ru_RU.UTF-8`, `fr`, `th-TH-u-nu-thai`
/// (its first two letters); English for any other (`C`, `de_DE`, empty).
#[must_use]
pub fn from_locale(locale: &str) -> Lang {
    let primary = locale.trim().split(['-', '_', '.', '@']).next().unwrap_or("").to_ascii_lowercase();
    if primary.len() != 2 {
        return Lang::En;
    }
    Lang::from_code(&primary).unwrap_or(Lang::En)
}

/// The catalog of `lang`, parsed once. A catalog that does not parse is
/// empty (every key then falls back to English; the catalog test catches it).
#[must_use]
pub fn catalog(lang: Lang) -> &'static HashMap<String, String> {
    static CATALOGS: OnceLock<[HashMap<String, String>; 5]> = OnceLock::new();
    let all = CATALOGS.get_or_init(|| {
        Lang::ALL.map(|l| {
            serde_json::from_str(l.source()).unwrap_or_else(|e| {
                tracing::error!(lang = l.code(), "the {} catalog does not parse ({e}); English is used", l.code());
                HashMap::new()
            })
        })
    });
    let i = Lang::ALL.iter().position(|l| *l == lang).unwrap_or(0);
    &all[i]
}

/// The text of `key` in `lang` (else English, else the key itself) with
/// each `{name}` replaced by its value in `vars`.
#[must_use]
pub fn t(lang: Lang, key: &str, vars: &[(&str, &str)]) -> String {
    let text = catalog(lang).get(key).or_else(|| catalog(Lang::En).get(key)).map_or(key, String::as_str);
    fill(text, vars)
}

/// Replaces each `{name}` in `text` by its value in `vars` in one pass (a
/// value that itself holds `{x}` is left as it is); unknown names stay.
#[must_use]
pub fn fill(text: &str, vars: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let known = after.find('}').and_then(|close| vars.iter().find(|(n, _)| *n == &after[..close]).map(|(_, v)| (*v, close)));
        if let Some((value, close)) = known {
            out.push_str(value);
            rest = &after[close + 1..];
        } else {
            out.push('{');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// `t` as a chrono format pattern (`format.*` keys) applied to `at`; the
/// English pattern when the language's is not a valid pattern. Thai years
/// are the Buddhist era's (2026 is 2569), as the window writes them.
pub fn format_time<Tz: chrono::TimeZone>(lang: Lang, key: &str, at: &chrono::DateTime<Tz>) -> String
where
    Tz::Offset: std::fmt::Display,
{
    use chrono::Datelike as _;
    use chrono::format::{Item, StrftimeItems};
    let valid = |p: &str| !StrftimeItems::new(p).any(|i| matches!(i, Item::Error));
    let own = t(lang, key, &[]);
    let mut pattern = if valid(&own) { own } else { t(Lang::En, key, &[]) };
    if !valid(&pattern) {
        return at.to_rfc3339();
    }
    if lang == Lang::Th {
        pattern = pattern.replace("%Y", &(at.year() + 543).to_string());
    }
    at.format(&pattern).to_string()
}

/// A short month name ("Nov", "нояб.") from `format.months` (twelve names
/// separated by spaces); `month` is 1 to 12.
#[must_use]
pub fn month_short(lang: Lang, month: u32) -> String {
    let pick = |l: Lang| t(l, "format.months", &[]).split_whitespace().nth(month.saturating_sub(1) as usize).map(str::to_string);
    pick(lang).or_else(|| pick(Lang::En)).unwrap_or_else(|| month.to_string())
}

/// A size ("11.8 MiB"; "11,8 МиБ" in Russian): whole tenths of the unit
/// (as the window and the CLI round), the language's decimal separator
/// (`format.decimal`) and unit names (`unit.*`, shared with the window).
#[must_use]
pub fn format_bytes(lang: Lang, bytes: u64) -> String {
    if bytes < 1024 {
        return t(lang, "unit.bytes", &[("n", &bytes.to_string())]);
    }
    let mut unit: u128 = 1024;
    let mut i = 0;
    while u128::from(bytes) >= unit * 1024 && i < 3 {
        unit *= 1024;
        i += 1;
    }
    let tenths = (u128::from(bytes) * 10 + unit / 2) / unit;
    let n = format!("{}{}{}", tenths / 10, t(lang, "format.decimal", &[]), tenths % 10);
    let vars = [("n", n.as_str())];
    match i {
        0 => t(lang, "unit.kib", &vars),
        1 => t(lang, "unit.mib", &vars),
        2 => t(lang, "unit.gib", &vars),
        _ => t(lang, "unit.tib", &vars),
    }
}

/// "850 ms", "12 s", "3 min 5 s" in `lang` (`unit.*`, shared with the window).
#[must_use]
pub fn format_duration(lang: Lang, ms: u64) -> String {
    match ms {
        0..1000 => t(lang, "unit.ms", &[("n", &ms.to_string())]),
        1000..60_000 => t(lang, "unit.s", &[("n", &(ms / 1000).to_string())]),
        _ => t(lang, "unit.min_s", &[("m", &(ms / 60_000).to_string()), ("s", &((ms % 60_000) / 1000).to_string())]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_locale_name_gives_its_language_by_its_first_two_letters() {
        for (locale, lang) in [
            ("ru-RU", Lang::Ru),
            ("ru_RU.UTF-8", Lang::Ru),
            ("RU", Lang::Ru),
            ("tr_TR", Lang::Tr),
            ("fr-CA", Lang::Fr),
            ("fr_BE.UTF-8@euro", Lang::Fr),
            ("th-TH-u-nu-thai", Lang::Th),
            ("en-US", Lang::En),
            ("de_DE.UTF-8", Lang::En),
            ("C", Lang::En),
            ("POSIX", Lang::En),
            ("", Lang::En),
            ("rus", Lang::En),
        ] {
            assert_eq!(from_locale(locale), lang, "{locale:?}");
        }
    }

    #[test]
    fn a_choice_names_its_language_and_auto_follows_the_system() {
        assert_eq!(resolve("ru"), Lang::Ru);
        assert_eq!(resolve("th"), Lang::Th);
        assert_eq!(resolve("en"), Lang::En);
        assert_eq!(resolve("auto"), system());
        assert_eq!(resolve("de"), system(), "not a language of ours: the system's");
        assert_eq!(Lang::ALL.map(Lang::native_name), ["English", "Русский", "Türkçe", "Français", "ไทย"]);
        assert_eq!(Lang::ALL.map(|l| Lang::from_code(l.code())), Lang::ALL.map(Some));
    }

    #[test]
    fn placeholders_are_filled_once_and_unknown_ones_stay() {
        assert_eq!(fill("Backing up {job}…", &[("job", "tg")]), "Backing up tg…");
        assert_eq!(fill("{a} and {b}, {a}", &[("a", "1"), ("b", "{a}")]), "1 and {a}, 1");
        assert_eq!(fill("{missing} {", &[("a", "1")]), "{missing} {");
        assert_eq!(fill("no braces", &[]), "no braces");
    }

    #[test]
    fn every_catalog_parses_and_a_missing_key_falls_back_to_english() {
        for l in Lang::ALL {
            serde_json::from_str::<HashMap<String, String>>(l.source()).unwrap_or_else(|e| panic!("{}.json: {e}", l.code()));
        }
        assert_eq!(t(Lang::En, "tray.quit", &[]), "Quit");
        assert_eq!(t(Lang::Ru, "tray.quit", &[]), "Выход");
        assert_eq!(t(Lang::Ru, "tray.backing_up", &[("job", "tg")]), "Создаётся копия tg…");
        let unknown = "no.such.key";
        assert_eq!(t(Lang::Th, unknown, &[]), unknown, "unknown everywhere: the key");
        // A key a translation lacks: English.
        let en_only = catalog(Lang::En).keys().find(|k| !catalog(Lang::Fr).contains_key(*k));
        if let Some(k) = en_only {
            assert_eq!(t(Lang::Fr, k, &[]), t(Lang::En, k, &[]));
        }
    }

    #[test]
    fn dates_durations_and_sizes_follow_the_language() {
        use chrono::TimeZone as _;
        let at = chrono::Utc.with_ymd_and_hms(2026, 11, 20, 2, 5, 0).unwrap();
        assert_eq!(format_time(Lang::En, "format.datetime", &at), "2026-11-20 02:05");
        assert_eq!(format_time(Lang::Ru, "format.datetime", &at), "20.11.2026 02:05");
        assert_eq!(format_time(Lang::Th, "format.datetime", &at), "20/11/2569 02:05", "the Buddhist era");
        assert_eq!((month_short(Lang::En, 11), month_short(Lang::Ru, 11)), ("Nov".to_string(), "нояб.".to_string()));
        assert_eq!(format_bytes(Lang::En, 12_345_678), "11.8 MiB");
        assert_eq!(format_bytes(Lang::Ru, 12_345_678), "11,8 МиБ");
        assert_eq!((format_bytes(Lang::En, 512), format_bytes(Lang::En, 1_610_612_736)), ("512 B".into(), "1.5 GiB".into()));
        for b in [0, 1023, 1024, 1536, 10_485_760, 5 << 40] {
            assert_eq!(format_bytes(Lang::En, b), nightjar_core::units::format_bytes(b), "the same as the CLI's in English");
        }
        assert_eq!((format_duration(Lang::En, 850), format_duration(Lang::En, 4200), format_duration(Lang::En, 185_000)), ("850 ms".into(), "4 s".into(), "3 min 5 s".into()));
        assert_eq!(format_duration(Lang::Ru, 185_000), "3 мин 5 с");
    }
}
