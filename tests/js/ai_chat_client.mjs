// A Vercel AI SDK client for the serve tests: the `ai` package's own DefaultChatTransport
// posts to /api/chat and its readUIMessageStream parses the UI message stream, exactly
// as a useChat front end would. Prints one JSON report on stdout.
//
//   node ai_chat_client.mjs '{"api": "http://127.0.0.1:PORT/api/chat", "turns": ["Hi", "Again"]}'
//
// Options: "abortAfterDeltas": N aborts the first turn's request after N text deltas
// (the way useChat's stop() does) and reports what had arrived.
import { DefaultChatTransport, readUIMessageStream } from "ai";

const options = JSON.parse(process.argv[2]);
const transport = new DefaultChatTransport({ api: options.api });
const messages = [];
const report = { turns: [] };

for (const [index, text] of options.turns.entries()) {
  messages.push({ id: `user-${index}`, role: "user", parts: [{ type: "text", text }] });
  const abort = new AbortController();
  const turn = { chunkTypes: [], errors: [], transient: [], message: null, aborted: false };
  let stream;
  try {
    stream = await transport.sendMessages({
      chatId: "chat-1",
      messages,
      trigger: "submit-message",
      messageId: undefined,
      abortSignal: abort.signal,
    });
  } catch (error) {
    turn.errors.push(String(error.message ?? error));
    report.turns.push(turn);
    continue;
  }
  // Watch the raw chunks too (a tee), to check the framing the reader was given.
  const [forReader, forLog] = stream.tee();
  let deltas = 0;
  const logging = (async () => {
    const reader = forLog.getReader();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      turn.chunkTypes.push(value.type);
      if (value.type.startsWith("data-") && value.transient) turn.transient.push(value);
      if (value.type === "text-delta") {
        deltas += 1;
        if (options.abortAfterDeltas && index === 0 && deltas === options.abortAfterDeltas) {
          turn.aborted = true;
          abort.abort();
        }
      }
    }
  })().catch((error) => turn.errors.push(`log: ${error.name}`));
  try {
    for await (const message of readUIMessageStream({
      stream: forReader,
      onError: (error) => turn.errors.push(String(error.message ?? error)),
    })) {
      turn.message = message;
    }
  } catch (error) {
    turn.errors.push(`read: ${error.name}`);
  }
  await logging;
  if (turn.message) {
    turn.text = turn.message.parts.filter((p) => p.type === "text").map((p) => p.text).join("");
    messages.push({ ...turn.message, role: "assistant" });
  }
  report.turns.push(turn);
}
process.stdout.write(JSON.stringify(report));
