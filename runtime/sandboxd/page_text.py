"""Readable page text for the browser's ``content`` action: plain text and a compact Markdown.

The DOM walk runs in the page (one ``evaluate``), so it sees computed visibility and absolute
link targets; Python only normalizes whitespace and truncates.
"""

from __future__ import annotations

import re

# Inline text is whitespace-collapsed; blocks are separated by "\n\n" and squeezed afterwards.
# Hidden elements (display:none, visibility:hidden, <script>, <template>...) are skipped.
MARKDOWN_JS = r"""
() => {
  const SKIP = new Set(["SCRIPT", "STYLE", "NOSCRIPT", "TEMPLATE", "SVG", "CANVAS", "IFRAME",
                        "HEAD", "META", "LINK", "OBJECT", "EMBED"]);
  const BLOCK = new Set(["P", "DIV", "SECTION", "ARTICLE", "MAIN", "HEADER", "FOOTER", "NAV",
                         "ASIDE", "FORM", "FIGURE", "FIGCAPTION", "DL", "DT", "DD", "DETAILS",
                         "SUMMARY", "ADDRESS", "FIELDSET", "CENTER"]);
  const visible = (el) => !el.checkVisibility || el.checkVisibility({visibilityProperty: true});
  const inline = (s) => s.replace(/\s+/g, " ");
  const block = (s) => { s = s.trim(); return s ? "\n\n" + s + "\n\n" : ""; };
  const kids = (el, ctx) => Array.from(el.childNodes, (n) => walk(n, ctx)).join("");
  // Continuation lines of list items are indented with \u0001, which Python turns into spaces
  // after stripping the stray leading spaces that inline whitespace leaves on other lines.
  const indent = (s, n) => s.replace(/\n+/g, "\n" + "\u0001".repeat(n));
  const list = (el, ctx) => {
    const ordered = el.tagName === "OL";
    let i = Number(el.getAttribute("start") || 1);
    const items = [];
    for (const li of el.children) {
      if (li.tagName !== "LI" || !visible(li)) continue;
      const marker = ordered ? `${i++}. ` : "- ";
      items.push(marker + indent(kids(li, ctx).trim(), marker.length));
    }
    return "\n\n" + items.join("\n") + "\n\n";
  };
  const table = (el, ctx) => {
    const rows = Array.from(el.querySelectorAll("tr")).filter(visible).map((tr) =>
      "| " + Array.from(tr.children, (c) => kids(c, ctx).trim().replace(/\s*\n+\s*/g, " ")
        .replace(/\|/g, "\\|")).join(" | ") + " |");
    if (!rows.length) return "";
    const cols = (rows[0].match(/ \| /g) || []).length + 1;
    rows.splice(1, 0, "|" + " --- |".repeat(cols));
    return "\n\n" + rows.join("\n") + "\n\n";
  };
  const link = (el, ctx) => {
    const text = kids(el, ctx).trim();
    const href = el.href || "";
    if (!text) return "";
    if (!href || href.startsWith("javascript:")) return text;
    return `[${text.replace(/\n+/g, " ")}](${href})`;
  };
  const walk = (node, ctx) => {
    if (node.nodeType === Node.TEXT_NODE) return ctx.pre ? node.data : inline(node.data);
    if (node.nodeType !== Node.ELEMENT_NODE) return "";
    const el = node, tag = el.tagName.toUpperCase();
    if (SKIP.has(tag) || !visible(el)) return "";
    if (/^H[1-6]$/.test(tag)) return block("#".repeat(Number(tag[1])) + " " + kids(el, ctx).trim());
    switch (tag) {
      case "BR": return "\n";
      case "HR": return "\n\n---\n\n";
      case "A": return link(el, ctx);
      case "UL": case "OL": return list(el, ctx);
      case "TABLE": return table(el, ctx);
      case "PRE": return "\n\n```\n" + el.innerText.replace(/\n+$/, "") + "\n```\n\n";
      case "CODE": return ctx.pre ? el.textContent : "`" + el.textContent.trim() + "`";
      case "STRONG": case "B": { const t = kids(el, ctx).trim(); return t ? `**${t}**` : ""; }
      case "EM": case "I": { const t = kids(el, ctx).trim(); return t ? `*${t}*` : ""; }
      case "BLOCKQUOTE": return block("> " + kids(el, ctx).trim().replace(/\n/g, "\n> "));
      case "IMG": {
        const alt = (el.getAttribute("alt") || "").trim();
        return alt && !el.src.startsWith("data:") ? `![${alt}](${el.src})` : "";
      }
      case "INPUT": {
        const type = (el.getAttribute("type") || "text").toLowerCase();
        if (type === "hidden") return "";
        if (["submit", "button", "reset"].includes(type)) return ` [${el.value || type}] `;
        const label = el.getAttribute("name") || el.getAttribute("placeholder") || type;
        return ` [${label}: ${el.value}] `;
      }
      case "LI": return block(kids(el, ctx));
    }
    const out = kids(el, ctx);
    return BLOCK.has(tag) || tag === "BODY" ? block(out) : out;
  };
  return walk(document.body || document.documentElement, {pre: false});
}
"""

_SPACES = re.compile(r"[ \t\f\v\u00a0]+")
_BLANK_RUNS = re.compile(r"\n{3,}")
_INDENT = "\x01"  # list continuation indent emitted by MARKDOWN_JS
_FENCE = re.compile(r"(```\n.*?\n```)", re.DOTALL)


def normalize_text(text: str) -> str:
    """Collapse runs of spaces, strip every line, keep at most one blank line between blocks."""
    lines = (_SPACES.sub(" ", line).strip() for line in text.splitlines())
    return _BLANK_RUNS.sub("\n\n", "\n".join(lines)).strip()


def normalize_markdown(markdown: str) -> str:
    """Like :func:`normalize_text`, but leave fenced code blocks and list indentation intact."""
    parts = _FENCE.split(markdown)
    out = [part if i % 2 else _squeeze_markdown(part) for i, part in enumerate(parts)]
    joined = _BLANK_RUNS.sub("\n\n", "\n\n".join(p for p in out if p)).strip()
    return joined.replace(_INDENT, " ")


def _squeeze_markdown(text: str) -> str:
    lines = (_SPACES.sub(" ", line).strip(" ") for line in text.splitlines())
    return _BLANK_RUNS.sub("\n\n", "\n".join("" if not ln.strip(_INDENT) else ln for ln in lines)).strip()


def truncate(text: str, max_chars: int) -> tuple[str, bool]:
    """Cut ``text`` to ``max_chars`` characters; the flag says whether anything was dropped."""
    if len(text) <= max_chars:
        return text, False
    return text[:max_chars], True
