// Serves the JavaScript receiver extracted from docs/signing.md on 127.0.0.1.
//
// Usage: node serve_node.mjs RECEIVER.mjs node|raw   (SIGNAL_HMAC_SECRET is set)
//
// "node" passes Node's own req.headers (lowercased, repeats joined with ", ");
// "raw" passes the headers as sent, in their letter case, a repeated name as
// an array: what other frameworks and proxies hand over, and the only way to
// test Title-Case keys, since Node lowercases req.headers.
//
// Prints the port on the first line of stdout; the harness protocol
// (/_harness/state, /_harness/release once per run, the "harness" field) is
// the one of serve_python.py.
import http from "node:http";
import { pathToFileURL } from "node:url";

const [receiverPath, headerMode] = process.argv.slice(2);
if (!receiverPath || !["node", "raw"].includes(headerMode)) {
  console.error("usage: node serve_node.mjs RECEIVER.mjs node|raw");
  process.exit(2);
}
const { receive } = await import(pathToFileURL(receiverPath).href);

const acted = [];
const answers = [];
const blocked = new Set();
let release;
const released = new Promise((resolve) => {
  release = resolve;
});

async function act(signal) {
  if (signal.harness === "fail") throw new Error("act failed on purpose (harness)");
  if (signal.harness === "block") {
    blocked.add(signal.id);
    await Promise.race([released, new Promise((resolve) => setTimeout(resolve, 10_000))]);
    blocked.delete(signal.id);
  }
  acted.push(signal.id);
}

function headersAsSent(raw) {
  const headers = Object.create(null);
  for (let i = 0; i < raw.length; i += 2) {
    const [name, value] = [raw[i], raw[i + 1]];
    headers[name] = name in headers ? [].concat(headers[name], value) : value;
  }
  return headers;
}

function send(res, status, text, contentType = "text/plain; charset=utf-8") {
  const headers = { "content-type": contentType, "content-length": Buffer.byteLength(text), connection: "close" };
  res.writeHead(status, headers).end(text);
}

const server = http.createServer(async (req, res) => {
  res.on("error", (err) => console.error("response error:", err.message));
  if (req.method === "GET" && req.url === "/_harness/state") {
    return send(res, 200, JSON.stringify({ acted, answers, blocked: [...blocked] }), "application/json");
  }
  if (req.method === "POST" && req.url === "/_harness/release") {
    release();
    return send(res, 200, "released");
  }
  let status;
  let text;
  try {
    const headers = headerMode === "raw" ? headersAsSent(req.rawHeaders) : req.headers;
    ({ status, text } = await receive(headers, req, act));
  } catch (err) {
    console.error("HARNESS: receive() rejected:", err);
    [status, text] = [500, "receive() rejected"];
  }
  answers.push([status, text]);
  send(res, status, text);
});
server.listen(0, "127.0.0.1", () => console.log(server.address().port));
