// Google's JavaScript SDK (@google/genai) against a Hangar server, as its docs use it.
// Usage: node client.mjs SCENARIO   (HANGAR_URL, HANGAR_KEY, HANGAR_AGENT, HANGAR_MODEL in the environment)
// Prints one JSON object on stdout: what the SDK saw. test_js_sdk.py runs it and checks that.
import { GoogleGenAI } from "@google/genai";

const ai = new GoogleGenAI({
  apiKey: process.env.HANGAR_KEY,
  httpOptions: { baseUrl: process.env.HANGAR_URL },
});
const AGENT = process.env.HANGAR_AGENT;
const MODEL = process.env.HANGAR_MODEL;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function settle(id, limitMs = 90000) {
  const deadline = Date.now() + limitMs;
  for (;;) {
    const interaction = await ai.interactions.get(id);
    if (interaction.status !== "in_progress" || Date.now() > deadline) return interaction;
    await sleep(200);
  }
}

function seen(interaction) {
  return {
    id: interaction.id,
    status: interaction.status,
    steps: (interaction.steps ?? []).map((step) => step.type),
    output_text: interaction.output_text ?? null,
  };
}

async function collect(stream) {
  const events = [];
  let text = "";
  let id = null;
  for await (const event of stream) {
    if (event.event_type === "interaction.created") id = event.interaction.id;
    const entry = { type: event.event_type, id: event.event_id ?? null };
    if (event.event_type === "step.start") entry.step = event.step.type;
    if (event.event_type === "step.delta") {
      entry.delta = event.delta.type;
      if (event.delta.type === "text") text += event.delta.text;
    }
    events.push(entry);
  }
  return { events, text, id };
}

const scenarios = {
  // Background agent run: the id at once, then get until it settles.
  async "agent-background"() {
    const created = await ai.interactions.create({ agent: AGENT, input: "write a note", background: true });
    const done = await settle(created.id);
    return { created: seen(created), done: seen(done) };
  },
  // Streamed agent run: events as the docs' loop prints them.
  async "agent-stream"() {
    const stream = await ai.interactions.create({ agent: AGENT, input: "answer", stream: true });
    const streamed = await collect(stream);
    return { ...streamed, done: seen(await ai.interactions.get(streamed.id)) };
  },
  // Cancel a running agent: cancelled, and get agrees.
  async "agent-cancel"() {
    const created = await ai.interactions.create({ agent: AGENT, input: "wait", background: true });
    const deadline = Date.now() + 60000;
    while (Date.now() < deadline) {
      const now = await ai.interactions.get(created.id);
      if ((now.steps ?? []).some((step) => step.type === "code_execution_call")) break;
      await sleep(200);
    }
    const cancelled = await ai.interactions.cancel(created.id);
    const after = await ai.interactions.get(created.id);
    return { cancelled: cancelled.status, after: after.status };
  },
  // Model interaction: a plain answer, then a stream resumed after its second event with get.
  async model() {
    const answer = await ai.interactions.create({ model: MODEL, input: "hi" });
    const streamed = await collect(await ai.interactions.create({ model: MODEL, input: "stream", stream: true }));
    const after = streamed.events[1].id;
    const resumed = await collect(await ai.interactions.get(streamed.id, { stream: true, last_event_id: after }));
    return { answer: seen(answer), streamed, resumed: resumed.events, done: seen(await ai.interactions.get(streamed.id)) };
  },
  // Environments: create with an inline source, upload, list, download, an agent run in it, delete.
  async environments() {
    const sources = [{ type: "inline", target: "/workspace/templates/a.txt", content: "from a source" }];
    const env = await ai.environments.create({ sources });
    const bytes = new TextEncoder().encode("uploaded from js");
    await ai.environments.files.upload({ environment: env.id, path: "up/b.txt", file: bytes });
    const listing = await ai.environments.files.list({ environment: env.id, path: "", recursive: true });
    const data = await ai.environments.files.download({ environment: env.id, path: "up/b.txt" });
    const run = await ai.interactions.create({ agent: AGENT, input: "read", environment: env.id });
    const got = await ai.environments.get(env.id);
    await ai.environments.delete(env.id);
    return {
      files: (listing.files ?? []).map((file) => file.path).sort(),
      downloaded: new TextDecoder().decode(data),
      run: seen(run),
      last_accessed: got.last_accessed ?? null,
    };
  },
  // Errors: an unknown agent is the SDK's not-found error, a bad field a 400 naming it.
  async errors() {
    const out = {};
    try {
      await ai.interactions.get("no-such-interaction");
    } catch (error) {
      out.missing = error.status ?? error.statusCode ?? String(error);
    }
    try {
      await ai.interactions.create({ model: MODEL, input: "hi", generation_config: { temperature: "hot" } });
    } catch (error) {
      out.bad = { status: error.status ?? error.statusCode ?? null, message: String(error.message ?? error) };
    }
    return out;
  },
};

const name = process.argv[2];
if (!(name in scenarios)) {
  console.error(`unknown scenario ${name}; one of ${Object.keys(scenarios).join(", ")}`);
  process.exit(2);
}
process.stdout.write(JSON.stringify(await scenarios[name]()) + "\n");
