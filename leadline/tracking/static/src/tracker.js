// PulseGate face: window.PulseGateSession (alias window.PulseGate). A script tag with
// data-site-key starts it; otherwise call PulseGateSession.init({siteKey, endpoint, consentMode}).
// The endpoint defaults to the origin this script was loaded from. init({fingerprint: true}) (or
// data-fingerprint="true") turns on the device fingerprint, sent with consent only (core.js).
// getVisitorId and getLandingUrl (the page the script was loaded on, with its click IDs) are
// for the forms (form.js) to pass on with a submission.

'use strict';

import {W, D, L, cfg, tracker} from './core.js';

var me = D.currentScript, t = null, land = L.href;
var PG = {
  init: o => {
    var c = cfg(me, 'site-key'), k;
    for (k in o) if (o[k] != null) c[k] = o[k];
    if (!(t && t.live)) t = tracker(c);
    return PG;
  },
  trackEvent: (type, data, opt) => t ? t.trackEvent(type, data, opt) : null,
  flush: () => { if (t) t.flush(); },
  setConsent: f => { if (t) t.setConsent(f); },
  getSessionId: () => t ? t.getSessionId() : null,
  getVisitorId: () => t ? t.getVisitorId() : null,
  // The consent flags now (true, false, or null for not asked yet): the chat widget stores
  // nothing until analytics_storage is true.
  getConsent: () => t ? t.getConsent() : null,
  getLandingUrl: () => t ? land : null
};
if (!W.PulseGateSession) {
  W.PulseGateSession = W.PulseGate = PG;
  if (me && me.getAttribute('data-site-key')) PG.init({});
}

// For /pulse.js.
export {PG};
