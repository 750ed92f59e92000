// The public API, with the caller's key in the x-goog-api-key header (never in a URL, never logged).
// The key lives in this tab's sessionStorage only.

const KEY_STORAGE = "hangar.apiKey";

/** The server's root, whatever path prefix the deployment serves it under. */
export const BASE = location.pathname.replace(/\/console(\/.*)?$/, "");
export const API = `${BASE}/v1`;

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export const key = () => sessionStorage.getItem(KEY_STORAGE) || "";
export const setKey = (value) => sessionStorage.setItem(KEY_STORAGE, value);
export const forgetKey = () => sessionStorage.removeItem(KEY_STORAGE);

/** A fetch of ``path`` under ``/v1`` (or under ``root`` when given); throws ApiError on non-2xx. */
export async function api(path, options = {}, root = API) {
  const headers = { "x-goog-api-key": key(), ...(options.headers || {}) };
  const response = await fetch(`${root}${path}`, { ...options, headers, cache: "no-store" });
  if (!response.ok) throw await apiError(response);
  return response;
}

export async function getJson(path) {
  return (await api(path)).json();
}

export async function sendJson(method, path, body) {
  const init = { method, headers: { "content-type": "application/json" } };
  if (body !== undefined) init.body = JSON.stringify(body);
  return (await api(path, init)).json();
}

async function apiError(response) {
  let code = "http_error";
  let message = response.statusText || "request failed";
  try {
    const body = await response.json();
    code = body.error?.code || body.error?.status || code;
    message = body.error?.message || message;
  } catch { /* not JSON: keep the status text */ }
  return new ApiError(response.status, code, message);
}

export function describeError(error) {
  if (error instanceof ApiError) {
    if (error.status === 401) return "The API key was not accepted (401). Enter a valid key.";
    if (error.status === 404) return `Not found (404): ${error.message}`;
    return `Error ${error.status} (${error.code}): ${error.message}`;
  }
  return `Network error: ${error?.message || error}`;
}

/** Path segments go through encodeURIComponent one by one (slashes kept between them). */
export const encodePath = (path) => String(path).split("/").map(encodeURIComponent).join("/");

/** Uploads ``file`` to ``path`` in the environment, in one request. */
export async function upload(environmentId, path, file) {
  const query = new URLSearchParams({ uploadType: "media", overwrite: "true" });
  const target = `/environments/${encodeURIComponent(environmentId)}/files/${encodePath(path)}?${query}`;
  const init = { method: "POST", body: file, headers: { "content-type": file.type || "application/octet-stream" } };
  return (await api(target, init, `${BASE}/upload/v1`)).json();
}
