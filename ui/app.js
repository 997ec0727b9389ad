// weft's web view: reads the daemon's API (GET only) and draws the cluster
// (cytoscape), this host's port rates (uPlot and a table), drops, DNS, and
// takes captures. Plain ES module, no build step; the libraries come from
// /vendor/ (node_modules, served by src/api/ui-server.ts).
import cytoscape from '/vendor/cytoscape.mjs';
import uPlot from '/vendor/uPlot.mjs';

// ---- the API ----

// The token comes in the page's URL (?token=); it is moved to this tab's
// session storage and out of the address bar (and so out of screenshots and history).
const params = new URLSearchParams(location.search);
if (params.has('token')) {
  sessionStorage.setItem('weft-token', params.get('token'));
  params.delete('token');
  history.replaceState(null, '', location.pathname + (params.size ? `?${params}` : '') + location.hash);
}
const token = sessionStorage.getItem('weft-token');
const headers = token ? { authorization: `Bearer ${token}` } : {};

async function call(path) {
  const res = await fetch(path, { headers });
  if (!res.ok) throw new Error(await errorText(res));
  return res.json();
}

async function errorText(res) {
  const text = await res.text();
  try {
    return JSON.parse(text).error ?? text;
  } catch {
    return text || `${res.status} ${res.statusText}`;
  }
}

