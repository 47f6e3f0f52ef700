// The reporting dashboard: fetches the JSON reports with the analyst's token and draws them
// as inline SVG, in French or English (dashboard-texts.js). No library and no network access
// beyond this service.
"use strict";

const TOKEN_KEY = "retour.reporting.token";
const LANGUAGE_KEY = "retour.reporting.language";
const SMALL = 5; // cells under this many people are drawn at this size, hatched, labelled "<5"
const SVG = "http://www.w3.org/2000/svg";
const CENTRE_COLOURS = {
  bamako: "#1f6f8b", kayes: "#e08a2c", gao: "#5a9e4b", mopti: "#8a5bb0", tombouctou: "#c4495a",
};

class SignInNeeded extends Error {}

// ---- language: French unless the reader asked for English (the switch, or a browser whose
// first language is English); the choice is remembered in this browser ----

function chosenLanguage() {
  const stored = localStorage.getItem(LANGUAGE_KEY);
  if (stored === "fr" || stored === "en") return stored;
  const first = (navigator.languages && navigator.languages[0]) || navigator.language || "fr";
  return first.toLowerCase().startsWith("en") ? "en" : "fr";
}

let language = "fr";

function t(key, values = {}) {
  const text = window.RETOUR_TEXTS[language][key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(values[name] ?? ""));
}

// A code's label; a code the texts do not know keeps its words, underscores as spaces.
function label(kind, code) {
  return window.RETOUR_LABELS[language][kind]?.[code] ?? String(code).replaceAll("_", " ");
}

const locale = () => (language === "fr" ? "fr-FR" : "en-GB");
const count = (n) => Number(n).toLocaleString(locale());
const decimal = (n, digits) =>
  Number(n).toLocaleString(locale(), { minimumFractionDigits: digits, maximumFractionDigits: digits });
const percent = (share) => `${decimal(share * 100, 1)} %`;

function applyTexts() {
  document.documentElement.lang = language;
  document.title = t("page_title");
  for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
  for (const node of document.querySelectorAll("[data-i18n-label]")) {
    node.setAttribute("aria-label", t(node.dataset.i18nLabel));
  }
  for (const node of document.querySelectorAll("option[data-label]")) {
    node.textContent = label(node.dataset.label, node.value);
  }
  for (const button of document.querySelectorAll("button.csv")) {
    const caption = button.closest("figure").querySelector("figcaption").textContent;
    button.setAttribute("aria-label", t("download_csv_of", { name: caption }));
  }
  document.getElementById("language").value = language;
}

// ---- signing in at the identity provider: the authorization code flow with PKCE
// (RFC 7636), as a public client; the token lands where a pasted one would ----

const PKCE_KEY = "retour.reporting.pkce";
let identityProvider = null; // { issuer, client_id } from /dashboard-config.json, or null

async function loadSignInConfig() {
  const response = await fetch("/dashboard-config.json");
  identityProvider = response.ok ? (await response.json()).oidc : null;
  document.getElementById("oidc-sign-in").hidden = !identityProvider;
}

const base64url = (bytes) => btoa(String.fromCharCode(...new Uint8Array(bytes)))
  .replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
const randomText = () => base64url(crypto.getRandomValues(new Uint8Array(32)));
const redirectUri = () => `${window.location.origin}/`;
// Keycloak's endpoints under the realm's URL (the issuer).
const endpoint = (name) => `${identityProvider.issuer}/protocol/openid-connect/${name}`;

