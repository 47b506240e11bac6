// The usage console: signs in with an API key (kept in sessionStorage), then reads
// /api/v1/account, /api/v1/analytics and /api/v1/resemble/jobs (or, with the admin key,
// every account's analytics and the reconciliation status) and draws them. Data is only
// ever inserted as text, never as HTML.
"use strict";

const KEY = "indox.console.key";
const $ = (id) => document.getElementById(id);

async function api(path) {
  const resp = await fetch(path, { headers: { Authorization: "Bearer " + sessionStorage.getItem(KEY) } });
  const body = await resp.json().catch(() => ({}));
  if (!resp.ok) {
    const err = new Error((body.error && body.error.message) || resp.statusText);
    err.status = resp.status;
    throw err;
  }
  return body;
}

function cell(row, text, cls) {
  const td = document.createElement("td");
  td.textContent = text === null || text === undefined ? "–" : String(text);
  if (cls) td.className = cls;
  row.appendChild(td);
}

function fill(tableId, rows, toCells) {
  const body = $(tableId).querySelector("tbody");
  body.replaceChildren();
  for (const r of rows) {
    const tr = document.createElement("tr");
    toCells(tr, r);
    body.appendChild(tr);
  }
}

function svg(tag, attrs) {
  const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  return el;
}

// Money arrives as decimal strings with at most 8 decimals; days are summed exactly in
// units of 1e-8 (BigInt), and numbers are used only to size the bars.
const SCALE = 100000000n;
function toUnits(s) {
  const neg = s.startsWith("-");
  const [i, f = ""] = (neg ? s.slice(1) : s).split(".");
  const u = BigInt(i) * SCALE + BigInt((f + "00000000").slice(0, 8));
  return neg ? -u : u;
}
function fromUnits(u) {
  const neg = u < 0n;
  const a = neg ? -u : u;
  return (neg ? "-" : "") + (a / SCALE).toString() + "." + (a % SCALE).toString().padStart(8, "0");
}

// One bar per day of the range with the day's charged total.
function drawChart(analytics) {
  const chart = $("spend-chart");
  chart.replaceChildren();
  const perDay = new Map();
  for (const b of analytics.series) {
    const day = b.period.slice(0, 10);
    perDay.set(day, (perDay.get(day) || 0n) + toUnits(b.charged));
  }
  const days = [];
  for (let d = new Date(analytics.from + "T00:00:00Z"); d <= new Date(analytics.to + "T00:00:00Z"); d.setUTCDate(d.getUTCDate() + 1)) {
    days.push(d.toISOString().slice(0, 10));
  }
  const max = Math.max(...days.map((d) => Number(perDay.get(d) || 0n)), 1);
  const w = 900 / Math.max(days.length, 1);
  days.forEach((day, i) => {
    const units = perDay.get(day) || 0n;
    const v = Number(units);
    const h = v > 0 ? Math.max(2, (v / max) * 200) : 0;
    const amount = fromUnits(units);
    const bar = svg("rect", { class: "bar", x: i * w + 1, y: 210 - h, width: Math.max(w - 2, 1), height: h, "data-day": day, "data-charged": amount });
    const title = svg("title", {});
    title.textContent = day + ": " + amount + " " + analytics.currency;
    bar.appendChild(title);
    chart.appendChild(bar);
  });
  const first = svg("text", { x: 2, y: 232 });
  first.textContent = days[0] || "";
  const last = svg("text", { x: 820, y: 232 });
  last.textContent = days[days.length - 1] || "";
  chart.append(first, last);
}

function showAnalytics(a) {
  $("currency").textContent = "(" + a.currency + ")";
  $("spend-total").textContent = a.totals.charged + " " + a.currency;
  $("request-total").textContent = a.totals.requests;
  drawChart(a);
  fill("by-capability", a.by_capability, (tr, c) => {
    for (const v of [c.capability, c.unit, c.requests, c.quantity, c.provider_cost, c.markup, c.charged]) cell(tr, v);
  });
}

async function load() {
  let admin = false;
  try {
    const me = await api("/api/v1/account");
    $("who").textContent = me.name + " · " + me.key_id;
    $("balance").textContent = me.balance;
    $("available").textContent = me.available;
  } catch (e) {
    if (e.status !== 401) throw e;
    // Not an account key: maybe the operator's admin key.
    await api("/api/v1/analytics");
    admin = true;
    $("who").textContent = "operator (all accounts)";
  }
  showAnalytics(await api("/api/v1/analytics"));
  if (admin) {
    $("jobs-section").hidden = true;
    try {
      const rec = await api("/api/v1/admin/reconciliation");
      $("reconciliation-section").hidden = false;
      fill("reconciliation", rec.items, (tr, r) => {
        if (r.alert) tr.className = "alert";
        for (const v of [r.day, r.upstream_unit, r.ours, r.theirs, r.drift, r.alert ? "ALERT" : "ok"]) cell(tr, v);
      });
    } catch (_) {
      $("reconciliation-section").hidden = true;
    }
  } else {
    const jobs = await api("/api/v1/resemble/jobs?limit=20");
    fill("jobs", jobs.items, (tr, j) => {
      cell(tr, j.job_id);
      cell(tr, j.kind);
      cell(tr, j.status, "status-" + j.status);
      cell(tr, j.created_at);
      cell(tr, j.billing ? j.billing.charged : null);
    });
  }
  $("sign-in-panel").hidden = true;
  $("dashboard").hidden = false;
  $("sign-out").hidden = false;
}

$("sign-in-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  $("sign-in-error").textContent = "";
  sessionStorage.setItem(KEY, $("api-key").value.trim());
  try {
    await load();
  } catch (e) {
    sessionStorage.removeItem(KEY);
    $("sign-in-error").textContent = e.status === 401 ? "That key was not accepted." : "Could not load your usage: " + e.message;
  }
});

$("sign-out").addEventListener("click", () => {
  sessionStorage.removeItem(KEY);
  location.reload();
});

if (sessionStorage.getItem(KEY)) load().catch(() => sessionStorage.removeItem(KEY));
