// Settings: the copy buttons beside secrets shown once. Loaded as a file: the pages'
// Content-Security-Policy forbids inline scripts.
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
