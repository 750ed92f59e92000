// One run: its steps live (SSE, resumed from the last event), plan, usage, timings, errors, and
// the controls: cancel, answer a pending function call, send a follow-up turn.

import { ApiError, api, describeError, getJson, sendJson } from "./api.js";
import { button, el, field, input, routeLink, statusBadge, when } from "./dom.js";
import { markdown } from "./markdown.js";
import { applyDelta, latestPlan, renderStep } from "./steps.js";

const TERMINAL = new Set(["completed", "failed", "cancelled", "budget_exceeded", "incomplete",
  "requires_action", "requires_continuation"]);
const USAGE = [["total_tokens", "Total tokens"], ["total_input_tokens", "Input"],
  ["total_output_tokens", "Output"], ["total_thought_tokens", "Thought"], ["total_tool_use_tokens", "Tool use"]];

export function runView(root, id, ctx) {
  const state = { id, steps: new Map(), nodes: new Map(), args: new Map(), dirty: new Set(),
    lastEventId: null, ended: false, streamed: false, interaction: null, retry: 0,
    controller: new AbortController() };
  const ui = layout(root, id);
  const touch = (index) => {
    if (state.dirty.size === 0) requestAnimationFrame(() => paint(state, ui));
    state.dirty.add(index);
  };

  const showHead = (interaction) => {
    state.interaction = { ...(state.interaction || {}), ...interaction };
    const it = state.interaction;
    ui.status.replaceChildren(statusBadge(it.status || ""));
    ui.status.dataset.status = it.status || "";
    ui.cancel.hidden = TERMINAL.has(it.status);
    if (it.usage) showUsage(ui.usage, it.usage);
    showMeta(ui.meta, it);
    showActions(ui, state, ctx);
  };

  const onEvent = (event) => {
    if (event.event_id !== undefined) state.lastEventId = event.event_id;
    switch (event.event_type) {
      case "interaction.created":
      case "interaction.completed":
        showHead(event.interaction || {});
        if (event.event_type === "interaction.completed") state.ended = true;
        break;
      case "interaction.status_update":
        showHead({ status: event.status, ...(event.usage ? { usage: event.usage } : {}) });
        break;
      case "step.start":
        state.streamed = true;
        state.steps.set(event.index, structuredClone(event.step));
        state.args.set(event.index, "");
        touch(event.index);
        break;
      case "step.delta": {
        const step = state.steps.get(event.index);
        if (!step) break;
        state.args.set(event.index, applyDelta(step, event.delta || {}, state.args.get(event.index) || ""));
        touch(event.index);
        break;
      }
      case "step.stop":
        if (event.usage) showUsage(ui.usage, event.usage);
        break;
      case "error":
        addError(ui.errors, event.error || {});
        break;
      default:
        break;
    }
  };

  ui.cancel.addEventListener("click", async () => {
    ui.cancel.disabled = true;
    try {
      showHead(await sendJson("POST", `/interactions/${encodeURIComponent(id)}/cancel`));
    } catch (error) {
      ctx.notice(describeError(error));
    } finally {
      ui.cancel.disabled = false;
    }
  });

  (async () => {
    try {
      const interaction = await getJson(`/interactions/${encodeURIComponent(id)}`);
      showHead(interaction);
      for (const error of interaction.errors || []) addError(ui.errors, error);
      (interaction.steps || []).forEach((step, index) => { state.steps.set(index, step); touch(index); });
    } catch (error) {
      ctx.notice(describeError(error));
      return;
    }
    await follow(state, ui, onEvent, ctx);
    if (state.controller.signal.aborted) return;
    try {
      const interaction = await getJson(`/interactions/${encodeURIComponent(id)}`);
      for (const error of interaction.errors || []) addError(ui.errors, error);
      if (!state.streamed) {
        (interaction.steps || []).forEach((step, index) => { state.steps.set(index, step); touch(index); });
      }
      showHead(interaction);
    } catch (error) {
      ctx.notice(describeError(error));
    }
  })();
  return () => state.controller.abort();
}

