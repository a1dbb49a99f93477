// Octanist pixel face: <script src="https://HOST/p" data-id="SITE_KEY" data-consent-mode="auto">.
// Exposes window.OCT and gives every form a hidden octa_sid input carrying the session id, so a
// form posted to the site's own backend can pass it on as sessionId.
// data-fingerprint="true" turns on the device fingerprint, sent with consent only (core.js).
// Form capture, data-forms="true" and OCT.submitLeadForm, is /pf.js: see the queue below.

'use strict';

import {W, D, cfg, tracker} from './core.js';

var me = D.currentScript, c = cfg(me, 'id'), q = [c], t, s;

// Called once the session id is known.
function fill() {
  D.querySelectorAll('form').forEach(f => {
    (f.querySelector('input[name=octa_sid]') || Object.assign(f.appendChild(D.createElement('input')), {type: 'hidden', name: 'octa_sid'})).value = t.getSessionId();
  });
}

// /pf.js, once, from the pixel's own origin: with data-forms="true" at once, else at the first
// submitLeadForm. It finds the settings and the calls made before it came in OCT._pf
// ([settings, [fields, options]...]), and from then on takes each call pushed there, answering
// for it: until then the stub below answers true for any object with something in it.
var pf = () => s = s || (D.head.appendChild(D.createElement('script')).src = c.origin + '/pf.js');

if (!(W.OCT && W.OCT.getSessionId)) {
  t = tracker(Object.assign(c, {
    onSid: () => {
      fill();
      // Forms rendered later (SPAs, pop-ups) get the field too.
      new MutationObserver(fill).observe(D.documentElement, {childList: true, subtree: true});
    }
  }));
  W.OCT = Object.assign(W.OCT || {}, {
    getSessionId: t.getSessionId, getConsent: t.getConsent, setConsent: t.setConsent, trackEvent: t.trackEvent, flush: t.flush,
    // Nothing at all without a live tracker (no site key, or Do Not Track honoured).
    submitLeadForm: (f, o) => !!(t.live && Object(f) === f && (f instanceof FormData ? [...f] : Object.keys(f)).length && q.push([f, o]) && pf()),
    _pf: q
  });
  t.live && c.forms && pf();
}
