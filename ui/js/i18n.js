// The window's words: `t('area.key', { name })` from the catalog
// (ui/i18n/en.json), and `apply(root)` for elements marked with
// data-i18n (text), data-i18n-aria-label, data-i18n-title and
// data-i18n-placeholder. The catalog is a JSON module of the app's own
// origin (script-src 'self': the CSP stays as it is).

import en from '../i18n/en.json' with { type: 'json' };

/** @type {Record<string, string>} */
const catalog = en;

/**
 * The text of `key` with `{name}` placeholders filled from `vars`; the key
 * itself when the catalog lacks it (a test finds such keys).
 * @param {string} key @param {Record<string, string|number>} [vars]
 */
export function t(key, vars = {}) {
  const text = catalog[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (m, name) => (name in vars ? String(vars[name]) : m));
}

/** Fills the marked elements under `root` from the catalog. @param {ParentNode} [root] */
export function apply(root = document) {
  /** @type {[string, string|null][]} */
  const attrs = [['data-i18n', null], ['data-i18n-aria-label', 'aria-label'], ['data-i18n-title', 'title'], ['data-i18n-placeholder', 'placeholder']];
  for (const [attr, target] of attrs) {
    for (const el of root.querySelectorAll(`[${attr}]`)) {
      const text = t(el.getAttribute(attr) || '');
      if (target) el.setAttribute(target, text);
      else el.textContent = text;
    }
  }
}