const $ = (id) => document.getElementById(id);
const el = (tag, attrs = {}, ...kids) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v;
    else if (k.startsWith('data') || k === 'title') e.setAttribute(k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`), v);
    else e[k] = v;
  }
  e.append(...kids);
  return e;
};

function setStatus(text, ok) {
  const s = document.querySelector('[data-testid=status]');
  s.textContent = text;
  s.classList.toggle('bad', !ok);
}

// ---- the graph ----

const graph = cytoscape({
  container: $('graph'),
  maxZoom: 3,
  minZoom: 0.2,
  wheelSensitivity: 0.3,
  style: [
    { selector: 'node', style: { label: 'data(label)', 'font-size': 11, color: '#1f2933', 'text-valign': 'bottom', 'text-margin-y': 4, 'font-family': 'system-ui, sans-serif' } },
    { selector: 'node[kind="host"]', style: { shape: 'round-rectangle', 'background-color': '#eef2f7', 'border-color': '#7b8794', 'border-width': 1, 'text-valign': 'top', 'text-margin-y': -4, 'font-weight': 'bold', padding: 14 } },
    { selector: 'node[kind="tenant"]', style: { shape: 'round-rectangle', 'background-color': '#f5f0ff', 'border-color': '#9f7aea', 'border-style': 'dashed', 'border-width': 1, 'text-valign': 'top', 'text-margin-y': -4, padding: 12 } },
    { selector: 'node[kind="net"]', style: { shape: 'hexagon', width: 34, height: 30, 'background-color': '#805ad5' } },
    { selector: 'node[kind="endpoint"]', style: { shape: 'ellipse', width: 22, height: 22, 'background-color': '#3182ce' } },
    { selector: 'node[kind="port"]', style: { shape: 'round-rectangle', width: 20, height: 14, 'background-color': '#38a169' } },
    { selector: 'node[kind="vtep"]', style: { shape: 'diamond', width: 22, height: 22, 'background-color': '#dd6b20' } },
    { selector: 'edge', style: { width: 1.5, 'line-color': '#a0aec0', 'curve-style': 'bezier' } },
    { selector: 'edge[kind="tunnel"]', style: { width: 2.5, 'line-color': '#dd6b20', 'line-style': 'dashed', label: 'data(label)', 'font-size': 9, color: '#9c4221', 'text-background-color': '#fff', 'text-background-opacity': 0.8 } },
    { selector: 'node.busy', style: { 'border-width': 3, 'border-color': '#e53e3e' } },
  ],
});

/** Graph elements from the API's lists (ids are stable, so an update only adds and removes what changed). */
function elements({ info, hosts, networks, endpoints, vteps, ports }) {
  const out = [];
  const ids = new Set();
  const add = (group, data) => {
    if (ids.has(data.id)) return;
    ids.add(data.id);
    out.push({ group, data });
  };
  const hostNames = new Set([info.hostId, ...hosts.map((h) => h.host), ...endpoints.map((e) => e.host).filter(Boolean)]);
  const underlay = new Map(hosts.map((h) => [h.host, h.underlay]));
  for (const h of hostNames) add('nodes', { id: `host:${h}`, kind: 'host', label: underlay.get(h) ? `${h} (${underlay.get(h)})` : h, name: h });
  for (const n of networks) {
    add('nodes', { id: `tenant:${n.tenant}`, kind: 'tenant', label: `tenant ${n.tenant}`, name: n.tenant });
    add('nodes', { id: `net:${n.tenant}/${n.name}`, parent: `tenant:${n.tenant}`, kind: 'net', label: `${n.name} ${n.subnet}`, name: n.name, tenant: n.tenant });
  }
  const netId = (tenant, name) => (ids.has(`net:${tenant}/${name}`) ? `net:${tenant}/${name}` : undefined);
  for (const e of endpoints) {
    const id = `ep:${e.tenant}/${e.net}/${e.name}`;
    add('nodes', { id, parent: `host:${e.host ?? info.hostId}`, kind: 'endpoint', label: `${e.name} ${e.ip ?? ''}`.trim(), name: e.name, net: e.net, tenant: e.tenant, port: e.localPort });
    const n = netId(e.tenant, e.net);
    if (n) add('edges', { id: `${id}->net`, source: id, target: n, kind: 'member' });
  }
  // Ports of this host that are not an endpoint's (attached veths, uplinks): on the host, joined to their network.
  for (const p of ports.filter((p) => !p.endpoint)) {
    const id = `port:${info.hostId}/${p.name}`;
    add('nodes', { id, parent: `host:${info.hostId}`, kind: 'port', label: p.name, name: p.name });
    const [name, tenant] = splitRef(p.net);
    const n = netId(tenant, name);
    if (n) add('edges', { id: `${id}->net`, source: id, target: n, kind: 'member' });
  }
  // Tunnels: between hosts with endpoints on the same network (the store's
  // VTEPs), and from this host to each VTEP configured by hand.
  const hostsOf = new Map();
  for (const e of endpoints) {
    const key = `${e.tenant}/${e.net}`;
    if (!hostsOf.has(key)) hostsOf.set(key, new Set());
    hostsOf.get(key).add(e.host ?? info.hostId);
  }
  for (const [key, set] of hostsOf) {
    const hs = [...set].sort();
    for (let i = 0; i < hs.length; i++) {
      for (let j = i + 1; j < hs.length; j++) {
        const id = `tunnel:${hs[i]}~${hs[j]}`;
        const known = out.find((x) => x.data.id === id);
        if (known) known.data.label.split(', ').includes(key.split('/')[1]) || (known.data.label += `, ${key.split('/')[1]}`);
        else add('edges', { id, source: `host:${hs[i]}`, target: `host:${hs[j]}`, kind: 'tunnel', label: key.split('/')[1] });
      }
    }
  }
  for (const v of vteps) {
    const owner = hosts.find((h) => h.underlay === v.ip);
    if (owner?.host === info.hostId) continue;
    const target = owner ? `host:${owner.host}` : `vtep:${v.ip}`;
    if (!owner) add('nodes', { id: target, kind: 'vtep', label: `VTEP ${v.ip}`, name: v.ip });
    // One tunnel edge per pair of ends, naming the networks it carries.
    const pair = [info.hostId, owner ? owner.host : v.ip].sort();
    const id = `tunnel:${pair[0]}~${pair[1]}`;
    const net = splitRef(v.net)[0];
    const known = out.find((x) => x.data.id === id);
    if (!known) add('edges', { id, source: `host:${info.hostId}`, target, kind: 'tunnel', label: net });
    else if (!known.data.label.split(', ').includes(net)) known.data.label += `, ${net}`;
  }
  return out;
}

/** `<n>.<t>` → [n, t] (a network's name has no dot; a tenant's may). */
function splitRef(ref) {
  const i = String(ref).indexOf('.');
  return i < 0 ? [ref, 'default'] : [ref.slice(0, i), ref.slice(i + 1)];
}

function updateGraph(els) {
  const want = new Map(els.map((e) => [e.data.id, e]));
  let changed = false;
  graph.batch(() => {
    graph.elements().forEach((e) => {
      if (!want.has(e.id())) (e.remove(), (changed = true));
    });
    for (const [id, e] of want) {
      const have = graph.getElementById(id);
      if (have.empty()) {
        graph.add(e);
        changed = true;
      } else if (have.data('label') !== e.data.label) have.data('label', e.data.label);
    }
  });
  if (changed) layout();
}

/**
 * A fixed arrangement that reads at a glance: hosts side by side with their
 * endpoints and ports stacked inside, tenants (with their networks) in a
 * row below, VTEPs configured by hand at the right.
 */
function layout() {
  const HOST_W = 170, ROW = 46, GAP = 60;
  const hosts = graph.nodes('[kind="host"]').sort((a, b) => a.data('name').localeCompare(b.data('name')));
  let deepest = 0;
  hosts.forEach((h, i) => {
    const kids = h.children().sort((a, b) => a.data('kind').localeCompare(b.data('kind')) || a.data('name').localeCompare(b.data('name')));
    kids.forEach((k, j) => k.position({ x: i * (HOST_W + GAP), y: j * ROW }));
    if (kids.empty()) h.position({ x: i * (HOST_W + GAP), y: 0 });
    deepest = Math.max(deepest, kids.length);
  });
  const width = Math.max(1, hosts.length) * (HOST_W + GAP) - GAP;
  graph.nodes('[kind="vtep"]').forEach((v, i) => v.position({ x: width + GAP, y: i * ROW * 1.5 }));
  const nets = graph.nodes('[kind="net"]').sort((a, b) => a.data('tenant').localeCompare(b.data('tenant')) || a.data('name').localeCompare(b.data('name')));
  const step = nets.length > 1 ? Math.max(110, width / (nets.length - 1)) : 0;
  const left = nets.length > 1 ? (width - step * (nets.length - 1)) / 2 : width / 2 - (HOST_W + GAP) / 2;
  let tenant, extra = 0;
  nets.forEach((n, i) => {
    if (tenant !== undefined && n.data('tenant') !== tenant) extra += 30; // room between tenants' boxes
    tenant = n.data('tenant');
    n.position({ x: left + i * step + extra, y: Math.max(1, deepest) * ROW + 110 });
  });
  graph.fit(undefined, 30);
  if (graph.zoom() > 1.6) graph.zoom(1.6); // a small cluster is not blown up
  graph.center();
}

// ---- rates ----

const HISTORY = 120;
let last; // {at, ports: {name: counters}}
let chart;
let chartPorts = [];
const series = { t: [], rows: new Map() };

function rates(stats, now) {
  const out = [];
  for (const [name, c] of Object.entries(stats.ports ?? {})) {
    const before = last?.ports[name];
    const dt = last ? (now - last.at) / 1000 : 0;
    const rate = (k) => (before && dt > 0 ? Math.max(0, (c[k] - before[k]) / dt) : 0);
    out.push({ name, rxPps: rate('rx_packets'), txPps: rate('tx_packets'), rxBps: rate('rx_bytes') * 8, txBps: rate('tx_bytes') * 8, dropped: (c.rx_dropped ?? 0) + (c.tx_dropped ?? 0) });
  }
  last = { at: now, ports: stats.ports ?? {} };
  return out;
}

const fmt = (v) => (v >= 1e9 ? `${(v / 1e9).toFixed(2)} G` : v >= 1e6 ? `${(v / 1e6).toFixed(2)} M` : v >= 1e3 ? `${(v / 1e3).toFixed(1)} k` : v.toFixed(v > 0 && v < 10 ? 1 : 0));

function renderRates(rows, portInfo) {
  const body = $('rates-body');
  body.replaceChildren(...rows.map((r) => {
    const p = portInfo.get(r.name) ?? {};
    const cell = (testid, v, text = fmt(v)) => el('td', { class: 'n', dataTestid: testid, dataValue: String(v) }, text);
    return el('tr', { dataTestid: 'port-row', dataPort: r.name },
      el('td', {}, r.name), el('td', {}, p.kind ?? kindOf(r.name)), el('td', {}, p.net ?? ''),
      cell('rx-pps', r.rxPps), cell('tx-pps', r.txPps), cell('rx-bps', r.rxBps), cell('tx-bps', r.txBps), cell('dropped', r.dropped, String(r.dropped)));
  }));
  // Busy endpoints stand out in the graph.
  graph.nodes('[kind="endpoint"], [kind="port"]').forEach((n) => {
    const r = rows.find((x) => x.name === n.data('port') || x.name === n.data('name'));
    n.toggleClass('busy', r !== undefined && r.rxPps + r.txPps > 0);
  });
}

/** The kind of a switch port /v1/ports does not list (a tunnel to a VTEP, a DNS service port). */
const kindOf = (name) => (name.startsWith('vtep:') ? 'tunnel' : name.startsWith('dns:') ? 'dns' : name.split(':')[0]);

const COLORS = ['#3182ce', '#dd6b20', '#38a169', '#805ad5', '#e53e3e', '#d69e2e', '#319795', '#b83280'];

function renderChart(rows, now) {
  series.t.push(now / 1000);
  for (const r of rows) {
    if (!series.rows.has(r.name)) series.rows.set(r.name, series.t.map(() => null));
    series.rows.get(r.name).push(r.rxPps + r.txPps);
  }
  for (const [name, vals] of series.rows) if (vals.length < series.t.length) vals.push(null);
  if (series.t.length > HISTORY) {
    series.t.shift();
    for (const vals of series.rows.values()) vals.shift();
  }
  // The busiest ports (at most 8) are drawn; the chart is made again when that set changes.
  const top = [...series.rows.entries()]
    .map(([name, vals]) => [name, vals.reduce((a, b) => a + (b ?? 0), 0)])
    .filter(([, sum]) => sum > 0)
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .slice(0, COLORS.length)
    .map(([name]) => name)
    .sort();
  const data = [series.t, ...top.map((n) => series.rows.get(n))];
  if (!chart || top.join() !== chartPorts.join()) {
    chart?.destroy();
    chartPorts = top;
    const box = $('chart');
    chart = new uPlot({
      width: box.clientWidth || 600,
      height: 200,
      scales: { x: { time: true } },
      axes: [{}, { label: 'pkt/s (rx+tx)', size: 60, values: (u, vals) => vals.map(fmt) }],
      series: [{}, ...top.map((name, i) => ({ label: name, stroke: COLORS[i], width: 1.5, value: (u, v) => (v == null ? '–' : fmt(v)) }))],
    }, data, box);
  } else chart.setData(data);
}

window.addEventListener('resize', () => chart?.setSize({ width: $('chart').clientWidth, height: 200 }));

// ---- drops and DNS ----

function renderDrops(byReason, recent) {
  const rows = Object.entries(byReason).filter(([, v]) => v > 0).sort((a, b) => b[1] - a[1]);
  $('drops-body').replaceChildren(...(rows.length
    ? rows.map(([k, v]) => el('tr', { dataTestid: 'drop-row', dataReason: k }, el('td', {}, k), el('td', { class: 'n' }, String(v))))
    : [el('tr', {}, el('td', { colSpan: 2, class: 'empty' }, 'no drops'))]));
  $('drops-recent-body').replaceChildren(...(recent ?? []).slice(0, 10).map((d) =>
    el('tr', {}, el('td', {}, `${d.ago ?? ''}s`), el('td', {}, d.reason), el('td', {}, String(d.endpoint ?? d.port ?? '')),
      el('td', {}, `${d.src ?? d.srcMac ?? ''} → ${d.dst ?? d.dstMac ?? ''}`), el('td', { class: 'n' }, String(d.len ?? '')))));
}

function renderDns(records) {
  $('dns-body').replaceChildren(...(records.length
    ? records.map((r) => el('tr', { dataTestid: 'dns-row' }, el('td', {}, r.name), el('td', {}, r.type), el('td', {}, r.value)))
    : [el('tr', {}, el('td', { colSpan: 3, class: 'empty' }, 'no records'))]));
}

// ---- polling ----

let portInfo = new Map();
let dropsRoute = true; // GET /v1/stats/drops, until the daemon says it has none

async function pollTopology() {
  const [info, hosts, networks, endpoints, vteps, ports, dns] = await Promise.all([
    call('/v1/info'), call('/v1/hosts'), call('/v1/networks'), call('/v1/endpoints'), call('/v1/vteps'), call('/v1/ports'), call('/v1/dns').catch(() => []),
  ]);
  document.querySelector('[data-testid=host]').textContent = `host ${info.hostId} · weft ${info.version}`;
  portInfo = new Map(ports.map((p) => [p.name, p]));
  updateGraph(elements({ info, hosts, networks, endpoints, vteps, ports }));
  renderDns(dns);
  $('endpoint-names').replaceChildren(...endpoints.filter((e) => e.localPort).map((e) => el('option', { value: e.name, label: `${e.name} (${e.net}.${e.tenant})` })));
}

async function pollStats() {
  const stats = await call('/v1/stats');
  const now = Date.now();
  const rows = rates(stats, now);
  renderRates(rows, portInfo);
  renderChart(rows, now);
  let drops = { byReason: stats.datapath?.drops ?? {}, recent: [] };
  if (dropsRoute) {
    try {
      drops = await call('/v1/stats/drops');
    } catch (err) {
      if (/no such API call/.test(err.message)) dropsRoute = false;
    }
  }
  renderDrops(drops.byReason ?? {}, drops.recent);
}

let ticks = 0;
async function tick() {
  try {
    if (ticks % 5 === 0) await pollTopology();
    await pollStats();
    setStatus(`live · ${new Date().toLocaleTimeString()}`, true);
  } catch (err) {
    setStatus(err.message, false);
  }
  ticks++;
  setTimeout(tick, 1000);
}

// ---- capture ----

$('capture').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const form = new FormData(ev.target);
  const q = new URLSearchParams();
  for (const k of ['endpoint', 'net', 'filter', 'count', 'seconds']) {
    const v = String(form.get(k) ?? '').trim();
    if (v) q.set(k, v);
  }
  const out = document.querySelector('[data-testid=capture-result]');
  const button = document.querySelector('[data-testid=capture-start]');
  out.className = 'capture-result';
  out.textContent = 'capturing…';
  button.disabled = true;
  try {
    const res = await fetch(`/v1/capture?${q}`, { headers });
    if (!res.ok) throw new Error(await errorText(res));
    const blob = await res.blob();
    const name = `weft-${q.get('endpoint') ?? 'capture'}-${new Date().toISOString().replace(/[:.]/g, '-')}.pcapng`;
    const link = el('a', { href: URL.createObjectURL(new Blob([blob], { type: 'application/x-pcapng' })), download: name, dataTestid: 'capture-download' }, `download ${name}`);
    out.replaceChildren(link, ` (${blob.size} bytes)`);
  } catch (err) {
    out.className = 'capture-result error';
    out.replaceChildren(el('span', { dataTestid: 'capture-error' }, err.message));
  } finally {
    button.disabled = false;
  }
});

window.weftUi = { graph, refresh: pollTopology };
tick();