function layout(root, id) {
  const section = el("section", "run");
  section.setAttribute("aria-labelledby", "run-title");
  const head = section.appendChild(el("div", "panel run__head"));
  const title = head.appendChild(el("h2"));
  title.id = "run-title";
  title.appendChild(el("span", "muted", "Run "));
  title.appendChild(el("code", null, id));
  const status = head.appendChild(el("p", "run__status"));
  status.id = "run-status";
  status.setAttribute("role", "status");
  status.setAttribute("aria-live", "polite");
  const cancel = head.appendChild(el("button", "secondary", "Cancel run"));
  cancel.type = "button";
  cancel.id = "cancel";
  cancel.hidden = true;
  const meta = head.appendChild(el("dl", "meta"));
  meta.id = "run-meta";
  const usage = head.appendChild(el("dl", "usage"));
  usage.id = "run-usage";
  const conn = head.appendChild(el("p", "conn"));
  conn.setAttribute("aria-live", "polite");
  const errors = head.appendChild(el("ul", "errors"));
  errors.id = "run-errors";
  const plan = section.appendChild(el("section", "panel plan"));
  plan.id = "run-plan";
  plan.hidden = true;
  const steps = section.appendChild(el("ol", "steps"));
  steps.id = "steps";
  steps.setAttribute("aria-label", "Steps");
  const actions = section.appendChild(el("div", "actions"));
  actions.id = "run-actions";
  root.replaceChildren(section);
  return { status, cancel, meta, usage, conn, errors, plan, steps, actions };
}

function paint(state, ui) {
  for (const index of [...state.dirty].sort((a, b) => a - b)) {
    const old = state.nodes.get(index);
    const open = old?.querySelector("details")?.open;
    const node = renderStep(state.steps.get(index), open);
    node.dataset.index = String(index);
    if (old) old.replaceWith(node);
    else ui.steps.insertBefore(node, [...ui.steps.children].find((c) => Number(c.dataset.index) > index) || null);
    state.nodes.set(index, node);
  }
  state.dirty.clear();
  const plan = latestPlan([...state.steps.entries()].sort((a, b) => a[0] - b[0]).map((e) => e[1]));
  ui.plan.hidden = plan === null;
  if (plan !== null) ui.plan.replaceChildren(el("h3", null, "Plan"), markdown(plan));
}

function showUsage(dl, usage) {
  dl.replaceChildren();
  for (const [name, label] of USAGE) {
    const group = dl.appendChild(el("div"));
    group.appendChild(el("dt", null, label));
    group.appendChild(el("dd", null, Number(usage[name] || 0).toLocaleString()));
  }
}

function showMeta(dl, it) {
  dl.replaceChildren();
  const row = (label, value) => {
    if (!value) return;
    const group = dl.appendChild(el("div"));
    group.appendChild(el("dt", null, label));
    const dd = group.appendChild(el("dd"));
    if (value instanceof Node) dd.appendChild(value);
    else dd.textContent = value;
  };
  row("Agent", it.agent ? routeLink(it.agent, "agents", it.agent) : "");
  row("Model", it.model);
  row("Started", when(it.created));
  row("Updated", when(it.updated));
  if (it.created && it.updated && TERMINAL.has(it.status)) {
    row("Took", `${((new Date(it.updated) - new Date(it.created)) / 1000).toFixed(1)} s`);
  }
  row("Environment", it.environment_id ? routeLink(it.environment_id, "environments", it.environment_id) : "");
  row("Follows", it.previous_interaction_id ? routeLink(it.previous_interaction_id, "runs", it.previous_interaction_id) : "");
}

function addError(list, error) {
  const text = `${error.code || "error"}: ${error.message || ""}`;
  if ([...list.children].some((li) => li.textContent === text)) return;
  list.appendChild(el("li", null, text));
}

/** Calls of the last turn that no function_result answers yet. */
function pendingCalls(state) {
  const steps = [...state.steps.entries()].sort((a, b) => a[0] - b[0]).map((e) => e[1]);
  const answered = new Set(steps.filter((s) => s.type === "function_result").map((s) => s.call_id));
  return steps.filter((s) => s.type === "function_call" && s.id && !answered.has(s.id));
}

function showActions(ui, state, ctx) {
  const it = state.interaction;
  // Built again only when what it offers changes: a later refresh must not wipe what was typed.
  const shown = `${it.status}|${pendingCalls(state).map((call) => call.id).join(",")}`;
  if (ui.actions.dataset.shown === shown) return;
  ui.actions.dataset.shown = shown;
  ui.actions.replaceChildren();
  if (!TERMINAL.has(it.status)) return;
  if (it.status === "requires_action") ui.actions.appendChild(answerForm(state, ctx));
  else ui.actions.appendChild(followUpForm(state, ctx));
}

