// A small markdown subset rendered by building nodes (headings, paragraphs, lists, code, bold,
// italics, http(s) links). It never parses HTML: raw tags in the source stay visible text.

import { el, pre, safeLink } from "./dom.js";

const INLINE = /(`[^`\n]+`)|(\*\*[^*\n]+\*\*)|(\[[^\]\n]+\]\(([^\s)]+)\))|(\*[^*\n]+\*)/g;

function inline(parent, text) {
  let last = 0;
  for (const match of text.matchAll(INLINE)) {
    if (match.index > last) parent.appendChild(document.createTextNode(text.slice(last, match.index)));
    const token = match[0];
    if (match[1]) parent.appendChild(el("code", null, token.slice(1, -1)));
    else if (match[2]) parent.appendChild(el("strong", null, token.slice(2, -2)));
    else if (match[3]) {
      const label = token.slice(1, token.indexOf("]("));
      const node = /^https?:\/\//.test(match[4]) ? safeLink(label, match[4]) : document.createTextNode(token);
      parent.appendChild(node);
    } else parent.appendChild(el("em", null, token.slice(1, -1)));
    last = match.index + token.length;
  }
  if (last < text.length) parent.appendChild(document.createTextNode(text.slice(last)));
}

export function markdown(text) {
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
      if (!list || (list.tagName === "OL") !== ordered) list = root.appendChild(el(ordered ? "ol" : "ul"));
      inline(list.appendChild(el("li")), bullet[2]);
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