// SHA-256 (FIPS 180-4). Browsers give crypto.subtle only to secure contexts: a dashboard served
// over plain HTTP on a centre's local network, not from 127.0.0.1, still signs in with S256.
function sha256(message) {
  const k = [];
  const h = [];
  let n = 2;
  const fraction = (x) => ((x - Math.floor(x)) * 2 ** 32) >>> 0;
  while (k.length < 64) {
    let prime = true;
    for (let d = 2; d * d <= n; d += 1) if (n % d === 0) prime = false;
    if (prime) {
      if (h.length < 8) h.push(fraction(n ** (1 / 2)));
      k.push(fraction(n ** (1 / 3)));
    }
    n += 1;
  }
  const bits = message.length * 8;
  const padded = new Uint8Array(((message.length + 9 + 63) >> 6) << 6);
  padded.set(message);
  padded[message.length] = 0x80;
  new DataView(padded.buffer).setUint32(padded.length - 4, bits >>> 0);
  new DataView(padded.buffer).setUint32(padded.length - 8, Math.floor(bits / 2 ** 32));
  const rotate = (x, r) => (x >>> r) | (x << (32 - r));
  const w = new Uint32Array(64);
  for (let block = 0; block < padded.length; block += 64) {
    const view = new DataView(padded.buffer, block, 64);
    for (let i = 0; i < 16; i += 1) w[i] = view.getUint32(i * 4);
    for (let i = 16; i < 64; i += 1) {
      const s0 = rotate(w[i - 15], 7) ^ rotate(w[i - 15], 18) ^ (w[i - 15] >>> 3);
      const s1 = rotate(w[i - 2], 17) ^ rotate(w[i - 2], 19) ^ (w[i - 2] >>> 10);
      w[i] = (w[i - 16] + s0 + w[i - 7] + s1) >>> 0;
    }
    let [a, b, c, d, e, f, g, hh] = h;
    for (let i = 0; i < 64; i += 1) {
      const t1 = (hh + (rotate(e, 6) ^ rotate(e, 11) ^ rotate(e, 25)) + ((e & f) ^ (~e & g)) + k[i] + w[i]) >>> 0;
      const t2 = ((rotate(a, 2) ^ rotate(a, 13) ^ rotate(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) >>> 0;
      [hh, g, f, e, d, c, b, a] = [g, f, e, (d + t1) >>> 0, c, b, a, (t1 + t2) >>> 0];
    }
    [a, b, c, d, e, f, g, hh].forEach((value, i) => { h[i] = (h[i] + value) >>> 0; });
  }
  const digest = new DataView(new ArrayBuffer(32));
  h.forEach((value, i) => digest.setUint32(i * 4, value));
  return digest.buffer;
}

async function challengeOf(verifier) {
  const bytes = new TextEncoder().encode(verifier);
  return base64url(crypto.subtle ? await crypto.subtle.digest("SHA-256", bytes) : sha256(bytes));
}

async function startSignIn() {
  const verifier = randomText();
  const state = randomText();
  const challenge = await challengeOf(verifier);
  sessionStorage.setItem(PKCE_KEY, JSON.stringify({ verifier, state }));
  const query = new URLSearchParams({
    response_type: "code", client_id: identityProvider.client_id, redirect_uri: redirectUri(),
    scope: "openid", state, code_challenge: challenge, code_challenge_method: "S256",
    ui_locales: language,
  });
  window.location.assign(`${endpoint("auth")}?${query}`);
}

// Back from the identity provider (?code=...&state=...): the code is exchanged once, with the
// verifier only this tab holds, and leaves the address bar at once.
async function finishSignIn() {
  const answer = new URLSearchParams(window.location.search);
  if (!answer.has("code") && !answer.has("error")) return;
  history.replaceState(null, "", window.location.pathname);
  const pending = JSON.parse(sessionStorage.getItem(PKCE_KEY) || "null");
  sessionStorage.removeItem(PKCE_KEY);
  if (answer.has("error") || !identityProvider || !pending || pending.state !== answer.get("state")) {
    throw new SignInNeeded(t("sign_in_failed"));
  }
  const response = await fetch(endpoint("token"), {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "authorization_code", code: answer.get("code"), redirect_uri: redirectUri(),
      client_id: identityProvider.client_id, code_verifier: pending.verifier,
    }),
  });
  if (!response.ok) throw new SignInNeeded(t("sign_in_failed"));
  sessionStorage.setItem(TOKEN_KEY, (await response.json()).access_token);
}

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

