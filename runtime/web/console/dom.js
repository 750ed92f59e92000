// DOM helpers. Safety rule: data reaches the page through textContent / createTextNode only;
// links are made only for http(s) URLs, and open with rel=noopener.

export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

export function pre(text, className) {
  const block = el("pre", className);
  block.appendChild(el("code", null, text));
  return block;
}

export const json = (value) => (typeof value === "string" ? value : JSON.stringify(value, null, 2));

export function button(text, onClick, className = "secondary") {
  const node = el("button", className, text);
  node.type = "button";
  node.addEventListener("click", onClick);
  return node;
}

/** A link only for an absolute http(s) URL; anything else stays text. */
export function safeLink(text, url) {
  let parsed = null;
  try { parsed = new URL(url); } catch { /* not a URL */ }
  if (!parsed || !["http:", "https:"].includes(parsed.protocol)) return document.createTextNode(text);
  const link = el("a", null, text);
  link.href = parsed.href;
  link.rel = "noopener noreferrer nofollow";
  link.target = "_blank";
  return link;
}

/** An in-console link (a ``#/…`` route built from encoded parts). */
export function routeLink(text, ...parts) {
  const link = el("a", null, text);
  link.href = `#/${parts.map((p) => encodeURIComponent(p)).join("/")}`;
  return link;
}

/** Long text folded: the first lines shown, the rest behind a "Show all" disclosure. */
export function folded(text, className, lines = 12) {
  const all = String(text);
  const rows = all.split("\n");
  if (rows.length <= lines && all.length <= 2000) return pre(all, className);
  const wrap = el("div", "fold");
  wrap.appendChild(pre(`${rows.slice(0, lines).join("\n").slice(0, 2000)}\n…`, className));
  const details = el("details");
  details.appendChild(el("summary", null, `Show all ${rows.length} lines`));
  details.appendChild(pre(all, className));
  details.addEventListener("toggle", () => { wrap.firstChild.hidden = details.open; });
  wrap.appendChild(details);
  return wrap;
}

let fieldCount = 0;

/** A labelled control: the label names it with ``for`` (a wrapping label would add the
 * control's own value to its accessible name). */
export function field(labelText, control) {
  const wrap = el("div", "field");
  control.id ||= `field-${++fieldCount}`;
  const label = wrap.appendChild(el("label", null, labelText));
  label.htmlFor = control.id;
  wrap.appendChild(control);
  return wrap;
}

export function input(name, attrs = {}) {
  const node = el(attrs.tag || "input");
  node.name = name;
  for (const [k, v] of Object.entries(attrs)) if (k !== "tag") node.setAttribute(k, v);
  return node;
}

export function select(name, options, value = "") {
  const node = el("select");
  node.name = name;
  for (const [optValue, text] of options) {
    const option = el("option", null, text);
    option.value = optValue;
    node.appendChild(option);
  }
  node.value = value;
  return node;
}

export function when(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? String(iso) : date.toLocaleString();
}

export function statusBadge(status) {
  return el("span", `status status--${String(status).replace(/[^a-z_]/g, "")}`, String(status).replace(/_/g, " "));
}

/** Zoom: an image opens in a modal dialog (Escape or a click closes it). */
export function zoomable(img) {
  img.tabIndex = 0;
  img.classList.add("zoomable");
  img.title = "Click to zoom";
  const openZoom = () => {
    const dialog = el("dialog", "zoom");
    dialog.setAttribute("aria-label", img.alt || "Image");
    const big = el("img");
    big.src = img.src;
    big.alt = img.alt;
    dialog.appendChild(big);
    dialog.appendChild(button("Close", () => dialog.close()));
    dialog.addEventListener("close", () => dialog.remove());
    dialog.addEventListener("click", (event) => { if (event.target === dialog || event.target === big) dialog.close(); });
    document.body.appendChild(dialog);
    dialog.showModal();
  };
  img.addEventListener("click", openZoom);
  img.addEventListener("keydown", (event) => { if (event.key === "Enter" || event.key === " ") { event.preventDefault(); openZoom(); } });
  return img;
}
