// The project's runs, newest first (GET /v1/interactions, a Hangar extension), filtered by status
// and agent, paged, refreshed while some of them still run.

import { describeError, getJson } from "./api.js";
import { el, field, input, routeLink, select, statusBadge, when } from "./dom.js";

const STATUSES = ["", "in_progress", "requires_action", "completed", "failed", "cancelled",
  "incomplete", "budget_exceeded"];
const PAGE_SIZE = 20;
const REFRESH_MS = 2000;

export function runsView(root, ctx) {
  const state = { tokens: [""], page: 0, timer: null, stopped: false };
  const section = el("section", "panel");
  section.setAttribute("aria-labelledby", "runs-title");
  const title = section.appendChild(el("h2", null, "Runs"));
  title.id = "runs-title";
  const form = section.appendChild(el("form", "row filters"));
  form.setAttribute("role", "search");
  const status = select("status", STATUSES.map((s) => [s, s ? s.replace(/_/g, " ") : "any status"]));
  const agent = input("agent", { placeholder: "any agent", spellcheck: "false" });
  form.appendChild(field("Status", status));
  form.appendChild(field("Agent", agent));
  const apply = form.appendChild(el("button", "secondary", "Filter"));
  apply.type = "submit";
  section.appendChild(openForm());
  const table = section.appendChild(el("table", "list"));
  table.id = "runs";
  const caption = table.appendChild(el("caption", "sr-only", "Runs, newest first"));
  caption.id = "runs-caption";
  const headRow = table.appendChild(el("thead")).appendChild(el("tr"));
  for (const name of ["Run", "Agent", "Status", "Started"]) headRow.appendChild(el("th", null, name)).scope = "col";
  const body = table.appendChild(el("tbody"));
  const empty = section.appendChild(el("p", "muted", "No runs yet."));
  empty.hidden = true;
  const pager = section.appendChild(el("nav", "row pager"));
  pager.setAttribute("aria-label", "Pages");
  const prev = pager.appendChild(el("button", "secondary", "Newer"));
  const next = pager.appendChild(el("button", "secondary", "Older"));
  prev.type = next.type = "button";
  root.replaceChildren(section);

  const load = async () => {
    clearTimeout(state.timer);
    const query = new URLSearchParams({ page_size: String(PAGE_SIZE) });
    if (state.tokens[state.page]) query.set("page_token", state.tokens[state.page]);
    if (status.value) query.set("status", status.value);
    if (agent.value.trim()) query.set("agent", agent.value.trim());
    let page;
    try {
      page = await getJson(`/interactions?${query}`);
    } catch (error) {
      ctx.notice(describeError(error));
      return;
    }
    if (state.stopped) return;
    body.replaceChildren(...page.interactions.map(row));
    empty.hidden = page.interactions.length > 0;
    state.tokens[state.page + 1] = page.next_page_token || "";
    prev.disabled = state.page === 0;
    next.disabled = !page.next_page_token;
    if (page.interactions.some((it) => it.status === "in_progress")) state.timer = setTimeout(load, REFRESH_MS);
  };
  form.addEventListener("submit", (event) => { event.preventDefault(); state.page = 0; state.tokens = [""]; load(); });
  prev.addEventListener("click", () => { state.page = Math.max(0, state.page - 1); load(); });
  next.addEventListener("click", () => { state.page += 1; load(); });
  load();
  return () => { state.stopped = true; clearTimeout(state.timer); };
}

function row(it) {
  const tr = el("tr");
  tr.dataset.id = it.id;
  tr.appendChild(el("td")).appendChild(routeLink(it.id, "runs", it.id));
  tr.appendChild(el("td", null, it.agent || it.model || ""));
  tr.appendChild(el("td")).appendChild(statusBadge(it.status));
  tr.appendChild(el("td", null, when(it.created)));
  return tr;
}

/** Opens a run by its id (what the old run viewer's id box did). */
function openForm() {
  const form = el("form", "row filters");
  form.setAttribute("aria-label", "Open a run by id");
  const id = input("run-id", { placeholder: "int_…", spellcheck: "false", required: "" });
  form.appendChild(field("Run id", id));
  const open = form.appendChild(el("button", "secondary", "Open"));
  open.type = "submit";
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (id.value.trim()) location.hash = `#/runs/${encodeURIComponent(id.value.trim())}`;
  });
  return form;
}