function nextTurn(it, extra) {
  const body = { input: extra.input, previous_interaction_id: it.id, background: true };
  if (it.agent) body.agent = it.agent;
  else body.model = it.model;
  if (it.tools) body.tools = it.tools;
  return body;
}

async function startTurn(form, body, ctx) {
  const submit = form.querySelector("button[type=submit]");
  submit.disabled = true;
  try {
    const created = await sendJson("POST", "/interactions", body);
    location.hash = `#/runs/${encodeURIComponent(created.id)}`;
  } catch (error) {
    ctx.notice(describeError(error));
  } finally {
    submit.disabled = false;
  }
}

function answerForm(state, ctx) {
  const form = el("form", "panel");
  form.setAttribute("aria-label", "Answer the pending function calls");
  form.appendChild(el("h3", null, "The run waits for your answer"));
  const calls = pendingCalls(state);
  const fields = calls.map((call) => {
    form.appendChild(el("p", "muted", `${call.name}(${JSON.stringify(call.arguments ?? {})})`));
    const area = input(`result-${call.id}`, { tag: "textarea", rows: "3", required: "" });
    form.appendChild(field(`Result for ${call.name}`, area));
    return [call, area];
  });
  const submit = form.appendChild(el("button", "primary", "Send result"));
  submit.type = "submit";
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const input = fields.map(([call, area]) => ({
      type: "function_result", call_id: call.id, name: call.name, result: area.value,
    }));
    startTurn(form, nextTurn(state.interaction, { input }), ctx);
  });
  return form;
}

function followUpForm(state, ctx) {
  const form = el("form", "panel");
  form.setAttribute("aria-label", "Follow-up turn");
  const area = input("followup", { tag: "textarea", rows: "3", required: "" });
  form.appendChild(field("Follow-up message", area));
  form.appendChild(el("p", "hint", "Continues this conversation in the same environment."));
  const submit = form.appendChild(el("button", "primary", "Send follow-up"));
  submit.type = "submit";
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    startTurn(form, nextTurn(state.interaction, { input: area.value }), ctx);
  });
  return form;
}

async function follow(state, ui, onEvent, ctx) {
  const signal = state.controller.signal;
  while (!state.ended && !signal.aborted && !TERMINAL.has(state.interaction?.status)) {
    try {
      const received = await readStream(state, ui, onEvent);
      state.retry = 0;
      if (!state.ended && received === 0) {
        const interaction = await getJson(`/interactions/${encodeURIComponent(state.id)}`);
        if (TERMINAL.has(interaction.status)) state.ended = true;
        else await sleep(500, signal);
      }
    } catch (error) {
      if (signal.aborted) return;
      if (error instanceof ApiError && error.status < 500 && error.status !== 429) {
        ctx.notice(describeError(error));
        return;
      }
      const wait = Math.min(1000 * 2 ** state.retry++, 10000);
      ui.conn.textContent = `Connection lost — reconnecting in ${Math.round(wait / 1000)} s from event ${state.lastEventId ?? "start"}…`;
      await sleep(wait, signal);
    }
  }
  ui.conn.textContent = "";
}

async function readStream(state, ui, onEvent) {
  const query = new URLSearchParams({ stream: "true" });
  if (state.lastEventId !== null) query.set("last_event_id", state.lastEventId);
  const response = await api(`/interactions/${encodeURIComponent(state.id)}?${query}`, {
    headers: { accept: "text/event-stream" }, signal: state.controller.signal,
  });
  ui.conn.textContent = "Live";
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let received = 0;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return received;
    buffer += value;
    const frames = buffer.split(/\r?\n\r?\n/);
    buffer = frames.pop();
    for (const frame of frames) {
      const data = frame.split(/\r?\n/).filter((l) => l.startsWith("data:")).map((l) => l.slice(5).replace(/^ /, "")).join("\n");
      if (!data) continue;
      if (data === "[DONE]") state.ended = true;
      else {
        try { onEvent(JSON.parse(data)); received += 1; } catch { /* a bad frame is skipped */ }
      }
      if (state.ended) {
        reader.cancel().catch(() => {});
        return received;
      }
    }
  }
}

function sleep(ms, signal) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => { clearTimeout(timer); resolve(); }, { once: true });
    window.addEventListener("online", () => { clearTimeout(timer); resolve(); }, { once: true });
  });
}
