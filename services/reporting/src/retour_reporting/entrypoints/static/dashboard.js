// The reporting dashboard: fetches the JSON reports with the analyst's token and draws them
// as inline SVG. No library and no network access beyond this service.
"use strict";

const TOKEN_KEY = "retour.reporting.token";
const SMALL = 5; // cells under this many people are drawn at this size, hatched, labelled "<5"
const SVG = "http://www.w3.org/2000/svg";
const CENTRE_COLOURS = {
  bamako: "#1f6f8b", kayes: "#e08a2c", gao: "#5a9e4b", mopti: "#8a5bb0", tombouctou: "#c4495a",
};

class SignInNeeded extends Error {}

// ---- the token: from the address fragment once, then from this tab's sessionStorage ----

function adoptTokenFromFragment() {
  const match = window.location.hash.match(/(?:^#|&)token=([^&]+)/);
  if (match) {
    sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(match[1]));
    history.replaceState(null, "", window.location.pathname + window.location.search);
  }
}

function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

async function report(name, params) {
  const response = await fetch(`/reports/${name}?${params}`, {
    headers: { Authorization: `Bearer ${token()}` },
  });
  if (response.status === 401 || response.status === 403) {
    throw new SignInNeeded((await response.json()).detail);
  }
  if (!response.ok) {
    throw new Error(`${name}: HTTP ${response.status}`);
  }
  return response.json();
}

// ---- SVG helpers ----

function el(name, attributes = {}, text = null) {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
  if (text !== null) node.textContent = text;
  return node;
}

function canvas(container, width, height, label) {
  container.replaceChildren();
  const svg = el("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": label });
  const pattern = el("pattern", {
    id: `small-${container.id}`, width: 6, height: 6, patternUnits: "userSpaceOnUse",
    patternTransform: "rotate(45)",
  });
  pattern.append(el("rect", { width: 6, height: 6, fill: "#eef0f3" }));
  pattern.append(el("line", { x1: 0, y1: 0, x2: 0, y2: 6, stroke: "#8a94a0", "stroke-width": 2 }));
  const defs = el("defs");
  defs.append(pattern);
  svg.append(defs);
  container.append(svg);
  return svg;
}

function bar(svg, container, box, colour, small, title) {
  const rect = el("rect", {
    class: small ? "bar small" : "bar", x: box.x, y: box.y,
    width: Math.max(box.width, 1), height: Math.max(box.height, 1),
    fill: small ? `url(#small-${container.id})` : colour,
  });
  rect.append(el("title", {}, title));
  svg.append(rect);
}

function empty(container, message) {
  container.replaceChildren();
  const p = document.createElement("p");
  p.className = "empty";
  p.textContent = message;
  container.append(p);
  container.dataset.bars = "0";
}

// Sorted by what is drawn, so the order of small cells reveals nothing of their true size.
const byDrawnSize = (a, b) => b.value - a.value || a.label.localeCompare(b.label);
const shown = (n, small) => (small ? "<5" : n.toLocaleString("en"));
const drawn = (n, small) => (small ? SMALL : n);

// ---- charts ----

