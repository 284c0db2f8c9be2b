//! Accessibility checks of the window: axe-core (pinned in
//! tests/desktop/package.json; `scripts/install-deps.sh` runs `npm ci` there)
//! injected into the page through WebDriver and run on what is shown.

use std::path::PathBuf;

use serde_json::Value;

use crate::webdriver::Session;

/// Impacts that fail a check (axe's scale: minor, moderate, serious, critical).
pub const FAILING: &[&str] = &["serious", "critical"];

/// tests/desktop/node_modules/axe-core/axe.min.js.
#[must_use]
pub fn axe_path() -> PathBuf {
    crate::desktop::helper_script("node_modules").join("axe-core").join("axe.min.js")
}

/// Loads axe-core into the page, once per page load. The script is run as
/// WebDriver script, so the window's CSP (`script-src 'self'`) is unchanged.
pub fn inject(s: &Session) {
    if s.execute("return typeof window.axe === 'object';", &[]).as_bool() == Some(true) {
        return;
    }
    let src = std::fs::read_to_string(axe_path())
        .unwrap_or_else(|e| panic!("axe-core is not installed at {} ({e}); run scripts/install-deps.sh", axe_path().display()));
    let kind = s.execute(&format!("{src}\n;return typeof window.axe;"), &[]);
    assert_eq!(kind.as_str(), Some("object"), "axe-core did not load into the page");
}

/// Runs axe-core (WCAG 2.0/2.1 A and AA rules and best practices) on the
/// page as shown now. Returns one line per violation whose impact is in
/// [`FAILING`]: `id (impact): help — selector: summary; …`.
#[must_use]
pub fn serious_violations(s: &Session) -> Vec<String> {
    inject(s);
    let script = "const done = arguments[arguments.length - 1];\
        axe.run(document, { resultTypes: ['violations'], runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] } })\
          .then((r) => done(JSON.stringify(r.violations)))\
          .catch((e) => done(JSON.stringify({ error: String(e) })));";
    let out = s.execute_async(script, &[]);
    let parsed: Value = serde_json::from_str(out.as_str().unwrap_or("null")).unwrap_or(Value::Null);
    if let Some(e) = parsed.get("error") {
        panic!("axe-core failed on the page: {e}");
    }
    parsed
        .as_array()
        .expect("axe-core's violations")
        .iter()
        .filter(|v| v["impact"].as_str().is_some_and(|i| FAILING.contains(&i)))
        .map(|v| {
            let nodes: Vec<String> = v["nodes"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|n| format!("{}: {}", n["target"], n["failureSummary"].as_str().unwrap_or("").replace('\n', " ")))
                .collect();
            format!("{} ({}): {} — {}", v["id"].as_str().unwrap_or("?"), v["impact"].as_str().unwrap_or("?"), v["help"].as_str().unwrap_or(""), nodes.join("; "))
        })
        .collect()
}
