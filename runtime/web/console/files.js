// File previews and downloads. Bytes are fetched with the key in a header, then shown from a
// blob: URL (images) or as text nodes; downloads are blob: links, so no URL ever carries the key.

import { api, encodePath } from "./api.js";
import { el, folded, zoomable } from "./dom.js";
import { markdown } from "./markdown.js";

const PREVIEW_LIMIT = 2 * 1024 * 1024;
const IMAGE = /^image\/(png|jpeg|gif|webp)$/;
const TEXT_NAMES = /\.(txt|md|markdown|py|js|ts|json|ya?ml|toml|ini|cfg|sh|css|html?|xml|csv|tsv|log|rs|go|java|c|h|cpp|rb|sql)$/i;
const MAX_CSV_ROWS = 500;

export const relative = (entry) => String(entry.path || "").replace(/^workspace\/?/, "");

export function mediaPath(environmentId, path) {
  return `/environments/${encodeURIComponent(environmentId)}/files/${encodePath(path)}?alt=media`;
}

export async function fetchBlob(environmentId, path) {
  return (await api(mediaPath(environmentId, path))).blob();
}

/** Saves ``blob`` as ``name`` through a temporary blob: link. */
export function saveBlob(blob, name) {
  const link = el("a");
  link.href = URL.createObjectURL(blob);
  link.download = name;
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 60_000);
}

export async function preview(environmentId, entry) {
  const box = el("div", "preview");
  const path = relative(entry);
  const size = Number(entry.size_bytes || 0);
  const mime = String(entry.mime_type || "");
  box.appendChild(el("h3", "preview__name", entry.name));
  if (size > PREVIEW_LIMIT) {
    box.appendChild(el("p", "muted", `Too large to preview (${size.toLocaleString()} bytes): download it.`));
    return box;
  }
  const blob = await fetchBlob(environmentId, path);
  if (IMAGE.test(mime)) {
    const img = el("img", "preview__image");
    img.src = URL.createObjectURL(blob);
    img.alt = `Preview of ${entry.name}`;
    box.appendChild(zoomable(img));
    return box;
  }
  if (!mime.startsWith("text/") && !/json|xml|yaml|javascript|x-sh|x-python/.test(mime) && !TEXT_NAMES.test(path)) {
    box.appendChild(el("p", "muted", `No preview for ${mime || "this file type"}: download it.`));
    return box;
  }
  const text = await blob.text();
  if (/\.(md|markdown)$/i.test(path)) box.appendChild(markdown(text));
  else if (/\.(csv|tsv)$/i.test(path)) box.appendChild(csvTable(text, /\.tsv$/i.test(path) ? "\t" : ","));
  else box.appendChild(folded(text, "code", 400));
  return box;
}

/** RFC 4180-ish: quoted fields with doubled quotes, separators and newlines inside quotes. */
export function parseCsv(text, sep = ",") {
  const rows = [];
  let row = [];
  let cell = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { cell += '"'; i++; }
      else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"' && cell === "") quoted = true;
    else if (c === sep) { row.push(cell); cell = ""; }
    else if (c === "\n" || c === "\r") {
      if (c === "\r" && text[i + 1] === "\n") i++;
      row.push(cell); rows.push(row); row = []; cell = "";
    } else cell += c;
  }
  if (cell !== "" || row.length) { row.push(cell); rows.push(row); }
  return rows;
}

function csvTable(text, sep) {
  const rows = parseCsv(text, sep);
  const wrap = el("div", "table-wrap");
  const table = wrap.appendChild(el("table", "csv"));
  if (!rows.length) return wrap;
  const head = table.appendChild(el("thead")).appendChild(el("tr"));
  for (const name of rows[0]) head.appendChild(el("th", null, name)).scope = "col";
  const body = table.appendChild(el("tbody"));
  for (const cells of rows.slice(1, MAX_CSV_ROWS + 1)) {
    const tr = body.appendChild(el("tr"));
    for (const cell of cells) tr.appendChild(el("td", null, cell));
  }
  if (rows.length > MAX_CSV_ROWS + 1) wrap.appendChild(el("p", "muted", `First ${MAX_CSV_ROWS} of ${rows.length - 1} rows.`));
  return wrap;
}
