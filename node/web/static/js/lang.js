// The console's language, Chinese or English: one switch for every page, remembered in
// localStorage (a file:// page may have none: then it lasts as long as the page).
const listeners = [];
const stored = (() => { try { return localStorage.getItem("ledger.lang"); } catch { return null; } })();
let current = stored === "zh" || stored === "en" ? stored : (navigator.language.startsWith("zh") ? "zh" : "en");

export function lang() { return current; }

export function setLang(value) {
  current = value === "zh" ? "zh" : "en";
  try { localStorage.setItem("ledger.lang", current); } catch { /* no storage: keep it for this page */ }
  document.documentElement.lang = current === "zh" ? "zh-CN" : "en";
  for (const listener of listeners) listener(current);
}

// `listener(lang)` runs after every switch; a page re-renders its words there.
export function onLanguage(listener) { listeners.push(listener); }
