// Octanist pixel face: <script src="https://HOST/p" data-id="SITE_KEY" data-consent-mode="auto">.
// Exposes window.OCT and gives every form a hidden octa_sid input carrying the session id, so a
// form posted to the site's own backend can pass it on as sessionId.
// data-fingerprint="true" turns on the device fingerprint, sent with consent only (core.js).

var me = D.currentScript, t;

// Called once the session id is known.
function fill() {
  D.querySelectorAll('form').forEach(f => {
    var i = f.querySelector('input[name=octa_sid]');
    if (!i) {
      i = f.appendChild(D.createElement('input'));
      i.type = 'hidden';
      i.name = 'octa_sid';
    }
    i.value = t.getSessionId();
  });
}

if (!(W.OCT && W.OCT.getSessionId)) {
  t = tracker(Object.assign(cfg(me, 'id'), {
    onSid: () => {
      fill();
      // Forms rendered later (SPAs, pop-ups) get the field too.
      new MutationObserver(fill).observe(D.documentElement, {childList: true, subtree: true});
    }
  }));
  W.OCT = Object.assign(W.OCT || {}, {
    getSessionId: t.getSessionId, setConsent: t.setConsent, trackEvent: t.trackEvent, flush: t.flush
  });
}
