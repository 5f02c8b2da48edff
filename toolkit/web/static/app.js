// The micro dashboard. Everything from the registry is inserted with
// textContent, never as markup.
"use strict";

const $ = (id) => document.getElementById(id);
let selected = null;
let endpoints = [];

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }

async function getJSON(url) {
  const r = await fetch(url, { headers: { "Accept": "application/json" } });
  const body = await r.json().catch(() => null);
  if (!r.ok) throw new Error(body && body.message ? body.code + ": " + body.message : "HTTP " + r.status);
  return body;
}

// schemaText renders a registry value: HelloRequest{name string, times int}.
function schemaText(v, depth) {
  if (!v) return "-";
  depth = depth || 0;
  let s = (depth > 0 ? v.name + " " : "") + v.type;
  if (v.fields && v.fields.length && depth < 4) {
    s += "{" + v.fields.map((f) => schemaText(f, depth + 1)).join(", ") + "}";
  }
  return s;
}

// example builds a JSON value from a schema, to pre-fill the form.
function example(v, depth) {
  depth = depth || 0;
  if (!v || depth > 6) return null;
  const t = String(v.type || "");
  if (v.fields && v.fields.length) {
    const o = {};
    for (const f of v.fields) o[f.name] = example(f, depth + 1);
    return o;
  }
  if (t.startsWith("[]")) return [];
  if (t.startsWith("map[")) return {};
  if (t === "string") return "";
  if (t === "bool") return false;
  if (/^(u?int\d*|float\d+|byte|rune|uintptr)$/.test(t)) return 0;
  if (t.startsWith("*")) return null;
  return depth === 0 ? {} : null;
}

async function loadServices() {
  let list;
  try {
    list = await getJSON("/_micro/api/services");
  } catch (e) {
    $("empty").hidden = false;
    $("empty").textContent = "Cannot list services: " + e.message;
    return;
  }
  const ul = $("services");
  clear(ul);
  const names = new Map();
  for (const s of list) {
    const cur = names.get(s.name) || { versions: [], nodes: 0 };
    cur.versions.push(s.version);
    cur.nodes += s.nodes;
    names.set(s.name, cur);
  }
  $("empty").hidden = names.size > 0;
  $("empty").textContent = "No service is registered.";
  for (const [name, info] of names) {
    const li = el("li");
    li.dataset.service = name;
    if (name === selected) li.className = "selected";
    const b = el("button");
    b.type = "button";
    b.appendChild(el("span", name, "name"));
    b.appendChild(el("span", info.versions.join(", ") + " · " + info.nodes + (info.nodes === 1 ? " node" : " nodes"), "meta"));
    b.addEventListener("click", () => select(name));
    li.appendChild(b);
    ul.appendChild(li);
  }
  if (selected && !names.has(selected)) {
    $("service").hidden = true;
    $("hint").hidden = false;
    $("hint").textContent = "Service " + selected + " is gone.";
    selected = null;
  } else if (selected) {
    showService(selected, true);
  }
}

async function select(name) {
  selected = name;
  for (const li of $("services").children) li.classList.toggle("selected", li.dataset.service === name);
  await showService(name, false);
}

