// A program in another language that joins micro through the sidecar: it
// serves Node.Greet, registers with a health check, subscribes to
// node.events with a callback, and calls the Go service greeter. It prints
// one line per thing that happens, for the Go test to read.
"use strict";
const http = require("node:http");

const sidecar = process.env.SIDECAR;
let failing = false;

function send(res, status, obj) {
  const body = JSON.stringify(obj);
  res.writeHead(status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body) });
  res.end(body);
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

const server = http.createServer(async (req, res) => {
  const body = await readBody(req);
  if (req.method === "POST" && req.url === "/Node.Greet") {
    const in_ = JSON.parse(body || "{}");
    if (!in_.name) return send(res, 400, { code: "invalid_argument", message: "name is empty" });
    return send(res, 200, { greeting: "Hi " + in_.name + ", from node", tenant: req.headers["micro-meta-tenant"] || "" });
  }
  if (req.method === "GET" && req.url === "/health") {
    return send(res, failing ? 503 : 200, { status: failing ? "failing" : "ok" });
  }
  if (req.method === "POST" && req.url === "/fail") {
    failing = true;
    console.log("FAILING");
    return send(res, 200, {});
  }
  if (req.method === "POST" && req.url === "/events") {
    const attempt = Number(req.headers["micro-attempt"]);
    if (attempt === 1) {
      // Refuse the first attempt: the sidecar must try again.
      return send(res, 500, { code: "unavailable", message: "not now" });
    }
    console.log("EVENT " + JSON.stringify({ topic: req.headers["micro-topic"], attempt, event: JSON.parse(body) }));
    return send(res, 200, {});
  }
  send(res, 404, { code: "not_found", message: "no route " + req.method + " " + req.url });
});

async function post(path, obj) {
  const r = await fetch(sidecar + path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(obj),
  });
  const text = await r.text();
  if (!r.ok) throw new Error(path + ": HTTP " + r.status + " " + text);
  return JSON.parse(text);
}

server.listen(0, "127.0.0.1", async () => {
  const self = "http://127.0.0.1:" + server.address().port;
  try {
    const reg = await post("/register", {
      name: "nodeapp",
      version: "0.1.0",
      address: self,
      endpoints: [{ name: "Node.Greet", request: { name: "GreetRequest", type: "GreetRequest", fields: [{ name: "name", type: "string" }] } }],
      health_check: self + "/health",
    });
    console.log("REGISTERED " + reg.id);
    const sub = await post("/subscribe", { topic: "node.events", callback: self + "/events" });
    console.log("SUBSCRIBED " + sub.id);
    const called = await post("/call/greeter/hello", { name: "node" });
    console.log("CALLED " + JSON.stringify(called));
    console.log("READY " + self);
  } catch (e) {
    console.log("ERROR " + e.message);
    process.exit(1);
  }
});

process.on("SIGTERM", () => server.close(() => process.exit(0)));
