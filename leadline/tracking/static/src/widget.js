// /widget.js: the chat widget (docs/widget.md). Global `leadiosa`: identify(...), open(),
// close(), setConsent(...). One launcher button and one dialog, in a shadow root so the page's
// CSS stays out. It talks to /widget/v1/<workspace>/... of the server it came from and, while
// open, follows its conversation's event stream (EventSource; the browser resumes it with
// Last-Event-ID), polling slowly only without EventSource or when the stream keeps failing.
// It tells the operator when the visitor types (at most every 3 s) and shows when they do.
// It keeps its token in localStorage only once consent
// allows it: the tracker's analytics_storage (PulseGateSession or OCT on the same page), else
// leadiosa.setConsent({analytics_storage: 'granted'}).

'use strict';

var W = window, D = document, me = D.currentScript,
  a = n => me && me.getAttribute('data-' + n),
  ws = a('workspace'),
  ep = String(a('endpoint') || new URL(me && me.src || location.href).origin).replace(/\/+$/, ''),
  base = ep + '/widget/v1/' + encodeURIComponent(ws || ''),
  KEY = 'leadline.widget.' + ws,
  // title, open, close, placeholder, send, away, name, email, message, thanks, you, them, error,
  // typing
  T = {
    en: 'Chat with us|Open chat|Close chat|Write a message|Send|Nobody is here right now. Leave a message and we will answer by email.|Name|Email|Message|Thank you, we will answer by email.|You|Us|Not sent, try again.|Typing…',
    es: 'Chatea con nosotros|Abrir chat|Cerrar chat|Escribe un mensaje|Enviar|Ahora no hay nadie. Deja un mensaje y te responderemos por correo.|Nombre|Correo|Mensaje|Gracias, te responderemos por correo.|Tú|Nosotros|No enviado, inténtalo de nuevo.|Escribiendo…',
    de: 'Chatten Sie mit uns|Chat öffnen|Chat schließen|Nachricht schreiben|Senden|Gerade ist niemand da. Hinterlassen Sie eine Nachricht, wir antworten per E-Mail.|Name|E-Mail|Nachricht|Danke, wir antworten per E-Mail.|Sie|Wir|Nicht gesendet, bitte erneut versuchen.|Schreibt…',
    fr: 'Discutez avec nous|Ouvrir le chat|Fermer le chat|Écrivez un message|Envoyer|Personne n’est là. Laissez un message, nous répondrons par e-mail.|Nom|E-mail|Message|Merci, nous répondrons par e-mail.|Vous|Nous|Non envoyé, réessayez.|Écrit…',
    it: 'Chatta con noi|Apri la chat|Chiudi la chat|Scrivi un messaggio|Invia|Ora non c’è nessuno. Lascia un messaggio e risponderemo via email.|Nome|Email|Messaggio|Grazie, risponderemo via email.|Tu|Noi|Non inviato, riprova.|Sta scrivendo…',
    pt: 'Fale connosco|Abrir chat|Fechar chat|Escreva uma mensagem|Enviar|Não está ninguém agora. Deixe uma mensagem e respondemos por email.|Nome|Email|Mensagem|Obrigado, respondemos por email.|Você|Nós|Não enviado, tente de novo.|A escrever…',
    ru: 'Напишите нам|Открыть чат|Закрыть чат|Напишите сообщение|Отправить|Сейчас никого нет. Оставьте сообщение, мы ответим по почте.|Имя|Почта|Сообщение|Спасибо, мы ответим по почте.|Вы|Мы|Не отправлено, попробуйте ещё раз.|Печатает…',
    uk: 'Напишіть нам|Відкрити чат|Закрити чат|Напишіть повідомлення|Надіслати|Зараз нікого немає. Залиште повідомлення, ми відповімо поштою.|Ім’я|Пошта|Повідомлення|Дякуємо, ми відповімо поштою.|Ви|Ми|Не надіслано, спробуйте ще раз.|Друкує…'
  },
  lang = a('language'),
  pick = l => T[l] ? l : T[(l || '').slice(0, 2)] ? l.slice(0, 2) : 0,
  t = (T[pick(lang != 'auto' && lang) || pick(navigator.language) || 'en'] || T.en).split('|'),
  right = a('position') != 'left',
  theme = /^(light|dark)$/.test(a('theme')) ? a('theme') : 'auto',
  bottom = (parseInt(a('offset-bottom'), 10) || 20) + 'px',
  granted = 0, state = {}, seq = 0, timer = 0, online = null, shown = 0, host, root, q = {},
  es, fails = 0, typed = 0, idle = 0, seen = 0;

