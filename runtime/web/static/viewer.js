// Hangar run viewer. Talks to the public API only (x-goog-api-key header, never the URL).
// Safety rule: untrusted text reaches the DOM through textContent / createTextNode only.
"use strict";

(() => {
  const KEY_STORAGE = "hangar.apiKey";
  const BASE = location.pathname.replace(/\/viewer(\/.*)?$/, "");
  const API = `${BASE}/v1`;
  const TERMINAL = new Set(["completed", "failed", "cancelled", "budget_exceeded", "incomplete",
    "requires_action", "requires_continuation"]);
  const IMAGE_TYPES = /^image\/(png|jpeg|gif|webp)$/;
  const BASE64 = /^[A-Za-z0-9+/=\s]+$/;

  const $ = (id) => document.getElementById(id);
  const ui = {
    keyPanel: $("key-panel"), keyForm: $("key-form"), keyInput: $("key-input"), keyInfo: $("keyinfo"),
    tools: $("tools"), openForm: $("open-form"), openInput: $("open-input"),
    startPanel: $("start-panel"), startForm: $("start-form"),
    notice: $("notice"), run: $("run"), runId: $("run-id"), meta: $("run-meta"),
    status: $("run-status"), cancel: $("cancel"), usage: $("run-usage"), conn: $("conn"),
    errors: $("run-errors"), steps: $("steps"),
  };

  // ---- small DOM helpers (text only) ----------------------------------------------------------

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function pre(text, className) {
    const block = el("pre", className);
    block.appendChild(el("code", null, text));
    return block;
  }

  function json(value) {
    return typeof value === "string" ? value : JSON.stringify(value, null, 2);
  }

  // ---- API --------------------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  function key() { return sessionStorage.getItem(KEY_STORAGE) || ""; }

  async function api(path, options = {}) {
    const headers = { "x-goog-api-key": key(), ...(options.headers || {}) };
    const response = await fetch(`${API}${path}`, { ...options, headers, cache: "no-store" });
    if (!response.ok) throw await apiError(response);
    return response;
  }

  async function apiError(response) {
    let code = "http_error";
    let message = response.statusText || "request failed";
    try {
      const body = await response.json();
      code = body.error?.code || code;
      message = body.error?.message || message;
    } catch { /* not JSON: keep the status text */ }
    return new ApiError(response.status, code, message);
  }

  function describeError(error, id) {
    if (error instanceof ApiError) {
      if (error.status === 401) return "The API key was not accepted (401). Enter a valid key.";
      if (error.status === 403) return "This API key may not read that interaction (403).";
      if (error.status === 404) {
        return id ? `Interaction “${id}” was not found (404). Check the id; it must belong to this key's project.`
          : `Not found (404): ${error.message}`;
      }
      return `Error ${error.status} (${error.code}): ${error.message}`;
    }
    return `Network error: ${error.message || error}`;
  }

  function showNotice(text, kind = "error") {
    ui.notice.textContent = text;
    ui.notice.className = `notice notice--${kind}`;
    ui.notice.hidden = !text;
  }

  // ---- markdown-ish rendering (builds nodes; never parses HTML) --------------------------------

  const INLINE = /(`[^`\n]+`)|(\*\*[^*\n]+\*\*)|(\[[^\]\n]+\]\((https?:\/\/[^\s)]+)\))|(\*[^*\n]+\*)/g;

  function inline(parent, text) {
    let last = 0;
    for (const match of text.matchAll(INLINE)) {
      if (match.index > last) parent.appendChild(document.createTextNode(text.slice(last, match.index)));
      const token = match[0];
      if (match[1]) parent.appendChild(el("code", null, token.slice(1, -1)));
      else if (match[2]) parent.appendChild(el("strong", null, token.slice(2, -2)));
      else if (match[3]) {
        const link = el("a", null, token.slice(1, token.indexOf("](")));
        link.href = match[4];
        link.rel = "noopener noreferrer nofollow";
        link.target = "_blank";
        parent.appendChild(link);
      } else parent.appendChild(el("em", null, token.slice(1, -1)));
      last = match.index + token.length;
    }
    if (last < text.length) parent.appendChild(document.createTextNode(text.slice(last)));
  }

  function markdown(text) {
    const root = el("div", "md");
    const lines = String(text).split("\n");
    let para = null;
    let list = null;
    const flush = () => { para = null; list = null; };
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i];
      const fence = line.match(/^\s*```\s*([\w+-]*)\s*$/);
      if (fence) {
        const body = [];
        for (i++; i < lines.length && !/^\s*```\s*$/.test(lines[i]); i++) body.push(lines[i]);
        const block = pre(body.join("\n"), "code");
        if (fence[1]) block.dataset.lang = fence[1];
        root.appendChild(block);
        flush();
        continue;
      }
      const heading = line.match(/^(#{1,4})\s+(.*)$/);
      const bullet = line.match(/^\s*([-*]|\d+[.)])\s+(.*)$/);
      if (!line.trim()) flush();
      else if (heading) {
        const h = el(`h${Math.min(heading[1].length + 2, 6)}`);
        inline(h, heading[2]);
        root.appendChild(h);
        flush();
      } else if (bullet) {
        const ordered = /\d/.test(bullet[1]);
        if (!list || (list.tagName === "OL") !== ordered) {
          list = root.appendChild(el(ordered ? "ol" : "ul"));
        }
        const item = list.appendChild(el("li"));
        inline(item, bullet[2]);
        para = null;
      } else if (para) {
        para.appendChild(document.createElement("br"));
        inline(para, line);
      } else {
        para = root.appendChild(el("p"));
        list = null;
        inline(para, line);
      }
    }
    return root;
  }

  // ---- content blocks ----------------------------------------------------------------------------

  function contentBlock(block, asMarkdown) {
    if (!block || typeof block !== "object") return pre(json(block));
    if (block.type === "text") return asMarkdown ? markdown(block.text || "") : pre(block.text || "", "text");
    if (block.type === "image") return image(block);
    const label = [block.type, block.mime_type, block.uri].filter(Boolean).join(" · ");
    return el("p", "muted", `[${label}]`);
  }

  function image(block) {
    const figure = el("figure", "shot");
    const mime = String(block.mime_type || "image/png");
    if (block.data && IMAGE_TYPES.test(mime) && BASE64.test(block.data)) {
      const img = el("img");
      img.src = `data:${mime};base64,${block.data.replace(/\s/g, "")}`;
      img.alt = "Screenshot returned by the tool";
      img.loading = "lazy";
      figure.appendChild(img);
    } else {
      figure.appendChild(el("p", "muted", `[image ${mime}${block.uri ? ` at ${block.uri}` : ""}]`));
    }
    return figure;
  }

  function contents(list, asMarkdown) {
    const wrap = el("div", "content");
    for (const block of list || []) wrap.appendChild(contentBlock(block, asMarkdown));
    return wrap;
  }

  function result(value, isError) {
    if (Array.isArray(value)) return contents(value, false);
    const text = json(value ?? "");
    return pre(text === "" ? "(no output)" : text, isError ? "out out--error" : "out");
  }

  // ---- steps --------------------------------------------------------------------------------------

  const LABELS = {
    user_input: "Input", model_output: "Model", thought: "Thought",
    code_execution_call: "Code", code_execution_result: "Output",
    function_call: "Tool call", function_result: "Tool result",
    mcp_server_tool_call: "MCP call", mcp_server_tool_result: "MCP result",
  };

  function card(step, title, tag) {
    const item = el("li", `step step--${String(step.type).replace(/[^a-z_]/g, "")}`);
    const head = el("div", "step__head");
    head.appendChild(el("span", "step__kind", LABELS[step.type] || String(step.type).replace(/_/g, " ")));
    if (title) head.appendChild(el("span", "step__title", title));
    if (tag) head.appendChild(el("span", "tag", tag));
    if (step.is_error) head.appendChild(el("span", "tag tag--error", "error"));
    item.appendChild(head);
    return item;
  }

  const RENDER = {
    user_input(step) {
      const item = card(step);
      item.appendChild(contents(step.content, true));
      return item;
    },
    model_output(step) {
      const item = card(step);
      item.appendChild(contents(step.content, true));
      if (step.error) item.appendChild(el("p", "out--error", `Error ${step.error.code ?? ""}: ${step.error.message ?? ""}`));
      return item;
    },
    thought(step, open) {
      const item = card(step);
      const details = el("details", "thought");
      details.open = Boolean(open);
      const text = (step.summary || []).filter((b) => b.type === "text").map((b) => b.text).join("");
      details.appendChild(el("summary", null, text ? firstLine(text) : "Thinking…"));
      details.appendChild(contents(step.summary, true));
      item.appendChild(details);
      return item;
    },
    code_execution_call(step) {
      const args = step.arguments || {};
      const item = card(step, null, args.language || "code");
      const block = pre(args.code ?? "", "code");
      block.setAttribute("aria-label", `${args.language || "code"} code`);
      item.appendChild(block);
      return item;
    },
    code_execution_result(step) {
      const item = card(step);
      item.appendChild(result(step.result, step.is_error));
      return item;
    },
    function_call(step) {
      const item = card(step, step.name, step.server_name);
      item.appendChild(pre(json(step.arguments ?? {}), "args"));
      return item;
    },
    function_result(step) {
      const item = card(step, step.name, step.server_name);
      item.appendChild(result(step.result, step.is_error));
      return item;
    },
  };
  RENDER.mcp_server_tool_call = RENDER.function_call;
  RENDER.mcp_server_tool_result = RENDER.function_result;

  function firstLine(text) {
    const line = text.trim().split("\n")[0];
    return line.length > 120 ? `${line.slice(0, 117)}…` : line;
  }

  function renderStep(step, open) {
    const render = RENDER[step.type];
    if (render) return render(step, open);
    const { type, ...rest } = step;
    const item = card({ type });
    item.appendChild(pre(json(rest), "args"));
    return item;
  }

  // ---- the run: state, events, stream -----------------------------------------------------------

  let run = null;

  function newRun(id) {
    return { id, steps: new Map(), nodes: new Map(), args: new Map(), dirty: new Set(),
      lastEventId: null, status: null, ended: false, streamedSteps: false, controller: new AbortController(), retry: 0 };
  }

  function applyDelta(step, delta, argText) {
    if (delta.type === "text") {
      const content = (step.content ||= []);
      const tail = content[content.length - 1];
      if (tail && tail.type === "text") tail.text += delta.text || "";
      else content.push({ type: "text", text: delta.text || "" });
    } else if (delta.type === "thought_summary" && delta.content) {
      const summary = (step.summary ||= []);
      const tail = summary[summary.length - 1];
      if (tail && tail.type === "text" && delta.content.type === "text") tail.text += delta.content.text || "";
      else summary.push({ ...delta.content });
    } else if (delta.type === "arguments_delta") {
      const text = argText + (delta.arguments || "");
      try { step.arguments = JSON.parse(text); } catch { /* incomplete JSON so far */ }
      return text;
    } else if (["image", "audio", "video", "document"].includes(delta.type)) {
      (step.content ||= []).push({ ...delta });
    } else if (delta.type !== "thought_signature") {
      const { type, ...fields } = delta;  // a whole-value delta (call arguments, a result)
      Object.assign(step, fields);
    }
    return argText;
  }

  function onEvent(event) {
    if (event.event_id !== undefined) run.lastEventId = event.event_id;
    switch (event.event_type) {
      case "interaction.created":
      case "interaction.completed":
        showHead(event.interaction || {});
        if (event.event_type === "interaction.completed") run.ended = true;
        break;
      case "interaction.status_update":
        showStatus(event.status);
        if (event.usage) showUsage(event.usage);
        break;
      case "step.start":
        run.streamedSteps = true;
        run.steps.set(event.index, structuredClone(event.step));
        run.args.set(event.index, "");
        touch(event.index);
        break;
      case "step.delta": {
        const step = run.steps.get(event.index);
        if (!step) break;
        run.args.set(event.index, applyDelta(step, event.delta || {}, run.args.get(event.index) || ""));
        touch(event.index);
        break;
      }
      case "step.stop":
        if (event.usage) showUsage(event.usage);
        break;
      case "error":
        addError(event.error || {});
        break;
      default:
        break;
    }
  }

  function touch(index) {
    if (run.dirty.size === 0) requestAnimationFrame(paint);
    run.dirty.add(index);
  }

  function paint() {
    const state = run;
    for (const index of [...state.dirty].sort((a, b) => a - b)) {
      const old = state.nodes.get(index);
      const open = old?.querySelector("details")?.open;
      const node = renderStep(state.steps.get(index), open);
      node.dataset.index = String(index);
      if (old) old.replaceWith(node);
      else insertInOrder(node, index);
      state.nodes.set(index, node);
    }
    state.dirty.clear();
  }

  function insertInOrder(node, index) {
    const after = [...ui.steps.children].find((child) => Number(child.dataset.index) > index);
    ui.steps.insertBefore(node, after || null);
  }

  // ---- the head: status, usage, errors ------------------------------------------------------------

  function showHead(interaction) {
    if (interaction.status) showStatus(interaction.status);
    if (interaction.usage) showUsage(interaction.usage);
    const meta = [];
    if (interaction.agent) meta.push(`agent ${interaction.agent}`);
    if (interaction.model) meta.push(`model ${interaction.model}`);
    if (interaction.created) meta.push(`created ${new Date(interaction.created).toLocaleString()}`);
    if (meta.length) ui.meta.textContent = meta.join(" · ");
  }

  function showStatus(status) {
    run.status = status;
    ui.status.textContent = String(status).replace(/_/g, " ");
    ui.status.className = `status status--${String(status).replace(/[^a-z_]/g, "")}`;
    ui.cancel.hidden = TERMINAL.has(status);
  }

  const USAGE = [["total_tokens", "Total tokens"], ["total_input_tokens", "Input"],
    ["total_output_tokens", "Output"], ["total_thought_tokens", "Thought"], ["total_tool_use_tokens", "Tool use"]];

  function showUsage(usage) {
    ui.usage.replaceChildren();
    for (const [field, label] of USAGE) {
      const group = el("div");
      group.appendChild(el("dt", null, label));
      group.appendChild(el("dd", null, Number(usage[field] || 0).toLocaleString()));
      ui.usage.appendChild(group);
    }
  }

  function addError(error) {
    const text = `${error.code || "error"}: ${error.message || ""}`;
    if ([...ui.errors.children].some((li) => li.textContent === text)) return;
    ui.errors.appendChild(el("li", null, text));
  }

  // ---- following the stream ------------------------------------------------------------------------

  async function follow(state) {
    while (!state.ended && !state.controller.signal.aborted) {
      try {
        // A stream that closes early is resumed at once; one that brings nothing may mean the
        // interaction ended without a log, so ask for its status before trying again.
        const received = await readStream(state);
        state.retry = 0;
        if (!state.ended && received === 0) await checkEnded(state);
      } catch (error) {
        if (state.controller.signal.aborted) return;
        if (error instanceof ApiError && error.status < 500 && error.status !== 429) {
          showNotice(describeError(error, state.id));
          if (error.status === 401) askForKey();
          return;
        }
        const wait = Math.min(1000 * 2 ** state.retry++, 10000);
        ui.conn.textContent = `Connection lost — reconnecting in ${Math.round(wait / 1000)} s from event ${state.lastEventId ?? "start"}…`;
        await sleep(wait, state.controller.signal);
      }
    }
    if (state === run) {
      ui.conn.textContent = "";
      await refresh(state);
    }
  }

  async function readStream(state) {
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
        if (state !== run) return received;
        const handled = handleFrame(state, frame);
        received += handled ? 1 : 0;
        if (state.ended || handled === null) {
          reader.cancel().catch(() => {});
          return received;
        }
      }
    }
  }

  /** Handles one SSE frame: true for an event, false for a comment or bad data, null for [DONE]. */
  function handleFrame(state, frame) {
    const data = frame.split(/\r?\n/).filter((line) => line.startsWith("data:"))
      .map((line) => line.slice(5).replace(/^ /, "")).join("\n");
    if (!data) return false;
    if (data === "[DONE]") return null;
    let event;
    try { event = JSON.parse(data); } catch { return false; }
    onEvent(event);
    return true;
  }

  async function checkEnded(state) {
    const interaction = await (await api(`/interactions/${encodeURIComponent(state.id)}`)).json();
    if (TERMINAL.has(interaction.status)) state.ended = true;
    else await sleep(500, state.controller.signal);
  }

  async function refresh(state) {
    try {
      const interaction = await (await api(`/interactions/${encodeURIComponent(state.id)}`)).json();
      if (state !== run) return;
      showHead(interaction);
      for (const error of interaction.errors || []) addError(error);
      if (!state.streamedSteps) addSteps(state, interaction.steps, false);
    } catch (error) {
      showNotice(describeError(error, state.id));
    }
  }

  /** Steps from a GET: the input steps are not in the event log, and a run whose process died
   * may have no log at all. Event indices are positions in this list, so the stream's
   * ``step.start`` replaces a snapshot step and never duplicates it. */
  function addSteps(state, steps, replace) {
    (steps || []).forEach((step, index) => {
      if (!replace && state.steps.has(index)) return;
      state.steps.set(index, step);
      touch(index);
    });
  }

  function sleep(ms, signal) {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      signal.addEventListener("abort", () => { clearTimeout(timer); resolve(); }, { once: true });
      window.addEventListener("online", () => { clearTimeout(timer); resolve(); }, { once: true });
    });
  }

  async function open(id) {
    if (run) run.controller.abort();
    run = newRun(id);
    const state = run;
    showNotice("");
    ui.steps.replaceChildren();
    ui.usage.replaceChildren();
    ui.errors.replaceChildren();
    ui.meta.textContent = "";
    ui.conn.textContent = "";
    ui.runId.textContent = id;
    ui.openInput.value = id;
    document.title = `${id} · Hangar`;
    try {
      const interaction = await (await api(`/interactions/${encodeURIComponent(id)}`)).json();
      if (state !== run) return;
      ui.run.hidden = false;
      showHead(interaction);
      for (const error of interaction.errors || []) addError(error);
      addSteps(state, interaction.steps, true);
    } catch (error) {
      if (state !== run) return;
      ui.run.hidden = true;
      showNotice(describeError(error, id));
      if (error instanceof ApiError && error.status === 401) askForKey();
      return;
    }
    await follow(state);
  }

  // ---- forms and navigation --------------------------------------------------------------------------

  function askForKey() {
    sessionStorage.removeItem(KEY_STORAGE);
    ui.keyPanel.hidden = false;
    ui.keyInfo.hidden = true;
    ui.tools.hidden = true;
    ui.keyInput.focus();
  }

  function ready() {
    ui.keyPanel.hidden = true;
    ui.keyInfo.hidden = false;
    ui.tools.hidden = false;
  }

  function currentId() {
    return decodeURIComponent(location.hash.slice(1)).trim();
  }

  function route() {
    const id = currentId();
    if (!key()) { askForKey(); return; }
    ready();
    if (id) open(id);
    else ui.openInput.focus();
  }

  ui.keyForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const value = ui.keyInput.value.trim();
    if (!value) return;
    sessionStorage.setItem(KEY_STORAGE, value);
    ui.keyInput.value = "";
    showNotice("");
    route();
  });

  $("forget-key").addEventListener("click", () => {
    if (run) run.controller.abort();
    askForKey();
  });

  ui.openForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const id = ui.openInput.value.trim();
    if (!id) return;
    if (currentId() === id) open(id);
    else location.hash = encodeURIComponent(id);
  });

  ui.startForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = { agent: $("start-agent").value.trim(), input: $("start-input").value, background: true };
    const button = ui.startForm.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      const created = await (await api("/interactions", {
        method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body),
      })).json();
      ui.startPanel.open = false;
      $("start-input").value = "";
      location.hash = encodeURIComponent(created.id);
    } catch (error) {
      showNotice(error instanceof ApiError && error.status === 404
        ? `Could not start: ${error.message}` : describeError(error));
      if (error instanceof ApiError && error.status === 401) askForKey();
    } finally {
      button.disabled = false;
    }
  });

  ui.cancel.addEventListener("click", async () => {
    if (!run) return;
    ui.cancel.disabled = true;
    try {
      const interaction = await (await api(`/interactions/${encodeURIComponent(run.id)}/cancel`, { method: "POST" })).json();
      showHead(interaction);
    } catch (error) {
      showNotice(describeError(error, run.id));
    } finally {
      ui.cancel.disabled = false;
    }
  });

  window.addEventListener("hashchange", route);
  route();
})();
