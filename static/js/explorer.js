// The explorer: another source has other measures and dimensions, so changing the
// source shows that source afresh (its first measure, no dimension, no filter).
document.addEventListener("change", (event) => {
  const select = event.target.closest("[data-explorer-source]");
  if (!select) return;
  const url = new URL(select.form.action, window.location.href);
  url.search = new URLSearchParams({ source: select.value }).toString();
  window.location.assign(url.toString());
});
