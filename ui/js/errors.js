// Loaded first, as a classic script: shows any unexpected script error in
// the page's error banner instead of leaving a silently broken window.
(function () {
  /** @param {string} text */
  function report(text) {
    var el = document.querySelector('[data-testid="banner-error"]');
    if (!el) return;
    // i18n.js puts t() here once it is loaded; before that the sentence is English.
    var t = /** @type {any} */ (window).nightjarT;
    el.textContent = t ? t('app.script_error', { error: text }) : 'Something went wrong in the window: ' + text + ' Reopen the window; if it stays, see the Logs view.';
    el.hidden = false;
  }
  window.addEventListener('error', function (e) {
    var t = /** @type {any} */ (e.target);
    report(e.message ? e.message + ' (' + (e.filename || '').split('/').pop() + ':' + e.lineno + ')' : 'could not load ' + ((t && (t.src || t.href)) || 'a file') + '.');
  }, true);
  window.addEventListener('unhandledrejection', function (e) {
    var r = /** @type {any} */ (e).reason;
    report((r && r.message) || String(r));
  });
})();