function monthlyChart(container, rows) {
  if (!rows.length) return empty(container, "No registrations in this period.");
  const months = [...new Set(rows.map((r) => r.month))].sort();
  const centres = [...new Set(rows.map((r) => r.reception_centre))].sort();
  const totals = months.map((m) => rows.filter((r) => r.month === m)
    .reduce((sum, r) => sum + drawn(r.people, r.small_cell), 0));
  const max = Math.max(...totals, 1);
  const [width, height, left, bottom, top] = [640, 300, 40, 40, 24];
  const svg = canvas(container, width, height, "Registrations per month by reception centre");
  const step = (width - left - 10) / months.length;
  const scale = (height - bottom - top) / max;
  svg.append(el("line", { class: "axis", x1: left, y1: height - bottom, x2: width - 10, y2: height - bottom }));
  svg.append(el("text", { x: 4, y: top - 8, class: "muted" }, `max ${max.toLocaleString("en")}`));
  let bars = 0;
  months.forEach((month, i) => {
    let y = height - bottom;
    for (const centre of centres) {
      const row = rows.find((r) => r.month === month && r.reception_centre === centre);
      if (!row) continue;
      const h = drawn(row.people, row.small_cell) * scale;
      y -= h;
      bar(svg, container, { x: left + i * step + 2, y, width: step - 4, height: h },
        CENTRE_COLOURS[centre] || "#777", row.small_cell,
        `${month} · ${centre}: ${shown(row.people, row.small_cell)}`);
      bars += 1;
    }
    svg.append(el("text", { x: left + i * step + step / 2, y: height - bottom + 14, "text-anchor": "middle" },
      month));
  });
  centres.forEach((centre, i) => {
    const x = left + i * 110;
    svg.append(el("rect", { x, y: height - 16, width: 10, height: 10, fill: CENTRE_COLOURS[centre] || "#777" }));
    svg.append(el("text", { x: x + 14, y: height - 7 }, centre));
  });
  container.dataset.bars = String(bars);
}

// items: [{label, value, small, text}] drawn as horizontal bars against `max`.
function horizontalBars(container, items, { max, label, colour, target = null }) {
  if (!items.length) return empty(container, "Nothing in this period.");
  const [width, rowHeight, left, right] = [640, 26, 150, 170];
  const height = items.length * rowHeight + 10;
  const svg = canvas(container, width, height, label);
  const scale = (width - left - right) / Math.max(max, 1);
  items.forEach((item, i) => {
    const y = 5 + i * rowHeight;
    svg.append(el("text", { x: left - 6, y: y + 15, "text-anchor": "end" }, item.label));
    bar(svg, container, { x: left, y: y + 3, width: item.value * scale, height: rowHeight - 8 },
      colour, item.small, `${item.label}: ${item.text}`);
    svg.append(el("text", { x: left + item.value * scale + 6, y: y + 15, class: "muted" }, item.text));
  });
  if (target !== null) {
    const x = left + target * scale;
    svg.append(el("line", { class: "target", x1: x, y1: 0, x2: x, y2: height }));
  }
  container.dataset.bars = String(items.length);
}

function complianceChart(container, kpis) {
  const groups = [{ value: "all centres", ...kpis }, ...kpis.by_centre];
  const items = groups
    .filter((g) => g.cohort.people > 0)
    .map((g) => {
      const s = g.immediate_assistance_within_72h;
      const percent = s.share === null ? 0 : s.share * 100;
      return {
        label: g.value, value: s.small_cell ? 100 : percent, small: s.small_cell,
        text: s.small_cell ? "<5 people" : `${percent.toFixed(1)} % of ${s.of.toLocaleString("en")}`,
      };
    });
  horizontalBars(container, items, {
    max: 100, label: "Share of returnees aided within 72 hours", colour: "#1f6f8b", target: 100,
  });
}

function aidChart(container, aid) {
  const items = (aid.breakdowns.category || []).map((c) => ({
    label: c.value.replaceAll("_", " "), value: drawn(c.aids, c.small_cell), small: c.small_cell,
    text: c.small_cell ? "<5 people"
      : `${c.aids.toLocaleString("en")} aids · ${c.people.toLocaleString("en")} people`
        + (Number(c.total_xof) > 0 ? ` · ${Number(c.total_xof).toLocaleString("en")} XOF` : ""),
  })).sort(byDrawnSize);
  const max = Math.max(...items.map((i) => i.value), 1);
  horizontalBars(container, items, { max, label: "Aid granted by category", colour: "#e08a2c" });
}

function activityChart(container, activities) {
  const items = (activities.breakdowns.sector || []).map((c) => ({
    label: c.value, value: drawn(c.activities, c.small_cell), small: c.small_cell,
    text: c.small_cell ? "<5 people"
      : `${c.activities.toLocaleString("en")} activities · ${c.participants.toLocaleString("en")} people`,
  })).sort(byDrawnSize);
  const max = Math.max(...items.map((i) => i.value), 1);
  horizontalBars(container, items, { max, label: "Activities launched by sector", colour: "#5a9e4b" });
}

