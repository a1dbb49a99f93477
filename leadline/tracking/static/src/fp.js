// Device fingerprint, /fp.js. The tracker core (core.js) loads it only when the site turned
// fingerprinting on and analytics_storage consent is granted, and caches what it gives. It
// defines one global, window.__pgfp(): a Promise of the lowercase hex SHA-256 of the parts
// below joined with '|', each '' when missing or when reading it throws; of null where
// crypto.subtle is missing (pages that are not a secure context): no weaker hash is made up.
// It never rejects.

'use strict';

var W = window, D = document, N = navigator, S = screen;

// One part as a string: '' when it is missing or reading it throws.
function part(f) {
  try {
    var v = f();
    return v == null ? '' : '' + v;
  } catch (e) {
    return '';
  }
}

// Text and shapes on a canvas: fonts, anti-aliasing and the graphics stack show in the pixels.
function canvas() {
  var c = D.createElement('canvas'), x = c.getContext('2d');
  c.width = 280;
  c.height = 60;
  x.textBaseline = 'top';
  x.font = '16px Arial';
  x.fillStyle = '#f60';
  x.fillRect(125, 2, 70, 22);
  x.fillStyle = '#069';
  x.fillText('Leadline, fp \u00e9\u2603\ud83d\ude03', 4, 6);
  x.fillStyle = 'rgba(102,204,0,0.7)';
  x.font = '18px serif';
  x.fillText('Cwm fjordbank glyphs vext quiz', 8, 32);
  x.globalCompositeOperation = 'multiply';
  x.beginPath();
  x.arc(240, 30, 24, 0, 7);
  x.fill();
  return c.toDataURL();
}

// The GPU's vendor and renderer, as WEBGL_debug_renderer_info tells them.
function webgl() {
  var g, d, v = ['', ''];
  try {
    g = D.createElement('canvas').getContext('webgl');
    d = g.getExtension('WEBGL_debug_renderer_info');
    v = [part(() => g.getParameter(d.UNMASKED_VENDOR_WEBGL)), part(() => g.getParameter(d.UNMASKED_RENDERER_WEBGL))];
    // A page gets only a few live contexts: let this one go at once.
    g.getExtension('WEBGL_lose_context').loseContext();
  } catch (e) {}
  return v;
}

// A triangle wave through a compressor, rendered offline: the sum of the last 500 samples'
// magnitudes. '' without OfflineAudioContext, on an error, or after a second.
function audio() {
  return new Promise((ok, no) => {
    var c = new (W.OfflineAudioContext || W.webkitOfflineAudioContext)(1, 5000, 44100),
      o = c.createOscillator(), k = c.createDynamicsCompressor();
    setTimeout(no, 1e3);
    o.type = 'triangle';
    o.frequency.value = 1e4;
    k.threshold.value = -50;
    k.knee.value = 40;
    k.ratio.value = 12;
    k.attack.value = 0;
    k.release.value = 0.25;
    o.connect(k);
    k.connect(c.destination);
    o.start(0);
    c.startRendering().then(b => ok(b.getChannelData(0).slice(4500).reduce((s, x) => s + Math.abs(x), 0)), no);
  }).catch(() => '');
}

// The audio renders on its own thread while the rest is read.
W.__pgfp = () => {
  var a, parts;
  if (!(W.crypto && crypto.subtle)) return Promise.resolve(null);
  a = audio();
  parts = [
    () => N.userAgent, () => N.language, () => N.platform, () => N.hardwareConcurrency, () => N.deviceMemory,
    () => S.width + 'x' + S.height, () => S.colorDepth, () => W.devicePixelRatio,
    () => new Date().getTimezoneOffset(), canvas
  ].map(part).concat(webgl());
  return a.then(x => crypto.subtle.digest('SHA-256', new TextEncoder().encode(parts.concat(x).join('|'))))
    .then(b => Array.from(new Uint8Array(b), x => (x + 256).toString(16).slice(1)).join(''))
    .catch(() => null);
};
