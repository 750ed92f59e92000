// Environments: the list; one environment's file tree with previews, downloads and uploads.

import { describeError, getJson, upload } from "./api.js";
import { button, el, field, routeLink, when } from "./dom.js";
import { fetchBlob, preview, relative, saveBlob } from "./files.js";

export function environmentsView(root, ctx) {
  const section = el("section", "panel");
  section.setAttribute("aria-labelledby", "envs-title");
  section.appendChild(el("h2", null, "Environments")).id = "envs-title";
  const table = section.appendChild(el("table", "list"));
  table.id = "environments";
  const head = table.appendChild(el("thead")).appendChild(el("tr"));
  for (const name of ["Environment", "Status", "Files", "Updated"]) head.appendChild(el("th", null, name)).scope = "col";
  const body = table.appendChild(el("tbody"));
  root.replaceChildren(section);
  getJson("/environments?page_size=100").then((page) => {
    for (const env of page.environments) {
      const tr = body.appendChild(el("tr"));
      tr.appendChild(el("td")).appendChild(routeLink(env.id, "environments", env.id));
      tr.appendChild(el("td", null, env.status));
      tr.appendChild(el("td", null, env.file_count));
      tr.appendChild(el("td", null, when(env.updated)));
    }
    if (!page.environments.length) section.appendChild(el("p", "muted", "No environments yet."));
  }).catch((error) => ctx.notice(describeError(error)));
}

export function environmentView(root, environmentId, ctx) {
  const section = el("section", "env");
  const head = section.appendChild(el("div", "panel"));
  const title = head.appendChild(el("h2"));
  title.appendChild(el("span", "muted", "Environment "));
  title.appendChild(el("code", null, environmentId));
  const tools = head.appendChild(el("div", "row"));
  tools.appendChild(button("Download all (tar)", () => download({ path: "workspace", name: "workspace", type: "directory" })));
  const drop = head.appendChild(el("div", "dropzone"));
  drop.id = "dropzone";
  drop.appendChild(el("p", null, "Drop files here to upload them to the workspace root, or "));
  const picker = el("input");
  picker.type = "file";
  picker.multiple = true;
  picker.id = "upload-input";
  drop.appendChild(field("Upload files", picker));
  const progress = head.appendChild(el("p", "muted"));
  progress.id = "upload-status";
  progress.setAttribute("aria-live", "polite");
  const split = section.appendChild(el("div", "split"));
  const treePanel = split.appendChild(el("nav", "panel tree"));
  treePanel.setAttribute("aria-label", "Files");
  const tree = treePanel.appendChild(el("ul"));
  tree.id = "file-tree";
  const pane = split.appendChild(el("section", "panel"));
  pane.id = "preview";
  pane.setAttribute("aria-live", "polite");
  pane.appendChild(el("p", "muted", "Choose a file to preview it."));
  root.replaceChildren(section);

  async function download(entry) {
    try {
      const blob = await fetchBlob(environmentId, relative(entry));
      saveBlob(blob, entry.type === "directory" ? `${entry.name}.tar` : entry.name);
    } catch (error) {
      ctx.notice(describeError(error));
    }
  }

  async function show(entry) {
    pane.replaceChildren(el("p", "muted", "Loading…"));
    try {
      const box = await preview(environmentId, entry);
      box.appendChild(button(`Download ${entry.name}`, () => download(entry)));
      pane.replaceChildren(box);
    } catch (error) {
      pane.replaceChildren();
      ctx.notice(describeError(error));
    }
  }

  async function fill(list, path) {
    const page = await getJson(`/environments/${encodeURIComponent(environmentId)}/files/${path.split("/").map(encodeURIComponent).join("/")}?page_size=1000`);
    const entries = page.files.filter((e) => relative(e) !== path);
    entries.sort((a, b) => (a.type === b.type ? a.name.localeCompare(b.name) : a.type === "directory" ? -1 : 1));
    list.replaceChildren(...entries.map((entry) => node(entry)));
    if (!entries.length) list.appendChild(el("li", "muted", "(empty)"));
  }

  function node(entry) {
    const li = el("li", `tree__${entry.type}`);
    li.dataset.path = relative(entry);
    if (entry.type === "directory") {
      const details = li.appendChild(el("details"));
      details.appendChild(el("summary", null, `${entry.name}/`));
      const children = details.appendChild(el("ul"));
      details.appendChild(button(`Download folder ${entry.name}`, () => download(entry), "link"));
      details.addEventListener("toggle", () => {
        if (details.open && !children.childElementCount) fill(children, relative(entry)).catch((e) => ctx.notice(describeError(e)));
      });
    } else {
      li.appendChild(button(entry.name, () => show(entry), "link file"));
      li.appendChild(el("span", "muted size", `${Number(entry.size_bytes || 0).toLocaleString()} B`));
    }
    return li;
  }

  async function send(files) {
    for (const file of files) {
      progress.textContent = `Uploading ${file.name}…`;
      try {
        await upload(environmentId, file.name, file);
        progress.textContent = `Uploaded ${file.name}.`;
      } catch (error) {
        progress.textContent = "";
        ctx.notice(describeError(error));
        return;
      }
    }
    await fill(tree, "").catch((error) => ctx.notice(describeError(error)));
  }

  drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("dropzone--over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("dropzone--over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("dropzone--over");
    send([...(event.dataTransfer?.files || [])]);
  });
  picker.addEventListener("change", () => { send([...picker.files]); picker.value = ""; });
  fill(tree, "").catch((error) => ctx.notice(describeError(error)));
}
