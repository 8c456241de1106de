// The chat page of `hypergraph serve`: no framework, no network beyond this server.
// Each turn posts the conversation to runs/stream and reads the server-sent events as
// they arrive: the reply node's chunks grow the text, node events drive the progress
// pills, Stop asks the server to stop the run (what arrived stays), and a failing node
// shows its error under the partial text. With a resume window, a dropped connection
// is continued from the last event id.
"use strict";

const $ = (id) => document.getElementById(id);
const conversation = $("conversation");
const input = $("input");
const sendButton = $("send");
const stopButton = $("stop");

const history = [];
let info = { messages_input: "messages", answer_node: null, answer_output: null };
let current = null; // the turn in progress

async function loadInfo() {
  try {
    const response = await fetch("info");
    info = await response.json();
    $("about").textContent = `model ${info.model}` + (info.answer_node ? ` · reply from ${info.answer_node}` : "");
    if (info.chat_problem) showBanner(info.chat_problem);
  } catch (error) {
    showBanner(`Could not read the server's info: ${error}`);
  }
}

function showBanner(text) {
  const banner = $("banner");
  banner.textContent = text;
  banner.hidden = false;
}

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function scrollDown() {
  conversation.scrollTop = conversation.scrollHeight;
}

function isAnswer(event) {
  const answer = info.answer_node;
  if (answer === null || answer === undefined) return true;
  const path = [...(event.graph_path || []), event.node_name].join("/");
  return event.node_name === answer || path === answer;
}

// -- one turn ------------------------------------------------------------------------

class Turn {
  constructor() {
    $("empty")?.remove();
    this.box = element("div", "msg assistant");
    this.box.dataset.state = "running";
    this.nodes = element("div", "nodes");
    this.textEl = element("div", "text");
    this.statusEl = element("div", "status", "waiting for the first token…");
    this.box.append(this.nodes, this.textEl, this.statusEl);
    conversation.append(this.box);
    this.text = "";
    this.chunks = 0;
    this.pills = new Map();
    this.runId = null;
    this.lastId = null;
    this.ended = false;
    this.stopping = false;
    this.errorShown = false;
    this.started = performance.now();
    this.firstToken = null;
    this.abort = new AbortController();
    scrollDown();
  }

  on(kind, data) {
    switch (kind) {
      case "node_start":
        this.pill(data, "running");
        break;
      case "node_end": {
        const pill = this.pills.get(data.span_id);
        const gate = pill && pill.dataset.decision !== undefined;
        const closedByStop = this.stopping && !gate && Object.keys(data.outputs || {}).length === 0;
        this.pill(data, closedByStop ? "stopped" : "completed", data.duration_ms);
        break;
      }
      case "node_error":
        this.pill(data, "failed", data.duration_ms);
        this.error(`Node '${[...data.graph_path, data.node_name].join("/")}' failed: ${data.error.type}: ${data.error.message}`);
        break;
      case "route_decision": {
        const pill = this.pill(data, "running");
        pill.dataset.decision = typeof data.decision === "string" ? data.decision : JSON.stringify(data.decision);
        break;
      }
      case "chunk":
        if (isAnswer(data)) this.add(typeof data.chunk === "string" ? data.chunk : JSON.stringify(data.chunk));
        break;
      case "stop_requested":
        this.stopping = true;
        this.statusEl.textContent = "stopping…";
        break;
      case "result":
        this.finish(data);
        break;
    }
  }

  pill(data, status, durationMs) {
    let pill = this.pills.get(data.span_id);
    if (!pill) {
      pill = element("span", "node");
      pill.dataset.node = [...(data.graph_path || []), data.node_name].join("/");
      this.pills.set(data.span_id, pill);
      this.nodes.append(pill);
    }
    pill.dataset.status = status;
    const time = durationMs === undefined ? "" : ` ${Math.round(durationMs)} ms`;
    const decided = pill.dataset.decision === undefined ? "" : ` → ${pill.dataset.decision}`;
    pill.textContent = `${pill.dataset.node}${decided} · ${status}${time}`;
    return pill;
  }

  add(text) {
    if (this.firstToken === null) {
      this.firstToken = performance.now() - this.started;
      this.statusEl.textContent = "streaming…";
    }
    this.text += text;
    this.chunks += 1;
    this.textEl.append(text);
    scrollDown();
  }