var tracker = () => W.PulseGateSession || W.OCT;
var allowed = () => {
  var tr = tracker(), c = tr && tr.getConsent && tr.getConsent();
  return granted || !!(c && c.analytics_storage === true);
};
// Reading storage is access too: only with consent.
var load = () => { try { if (allowed()) state = JSON.parse(localStorage.getItem(KEY)) || {}; } catch (e) {} };
var save = () => { try { allowed() && localStorage.setItem(KEY, JSON.stringify(state)); } catch (e) {} };

function call(path, body, get) {
  var h = {}, o;
  if (state.t) h['X-Widget-Token'] = state.t;
  if (!get) h['Content-Type'] = 'application/json';
  o = {method: get ? 'GET' : 'POST', headers: h, credentials: 'omit'};
  if (!get) o.body = JSON.stringify(body);
  return fetch(base + path, o).then(r => r.json().then(j => {
    // A token or conversation the server no longer knows (the contact was erased): start over.
    if (state.t && (r.status == 403 || r.status == 404) && path != '/identify') forget();
    if (!r.ok) throw j.error || j;
    return j.data;
  }));
}

function forget() {
  quiet();
  state = {}, seq = 0;
  try { localStorage.removeItem(KEY); } catch (e) {}
  q.log && (q.log.replaceChildren(), mode());
}

var el = (tag, props, kids) => {
  var e = D.createElement(tag), k;
  for (k in props) k in e && k != 'for' ? e[k] = props[k] : e.setAttribute(k, props[k]);
  (kids || []).forEach(c => e.append(c));
  return e;
};

var CSS = ':host{all:initial;--a:#1d4ed8;--f:#fff;--b:#fff;--t:#111827;--m:#4b5563;--l:#e5e7eb;--o:#eef2ff;font:15px/1.4 system-ui,sans-serif}' +
  ':host([data-theme=dark]){--a:#93b4fd;--f:#0b1020;--b:#1b1d21;--t:#f3f4f6;--m:#c4c8cf;--l:#374151;--o:#26324d}' +
  '@media (prefers-color-scheme:dark){:host([data-theme=auto]){--a:#93b4fd;--f:#0b1020;--b:#1b1d21;--t:#f3f4f6;--m:#c4c8cf;--l:#374151;--o:#26324d}}' +
  '*{box-sizing:border-box;font:inherit;color:inherit}' +
  '.w{position:fixed;z-index:2147483000;bottom:var(--y);display:flex;flex-direction:column;gap:12px}.r{right:20px;align-items:flex-end}.l{left:20px;align-items:flex-start}' +
  'button{cursor:pointer;border:0;border-radius:8px;background:var(--a);color:var(--f);padding:8px 14px;font-weight:600}' +
  'button:focus-visible,input:focus-visible,textarea:focus-visible{outline:3px solid var(--a);outline-offset:2px}' +
  '.n{width:56px;height:56px;border-radius:50%;padding:0;display:grid;place-items:center;box-shadow:0 4px 14px #0004}.n svg{width:28px;height:28px;fill:var(--f)}' +
  '.p{width:min(360px,calc(100vw - 40px));height:min(520px,calc(100vh - 120px));background:var(--b);color:var(--t);border:1px solid var(--l);border-radius:12px;box-shadow:0 8px 30px #0005;display:flex;flex-direction:column;overflow:hidden}.p[hidden]{display:none}' +
  'header{display:flex;justify-content:space-between;align-items:center;padding:10px 14px;border-bottom:1px solid var(--l)}h2{margin:0;font-size:17px;font-weight:700}' +
  '.x{background:transparent;color:var(--t);font-size:20px;padding:2px 10px}' +
  '.g{margin:0;padding:12px;flex:1;overflow-y:auto;display:flex;flex-direction:column;gap:8px}.m{max-width:85%;padding:8px 10px;border-radius:10px;background:var(--o);white-space:pre-wrap;overflow-wrap:anywhere}.m.c{align-self:flex-end;background:var(--a);color:var(--f)}' +
  '.s{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}' +
  'form{display:flex;flex-direction:column;gap:8px;padding:12px;border-top:1px solid var(--l)}label{font-size:13px;color:var(--m)}' +
  'input,textarea{width:100%;padding:8px;border:1px solid var(--m);border-radius:6px;background:var(--b);color:var(--t)}textarea{resize:none;height:64px}p{margin:0;color:var(--m)}.y{padding:0 12px;font-size:13px}';