// ---- the case reports ----

const STATUS_COLOURS = { sent: "#8a94a0", accepted: "#1f6f8b", completed: "#5a9e4b", declined: "#c4495a" };
const DIMENSION_COLOURS = {
  economic: "#e08a2c", social: "#1f6f8b", psychosocial: "#8a5bb0", composite: "#1d2733",
};
const percentOf = (s) => `${((s.share || 0) * 100).toFixed(1)} %`;

// A share per group as a horizontal bar out of 100 %, small shares hatched at full width.
function shareBars(container, groups, { label, colour, text }) {
  const items = groups.map((g) => ({
    label: g.label, value: g.share.small_cell ? 100 : (g.share.share || 0) * 100,
    small: g.share.small_cell, text: g.share.small_cell ? "<5" : text(g),
  }));
  horizontalBars(container, items, { max: 100, label, colour, target: 100 });
}

function plansChart(container, plans) {
  const groups = [{ value: "all centres", ...plans }, ...plans.by_centre]
    .filter((g) => g.with_plan.people > 0)
    .map((g) => ({ label: g.value, share: g.agreed_within_aim, median: g.median_days_to_plan }));
  shareBars(container, groups, {
    label: `Share of first plans agreed within ${plans.aim_days} days of arrival`, colour: "#1f6f8b",
    text: (g) => `${percentOf(g.share)} of ${g.share.of.toLocaleString("en")}`
      + (g.median.small_cell || g.median.days === null ? "" : ` · median ${g.median.days} d`),
  });
}

function followUpChart(container, followUps) {
  const groups = followUps.periods
    .filter((p) => p.completion.of > 0)
    .map((p) => ({ label: `${p.period_months} months`, share: p.completion, overdue: p.overdue }));
  shareBars(container, groups, {
    label: "Share of due monitoring visits completed", colour: "#5a9e4b",
    text: (g) => `${percentOf(g.share)} of ${g.share.of.toLocaleString("en")} due`
      + ` · ${shown(g.overdue.visits, g.overdue.small_cell)} overdue`,
  });
}

// One bar per row, made of segments (small ones hatched at the size of 5).
function stackedBars(container, rows, { label, colours, right = 90 }) {
  if (!rows.length) return empty(container, "Nothing in this period.");
  const [width, rowHeight, left] = [640, 26, 190];
  const height = rows.length * rowHeight + 30;
  const totals = rows.map((r) => r.segments.reduce((sum, s) => sum + drawn(s.value, s.small), 0));
  const scale = (width - left - right) / Math.max(...totals, 1);
  const svg = canvas(container, width, height, label);
  let bars = 0;
  rows.forEach((row, i) => {
    const y = 5 + i * rowHeight;
    svg.append(el("text", { x: left - 6, y: y + 15, "text-anchor": "end" }, row.label));
    let x = left;
    for (const s of row.segments.filter((s) => s.value > 0)) {
      const w = drawn(s.value, s.small) * scale;
      bar(svg, container, { x, y: y + 3, width: w, height: rowHeight - 8 }, colours[s.name],
        s.small, `${row.label} · ${s.name}: ${shown(s.value, s.small)}`);
      x += w;
      bars += 1;
    }
    svg.append(el("text", { x: x + 6, y: y + 15, class: "muted" }, row.text));
  });
  Object.entries(colours).forEach(([name, colour], i) => {
    svg.append(el("rect", { x: left + i * 110, y: height - 16, width: 10, height: 10, fill: colour }));
    svg.append(el("text", { x: left + i * 110 + 14, y: height - 7 }, name));
  });
  container.dataset.bars = String(bars);
}