async function authorised(path) {
  const response = await fetch(path, { headers: { Authorization: `Bearer ${token()}` } });
  if (response.status === 401 || response.status === 403) {
    throw new SignInNeeded((await response.json()).detail);
  }
  if (!response.ok) {
    throw new Error(`${path.split("?")[0]}: HTTP ${response.status}`);
  }
  return response;
}

async function report(name, params) {
  return (await authorised(`/reports/${name}?${params}`)).json();
}

function filters() {
  const form = new FormData(document.getElementById("filters"));
  return new URLSearchParams([...form.entries()].filter(([, v]) => v !== ""));
}

// A panel's report as the API's CSV (small cells suppressed), saved under the name the API
// gives it. Fetched with the token, so it cannot be a plain link.
async function downloadCsv(button) {
  try {
    const response = await authorised(`/reports/${button.dataset.report}.csv?${filters()}`);
    const disposition = response.headers.get("content-disposition") || "";
    const file = disposition.match(/filename="([^"]+)"/)?.[1] || `${button.dataset.report}.csv`;
    const address = URL.createObjectURL(await response.blob());
    const link = document.createElement("a");
    link.href = address;
    link.download = file;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(address), 10_000);
    setStatus(t("downloaded", { file }));
  } catch (error) {
    if (error instanceof SignInNeeded) return showSignIn(t("sign_in_needed", { detail: error.message }));
    setStatus(String(error.message || error), true);
  }
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

// A label cut to fit beside its bar; the bar's tooltip keeps it whole.
const shortened = (text, length) => (text.length > length ? `${text.slice(0, length - 1)}…` : text);

// Sorted by what is drawn, so the order of small cells reveals nothing of their true size.
const byDrawnSize = (a, b) => b.value - a.value || a.label.localeCompare(b.label);
const shown = (n, small) => (small ? "<5" : count(n));
const drawn = (n, small) => (small ? SMALL : n);

// ---- charts ----

function monthlyChart(container, rows) {
  if (!rows.length) return empty(container, t("no_registrations"));
  const months = [...new Set(rows.map((r) => r.month))].sort();
  const centres = [...new Set(rows.map((r) => r.reception_centre))].sort();
  const totals = months.map((m) => rows.filter((r) => r.month === m)
    .reduce((sum, r) => sum + drawn(r.people, r.small_cell), 0));
  const max = Math.max(...totals, 1);
  const [width, height, left, bottom, top] = [640, 300, 40, 40, 24];
  const svg = canvas(container, width, height, t("chart_label_monthly"));
  const step = (width - left - 10) / months.length;
  const scale = (height - bottom - top) / max;
  svg.append(el("line", { class: "axis", x1: left, y1: height - bottom, x2: width - 10, y2: height - bottom }));
  svg.append(el("text", { x: 4, y: top - 8, class: "muted" }, t("max", { n: count(max) })));
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
        `${month} · ${label("centre", centre)}: ${shown(row.people, row.small_cell)}`);
      bars += 1;
    }
    svg.append(el("text", { x: left + i * step + step / 2, y: height - bottom + 14, "text-anchor": "middle" },
      month));
  });
  centres.forEach((centre, i) => {
    const x = left + i * 110;
    svg.append(el("rect", { x, y: height - 16, width: 10, height: 10, fill: CENTRE_COLOURS[centre] || "#777" }));
    svg.append(el("text", { x: x + 14, y: height - 7 }, label("centre", centre)));
  });
  container.dataset.bars = String(bars);
}