function field(label, props, tag) {
  var id = 'f' + (++field.n);
  return [el('label', {for: id, textContent: label}), el(tag || 'input', Object.assign({id: id, name: id}, props))];
}
field.n = 0;

function build() {
  host = el('div', {'data-theme': theme, 'data-leadline-widget': ''});
  root = host.attachShadow({mode: 'open'});
  try {
    var sheet = new CSSStyleSheet();
    sheet.replaceSync(CSS);
    root.adoptedStyleSheets = [sheet];
  } catch (e) { root.append(el('style', {textContent: CSS})); }
  q.log = el('div', {className: 'g', role: 'log', 'aria-live': 'polite', 'aria-label': t[0]});
  q.away = el('p', {textContent: t[5], hidden: true});
  q.err = el('p', {role: 'alert'});
  q.typ = el('p', {className: 'y', role: 'status', hidden: true, textContent: t[11] + ': ' + t[13]});
  var msg = field(t[8], {required: true, maxLength: 10000}, 'textarea'),
    name = field(t[6], {autocomplete: 'name', maxLength: 200}),
    mail = field(t[7], {type: 'email', autocomplete: 'email', maxLength: 320});
  q.text = msg[1], q.name = name[1], q.mail = mail[1];
  q.extra = [...name, ...mail];
  q.form = el('form', {}, [q.away, ...q.extra, ...msg, q.err, el('button', {type: 'submit', textContent: t[4]})]);
  q.text.placeholder = t[3];
  q.text.addEventListener('keydown', e => {
    if (e.key == 'Enter' && !e.shiftKey && !q.form.classList.contains('o')) e.preventDefault(), q.form.requestSubmit();
  });
  q.text.addEventListener('input', typing);
  q.form.addEventListener('submit', e => (e.preventDefault(), send()));
  q.close = el('button', {type: 'button', className: 'x', 'aria-label': t[2], textContent: '×'});
  q.close.onclick = close;
  q.panel = el('div', {className: 'p', role: 'dialog', 'aria-modal': 'true', 'aria-labelledby': 'h', id: 'p', hidden: true}, [
    el('header', {}, [el('h2', {id: 'h', textContent: t[0]}), q.close]), q.log, q.typ, q.form
  ]);
  q.open = el('button', {type: 'button', className: 'n', 'aria-label': t[1], 'aria-expanded': 'false', 'aria-controls': 'p'});
  q.open.innerHTML = '<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M4 4h16v11H7l-3 3z"/></svg>';
  q.open.onclick = () => shown ? close() : open();
  var box = el('div', {className: 'w ' + (right ? 'r' : 'l')}, [q.panel, q.open]);
  box.style.setProperty('--y', bottom);
  root.append(box);
  q.panel.addEventListener('keydown', trap);
  D.body.append(host);
}

// Tab and Shift+Tab stay in the open panel; Escape closes it.
function trap(e) {
  if (e.key == 'Escape') return e.stopPropagation(), close();
  if (e.key != 'Tab') return;
  var all = [...q.panel.querySelectorAll('button,input,textarea')].filter(x => !x.hidden && x.offsetParent),
    first = all[0], last = all[all.length - 1], at = root.activeElement;
  if (e.shiftKey ? at == first : at == last) e.preventDefault(), (e.shiftKey ? last : first).focus();
}

function mode() {
  // The offline form: nobody online and no conversation going.
  var off = online === false && !state.c;
  q.away.hidden = !off;
  q.extra.forEach(x => x.hidden = !off);
  q.mail.required = off;
  q.form.classList.toggle('o', off);
}

function show(m) {
  if (m.seq <= seq) return;
  seq = m.seq;
  m.from != 'contact' && them(0);
  q.log.append(el('div', {className: m.from == 'contact' ? 'm c' : 'm'}, [
    el('span', {className: 's', textContent: (m.from == 'contact' ? t[10] : t[11]) + ': '}), m.text
  ]));
  q.log.scrollTop = q.log.scrollHeight;
}

var conv = () => '/conversations/' + encodeURIComponent(state.c);

function poll() {
  if (!state.c || !state.t) return;
  return call(conv() + '/messages?after=' + seq, 0, 1)
    .then(d => d.messages.forEach(show)).catch(() => {});
}

