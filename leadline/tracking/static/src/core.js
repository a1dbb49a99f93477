// Tracker core, shared by /tracker.js (PulseGate) and /p (Octanist pixel). Each face imports
// it and esbuild bundles the two into one function scope (package.json, `npm run build`), so
// nothing here becomes a page global.
// The wire protocol is a public API (docs/tracker.md): change it only by adding.

'use strict';

var W = window, D = document, N = navigator, L = location;
// Consent flags, in the order the mapping tables below use.
var K = ['ad_storage', 'ad_user_data', 'ad_personalization', 'analytics_storage'];
var BATCH = 100, VID = '_ll_vid', SID = '_ll_sid', FP = '_pg_fp';

var now = () => Date.now();
// Lengths the endpoints accept: one field too long would refuse a whole batch.
var cut = (s, n) => ('' + s).slice(0, n);
var path = () => cut(L.pathname + L.search, 2048);
var on = (t, e, f, o) => t.addEventListener(e, f, o || true);
var nop = () => {};
var GD = /^(granted|denied)$/;
// A flag per consent key: table[i] lists what must all pass `ok` for K[i] to be granted.
var flags = (table, ok) => {
  var f = {};
  K.forEach((k, i) => f[k] = table[i].every(ok));
  return f;
};

// IAB TCF purposes behind each flag (Leadline is first party: there is no IAB vendor to check):
//   ad_storage, analytics_storage <- 1 (store and/or access information on a device)
//   ad_user_data <- 1 and 7 (measure advertising performance)
//   ad_personalization <- 3 and 4 (create and use personalised advertising profiles)
var TCF = [[1], [1, 7], [3, 4], [1]];
// IAB GPP US sections are opt-out: storage stays allowed; opting out of sale or sharing denies
// ad_user_data, of sharing or targeted advertising denies ad_personalization.
var USO = [[], ['SaleOptOut', 'SharingOptOut'], ['SharingOptOut', 'TargetedAdvertisingOptOut'], []];

// crypto.getRandomValues works on plain http pages too, unlike crypto.randomUUID.
var rnd = n => crypto.getRandomValues(new Uint32Array(n));
// Event ids start with the time, so the server's index of them grows at its end.
var rid = () => rnd(2).reduce((s, x) => s + (x + 2 ** 32).toString(16).slice(1), now().toString(16));

function cookie(n) {
  var m = D.cookie.match('(?:^|; )' + n + '=([^;]*)');
  return m && decodeURIComponent(m[1]);
}

// The _fbp cookie for 90 days on the widest domain the browser accepts (browsers refuse
// public suffixes), so www. and the bare domain share it, as Meta's own pixel does.
function setFbp(v) {
  var h = L.hostname.split('.'), i = h.length - 1, e = '_fbp=' + v + '; path=/; max-age=7776000; samesite=lax';
  while (i-- > 0 && cookie('_fbp') != v) D.cookie = e + '; domain=' + h.slice(i).join('.');
  if (cookie('_fbp') != v) D.cookie = e;
}

// Get (no v), remove (v null) or set. Storage disabled or full: carry on from memory.
function store(k, v, s) {
  try {
    s = localStorage;
    return v === undefined ? s.getItem(k) : v === null ? s.removeItem(k) : s.setItem(k, v);
  } catch (e) {}
}

// A short CSS selector of the clicked element: up to three levels, stopping at an id.
function sel(el) {
  var out = [], c, esc = W.CSS ? CSS.escape : x => x;
  for (; el && el.tagName && !out[2]; el = el.parentElement) {
    c = typeof el.className == 'string' && el.className.trim();
    out.unshift(el.tagName.toLowerCase() + (el.id ? '#' + esc(el.id) : c ? '.' + c.split(/\s+/).slice(0, 2).map(esc).join('.') : ''));
    if (el.id) break;
  }
  return out.join('>').slice(0, 255);
}