// items: [{label, value, small, text}] drawn as horizontal bars against `max`.
function horizontalBars(container, items, { max, label, colour, target = null }) {
  if (!items.length) return empty(container, t("nothing"));
  const [width, rowHeight, left, right] = [640, 26, 190, 170];
  const height = items.length * rowHeight + 10;
  const svg = canvas(container, width, height, label);
  const scale = (width - left - right) / Math.max(max, 1);
  items.forEach((item, i) => {
    const y = 5 + i * rowHeight;
    svg.append(el("text", { x: left - 6, y: y + 15, "text-anchor": "end" }, shortened(item.label, 30)));
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
  const groups = [{ value: null, ...kpis }, ...kpis.by_centre];
  const items = groups
    .filter((g) => g.cohort.people > 0)
    .map((g) => {
      const s = g.immediate_assistance_within_72h;
      const share = s.share === null ? 0 : s.share;
      return {
        label: g.value === null ? t("all") : label("centre", g.value),
        value: s.small_cell ? 100 : share * 100, small: s.small_cell,
        text: s.small_cell ? t("people_small") : t("percent_of", { percent: percent(share), n: count(s.of) }),
      };
    });
  horizontalBars(container, items, {
    max: 100, label: t("chart_label_72h"), colour: "#1f6f8b", target: 100,
  });
}

function aidChart(container, aid) {
  const items = (aid.breakdowns.category || []).map((c) => ({
    label: label("category", c.value), value: drawn(c.aids, c.small_cell), small: c.small_cell,
    text: c.small_cell ? t("people_small")
      : t("aids_people", { aids: count(c.aids), people: count(c.people) })
        + (Number(c.total_xof) > 0 ? ` · ${count(c.total_xof)} XOF` : ""),
  })).sort(byDrawnSize);
  const max = Math.max(...items.map((i) => i.value), 1);
  horizontalBars(container, items, { max, label: t("chart_label_aid"), colour: "#e08a2c" });
}

function activityChart(container, activities) {
  const items = (activities.breakdowns.sector || []).map((c) => ({
    label: label("sector", c.value), value: drawn(c.activities, c.small_cell), small: c.small_cell,
    text: c.small_cell ? t("people_small")
      : t("activities_people", { activities: count(c.activities), people: count(c.participants) }),
  })).sort(byDrawnSize);
  const max = Math.max(...items.map((i) => i.value), 1);
  horizontalBars(container, items, { max, label: t("chart_label_activities"), colour: "#5a9e4b" });
}

// ---- the case reports ----

const STATUS_COLOURS = { sent: "#8a94a0", accepted: "#1f6f8b", completed: "#5a9e4b", declined: "#c4495a" };
const DIMENSION_COLOURS = {
  economic: "#e08a2c", social: "#1f6f8b", psychosocial: "#8a5bb0", composite: "#1d2733",
};
const percentOf = (s) => percent(s.share || 0);

// A share per group as a horizontal bar out of 100 %, small shares hatched at full width.
function shareBars(container, groups, { label, colour, text }) {
  const items = groups.map((g) => ({
    label: g.label, value: g.share.small_cell ? 100 : (g.share.share || 0) * 100,
    small: g.share.small_cell, text: g.share.small_cell ? "<5" : text(g),
  }));
  horizontalBars(container, items, { max: 100, label, colour, target: 100 });
}

function plansChart(container, plans) {
  const groups = [{ value: null, ...plans }, ...plans.by_centre]
    .filter((g) => g.with_plan.people > 0)
    .map((g) => ({
      label: g.value === null ? t("all") : label("centre", g.value),
      share: g.agreed_within_aim, median: g.median_days_to_plan,
    }));
  shareBars(container, groups, {
    label: t("chart_label_plans", { days: plans.aim_days }), colour: "#1f6f8b",
    text: (g) => t("percent_of", { percent: percentOf(g.share), n: count(g.share.of) })
      + (g.median.small_cell || g.median.days === null ? "" : ` · ${t("median_days", { days: count(g.median.days) })}`),
  });
}

function followUpChart(container, followUps) {
  const groups = followUps.periods
    .filter((p) => p.completion.of > 0)
    .map((p) => ({ label: t("months", { n: p.period_months }), share: p.completion, overdue: p.overdue }));
  shareBars(container, groups, {
    label: t("chart_label_follow_ups"), colour: "#5a9e4b",
    text: (g) => t("due", { percent: percentOf(g.share), n: count(g.share.of) })
      + ` · ${t("overdue", { n: shown(g.overdue.visits, g.overdue.small_cell) })}`,
  });
}

// One bar per row, made of segments (small ones hatched at the size of 5).
function stackedBars(container, rows, { label: title, colours, kind, right = 90 }) {
  if (!rows.length) return empty(container, t("nothing"));
  const [width, rowHeight, left] = [640, 26, 190];
  const height = rows.length * rowHeight + 30;
  const totals = rows.map((r) => r.segments.reduce((sum, s) => sum + drawn(s.value, s.small), 0));
  const scale = (width - left - right) / Math.max(...totals, 1);
  const svg = canvas(container, width, height, title);
  let bars = 0;
  rows.forEach((row, i) => {
    const y = 5 + i * rowHeight;
    svg.append(el("text", { x: left - 6, y: y + 15, "text-anchor": "end" }, row.label));
    let x = left;
    for (const s of row.segments.filter((s) => s.value > 0)) {
      const w = drawn(s.value, s.small) * scale;
      bar(svg, container, { x, y: y + 3, width: w, height: rowHeight - 8 }, colours[s.name],
        s.small, `${row.label} · ${label(kind, s.name)}: ${shown(s.value, s.small)}`);
      x += w;
      bars += 1;
    }
    svg.append(el("text", { x: x + 6, y: y + 15, class: "muted" }, row.text));
  });
  Object.entries(colours).forEach(([name, colour], i) => {
    svg.append(el("rect", { x: left + i * 110, y: height - 16, width: 10, height: 10, fill: colour }));
    svg.append(el("text", { x: left + i * 110 + 14, y: height - 7 }, label(kind, name)));
  });
  container.dataset.bars = String(bars);
}

function referralChart(container, referrals) {
  const rows = referrals.partners.map((p) => ({
    label: shortened(p.partner_name, 28),
    segments: Object.entries(p.by_status)
      .map(([name, c]) => ({ name, value: c.referrals, small: c.small_cell })),
    text: shown(p.referrals, p.small_cell),
  }));
  stackedBars(container, rows, {
    label: t("chart_label_referrals"), colours: STATUS_COLOURS, kind: "status",
  });
}

// Mean scores (0 to 1) of each series, one bar per dimension; a small cell has no mean and is
// drawn hatched across the whole scale.
function scoresChart(container, sustainability) {
  const items = sustainability.series.flatMap((s) => {
    const name = s.kind === "baseline" ? t("baseline") : t("months", { n: s.period_months });
    const means = s.total.means;
    return Object.keys(DIMENSION_COLOURS).map((dimension) => ({
      label: `${name} · ${label("dimension", dimension)}`,
      series: t("series", { method: s.method, n: count(s.total.people) }),
      value: means === null ? 1 : means[dimension], small: means === null, dimension,
    }));
  });
  if (!items.length) return empty(container, t("no_survey"));
  const [width, rowHeight, left, right] = [640, 20, 190, 150];
  const height = items.length * rowHeight + 10;
  const scale = width - left - right;
  const svg = canvas(container, width, height, t("chart_label_scores"));
  items.forEach((item, i) => {
    const y = 5 + i * rowHeight;
    svg.append(el("text", { x: left - 6, y: y + 13, "text-anchor": "end" }, item.label));
    bar(svg, container, { x: left, y: y + 3, width: item.value * scale, height: rowHeight - 6 },
      DIMENSION_COLOURS[item.dimension], item.small,
      `${item.label} (${item.series}): ${item.small ? t("people_small") : decimal(item.value, 2)}`);
    svg.append(el("text", { x: left + item.value * scale + 6, y: y + 13, class: "muted" },
      item.small ? t("people_small") : `${decimal(item.value, 2)} · ${item.series}`));
  });
  container.dataset.bars = String(items.length);
}

function closuresChart(container, closures) {
  const items = [
    ...closures.by_reason.map((c) => ({ ...c, label: label("closure", c.value) })),
    { ...closures.reopenings, label: t("reopened") },
  ].filter((c) => c.cases > 0).map((c) => ({
    label: c.label, value: drawn(c.cases, c.small_cell), small: c.small_cell,
    text: shown(c.cases, c.small_cell),
  }));
  const max = Math.max(...items.map((i) => i.value), 1);
  horizontalBars(container, items, { max, label: t("chart_label_closures"), colour: "#c4495a" });
}

// ---- expected arrivals ----

const ARRIVAL_COLOURS = {
  arrived: "#5a9e4b", awaited: "#e08a2c", lapsed: "#8a94a0", withdrawn: "#c4495a",
};

// One bar per wave and centre: who arrived, who is awaited, who was closed; then how soon
// those who arrived got immediate care (not shown for fewer than 5 people).
function expectedChart(container, expected) {
  const rows = expected.waves.map((w) => {
    const name = shortened(w.wave_name, 18);
    const care = w.immediate_care_within_72h;
    const median = w.median_hours_to_immediate_care;
    return {
      label: `${name} · ${label("centre", w.reception_centre)}`,
      segments: [
        { name: "arrived", value: w.arrived.people, small: w.arrived.small_cell },
        { name: "awaited", value: w.awaited.people, small: w.awaited.small_cell },
        { name: "lapsed", value: w.closed_lapsed.people, small: w.closed_lapsed.small_cell },
        { name: "withdrawn", value: w.closed_withdrawn.people, small: w.closed_withdrawn.small_cell },
      ],
      text: t("expected", { n: shown(w.expected.people, w.expected.small_cell) })
        + (care.small_cell || care.share === null ? "" : ` · ${t("in_72h", { percent: percentOf(care) })}`)
        + (median.small_cell || median.hours === null ? ""
          : ` · ${t("median_hours", { hours: decimal(median.hours, 1) })}`),
    };
  });
  stackedBars(container, rows, {
    label: t("chart_label_expected"), colours: ARRIVAL_COLOURS, kind: "arrival", right: 290,
  });
}

function tiles(container, kpis, plans) {
  const share = (s) => (s.small_cell || s.share === null ? "<5" : percent(s.share));
  const median = kpis.median_hours_to_first_aid;
  const entries = [
    [t("tile_arrived"), shown(kpis.cohort.people, kpis.cohort.small_cell)],
    [t("tile_72h"), share(kpis.immediate_assistance_within_72h)],
    [t("tile_median"), median.small_cell || median.hours === null ? "–" : decimal(median.hours, 1)],
    [t("tile_reintegration"), share(kpis.reintegration_aid)],
    [t("tile_activity"), share(kpis.launched_activity)],
    [t("tile_funnel"), kpis.funnel.map((f) => shown(f.people, f.small_cell)).join(" → ")],
    [t("tile_plan", { days: plans.aim_days }), share(plans.agreed_within_aim)],
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
  if (!token()) return showSignIn(t(identityProvider ? "sign_in_or_paste" : "paste_token"));
  const params = filters();
  setStatus(t("loading"));
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
    setStatus(t("updated", { when: new Date().toLocaleString(locale()) }));
    document.body.dataset.ready = "true";
  } catch (error) {
    if (error instanceof SignInNeeded) return showSignIn(t("sign_in_needed", { detail: error.message }));
    setStatus(String(error.message || error), true);
  }
}

document.addEventListener("DOMContentLoaded", async () => {
  language = chosenLanguage();
  applyTexts();
  adoptTokenFromFragment();
  document.getElementById("oidc-sign-in").addEventListener("click", () => startSignIn());
  document.getElementById("language").addEventListener("change", (event) => {
    language = event.target.value === "en" ? "en" : "fr";
    localStorage.setItem(LANGUAGE_KEY, language);
    applyTexts();
    if (!document.getElementById("board").hidden) refresh();
  });
  for (const button of document.querySelectorAll("button.csv")) {
    button.addEventListener("click", () => downloadCsv(button));
  }
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
    showSignIn(t("token_forgotten"));
  });
  try {
    await loadSignInConfig();
    await finishSignIn();
  } catch (error) {
    return showSignIn(error instanceof SignInNeeded ? error.message : String(error.message || error));
  }
  refresh();
});
