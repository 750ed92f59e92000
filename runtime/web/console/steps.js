// Steps of an interaction as cards, and the stream's deltas folded into them.

import { el, folded, json, pre, zoomable } from "./dom.js";
import { markdown } from "./markdown.js";

const IMAGE_TYPES = /^image\/(png|jpeg|gif|webp)$/;
const BASE64 = /^[A-Za-z0-9+/=\s]+$/;

const LABELS = {
  user_input: "Input", model_output: "Model", thought: "Thought",
  code_execution_call: "Code", code_execution_result: "Output",
  function_call: "Tool call", function_result: "Tool result",
  mcp_server_tool_call: "MCP call", mcp_server_tool_result: "MCP result",
};

function image(block) {
  const figure = el("figure", "shot");
  const mime = String(block.mime_type || "image/png");
  if (block.data && IMAGE_TYPES.test(mime) && BASE64.test(block.data)) {
    const img = el("img");
    img.src = `data:${mime};base64,${block.data.replace(/\s/g, "")}`;
    img.alt = "Screenshot returned by the tool";
    figure.appendChild(zoomable(img));
  } else {
    figure.appendChild(el("p", "muted", `[image ${mime}]`));
  }
  return figure;
}

function contentBlock(block, asMarkdown) {
  if (!block || typeof block !== "object") return pre(json(block));
  if (block.type === "text") return asMarkdown ? markdown(block.text || "") : folded(block.text || "", "text");
  if (block.type === "image") return image(block);
  return el("p", "muted", `[${[block.type, block.mime_type, block.uri].filter(Boolean).join(" · ")}]`);
}

function contents(list, asMarkdown) {
  const wrap = el("div", "content");
  for (const block of list || []) wrap.appendChild(contentBlock(block, asMarkdown));
  return wrap;
}

function result(value, isError) {
  if (Array.isArray(value)) return contents(value, false);
  const text = json(value ?? "");
  return folded(text === "" ? "(no output)" : text, isError ? "out out--error" : "out");
}

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

function firstLine(text) {
  const line = text.trim().split("\n")[0];
  return line.length > 120 ? `${line.slice(0, 117)}…` : line;
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
    item.appendChild(folded(args.code ?? "", "code"));
    return item;
  },
  code_execution_result(step) {
    const item = card(step);
    item.appendChild(result(step.result, step.is_error));
    return item;
  },
  function_call(step) {
    const item = card(step, step.name, step.server_name);
    item.appendChild(folded(json(step.arguments ?? {}), "args"));
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

export function renderStep(step, open) {
  const render = RENDER[step.type];
  if (render) return render(step, open);
  const { type, ...rest } = step;
  const item = card({ type });
  item.appendChild(pre(json(rest), "args"));
  return item;
}

/** Folds one ``step.delta`` into ``step``; returns the accumulated argument text. */
export function applyDelta(step, delta, argText) {
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
    const { type, ...fields } = delta;
    Object.assign(step, fields);
  }
  return argText;
}

/** The last plan the agent wrote (its ``update_artifact`` call for ``plan``), or null. */
export function latestPlan(steps) {
  let plan = null;
  for (const step of steps) {
    const args = step?.arguments;
    if (step?.type === "function_call" && step.name === "update_artifact" && args?.artifact === "plan") {
      plan = String(args.content ?? "");
    }
  }
  return plan;
}