// What a script tag asks for; `key` names the attribute carrying the site key. `origin` is
// where the script came from: fp.js is there, and so is the endpoint unless one is given.
function cfg(s, key) {
  var a = n => s && s.getAttribute('data-' + n);
  return {
    siteKey: a(key), endpoint: a('endpoint'), origin: new URL(s && s.src || L).origin,
    consentMode: a('consent-mode'), respectDnt: a('respect-dnt') == 'true', fingerprint: a('fingerprint') == 'true', forms: a('forms') == 'true'
  };
}

function tracker(o) {
  var mode = GD.test(o.consentMode) ? o.consentMode : 'auto',
    auto = mode == 'auto', dnt = N.doNotTrack == '1', gpc = N.globalPrivacyControl === true,
    sk = o.siteKey, ep = String(o.endpoint || o.origin).replace(/\/+$/, ''),
    c = {},
    sid = null, vid = null, fp = null, fq, q = [], dropped = 0, asked = 0, busy = 0, fails = 0, retry = 0,
    t0 = now(), last = t0, cur = path(), depth = 0, maxScroll = 0, clicks = 0, st = 0,
    api = {trackEvent: nop, flush: nop, setConsent: nop, getSessionId: () => sid, getVisitorId: () => vid, getConsent: () => Object.assign({}, c)};
  if (!sk) return console.warn('leadline: no site key'), api;
  // The site asked to honour Do Not Track and Global Privacy Control: send nothing at all.
  if (o.respectDnt && (dnt || gpc)) return api;
  K.forEach(k => c[k] = auto ? null : mode == 'granted');
  c.source = auto ? 'none' : 'site';

  var can = k => c[k] === true;
  var ev = (type, data) => ({
    id: rid(), type: cut(type, 64) || 'event', ts: last = now(), url: path(),
    data: data == null ? {} : data.constructor == Object ? data : {value: data}
  });
  var enqueue = e => {
    // The queue keeps the newest 500.
    if (q.push(e) > 500) q.shift(), dropped++;
    if (q.length >= BATCH) flush();
  };
  var push = (t, d) => enqueue(ev(t, d));

  // sendBeacon survives the page going away; fetch keepalive covers what it refuses, and a
  // plain fetch a full keepalive quota while the page is still open. String bodies go out as
  // text/plain;charset=UTF-8: a simple request, no CORS preflight.
  var post = (p, s, k) => fetch(ep + '/track/' + p, {method: 'POST', body: s, keepalive: k});
  function send(p, body) {
    var s = JSON.stringify(body);
    N.sendBeacon(ep + '/track/' + p, s) || post(p, s, s.length < 6e4).catch(() => post(p, s)).catch(nop);
  }

  function persist() {
    if (can('analytics_storage')) {
      vid && store(VID, vid);
      fp && store(FP, fp);
      sid && store(SID, JSON.stringify([sid, last]));
    }
  }

  // GA4 ids from _ga (GA1.1.<a>.<b>) and _ga_<ID> (GS1.1.<session>... or GS2.1.s<session>$...).
  function ga() {
    var a = can('ad_storage') && (cookie('_ga') || '').split('.'), b = a && D.cookie.match(/(?:^|; )_ga_[^=]+=GS\d\.\d\.s?(\d+)/);
    return {clientId: a && a.length > 3 ? a.slice(-2).join('.') : null, sessionId: b ? b[1] : null};
  }

  function fbp() {
    var v = can('ad_storage') && cookie('_fbp');
    if (v === null) setFbp(v = 'fb.1.' + now() + '.' + (1e9 + rnd(1)[0] % 9e9));
    return v || null;
  }

  // Asks for a session, unless one is on its way or a failure's back-off is not over yet.
  function start() {
    var s = null, f = null, r;
    if (sid || busy || now() < retry) return;
    // Storage is read only with consent: reading is access too.
    if (can('analytics_storage')) {
      // Device fingerprint, when the site turned it on and SHA-256 is at hand: the stored one
      // (the endpoint refuses anything but 64 hex digits), else fp.js from the script's own
      // origin, waited for 300 ms at most. One that comes later is sent next page: flush()
      // stores it.
      if (o.fingerprint && crypto.subtle && !fq && !/^[0-9a-f]{64}$/.test(fp = store(FP))) {
        fp = null;
        fq = D.head.appendChild(D.createElement('script'));
        fq.onload = () => __pgfp().then(h => (fp = h, start()));
        fq.src = o.origin + '/fp.js';
        return setTimeout(start, 300);
      }
      vid = store(VID);
      f = fp;
      try {
        r = JSON.parse(store(SID));
        // Resumed within 30 idle minutes.
        if (now() - r[1] < 18e5) s = r[0];
      } catch (e) {}
    }
    busy = asked = 1;
    post('session/start', JSON.stringify({
      siteKey: sk, url: cut(L.href, 8192), referrer: cut(D.referrer, 2048), title: cut(D.title, 512),
      screen: screen.width + 'x' + screen.height, language: N.language,
      timezone: Intl.DateTimeFormat().resolvedOptions().timeZone,
      consent: Object.assign({mode}, c), visitorId: vid, sessionId: s,
      ga: ga(), fbp: fbp(), dnt, gpc, fingerprintId: f
    }), 1)
      .then(r => r.json())
      .then(r => {
        if (!(sid = r.session_id)) throw 0;
        vid = r.visitor_id || vid;
        o.onSid && o.onSid(sid);
        flush();
      })
      // Try again at a later flush, backing off up to about five minutes.
      .catch(() => retry = now() + 5e3 * 2 ** Math.min(++fails, 6))
      .then(() => busy = 0);
  }

  function flush() {
    var b;
    if (!sid) return asked && start();
    while (q.length || dropped) {
      b = q.splice(0, dropped ? BATCH - 1 : BATCH);
      if (dropped) b.unshift(ev('queue_overflow', {dropped})), dropped = 0;
      send('events/batch', {siteKey: sk, sessionId: sid, events: b});
    }
    persist();
  }

  // Consent changes count in `auto` mode only: the fixed modes are the site's final word.
  function setC(f, src) {
    var had = can('analytics_storage'), was = JSON.stringify(c);
    K.forEach(k => {
      if (f[k] === true || f[k] == 'granted') c[k] = true;
      else if (f[k] === false || f[k] == 'denied') c[k] = false;
    });
    c.source = src;
    if (JSON.stringify(c) == was) return;
    // Withdrawn: forget what we stored.
    if (had && !can('analytics_storage')) store(VID, null), store(SID, null), store(FP, fp = null);
    // session/start has left with the old state: tell the server in the event stream.
    if (asked) persist(), push('consent_update', Object.assign({ga: ga(), fbp: fbp()}, c));
  }

  if (auto) {
    // Google Consent Mode v2, from dataLayer now and from every later push. Updates apply in
    // order. A `default` may be scoped to regions we cannot see from here, so among defaults a
    // denial sticks, until an update overrides it.
    var dl = W.dataLayer = W.dataLayer || [], gd = {}, gu = {}, dpush = dl.push;
    var gcm = e => {
      var p = e && e[2], u = e && e[1] == 'update', f = {};
      if (p && e[0] == 'consent' && (u || e[1] == 'default')) {
        K.forEach(k => {
          if (GD.test(p[k])) u ? gu[k] = p[k] : gd[k] = gd[k] == 'denied' ? 'denied' : p[k];
          f[k] = gu[k] || gd[k];
        });
        setC(f, 'gcm');
      }
    };
    [].forEach.call(dl, gcm);
    dl.push = function () {
      var r = dpush.apply(this, arguments);
      [].forEach.call(arguments, gcm);
      return r;
    };
    // IAB TCF 2.2 and GPP. Their stubs are usually defined before us; look again at load.
    var tcf, gpp;
    var cmp = () => {
      if (!tcf && (tcf = W.__tcfapi)) tcf('addEventListener', 2, (d, ok) => {
        if (ok && /^(tcloaded|useractioncomplete)$/.test(d.eventStatus)) {
          setC(flags(TCF, n => d.gdprApplies === false || d.purpose.consents[n]), 'tcf');
        }
      });
      if (!gpp && (gpp = W.__gpp)) gpp('addEventListener', (e, ok) => {
        var p = ok && e && e.pingData, s, t, us;
        if (p && p.signalStatus == 'ready') {
          s = p.parsedSections || {};
          t = [].concat(s.tcfeuv2)[0];
          us = [].concat(s[Object.keys(s).find(k => /^us/.test(k))])[0];
          // tcfeuv2 reads as TCF; applicable section -1 means no privacy law applies here.
          if (t && t.PurposeConsents) setC(flags(TCF, n => t.PurposeConsents[n - 1]), 'gpp');
          else if (us) setC(flags(USO, x => us[x] != 1), 'gpp');
          else if ((p.applicableSections || [])[0] == -1) setC(flags(TCF, () => 1), 'gpp');
        }
      });
    };
    cmp();
    on(W, 'load', cmp);
  }

  // Auto events.
  var measure = () => Math.min(100, Math.round((scrollY + innerHeight) / D.documentElement.scrollHeight * 100));
  var pv = () => push('page_view', {title: cut(D.title, 512)});
  // A tick later, so the router has set the title, and a push+replace pair counts once.
  var nav = () => setTimeout(() => {
    var to = path();
    if (to != cur) push('navigation', {from: cur, to}), cur = to, depth = 0, pv();
  });
  ['pushState', 'replaceState'].forEach(m => {
    var f = history[m];
    history[m] = function () {
      nav();
      return f.apply(this, arguments);
    };
  });
  on(W, 'popstate', nav);
  on(D, 'click', e => {
    clicks++;
    push('click', {x: Math.round(e.pageX), y: Math.round(e.pageY), selector: sel(e.target)});
  });
  on(W, 'scroll', () => st = st || setTimeout(() => {
    var d = measure();
    st = 0;
    if (d > depth) depth = d, maxScroll = Math.max(maxScroll, d), push('scroll', {depth: d});
  }, 250), {passive: true});
  // What the first screen shows counts as seen, without an event.
  on(W, 'load', () => depth = maxScroll = Math.max(maxScroll, measure()));
  on(D, 'visibilitychange', () => {
    var h = D.visibilityState;
    push('visibility_change', {state: h});
    h == 'hidden' && flush();
  });
  // session/end figures cover this page load (or bfcache restore); one arrives per pagehide.
  on(W, 'pagehide', () => {
    flush();
    sid && send('session/end', {siteKey: sk, sessionId: sid, durationMs: Math.min(now() - t0, 1e9), maxScroll, clicks});
  });
  on(W, 'pageshow', e => e.persisted && (t0 = now(), clicks = 0, maxScroll = depth, pv()));
  setInterval(flush, 5e3);

  pv();
  // A tick later, so consent the page sets right after the tag is read first.
  setTimeout(start);

  return Object.assign(api, {
    live: 1,
    trackEvent: (type, data, opt) => {
      var e = ev(type, data);
      // Over 16 KB the endpoint refuses the event and its whole batch.
      if (new Blob([JSON.stringify(e.data)]).size > 16384) e.data = {truncated: true};
      opt && opt.immediate && sid ? send('event', Object.assign({siteKey: sk, sessionId: sid}, e)) : enqueue(e);
      return e.id;
    },
    flush,
    setConsent: f => auto && setC(f || {}, 'manual')
  });
}

export {W, D, L, cfg, tracker};
