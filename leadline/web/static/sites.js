// The site settings pages: copy buttons for snippets and secrets, and forms previewed by the
// real /form.js. A file of its own: the pages' Content-Security-Policy allows no inline script.
'use strict';

(() => {
  // A copy button names the element whose text it copies (data-copy, a selector). Without
  // the Clipboard API, or when it refuses, the text is selected for the person to copy.
  const select = (source) => {
    const range = document.createRange();
    range.selectNodeContents(source);
    const chosen = window.getSelection();
    chosen.removeAllRanges();
    chosen.addRange(range);
  };

  document.querySelectorAll('button[data-copy]').forEach((button) => {
    const source = document.querySelector(button.dataset.copy);
    const status = button.parentElement.querySelector('.copy-status');
    if (!source) return;
    button.hidden = false;
    button.addEventListener('click', () => {
      const text = source.textContent;
      const say = (words) => { if (status) status.textContent = words; };
      const fallback = () => {
        select(source);
        source.focus();
        say('Selected: press Ctrl+C (or Cmd+C) to copy.');
      };
      if (!navigator.clipboard || !window.isSecureContext) return fallback();
      navigator.clipboard.writeText(text).then(() => say('Copied to the clipboard.'), fallback);
    });
  });

  // Each preview box holds a form's saved definition; /form.js renders it in preview mode,
  // which checks the fields and sends nothing.
  document.querySelectorAll('[data-form-json]').forEach((box) => {
    if (!window.PulseGateForms) return;
    let definition;
    try {
      definition = JSON.parse(box.dataset.formJson);
    } catch (e) {
      return;
    }
    window.PulseGateForms.render({target: box, form_json: definition, preview: true});
  });

  // A definition being written: its preview follows, a moment after each change.
  document.querySelectorAll('textarea[data-live-preview]').forEach((area) => {
    const box = document.querySelector(area.dataset.livePreview);
    const status = box && box.parentElement.querySelector('.preview-status');
    if (!box || !window.PulseGateForms) return;
    let timer = 0;
    // Said only after a change: not for the first drawing, when the page loads.
    const say = (words, changed) => { if (status && changed) status.textContent = words; };
    const show = (changed) => {
      let definition;
      try {
        definition = JSON.parse(area.value);
      } catch (e) {
        say('Not valid JSON yet: ' + e.message, changed);
        return;
      }
      window.PulseGateForms.render({target: box, form_json: definition, preview: true})
        .then((form) => say(form ? 'Preview updated.' : 'This definition cannot be shown: check its fields.', changed));
    };
    area.addEventListener('input', () => {
      clearTimeout(timer);
      timer = setTimeout(() => show(true), 300);
    });
    show(false);
  });
})();
