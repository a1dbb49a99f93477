// Forms: renders a site's form from GET /forms/config and sends it to POST /lead.capture
// (docs/forms.md). Served alone as /form.js, and after the tracker as /pulse.js, where it is
// bundled into one function scope with core.js: all of it lives in the closure below, and only
// `renderForm` is a name of that scope.

'use strict';

var renderForm = (me => {
  var d = document, w = window, loc = location, seq = 0;
  // Landing-URL parameters sent with a submission under their own names: the click IDs and
  // UTM tags the server reads from a visit's landing URL.
  var TAGS = 'gclid dclid gbraid wbraid msclkid fbclid ttclid twclid rdt_cid sccid li_fat_id epik utm_source utm_medium utm_campaign utm_term utm_content utm_id'.split(' ');
  var HIDE = 'position:absolute;left:-10000px;top:auto;width:1px;height:1px;overflow:hidden';
  var origin = new URL(me && me.src || loc.href).origin;
  var warn = m => console.warn('leadline: ' + m);

  // An element with attributes (true: present, null/false: left out); `text` is its text.
  function el(tag, attrs, parent) {
    var e = d.createElement(tag), k, v;
    for (k in attrs) {
      v = attrs[k];
      if (k == 'text') e.textContent = v;
      else if (v != null && v !== false) e.setAttribute(k, v === true ? '' : v);
    }
    return parent ? parent.appendChild(e) : e;
  }

  // What the tracker on the page knows: /tracker.js and /pulse.js (PulseGateSession), or the
  // session id of /p (OCT). An older tracker without a getter gives null for it.
  function visit() {
    var t = w.PulseGateSession || {}, o = w.OCT || {};
    var get = (x, f) => typeof x[f] == 'function' && x[f]() || null;
    return {sid: get(t, 'getSessionId') || get(o, 'getSessionId'), vid: get(t, 'getVisitorId'), url: get(t, 'getLandingUrl')};
  }

  function tags(url) {
    var q, out = {};
    try {
      q = new URL(url, loc.href).searchParams;
    } catch (e) {
      return out;
    }
    TAGS.forEach(k => {
      var v = (q.get(k) || '').trim();
      if (v) out[k] = v.slice(0, 512);
    });
    return out;
  }

  // Shows or clears a control's error, in the element its aria-describedby names.
  function check(c, err) {
    var ok;
    if (c.re) c.setCustomValidity(c.value && !c.re.test(c.value) ? 'Please match the requested format.' : '');
    ok = c.checkValidity();
    err.textContent = ok ? '' : c.validationMessage;
    err.hidden = ok;
    if (ok) c.removeAttribute('aria-invalid'), c.removeAttribute('aria-describedby');
    else c.setAttribute('aria-invalid', 'true'), c.setAttribute('aria-describedby', err.id);
    return ok;
  }

  function build(box, f, o, ep) {
    var k = 'pg-form-' + ++seq + '-', shown = Date.now(), busy = 0, pairs = [], hp, status;
    var form = el('form', {class: 'pg-form', novalidate: true, 'aria-labelledby': f.title ? k + 'title' : null});
    if (f.title) el('h2', {id: k + 'title', class: 'pg-title', text: f.title}, form);

    // One visible control in its wrapper: label first, a checkbox's after it; then its error.
    function control(c, label, required, cls) {
      var wrap = el('div', {class: 'pg-field ' + cls}, form), l = el('label', {for: c.id, text: label});
      if (required) el('span', {class: 'pg-required', 'aria-hidden': 'true', text: ' *'}, l);
      c.type == 'checkbox' ? (wrap.appendChild(c), wrap.appendChild(l)) : (wrap.appendChild(l), wrap.appendChild(c));
      var err = el('div', {id: c.id + '-error', class: 'pg-error', hidden: true}, wrap);
      pairs.push([c, err]);
      c.addEventListener('input', () => c.hasAttribute('aria-invalid') && check(c, err));
    }

    f.fields.forEach((x, i) => {
      var t = x.type || 'text', id = k + i, c;
      if (t == 'hidden') return el('input', {type: 'hidden', name: x.name, value: x.value || ''}, form);
      var a = {id, name: x.name, required: !!x.required, placeholder: t == 'select' || t == 'checkbox' ? null : x.placeholder, maxlength: t == 'select' || t == 'checkbox' ? null : x.max_length};
      if (t == 'textarea') c = el('textarea', a);
      else if (t == 'select') {
        c = el('select', a);
        el('option', {value: '', text: x.placeholder || ''}, c);
        x.options.forEach(p => {
          var v = typeof p == 'string' ? p : p.value;
          el('option', {value: v, text: typeof p == 'string' ? p : p.label || v, selected: v === x.value}, c);
        });
      } else {
        c = el('input', Object.assign(a, {type: t, pattern: t == 'checkbox' ? null : x.pattern, autocomplete: t == 'email' ? 'email' : t == 'tel' ? 'tel' : null}));
        if (t == 'checkbox') c.checked = x.value == 'true';
        // Browsers compile `pattern` with the v flag and ignore one it refuses, such as
        // [0-9 +()-] (v wants ( ) - escaped in a class), which the server's check accepts:
        // such a pattern is checked here, as browsers did before the v flag.
        else if (x.pattern) try {
          new RegExp(x.pattern, 'v');
        } catch (e) {
          try {
            c.re = new RegExp('^(?:' + x.pattern + ')$', 'u');
          } catch (e) {}
        }
      }
      if (x.value != null && t != 'select' && t != 'checkbox') c.value = x.value;
      control(c, x.label, x.required, 'pg-' + t);
    });
    if (f.consent_text) control(el('input', {type: 'checkbox', id: k + 'consent', name: '__pg_consent', required: true}), f.consent_text, 1, 'pg-consent');

    // The honeypot: out of sight and out of the tab order; a person leaves it empty.
    // Styled through CSSOM, which a Content-Security-Policy without 'unsafe-inline' allows.
    var trap = el('div', {class: 'pg-hp', 'aria-hidden': 'true'}, form);
    trap.style.cssText = HIDE;
    el('label', {for: k + 'website', text: 'Website'}, trap);
    hp = el('input', {type: 'text', id: k + 'website', name: '__pg_website', tabindex: '-1', autocomplete: 'off', 'aria-hidden': 'true'}, trap);

    el('button', {type: 'submit', class: 'pg-submit', text: f.submit_label || 'Send'}, form);
    status = el('div', {class: 'pg-status', role: 'alert'}, form);

    form.addEventListener('submit', e => {
      var bad, data = {}, v, g, n;
      e.preventDefault();
      if (busy) return;
      bad = pairs.filter(p => !check(p[0], p[1]));
      if (bad.length) {
        status.textContent = 'Please correct the marked fields.';
        return bad[0][0].focus();
      }
      // A preview (the dashboard's) checks the fields and sends nothing: no lead is made.
      if (o.preview) return status.textContent = 'Preview only: the form is filled in correctly, and nothing was sent.';
      [].forEach.call(form.elements, c => {
        if (c.name && c != hp) data[c.name] = c.type == 'checkbox' ? c.checked : c.value;
      });
      v = visit();
      g = tags(v.url || loc.href);
      for (n in g) if (!(n in data)) data[n] = g[n];
      Object.assign(data, {siteKey: o.siteKey, formId: o.formId, __pg_hp: hp.value, __pg_tts: Math.round((Date.now() - shown) / 100) / 10});
      if (v.vid) data.__visitor_id = v.vid;
      if (v.sid) data.__session_id = v.sid;
      busy = 1;
      form.setAttribute('aria-busy', 'true');
      status.textContent = '';
      fetch(ep + '/lead.capture', {method: 'POST', headers: {'Content-Type': 'application/json', Accept: 'application/json'}, body: JSON.stringify(data)})
        .then(r => r.json().catch(() => ({})).then(b => {
          if (!r.ok || !b.success) throw b.error || 0;
          if (f.thank_you_url) return loc.assign(f.thank_you_url);
          // Only the message stays, focused, so it is read out and the focus is not lost.
          form.replaceChildren(status);
          status.tabIndex = -1;
          status.textContent = f.thank_you_message || 'Thank you.';
          status.focus();
        }))
        .catch(e => status.textContent = typeof e == 'string' && e || 'The form could not be sent. Please try again.')
        .then(() => (busy = 0, form.removeAttribute('aria-busy')));
    });
    box.replaceChildren(form);
    return form;
  }

  // Resolves to the rendered <form>, or to null when there is none to show; never rejects.
  function render(o) {
    var ep, box;
    o = Object.assign({}, o);
    ep = String(o.endpoint || origin).replace(/\/+$/, '');
    try {
      box = typeof o.target == 'string' ? d.querySelector(o.target) : o.target;
    } catch (e) {}
    if (!box || !box.appendChild) return warn('no element ' + o.target + ' to render the form in'), Promise.resolve(null);
    // A definition given (the dashboard's preview) is rendered without asking the server.
    return (o.form_json ? Promise.resolve(o.form_json) : fetch(ep + '/forms/config?' + new URLSearchParams({siteKey: o.siteKey || '', formId: o.formId || ''}))
      .then(r => r.json().catch(() => ({})).then(b => {
        if (!r.ok || !b.form_json) throw b.error || 'the server answered ' + r.status;
        return b.form_json;
      })))
      .then(f => build(box, f, o, ep))
      .catch(e => {
        warn('form ' + o.formId + ' not shown: ' + e);
        box.replaceChildren(el('p', {class: 'pg-unavailable', text: 'This form is not available.'}));
        return null;
      });
  }

  if (!w.PulseGateForms) w.PulseGateForms = {render};
  // <script src=".../form.js" data-site-key data-form-id [data-target] [data-endpoint]>
  var a = n => me && me.getAttribute('data-' + n), sel = a('target');
  if (a('form-id')) {
    var go = t => render({siteKey: a('site-key'), formId: a('form-id'), endpoint: a('endpoint'), target: t});
    // No target: right after the tag; a target later in the page: once it is parsed.
    if (!sel) go(me.parentNode.insertBefore(el('div', {class: 'pg-form-box'}), me.nextSibling));
    else if (d.readyState == 'loading') d.addEventListener('DOMContentLoaded', () => go(sel));
    else go(sel);
  }
  return render;
})(document.currentScript);

// For /pulse.js.
export {renderForm};