function referralChart(container, referrals) {
  const rows = referrals.partners.map((p) => ({
    label: p.partner_name.length > 28 ? `${p.partner_name.slice(0, 27)}…` : p.partner_name,
    segments: Object.entries(p.by_status)
      .map(([name, c]) => ({ name, value: c.referrals, small: c.small_cell })),
    text: shown(p.referrals, p.small_cell),
  }));
  stackedBars(container, rows, { label: "Referrals by partner and status", colours: STATUS_COLOURS });
}

// Mean scores (0 to 1) of each series, one bar per dimension; a small cell has no mean and is
// drawn hatched across the whole scale.
function scoresChart(container, sustainability) {
  const items = sustainability.series.flatMap((s) => {
    const name = s.kind === "baseline" ? "baseline" : `${s.period_months} months`;
    const means = s.total.means;
    return Object.keys(DIMENSION_COLOURS).map((dimension) => ({
      label: `${name} · ${dimension}`, series: `${s.method}, ${s.total.people} people`,
      value: means === null ? 1 : means[dimension], small: means === null, dimension,
    }));
  });
  if (!items.length) return empty(container, "No survey in this period.");
  const [width, rowHeight, left, right] = [640, 20, 190, 150];
  const height = items.length * rowHeight + 10;
  const scale = width - left - right;
  const svg = canvas(container, width, height, "Mean sustainability scores by dimension");
  items.forEach((item, i) => {
    const y = 5 + i * rowHeight;
    svg.append(el("text", { x: left - 6, y: y + 13, "text-anchor": "end" }, item.label));
    bar(svg, container, { x: left, y: y + 3, width: item.value * scale, height: rowHeight - 6 },
      DIMENSION_COLOURS[item.dimension], item.small,
      `${item.label} (${item.series}): ${item.small ? "<5 people" : item.value.toFixed(2)}`);
    svg.append(el("text", { x: left + item.value * scale + 6, y: y + 13, class: "muted" },
      item.small ? "<5 people" : `${item.value.toFixed(2)} · ${item.series}`));
  });
  container.dataset.bars = String(items.length);
}

function closuresChart(container, closures) {
  const items = [
    ...closures.by_reason.map((c) => ({ ...c, label: c.value.replaceAll("_", " ") })),
    { ...closures.reopenings, label: "reopened (in the period)" },
  ].filter((c) => c.cases > 0).map((c) => ({
    label: c.label, value: drawn(c.cases, c.small_cell), small: c.small_cell,
    text: shown(c.cases, c.small_cell),
  }));
  const max = Math.max(...items.map((i) => i.value), 1);
  horizontalBars(container, items, { max, label: "Cases closed by reason", colour: "#c4495a" });
}

// ---- expected arrivals ----

const ARRIVAL_COLOURS = {
  arrived: "#5a9e4b", awaited: "#e08a2c", lapsed: "#8a94a0", withdrawn: "#c4495a",
};

// One bar per wave and centre: who arrived, who is awaited, who was closed; then how soon
// those who arrived got immediate care (not shown for fewer than 5 people).
function expectedChart(container, expected) {
  const rows = expected.waves.map((w) => {
    const name = w.wave_name.length > 18 ? `${w.wave_name.slice(0, 17)}…` : w.wave_name;
    const care = w.immediate_care_within_72h;
    const median = w.median_hours_to_immediate_care;
    return {
      label: `${name} · ${w.reception_centre}`,
      segments: [
        { name: "arrived", value: w.arrived.people, small: w.arrived.small_cell },
        { name: "awaited", value: w.awaited.people, small: w.awaited.small_cell },
        { name: "lapsed", value: w.closed_lapsed.people, small: w.closed_lapsed.small_cell },
        { name: "withdrawn", value: w.closed_withdrawn.people, small: w.closed_withdrawn.small_cell },
      ],
      text: `${shown(w.expected.people, w.expected.small_cell)} expected`
        + (care.small_cell || care.share === null ? "" : ` · ${percentOf(care)} in 72 h`)
        + (median.small_cell || median.hours === null ? "" : ` · median ${median.hours.toFixed(1)} h`),
    };
  });
  stackedBars(container, rows, {
    label: "Expected arrivals by wave and centre", colours: ARRIVAL_COLOURS, right: 290,
  });
}