async function showService(name, refresh) {
  let versions;
  try {
    versions = await getJSON("/_micro/api/services/" + encodeURIComponent(name));
  } catch (e) {
    return;
  }
  $("hint").hidden = true;
  $("service").hidden = false;
  $("service-name").textContent = name;
  const nodes = $("nodes").tBodies[0];
  clear(nodes);
  const eps = $("endpoints").tBodies[0];
  clear(eps);
  const seen = new Map();
  for (const v of versions) {
    for (const n of v.nodes || []) {
      const tr = el("tr");
      tr.appendChild(el("td", n.id));
      tr.appendChild(el("td", n.address));
      tr.appendChild(el("td", v.version));
      tr.appendChild(el("td", Object.entries(n.metadata || {}).map(([k, x]) => k + "=" + x).join(", ") || "-"));
      nodes.appendChild(tr);
    }
    for (const e of v.endpoints || []) {
      if (seen.has(e.name)) continue;
      seen.set(e.name, e);
      const tr = el("tr");
      tr.dataset.endpoint = e.name;
      tr.appendChild(el("td", e.name));
      const rq = el("td"); rq.appendChild(el("code", schemaText(e.request)));
      const rs = el("td"); rs.appendChild(el("code", schemaText(e.response)));
      tr.appendChild(rq);
      tr.appendChild(rs);
      eps.appendChild(tr);
    }
  }
  endpoints = [...seen.values()].filter((e) => !(e.metadata && e.metadata.subscriber));
  const sel = $("endpoint");
  const previous = refresh ? sel.value : "";
  clear(sel);
  for (const e of endpoints) {
    const o = el("option", e.name);
    o.value = e.name;
    sel.appendChild(o);
  }
  if (previous && seen.has(previous)) {
    sel.value = previous;
  } else {
    prefill();
    $("response").textContent = "";
    $("response").className = "";
    $("latency").textContent = "";
  }
}

function prefill() {
  const e = endpoints.find((x) => x.name === $("endpoint").value);
  $("request").value = JSON.stringify(example(e && e.request) || {}, null, 2);
}

async function call(ev) {
  ev.preventDefault();
  const out = $("response");
  let request;
  try {
    request = JSON.parse($("request").value || "{}");
  } catch (e) {
    out.className = "error";
    out.textContent = "The request is not valid JSON: " + e.message;
    return;
  }
  out.className = "";
  out.textContent = "calling…";
  $("latency").textContent = "";
  const started = performance.now();
  const r = await fetch("/_micro/api/call", {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-Micro-Dashboard": "1" },
    body: JSON.stringify({ service: selected, endpoint: $("endpoint").value, request }),
  });
  const body = await r.json().catch(() => null);
  if (r.ok && body) {
    out.textContent = JSON.stringify(body.response, null, 2);
    $("latency").textContent = body.latency_ms.toFixed(2) + " ms";
  } else {
    out.className = "error";
    out.textContent = body ? body.code + " (HTTP " + r.status + "): " + body.message : "HTTP " + r.status;
    const lat = r.headers.get("X-Latency-Ms");
    $("latency").textContent = (lat ? Number(lat) : performance.now() - started).toFixed(2) + " ms";
  }
}

async function loadPlugins() {
  let list;
  try {
    list = await getJSON("/_micro/api/plugins");
  } catch (e) {
    $("no-plugins").hidden = false;
    $("no-plugins").textContent = "Cannot list plugins: " + e.message;
    return;
  }
  const body = $("plugins").tBodies[0];
  clear(body);
  $("no-plugins").hidden = list.length > 0;
  for (const p of list) {
    const tr = el("tr");
    tr.dataset.plugin = p.name;
    tr.appendChild(el("td", p.name));
    tr.appendChild(el("td", p.version));
    tr.appendChild(el("td", p.health, p.health === "ok" ? "ok" : "bad"));
    tr.appendChild(el("td", p.error || p.source));
    body.appendChild(tr);
  }
}

function live() {
  const es = new EventSource("/_micro/api/events");
  let timer = null;
  es.addEventListener("open", () => { $("live").textContent = "live"; $("live").className = "live on"; loadServices(); });
  es.addEventListener("error", () => { $("live").textContent = "reconnecting…"; $("live").className = "live off"; });
  es.addEventListener("registry", () => {
    // Events come in bursts (a service and its subscriptions): reload once.
    clearTimeout(timer);
    timer = setTimeout(loadServices, 100);
  });
}

document.addEventListener("DOMContentLoaded", () => {
  $("endpoint").addEventListener("change", prefill);
  $("call-form").addEventListener("submit", call);
  loadServices();
  loadPlugins();
  live();
});
