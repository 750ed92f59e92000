// The console's entry: the key form, the navigation, and a hash router (#/runs, #/runs/<id>,
// #/environments[/<id>], #/agents[/<id>], #/triggers; #<id> from an old viewer link is a run).
// Routes carry ids only, never the key.

import { ApiError, forgetKey, getJson, key, setKey } from "./api.js";
import { agentsView } from "./agents.js";
import { environmentView, environmentsView } from "./environments.js";
import { runView } from "./run.js";
import { runsView } from "./runs.js";
import { triggersServed, triggersView } from "./triggers.js";

const $ = (id) => document.getElementById(id);
const ui = { keyPanel: $("key-panel"), keyForm: $("key-form"), keyInput: $("key-input"), nav: $("nav"),
  view: $("view"), notice: $("notice"), triggersTab: $("tab-triggers"), keyInfo: $("keyinfo") };
let stop = null;

function notice(text) {
  ui.notice.textContent = text || "";
  ui.notice.hidden = !text;
}

const ctx = { notice };

function askForKey() {
  forgetKey();
  if (stop) stop();
  stop = null;
  ui.keyPanel.hidden = false;
  ui.nav.hidden = true;
  ui.keyInfo.hidden = true;
  ui.view.replaceChildren();
  ui.keyInput.focus();
}

async function checkKey() {
  try {
    await getJson("/interactions?page_size=1");
    return true;
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      askForKey();
      notice("The API key was not accepted (401). Enter a valid key.");
      return false;
    }
    return true;
  }
}

/** A link to the old run viewer (``/viewer#<id>``) arrives here with its fragment: open that run. */
function upgradeViewerLink() {
  const legacy = location.hash.slice(1);
  if (legacy && !legacy.startsWith("/")) history.replaceState(null, "", `#/runs/${legacy}`);
}

function route() {
  upgradeViewerLink();
  if (!key()) { askForKey(); return; }
  if (stop) stop();
  stop = null;
  notice("");
  const [section = "runs", id = ""] = location.hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  for (const link of ui.nav.querySelectorAll("a")) {
    if (link.dataset.section === section) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  if (section === "runs" && id) stop = runView(ui.view, id, ctx);
  else if (section === "environments" && id) environmentView(ui.view, id, ctx);
  else if (section === "environments") environmentsView(ui.view, ctx);
  else if (section === "agents") agentsView(ui.view, ctx, id || null);
  else if (section === "triggers" && !ui.triggersTab.hidden) triggersView(ui.view, ctx);
  else stop = runsView(ui.view, ctx);
  document.title = `${id || section} · Hangar console`;
}

async function ready() {
  ui.keyPanel.hidden = true;
  ui.nav.hidden = false;
  ui.keyInfo.hidden = false;
  if (!(await checkKey())) return;
  ui.triggersTab.hidden = !(await triggersServed());
  route();
}

ui.keyForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const value = ui.keyInput.value.trim();
  if (!value) return;
  setKey(value);
  ui.keyInput.value = "";
  notice("");
  ready();
});
$("forget-key").addEventListener("click", askForKey);
window.addEventListener("hashchange", () => { if (key()) route(); });
upgradeViewerLink();
if (key()) ready();
else askForKey();
