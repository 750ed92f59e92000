// Triggers (scheduled agent runs), when the server serves /v1/triggers: the list, pause and
// resume, and each trigger's executions with links to their runs. Shapes follow the SDK's
// Trigger and TriggerExecution (spec §9).

import { ApiError, describeError, getJson, sendJson } from "./api.js";
import { button, el, routeLink, statusBadge, when } from "./dom.js";

/** Whether the server serves triggers (a 404 means it does not: the tab stays hidden). */
export async function triggersServed() {
  try {
    await getJson("/triggers?page_size=1");
    return true;
  } catch (error) {
    if (error instanceof ApiError && (error.status === 404 || error.status === 405)) return false;
    return false;
  }
}

export function triggersView(root, ctx) {
  const section = el("section", "panel");
  section.setAttribute("aria-labelledby", "triggers-title");
  section.appendChild(el("h2", null, "Triggers")).id = "triggers-title";
  const list = section.appendChild(el("ul", "cards"));
  list.id = "triggers";
  root.replaceChildren(section);
  const load = () => getJson("/triggers?page_size=100").then((page) => {
    list.replaceChildren(...(page.triggers || []).map((t) => card(t, load, ctx)));
    if (!(page.triggers || []).length) list.appendChild(el("li", "muted", "No triggers."));
  }).catch((error) => ctx.notice(describeError(error)));
  load();
}

function card(trigger, reload, ctx) {
  const li = el("li", "trigger");
  const head = li.appendChild(el("div", "row"));
  head.appendChild(el("strong", null, trigger.display_name || trigger.id));
  head.appendChild(statusBadge(trigger.status || ""));
  li.appendChild(el("p", "muted", `${trigger.schedule || ""} (${trigger.time_zone || ""}) · next ${when(trigger.next_run_time) || "–"}`));
  const setStatus = (status) => async () => {
    try {
      await sendJson("PATCH", `/triggers/${encodeURIComponent(trigger.id)}`, { status });
      reload();
    } catch (error) {
      ctx.notice(describeError(error));
    }
  };
  if (trigger.status === "active") li.appendChild(button("Pause", setStatus("paused")));
  else li.appendChild(button("Resume", setStatus("active")));
  const details = li.appendChild(el("details"));
  details.appendChild(el("summary", null, "Executions"));
  const runs = details.appendChild(el("ul"));
  details.addEventListener("toggle", () => {
    if (!details.open || runs.childElementCount) return;
    getJson(`/triggers/${encodeURIComponent(trigger.id)}/executions?page_size=50`).then((page) => {
      for (const ex of page.executions || page.trigger_executions || []) {
        const item = runs.appendChild(el("li"));
        item.appendChild(statusBadge(ex.status || ""));
        item.appendChild(document.createTextNode(` ${when(ex.scheduled_time || ex.start_time)} `));
        if (ex.interaction_id) item.appendChild(routeLink(ex.interaction_id, "runs", ex.interaction_id));
        if (ex.error) item.appendChild(el("span", "out--error", ` ${ex.error}`));
      }
    }).catch((error) => ctx.notice(describeError(error)));
  });
  return li;
}
