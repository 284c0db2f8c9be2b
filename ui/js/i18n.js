// The window's words and formats in the chosen language. The catalogs are
// ui/i18n/<lang>.json (flat "area.key": "text" with {name} placeholders);
// the shell embeds them and hands the current one over IPC, because the
// window's CSP allows connections to the IPC only (no fetch of its own files).
//
//   t('area.key', { name })   the text, {name} filled in; a key missing in the
//                             language falls back to English
//   tp('area.key', n, vars)   plural: 'area.key.one' / '.few' / '.many' / '.other'
//                             by Intl.PluralRules of the language; {n} is n formatted
//   apply(root)               fills data-i18n (text), data-i18n-aria-label,
//                             data-i18n-title and data-i18n-placeholder
//
// Keys are always written literally (never built from pieces) so that
// tests/i18n.rs finds every key in use.

/** The languages of the window and the locale each formats with (Thai keeps Latin digits). */
export const LOCALES = /** @type {Record<string, string>} */ ({ en: 'en-US', ru: 'ru-RU', tr: 'tr-TR', fr: 'fr-FR', th: 'th-TH-u-nu-latn' });

let lang = 'en';
let locale = LOCALES.en;
/** @type {Record<string, string>} */
let messages = {};
/** @type {Record<string, string>} */
let english = {};
/** @type {Map<string, any>} */
let cache = new Map();

/**
 * Sets the language (a code of LOCALES) and its catalog; `en` is the English catalog for fallbacks.
 * Sets <html lang>. Call apply() after to redraw the static texts.
 * @param {string} code @param {Record<string, string>} catalog @param {Record<string, string>} en
 */
export function setLanguage(code, catalog, en) {
  lang = LOCALES[code] ? code : 'en';
  locale = LOCALES[lang];
  english = en || {};
  messages = lang === 'en' ? english : (catalog || {});
  cache = new Map();
  document.documentElement.lang = lang;
}

// errors.js (a classic script, loaded first) words its banner with this.
/** @type {any} */ (window).nightjarT = t;

/** The current language's code ("en", "ru", …). */
export const language = () => lang;
/** The current BCP 47 locale the formats use. */
export const localeTag = () => locale;

/** @param {string} text @param {Record<string, unknown>} [vars] */
function fill(text, vars) {
  if (!vars) return text;
  return text.replace(/\{(\w+)\}/g, (m, k) => (Object.prototype.hasOwnProperty.call(vars, k) ? String(vars[k]) : m));
}

/** The text of `key` with `vars` filled in. @param {string} key @param {Record<string, unknown>} [vars] */
export function t(key, vars) {
  const text = messages[key] ?? english[key];
  return text === undefined ? key : fill(text, vars);
}

/**
 * The plural form of `key` for `n` (`key.one`, `key.few`, `key.many`, `key.other`, as the language has them),
 * with `{n}` the number in the locale's format and `vars` filled in.
 * @param {string} key @param {number} n @param {Record<string, unknown>} [vars]
 */
export function tp(key, n, vars) {
  const all = { n: number(n), ...(vars || {}) };
  const form = cached(`pr`, () => new Intl.PluralRules(locale)).select(n);
  let text = messages[`${key}.${form}`] ?? messages[`${key}.other`];
  if (text === undefined) {
    const enForm = new Intl.PluralRules(LOCALES.en).select(n);
    text = english[`${key}.${enForm}`] ?? english[`${key}.other`];
  }
  return text === undefined ? key : fill(text, all);
}

/** Fills the static texts under `root` from their data-i18n* attributes. @param {ParentNode} [root] */
export function apply(root = document) {
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(/** @type {HTMLElement} */ (el).dataset.i18n || '');
  for (const [attr, name] of [['data-i18n-aria-label', 'aria-label'], ['data-i18n-title', 'title'], ['data-i18n-placeholder', 'placeholder']]) {
    for (const el of root.querySelectorAll(`[${attr}]`)) el.setAttribute(name, t(el.getAttribute(attr) || ''));
  }
}

/** @template T @param {string} id @param {() => T} make @returns {T} */
function cached(id, make) {
  if (!cache.has(id)) cache.set(id, make());
  return cache.get(id);
}

/** A number in the locale's format ("1,234", "1 234", "1.234"). @param {number} n @param {Intl.NumberFormatOptions} [opts] */
export function number(n, opts) {
  const key = `nf${JSON.stringify(opts || {})}`;
  return cached(key, () => new Intl.NumberFormat(locale, opts)).format(n);
}

/** A date/time in the locale's format. @param {Date} d @param {Intl.DateTimeFormatOptions} opts */
export function dateTime(d, opts) {
  const key = `df${JSON.stringify(opts)}`;
  return cached(key, () => new Intl.DateTimeFormat(locale, opts)).format(d);
}

/** "today", "yesterday", "tomorrow" (or "in 3 days") in the language. @param {number} days */
export function relativeDay(days) {
  return cached('rtf', () => new Intl.RelativeTimeFormat(locale, { numeric: 'auto' })).format(days, 'day');
}