// The operator is typing (or stopped); a stop that never comes ends after 8 s.
function them(on) {
  clearTimeout(seen);
  q.typ.hidden = !on;
  if (on) seen = setTimeout(them, 8000, 0);
}

// While open: the conversation's events as they happen. The browser connects again by itself
// and sends Last-Event-ID, so nothing is missed; after 3 failures in a row (or without
// EventSource), a poll every 10 s instead.
function listen() {
  quiet();
  if (!shown || !state.c || !state.t) return;
  if (!W.EventSource || fails > 2) return poll(), timer = setInterval(poll, 10000);
  es = new EventSource(base + conv() + '/stream?after=' + seq + '&token=' + encodeURIComponent(state.t));
  es.onopen = () => { fails = 0; };
  es.onerror = () => { if (++fails > 2 || es.readyState == 2) listen(); };
  es.addEventListener('message.created', e => show(JSON.parse(e.data)));
  es.addEventListener('typing', e => {
    var d = JSON.parse(e.data);
    d.from != 'contact' && them(d.typing);
  });
}

function quiet() {
  clearInterval(timer);
  es && es.close();
  es = 0;
}

// The visitor types: told at most every 3 s, and that they stopped after 5 s without a key.
function typing() {
  if (!state.c || !state.t) return;
  var now = Date.now(), tell = on => call(conv() + '/typing', {typing: on}).catch(() => {});
  if (now - typed > 3000) typed = now, tell(true);
  clearTimeout(idle);
  idle = setTimeout(() => { typed = 0; tell(false); }, 5000);
}

function join(d) {
  var again = d.conversation_id != state.c || d.token != state.t;
  state = {t: d.token, c: d.conversation_id};
  save();
  d.message && show(d.message);
  again && listen();
}

function send() {
  var text = q.text.value.trim(), off = q.form.classList.contains('o'), tr = tracker(), r;
  if (!text) return;
  q.err.textContent = '';
  r = state.c
    ? call(conv() + '/messages', {text: text}).then(d => show(d.message))
    : call('/conversations', Object.assign({text: text},
        off ? {name: q.name.value.trim() || null, email: q.mail.value.trim(), offline: true} : {},
        tr && tr.getSessionId && tr.getSessionId() ? {visit_id: tr.getSessionId()} : {})).then(d => {
          join(d);
          if (off) q.log.append(el('div', {className: 'm', textContent: t[9]}));
          mode();
        });
  clearTimeout(idle), typed = 0;
  r.then(() => { q.text.value = ''; }, () => { q.err.textContent = t[12]; });
}

function open() {
  if (shown) return;
  shown = 1;
  q.panel.hidden = false;
  q.open.setAttribute('aria-expanded', 'true');
  q.open.setAttribute('aria-label', t[2]);
  if (online == null) call('/config', 0, 1).then(d => { online = !d.offline_form; mode(); }).catch(() => {});
  mode();
  q.text.focus();
  listen();
}

function close() {
  if (!shown) return;
  shown = 0;
  quiet();
  q.panel.hidden = true;
  q.open.setAttribute('aria-expanded', 'false');
  q.open.setAttribute('aria-label', t[1]);
  q.open.focus();
}

var api = {
  open: () => (host || build(), open()),
  close: () => host && close(),
  // leadiosa.identify({id, email, name, attributes, hash}): resolves to the contact's id.
  identify: o => call('/identify', o || {}).then(d => {
    if (d.conversation_id != state.c) seq = 0, q.log && q.log.replaceChildren();
    join(d);
    q.form && mode();
    return d.contact_id;
  }),
  setConsent: f => {
    var v = f && f.analytics_storage;
    granted = v === true || v == 'granted';
    if (granted) save();
    else try { localStorage.removeItem(KEY); } catch (e) {}
  }
};

if (!ws) console.warn('leadline: widget.js needs data-workspace');
else if (!(W.leadiosa && W.leadiosa.open)) {
  // Calls queued before the script arrived: leadiosa = {q: [['identify', {...}], ...]}.
  var early = W.leadiosa && W.leadiosa.q;
  W.leadiosa = api;
  var start = () => {
    load();
    build();
    (early || []).forEach(c => api[c[0]] && api[c[0]](c[1]));
    if (a('open-on-load') == 'true') open();
  };
  D.body ? start() : D.addEventListener('DOMContentLoaded', start);
}
