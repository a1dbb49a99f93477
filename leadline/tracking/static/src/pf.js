// Form capture for the Octanist pixel, /pf.js: data-forms="true" and OCT.submitLeadForm
// (docs/tracker.md). The pixel (pixel.js) loads it from its own origin, once, and leaves in
// OCT._pf its settings and the calls made before this came: [settings, [fields, options]...].
// From here on each call is pushed there and answered here: true when sent. What is never sent
// (passwords, card data, captcha answers, CSRF tokens, octa_sid) the server leaves out again,
// by the same rules (leadline/forms/sensitive.py: keep the two in step).

'use strict';

var W = window, D = document, N = navigator, L = location, q = W.OCT && W.OCT._pf, url, last, at;
// Longest value sent (longer ones are cut), most fields sent.
var MAX = 2000, FIELDS = 100;
// Field names, in lower case with all but letters and digits taken out, never sent: the
// server's SENSITIVE_NAME, character for character.
var NAMES = /pass(word|wd|phrase)|^pass$|^pwd$|creditcard|debitcard|^card$|card(num|no|cvc|cvv|csc|code|exp|sec|holder|verif)|^cc(num|exp|cvc|cvv|csc|name|type|given|family|additional)|cvc|cvv|^csc$|exp(iry|iration|date)|^exp(month|year|mm|yy)|captcha|turnstile|altcha|csrf|xsrf|token$|nonce|^formkey$|^octasid$/;
// Controls whose values are never lead data.
var TYPES = /^(password|file|submit|button|reset|image|search)$/;
// autocomplete tokens that say card data (cc-number, cc-csc, cc-exp, ...), a password or a
// one-time code.
var AUTO = /(^|\s)(cc-|current-password|new-password|one-time-code)/;

var cut = (s, n) => ('' + s).slice(0, n);
var bad = n => NAMES.test(('' + n).toLowerCase().replace(/[^a-z0-9]/g, ''));

// A payment card number: 13-19 digits, spaces or dashes between them, not starting with 0 (no
// card does; a telephone number dialled with 00 does), that pass the Luhn check.
function card(v) {
  var d = v.replace(/[ -]/g, ''), s = 0;
  if (!/^[1-9][0-9 -]*[0-9]$/.test(v) || d.length < 13 || d.length > 19) return false;
  [...d].reverse().forEach((x, i) => s += i % 2 ? (x * 2 > 9 ? x * 2 - 9 : x * 2) : +x);
  return s % 10 == 0;
}

// One value under a name, unless either is one never sent; a name's values join with ' | '.
function add(out, n, v) {
  n = ('' + n).trim().slice(0, 64);
  v = v == null || typeof v == 'object' ? '' : ('' + v).trim();
  if (n && v && !bad(n) && !card(v)) out[n] = n in out ? out[n] + ' | ' + v : v;
}

// A form's controls as the browser would send them (disabled, unchecked and nameless ones
// left out; a control without a name goes by its id), without the ones never sent.
function read(f, out) {
  [].forEach.call(f.elements, e => {
    var t = e.type, n = e.name || e.id;
    if (!n || e.disabled || !/^(INPUT|SELECT|TEXTAREA)$/.test(e.tagName) || TYPES.test(t)) return;
    if (/^(checkbox|radio)$/.test(t) && !e.checked || bad(e.id) || AUTO.test(e.getAttribute('autocomplete'))) return;
    if (e.closest('[data-octanist-ignore]')) return;
    (t == 'select-multiple' ? [...e.selectedOptions].map(o => o.value) : [e.value]).forEach(v => add(out, n, v));
  });
}

// Sends a form (an element), a FormData or a plain object of name: value (a list for several
// values); false when nothing is left to send. A double click submits a form twice within
// moments: `auto` sends that once.
function submit(f, x, auto) {
  var out = Object.create(null), form = f instanceof HTMLFormElement, fields = Object.create(null), s, p;
  if (Object(f) !== f) return false;
  if (form) read(f, out);
  else if (f instanceof FormData) f.forEach((v, n) => add(out, n, v));
  else Object.keys(f).forEach(n => [].concat(f[n]).forEach(v => add(out, n, v)));
  Object.keys(out).slice(0, FIELDS).forEach(n => fields[n] = cut(out[n], MAX));
  if (!Object.keys(fields).length) return false;
  x = Object(x);
  s = JSON.stringify({
    fields, formIdentifier: x.formIdentifier ? cut(x.formIdentifier, 64) : form && (f.getAttribute('id') || f.getAttribute('name')) || null,
    path: cut(x.path || L.pathname, 2048), title: cut(x.title || D.title, 512),
    sessionId: W.OCT.getSessionId && W.OCT.getSessionId() || null, domain: L.origin
  });
  if (auto && s == last && Date.now() - at < 2e3) return true;
  last = s;
  at = Date.now();
  // As the tracker sends: sendBeacon survives the page going away (the form's own submission
  // is navigating it); text/plain, so there is no preflight.
  p = k => fetch(url, {method: 'POST', body: s, keepalive: k});
  N.sendBeacon(url, s) || p(s.length < 6e4).catch(() => p()).catch(() => {});
  return true;
}

if (q && !q.on) {
  var c = q[0];
  url = String(c.endpoint || c.origin).replace(/\/+$/, '') + '/api/integrations/incoming/pixel/' + encodeURIComponent(c.siteKey) + '/';
  q.on = 1;
  q.splice(1).forEach(a => submit(a[0], a[1]));
  q.push = a => submit(a[0], a[1]);
  // Every form of the page, those added later too, seen in the capture phase (a handler that
  // stops the event does not hide it); nothing here prevents or holds the form's own
  // submission. Forms of /form.js send themselves.
  if (c.forms) D.addEventListener('submit', e => {
    var f = e.target;
    f instanceof HTMLFormElement && !f.closest('[data-octanist-ignore],.pg-form') && submit(f, 0, 1);
  }, true);
}
