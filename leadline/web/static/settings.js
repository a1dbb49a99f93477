// Settings: the copy buttons beside secrets shown once, and a question before a form that
// cannot be undone (data-confirm). Loaded as a file: the pages' Content-Security-Policy forbids
// inline scripts. Without this script the forms still work, without the question.
document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-copy]");
  if (!button) return;
  const field = document.getElementById(button.dataset.copy);
  const status = document.getElementById(button.dataset.copyStatus);
  if (!field) return;
  const said = (text) => {
    if (status) status.textContent = text;
  };
  field.focus();
  field.select();
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(field.value).then(
      () => said("Copied."),
      () => said("Selected: press Ctrl+C (or ⌘C) to copy."),
    );
  } else {
    said("Selected: press Ctrl+C (or ⌘C) to copy.");
  }
});

document.addEventListener("submit", (event) => {
  const question = event.target.dataset?.confirm;
  if (question && !window.confirm(question)) event.preventDefault();
});
