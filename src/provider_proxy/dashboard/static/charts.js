"use strict";
// Small SVG time-series charts for the dashboard: stacked bars, stacked areas and lines.
// No dependencies. Charts.render(container, options) draws into the container and returns the <svg>.

const Charts = (() => {
  const NS = "http://www.w3.org/2000/svg";
  const MARGIN = { top: 12, right: 14, bottom: 28, left: 56 };
  const compact = new Intl.NumberFormat("en", { notation: "compact", maximumFractionDigits: 1 });

  const format = {
    count: (v) => compact.format(v),
    ms: (v) => (v >= 1000 ? `${(v / 1000).toFixed(v >= 10000 ? 0 : 1)} s` : `${Math.round(v)} ms`),
    percent: (v) => `${+(v * 100).toFixed(1)}%`,
  };

  function el(name, attrs, parent) {
    const node = document.createElementNS(NS, name);
    for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
    if (parent) parent.appendChild(node);
    return node;
  }

  function niceScale(max, ticks) {
    if (!(max > 0)) return { step: 1, max: ticks };
    const raw = max / ticks;
    const magnitude = 10 ** Math.floor(Math.log10(raw));
    const step = [1, 2, 2.5, 5, 10].find((s) => s * magnitude >= raw) * magnitude;
    return { step, max: step * Math.ceil(max / step - 1e-9) };
  }

  function timeLabel(seconds, bucketSeconds, full) {
    const date = new Date(seconds * 1000);
    const day = date.toLocaleDateString("en", { month: "short", day: "numeric" });
    const time = date.toLocaleTimeString("en-GB", { hour: "2-digit", minute: "2-digit" });
    if (bucketSeconds >= 86400) return day;
    if (full) return `${day}, ${time}`;
    return date.getHours() === 0 && date.getMinutes() === 0 ? day : time;
  }

  function stack(series, count) {
    const floors = new Array(count).fill(0);
    return series.map((s) => {
      const bottom = floors.slice();
      const top = s.values.map((v, i) => (floors[i] += v || 0));
      return { ...s, bottom, top };
    });
  }

  function highest(opts, stacked) {
    if (stacked.length) return Math.max(0, ...stacked[stacked.length - 1].top);
    return Math.max(0, ...opts.series.flatMap((s) => s.values.filter((v) => v != null)));
  }

  function axes(svg, geometry, opts, scale) {
    const { x0, y0, width, height, slot } = geometry;
    const group = el("g", { class: "axis" }, svg);
    for (let value = 0; value <= scale.max + 1e-9; value += scale.step) {
      const y = y0 + height - (value / scale.max) * height;
      el("line", { class: value === 0 ? "baseline" : "gridline", x1: x0, x2: x0 + width, y1: y, y2: y }, group);
      el("text", { x: x0 - 8, y: y + 4, "text-anchor": "end" }, group).textContent = opts.format(value);
    }
    for (const [i, label] of xTicks(opts, Math.max(2, Math.floor(width / 84)))) {
      const text = el("text", { x: x0 + slot * (i + 0.5), y: y0 + height + 18, "text-anchor": "middle" }, group);
      text.textContent = label;
    }
  }

  // Several days: one label per day, at its first bucket. Otherwise evenly spaced times.
  function xTicks(opts, room) {
    const { buckets, bucketSeconds } = opts;
    const span = buckets.length * bucketSeconds;
    if (span >= 2 * 86400 && bucketSeconds < 86400) {
      const starts = buckets.map((b, i) => i).filter((i) => i > 0 && new Date(buckets[i] * 1000).getDate() !== new Date(buckets[i - 1] * 1000).getDate());
      const every = Math.max(1, Math.ceil(starts.length / room));
      return starts.filter((_, n) => n % every === 0).map((i) => [i, timeLabel(buckets[i], 86400, false)]);
    }
    const every = Math.max(1, Math.ceil(buckets.length / room));
    return buckets.map((b, i) => [i, timeLabel(b, bucketSeconds, false)]).filter(([i]) => i % every === 0);
  }

  function bars(svg, geometry, stacked, y) {
    const { x0, slot } = geometry;
    const barWidth = Math.max(1, Math.min(slot * 0.74, 28));
    for (const s of stacked) {
      s.top.forEach((top, i) => {
        const value = top - s.bottom[i];
        if (!(value > 0)) return;
        const x = x0 + slot * i + (slot - barWidth) / 2;
        el("rect", { class: "bar", x, y: y(top), width: barWidth, height: Math.max(0.5, y(s.bottom[i]) - y(top)), fill: s.color, "data-series": s.name }, svg);
      });
    }
  }

  function areas(svg, geometry, stacked, y) {
    const xAt = (i) => geometry.x0 + geometry.slot * (i + 0.5);
    for (const s of stacked) {
      const upper = s.top.map((v, i) => `${xAt(i)},${y(v)}`);
      const lower = s.bottom.map((v, i) => `${xAt(i)},${y(v)}`).reverse();
      el("path", { class: "area", d: `M${upper.join("L")}L${lower.join("L")}Z`, fill: s.color, "fill-opacity": 0.78, stroke: s.color, "stroke-width": 1, "data-series": s.name }, svg);
    }
  }

  // Runs of consecutive values: [[index, value], ...] between the gaps (null values).
  function runs(values) {
    const found = [[]];
    values.forEach((v, i) => {
      if (v != null) found[found.length - 1].push([i, v]);
      else if (found[found.length - 1].length) found.push([]);
    });
    return found.filter((run) => run.length);
  }

  // A run of two or more values is a line; a value alone (one bucket with data, or one between
  // gaps) is a dot, since a path of a single point draws nothing.
  function lines(svg, geometry, series, y) {
    const xAt = (i) => geometry.x0 + geometry.slot * (i + 0.5);
    for (const s of series) {
      const all = runs(s.values);
      const d = all
        .filter((run) => run.length > 1)
        .map((run) => `M${run.map(([i, v]) => `${xAt(i).toFixed(1)},${y(v).toFixed(1)}`).join("L")}`)
        .join("");
      if (d) el("path", { class: "line", d, fill: "none", stroke: s.color, "stroke-width": 2, "stroke-linejoin": "round", "stroke-linecap": "round", "data-series": s.name }, svg);
      for (const [[i, v]] of all.filter((run) => run.length === 1)) {
        el("circle", { class: "point", cx: xAt(i).toFixed(1), cy: y(v).toFixed(1), r: 3.5, fill: s.color, "data-series": s.name }, svg);
      }
    }
  }

  function hovers(svg, geometry, opts) {
    const tooltip = document.getElementById("tooltip");
    opts.buckets.forEach((bucket, i) => {
      const zone = el("rect", { class: "hover", x: geometry.x0 + geometry.slot * i, y: geometry.y0, width: geometry.slot, height: geometry.height }, svg);
      zone.addEventListener("mousemove", (event) => showTooltip(tooltip, event, bucket, i, opts));
      zone.addEventListener("mouseleave", () => { tooltip.hidden = true; });
    });
  }

  function showTooltip(tooltip, event, bucket, i, opts) {
    const rows = opts.series
      .filter((s) => s.values[i] != null)
      .map((s) => `<div class="row"><span><i style="background:${s.color}"></i>${escapeHtml(s.name)}</span><b>${opts.format(s.values[i])}</b></div>`);
    tooltip.innerHTML = `<div class="when">${timeLabel(bucket, opts.bucketSeconds, true)}</div>${rows.join("") || "no data"}`;
    tooltip.hidden = false;
    const left = Math.min(event.clientX + 14, window.innerWidth - tooltip.offsetWidth - 8);
    tooltip.style.left = `${left}px`;
    tooltip.style.top = `${event.clientY + 14}px`;
  }

  function escapeHtml(text) {
    return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  }

  // options: { id, label, kind: "bars" | "areas" | "lines", buckets, bucketSeconds, series: [{name, color, values}],
  //            format: (number) => string, height }
  function render(container, opts) {
    container.textContent = "";
    const width = Math.max(320, container.clientWidth || 640);
    const height = opts.height || 230;
    const svg = el("svg", { viewBox: `0 0 ${width} ${height}`, "data-chart": opts.id, role: "img", "aria-label": opts.label }, container);
    const plotWidth = width - MARGIN.left - MARGIN.right;
    const geometry = { x0: MARGIN.left, y0: MARGIN.top, width: plotWidth, height: height - MARGIN.top - MARGIN.bottom, slot: plotWidth / Math.max(1, opts.buckets.length) };
    const stacked = opts.kind === "lines" ? [] : stack(opts.series, opts.buckets.length);
    const scale = niceScale(opts.maxValue ?? highest(opts, stacked), 4);
    const y = (v) => geometry.y0 + geometry.height - (Math.min(v, scale.max) / scale.max) * geometry.height;
    axes(svg, geometry, opts, scale);
    if (opts.kind === "bars") bars(svg, geometry, stacked, y);
    else if (opts.kind === "areas") areas(svg, geometry, stacked, y);
    else lines(svg, geometry, opts.series, y);
    if (!highest(opts, stacked)) {
      el("text", { class: "empty", x: geometry.x0 + geometry.width / 2, y: geometry.y0 + geometry.height / 2, "text-anchor": "middle" }, svg).textContent = "No requests in this period";
    }
    hovers(svg, geometry, opts);
    return svg;
  }

  return { render, format, escapeHtml };
})();