function tiles(container, kpis, plans) {
  const percent = (s) => (s.small_cell || s.share === null ? "<5" : `${(s.share * 100).toFixed(1)} %`);
  const median = kpis.median_hours_to_first_aid;
  const entries = [
    ["Returnees arrived", shown(kpis.cohort.people, kpis.cohort.small_cell)],
    ["Aided within 72 h", percent(kpis.immediate_assistance_within_72h)],
    ["Median hours to first aid", median.small_cell || median.hours === null ? "–" : median.hours.toFixed(1)],
    ["With reintegration aid", percent(kpis.reintegration_aid)],
    ["With a launched activity", percent(kpis.launched_activity)],
    ["Funnel", kpis.funnel.map((f) => shown(f.people, f.small_cell)).join(" → ")],
    [`First plan within ${plans.aim_days} days`, percent(plans.agreed_within_aim)],
  ];
  container.replaceChildren(...entries.map(([label, value]) => {
    const tile = document.createElement("div");
    tile.className = "tile";
    const v = document.createElement("div");
    v.className = "value";
    v.textContent = value;
    const l = document.createElement("div");
    l.className = "label";
    l.textContent = label;
    tile.append(v, l);
    return tile;
  }));
}

// ---- page ----

function setStatus(message, isError = false) {
  const status = document.getElementById("status");
  status.textContent = message;
  status.classList.toggle("error", isError);
}

function showSignIn(message) {
  document.getElementById("sign-in").hidden = false;
  document.getElementById("board").hidden = true;
  setStatus(message, true);
}

async function refresh() {
  if (!token()) return showSignIn("Paste an analyst token to see the reports.");
  const form = new FormData(document.getElementById("filters"));
  const params = new URLSearchParams([...form.entries()].filter(([, v]) => v !== ""));
  setStatus("Loading…");
  try {
    const names = [
      "registrations-monthly", "kpis", "aid", "activities",
      "plans", "referrals", "follow-ups", "sustainability", "closures", "expected-arrivals",
    ];
    const [
      monthly, kpis, aid, activities, plans, referrals, followUps, sustainability, closures,
      expected,
    ] = await Promise.all(names.map((name) => report(name, params)));
    document.getElementById("sign-in").hidden = true;
    document.getElementById("board").hidden = false;
    tiles(document.getElementById("kpis"), kpis, plans);
    monthlyChart(document.getElementById("chart-monthly"), monthly.rows);
    complianceChart(document.getElementById("chart-72h"), kpis);
    aidChart(document.getElementById("chart-aid"), aid);
    activityChart(document.getElementById("chart-activities"), activities);
    plansChart(document.getElementById("chart-plans"), plans);
    referralChart(document.getElementById("chart-referrals"), referrals);
    followUpChart(document.getElementById("chart-follow-ups"), followUps);
    scoresChart(document.getElementById("chart-scores"), sustainability);
    closuresChart(document.getElementById("chart-closures"), closures);
    expectedChart(document.getElementById("chart-expected"), expected);
    setStatus(`Updated ${new Date().toLocaleString("en-GB")}`);
    document.body.dataset.ready = "true";
  } catch (error) {
    if (error instanceof SignInNeeded) return showSignIn(`Sign-in needed: ${error.message}`);
    setStatus(String(error.message || error), true);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  adoptTokenFromFragment();
  document.getElementById("filters").addEventListener("submit", (event) => {
    event.preventDefault();
    refresh();
  });
  document.getElementById("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, document.getElementById("token").value.trim());
    document.getElementById("token").value = "";
    refresh();
  });
  document.getElementById("sign-out").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY);
    showSignIn("Token forgotten.");
  });
  refresh();
});
