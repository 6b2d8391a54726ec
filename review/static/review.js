// Keyboard shortcuts for the review app (the only script the Content-Security-Policy allows).
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const category = document.getElementById("category");
  const syncCategory = () => {
    document.querySelectorAll(".category-field").forEach((f) => { f.value = category ? category.value : ""; });
  };
  if (category) { category.addEventListener("change", syncCategory); syncCategory(); }
  const items = Array.from(document.querySelectorAll("#items li"));
  let selected = 0;
  const select = (i) => {
    if (!items.length) { return; }
    items[selected].classList.remove("selected");
    selected = Math.max(0, Math.min(items.length - 1, i));
    items[selected].classList.add("selected");
    items[selected].scrollIntoView({ block: "nearest" });
  };
  if (items.length) { select(0); }
  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) { return; }
    const tag = (event.target && event.target.tagName) || "";
    if (tag === "INPUT" || tag === "SELECT" || tag === "TEXTAREA") { return; }
    if (items.length) {
      if (event.key === "j") { select(selected + 1); event.preventDefault(); return; }
      if (event.key === "k") { select(selected - 1); event.preventDefault(); return; }
      if (event.key === "Enter" || event.key === "o") { window.location.href = items[selected].dataset.href; return; }
    }
    const target = document.querySelector(`[data-key="${event.key}"]`);
    if (!target) { return; }
    event.preventDefault();
    if (target.tagName === "A") { window.location.href = target.href; } else { syncCategory(); target.form.requestSubmit(target); }
  });
});