  error(message) {
    if (this.errorShown) return;
    this.errorShown = true;
    this.box.insertBefore(element("div", "error", message), this.statusEl);
    scrollDown();
  }

  finish(result) {
    this.ended = true;
    if (!this.text && info.answer_output && typeof result.values?.[info.answer_output] === "string") {
      this.add(result.values[info.answer_output]);
    }
    if (result.status === "failed" && result.error) {
      this.error(`The run failed: ${result.error.type}: ${result.error.message}`);
    }
    this.end(result.status);
  }

  end(state) {
    this.box.dataset.state = state;
    const first = this.firstToken === null ? "" : `, first after ${Math.round(this.firstToken)} ms`;
    this.statusEl.textContent = `${state} · ${this.chunks} chunks${first}`;
  }
}

// -- reading server-sent events --------------------------------------------------------

async function readEvents(response, turn) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let id = null, kind = "message", data = "";
      for (const line of block.split("\n")) {
        if (line.startsWith(":")) continue; // a comment: the opening line or a heartbeat
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        const text = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
        if (field === "id") id = text;
        else if (field === "event") kind = text;
        else if (field === "data") data += (data ? "\n" : "") + text;
      }
      if (!data) continue;
      if (id !== null) turn.lastId = id;
      turn.on(kind, JSON.parse(data));
    }
  }
}

async function errorText(response) {
  try {
    const body = await response.json();
    return body.error?.message || JSON.stringify(body);
  } catch {
    return `HTTP ${response.status}`;
  }
}

async function runTurn(turn, values) {
  const response = await fetch("runs/stream", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ values }),
    signal: turn.abort.signal,
  });
  if (!response.ok) {
    turn.error(await errorText(response));
    turn.end("rejected");
    return;
  }
  turn.runId = response.headers.get("x-run-id");
  stopButton.disabled = false;
  try {
    await readEvents(response, turn);
  } catch (error) {
    if (turn.abort.signal.aborted) throw error;
  }
  // The connection ended before the result: continue the same run if the server keeps it.
  let tries = 0;
  while (!turn.ended && info.resume_window && turn.runId && tries < 5) {
    if (tries) await new Promise((resolve) => setTimeout(resolve, 250 * tries));
    tries += 1;
    turn.statusEl.textContent = "reconnecting…";
    const headers = turn.lastId === null ? {} : { "last-event-id": turn.lastId };
    const again = await fetch(`runs/${encodeURIComponent(turn.runId)}/stream`, { headers, signal: turn.abort.signal });
    if (!again.ok) break;
    try {
      await readEvents(again, turn);
    } catch (error) {
      if (turn.abort.signal.aborted) throw error;
    }
  }
  if (!turn.ended) {
    turn.error("The connection to the server was lost; the text above is what had arrived.");
    turn.end("disconnected");
  }
}

async function send(text) {
  history.push({ role: "user", content: text });
  $("empty")?.remove();
  conversation.append(element("div", "msg user", text));
  const turn = new Turn();
  current = turn;
  sendButton.disabled = true;
  const values = { [info.messages_input]: history.slice() };
  try {
    await runTurn(turn, values);
  } catch (error) {
    if (!turn.ended) {
      turn.error(turn.abort.signal.aborted ? "Cancelled before the run started." : `${error}`);
      turn.end(turn.abort.signal.aborted ? "stopped" : "failed");
    }
  } finally {
    // The next turn sees what this one showed, partial or not.
    if (turn.text) history.push({ role: "assistant", content: turn.text });
    current = null;
    sendButton.disabled = false;
    stopButton.disabled = true;
    input.focus();
  }
}

async function stop() {
  const turn = current;
  if (!turn) return;
  stopButton.disabled = true;
  if (!turn.runId) {
    turn.abort.abort(); // not started yet: leaving cancels it
    return;
  }
  try {
    await fetch(`runs/${encodeURIComponent(turn.runId)}/stop`, { method: "POST" });
  } catch {
    turn.abort.abort();
  }
}

$("composer").addEventListener("submit", (event) => {
  event.preventDefault();
  const text = input.value.trim();
  if (!text || current) return;
  input.value = "";
  send(text);
});
input.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey) {
    event.preventDefault();
    $("composer").requestSubmit();
  }
});
stopButton.addEventListener("click", stop);
loadInfo();
