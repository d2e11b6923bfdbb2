"use strict";
// The usage dashboard: fetches /dashboard/data and draws KPIs, charts and tables.

(() => {
  const PALETTE = ["#4f6bed", "#14b8a6", "#f59e0b", "#e5484d", "#8b5cf6", "#06b6d4", "#94a3b8"];
  const LATENCY = { p50: "#14b8a6", p95: "#f59e0b", p99: "#e5484d" };
  const REJECTED = { name: "rejected", color: "#64748b" };  // refused before naming a model: not a model
  const INTERRUPTED = "Streams cut off when their proxy process died, recorded from its journal when it (or another replica) started again";
  const exact = new Intl.NumberFormat("en-US");
  const params = new URLSearchParams(location.search);
  const state = { since: params.get("since") || "7d", data: null };

  function dataUrl() {
    const query = new URLSearchParams({ since: state.since });
    if (params.get("key")) query.set("key", params.get("key"));
    return `/dashboard/data?${query}`;
  }

  async function load() {
    const status = document.getElementById("status");
    try {
      const response = await fetch(dataUrl(), { headers: { accept: "application/json" } });
      const body = await response.json();
      if (!response.ok) throw new Error(body.error ? body.error.message : response.statusText);
      state.data = body;
      status.hidden = true;
      draw();
    } catch (error) {
      status.textContent = `Could not load usage data: ${error.message}`;
      status.hidden = false;
    }
  }

  function draw() {
    const data = state.data;
    if (!data) return;
    const colors = Object.fromEntries(data.series.models.map((m, i) => [m, m === "other" ? PALETTE[6] : PALETTE[i % 6]]));
    document.getElementById("range").textContent = describeRange(data.period);
    kpis(data.totals);
    const perModel = (values) => data.series.models.map((name) => ({ name, color: colors[name], values: values[name] }));
    const common = { buckets: data.buckets, bucketSeconds: data.period.bucket_seconds };
    const requests = perModel(data.series.requests);
    if (data.series.rejected.some((count) => count > 0)) requests.push({ ...REJECTED, values: data.series.rejected });
    chart("requests", { ...common, kind: "bars", series: requests, format: Charts.format.count });
    chart("tokens", { ...common, kind: "areas", series: perModel(data.series.tokens), format: Charts.format.count });
    const latency = Object.entries(LATENCY).map(([name, color]) => ({ name, color, values: data.series.latency[name] }));
    chart("latency", { ...common, kind: "lines", series: latency, format: Charts.format.ms });
    const errorRate = [{ name: "error rate", color: "#e5484d", values: data.series.error_rate }];
    const worst = Math.max(0.05, ...data.series.error_rate.filter((v) => v != null));
    chart("errors", { ...common, kind: "bars", series: errorRate, format: Charts.format.percent, maxValue: worst, height: 200 });
    topTable("top-models", "Model", data.top_models, colors, data.rejected);
    topTable("top-keys", "Key", data.top_keys, {});
    topTable("top-sessions", "Session", data.top_sessions, {});
    topTable("top-routes", "Target", data.top_routes, {});
    errorsByType(data.errors_by_type);
  }

  function chart(id, options) {
    legend(`legend-${id}`, options.series);
    Charts.render(document.getElementById(`chart-${id}`), { id, label: id, ...options });
  }

  function legend(id, series) {
    document.getElementById(id).innerHTML = series
      .map((s) => `<span><i style="background:${s.color}"></i>${Charts.escapeHtml(s.name)}</span>`)
      .join("");
  }

  function kpis(t) {
    const cost = t.cost == null ? "—" : `$${t.cost.toFixed(t.cost < 10 ? 2 : 0)}`;
    const cards = [
      ["requests", "Requests", Charts.format.count(t.requests), t.requests, `${exact.format(t.requests)} total`],
      ["input_tokens", "Input tokens", Charts.format.count(t.input_tokens), t.input_tokens, `${Charts.format.count(t.cache_read_tokens)} cache reads`],
      ["output_tokens", "Output tokens", Charts.format.count(t.output_tokens), t.output_tokens, "generated"],
      ["cost", "Est. cost", cost, t.cost ?? "", t.cost == null ? "add [prices] to the config" : "from config prices"],
      ["error_rate", "Error rate", Charts.format.percent(t.error_rate), t.error_rate, `${exact.format(t.errors)} failed`],
      ["latency_p50", "Latency p50", fmtMs(t.latency_ms.p50), t.latency_ms.p50 ?? "", `p95 ${fmtMs(t.latency_ms.p95)} · p99 ${fmtMs(t.latency_ms.p99)}`],
      ["ttft_p50", "First token p50", fmtMs(t.ttft_ms.p50), t.ttft_ms.p50 ?? "", `p95 ${fmtMs(t.ttft_ms.p95)} (streams)`],
    ];
    document.getElementById("kpis").innerHTML = cards
      .map(([key, label, value, raw, note]) => {
        const bad = key === "error_rate" && t.error_rate >= 0.05 ? " bad" : "";
        return `<div class="kpi${bad}" data-kpi="${key}" data-value="${raw}"><div class="label">${label}</div><div class="value">${value}</div><div class="note">${note}</div></div>`;
      })
      .join("");
  }

  function fmtMs(value) {
    return value == null ? "—" : Charts.format.ms(value);
  }

  // rejected: requests refused before they named a model, shown in a section of their own below.
  function topTable(id, title, rows, colors, rejected) {
    const most = Math.max(1, ...rows.map((r) => r.requests));
    const body = rows.map((r) => {
      const swatch = colors[r.group] ? `<i class="dot" style="background:${colors[r.group]}"></i>` : "";
      return `<tr data-name="${Charts.escapeHtml(r.group)}"><td class="name">${swatch}${Charts.escapeHtml(r.group)}<span class="share" style="width:${(100 * r.requests) / most}%"></span></td>`
        + `<td data-field="requests">${exact.format(r.requests)}</td><td data-field="tokens">${Charts.format.count(r.input_tokens + r.output_tokens)}</td>`
        + `<td>${fmtMs(r.avg_latency_ms)}</td><td>${r.cost == null ? "—" : "$" + r.cost.toFixed(2)}</td></tr>`;
    });
    const head = `<thead><tr><th>${title}</th><th>Requests</th><th>Tokens</th><th>Avg latency</th><th>Cost</th></tr></thead>`;
    const apart = rejected && rejected.requests
      ? `<tbody class="rejected"><tr data-name="${Charts.escapeHtml(rejected.group)}" title="Refused before naming a model: a wrong PROXY_API_KEY or an invalid request">`
        + `<td class="name"><i class="dot" style="background:${REJECTED.color}"></i>Rejected (no model)</td>`
        + `<td data-field="requests">${exact.format(rejected.requests)}</td><td data-field="tokens">—</td><td>${fmtMs(rejected.avg_latency_ms)}</td><td>—</td></tr></tbody>`
      : "";
    document.getElementById(id).innerHTML = head + `<tbody>${body.join("") || '<tr><td colspan="5">No requests</td></tr>'}</tbody>` + apart;
  }

  function errorsByType(rows) {
    document.getElementById("errors-by-type").innerHTML = rows.length
      ? rows.map((r) => `<li${r.type === "interrupted" ? ` title="${INTERRUPTED}"` : ""}><span>${Charts.escapeHtml(r.type)}</span><b>${exact.format(r.count)}</b></li>`).join("")
      : '<li class="none">No errors</li>';
  }

  function describeRange(period) {
    const options = { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" };
    const start = new Date(period.since * 1000).toLocaleString("en", options);
    const end = new Date(period.until * 1000).toLocaleString("en", options);
    return `${start} – ${end}`;
  }

  function markPeriod() {
    for (const button of document.querySelectorAll(".periods button")) {
      button.classList.toggle("active", button.dataset.since === state.since);
    }
  }

  function setupPeriods() {
    for (const button of document.querySelectorAll(".periods button")) {
      button.addEventListener("click", () => {
        state.since = button.dataset.since;
        params.set("since", state.since);
        history.replaceState(null, "", `?${params}`);
        markPeriod();
        load();
      });
    }
    markPeriod();
  }

  let resizeTimer = 0;
  window.addEventListener("resize", () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(draw, 150);
  });
  setupPeriods();
  load();
  setInterval(load, 60000);
})();
