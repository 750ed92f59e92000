// Agents: the list, one definition, and the form that starts a run (agent picker, optional
// environment, optional input files uploaded into that environment first).

import { describeError, getJson, sendJson, upload } from "./api.js";
import { el, field, input, json, pre, routeLink, select } from "./dom.js";

export function agentsView(root, ctx, agentId = null) {
  const section = el("section", "agents");
  const list = section.appendChild(el("div", "panel"));
  list.setAttribute("aria-labelledby", "agents-title");
  list.appendChild(el("h2", null, "Agents")).id = "agents-title";
  const items = list.appendChild(el("ul", "cards"));
  items.id = "agents";
  const detail = section.appendChild(el("div", "panel"));
  detail.id = "agent-detail";
  detail.hidden = !agentId;
  section.appendChild(startForm(ctx, agentId));
  root.replaceChildren(section);
  getJson("/agents?page_size=1000").then((page) => {
    for (const agent of page.agents) {
      const li = items.appendChild(el("li"));
      li.appendChild(routeLink(agent.id, "agents", agent.id));
      if (agent.description) li.appendChild(el("p", "muted", agent.description));
    }
  }).catch((error) => ctx.notice(describeError(error)));
  if (agentId) {
    getJson(`/agents/${encodeURIComponent(agentId)}`).then((agent) => {
      detail.appendChild(el("h3", null, agent.id));
      detail.appendChild(pre(json(agent), "args"));
    }).catch((error) => ctx.notice(describeError(error)));
  }
}

function startForm(ctx, agentId) {
  const form = el("form", "panel");
  form.id = "start-form";
  form.setAttribute("aria-labelledby", "start-title");
  form.appendChild(el("h2", null, "Start a run")).id = "start-title";
  const agent = select("agent", [], "");
  agent.required = true;
  const environment = select("environment", [["", "a new environment"]], "");
  const task = input("task", { tag: "textarea", rows: "4", required: "" });
  const files = input("files", { type: "file", multiple: "" });
  form.appendChild(field("Agent", agent));
  form.appendChild(field("Environment", environment));
  form.appendChild(field("Task", task));
  form.appendChild(field("Input files (uploaded to the workspace first)", files));
  const submit = form.appendChild(el("button", "primary", "Start run"));
  submit.type = "submit";
  getJson("/agents?page_size=1000").then((page) => {
    for (const a of page.agents) agent.appendChild(new Option(a.id, a.id));
    if (agentId) agent.value = agentId;
  }).catch((error) => ctx.notice(describeError(error)));
  getJson("/environments?page_size=100").then((page) => {
    for (const env of page.environments) environment.appendChild(new Option(env.id, env.id));
  }).catch(() => {});
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    submit.disabled = true;
    try {
      let environmentId = environment.value;
      if (!environmentId && files.files.length) environmentId = (await sendJson("POST", "/environments", {})).id;
      for (const file of files.files) await upload(environmentId, file.name, file);
      const body = { agent: agent.value, input: task.value, background: true };
      if (environmentId) body.environment = environmentId;
      const created = await sendJson("POST", "/interactions", body);
      location.hash = `#/runs/${encodeURIComponent(created.id)}`;
    } catch (error) {
      ctx.notice(describeError(error));
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}
