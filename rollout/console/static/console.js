// The console's glue: confirm actions, draw the charts with Chart.js from the figures the page
// carries in data-chart attributes, and redraw them when htmx swaps the live part in.
// No inline script anywhere (the Content-Security-Policy forbids it).
"use strict";

document.addEventListener("submit", (event) => {
  const form = event.target.closest("form[data-confirm]");
  if (form && !window.confirm(form.dataset.confirm)) {
    event.preventDefault();
  }
});

// The environment switcher switches as soon as an environment is picked (its button stays for
// keyboards and for browsers without script).
document.addEventListener("change", (event) => {
  const select = event.target.closest("select[data-autosubmit]");
  if (select) {
    select.form.requestSubmit();
  }
});

const pct = (value) => `${(value * 100).toFixed(1)}%`;
const COLORS = { fixed: "#4c78a8", valid: "#f58518", lift: "#222", tolerance: "#d62728" };

// Chart.js has no built-in reference line: this plugin draws the guardrail's tolerated harm
// (and zero) as vertical lines across the interval plot.
const referenceLines = {
  id: "referenceLines",
  afterDatasetsDraw(chart, _args, options) {
    const { ctx, chartArea, scales } = chart;
    for (const line of options.lines || []) {
      const x = scales.x.getPixelForValue(line.value);
      ctx.save();
      ctx.strokeStyle = line.color;
      ctx.setLineDash(line.dash || []);
      ctx.lineWidth = 2;
      ctx.beginPath();
      ctx.moveTo(x, chartArea.top);
      ctx.lineTo(x, chartArea.bottom);
      ctx.stroke();
      ctx.restore();
    }
  },
};

function intervalChart(canvas, spec) {
  const lines = [{ value: 0, color: "#888", dash: [4, 4] }];
  if (spec.tolerance !== null) lines.push({ value: spec.tolerance, color: COLORS.tolerance });
  const bars = (intervals) => intervals.map((ci) => (ci ? [ci[0], ci[1]] : null));
  const values = [spec.tolerance || 0, 0];
  for (const ci of [...spec.fixed, ...spec.always_valid]) if (ci) values.push(ci[0], ci[1]);
  const span = Math.max(...values.map(Math.abs), 0.01) * 1.15;
  return new Chart(canvas, {
    type: "bar",
    data: {
      labels: spec.labels,
      datasets: [
        { label: "fixed-horizon", data: bars(spec.fixed), backgroundColor: COLORS.fixed },
        { label: "always-valid", data: bars(spec.always_valid), backgroundColor: COLORS.valid },
      ],
    },
    options: {
      indexAxis: "y",
      animation: false,
      maintainAspectRatio: false,
      scales: { x: { min: -span, max: span, ticks: { callback: pct } } },
      plugins: {
        referenceLines: { lines },
        tooltip: { callbacks: { label: (c) => `${c.dataset.label}: ${pct(c.raw[0])} … ${pct(c.raw[1])}` } },
      },
    },
    plugins: [referenceLines],
  });
}

const clock = (seconds) => new Date(seconds * 1000).toISOString().slice(11, 19);

function timelineChart(canvas, spec) {
  const datasets = [];
  const palette = ["#4c78a8", "#54a24b", "#b279a2", "#9d755d"];
  spec.series.forEach((series, i) => {
    const color = palette[i % palette.length];
    const points = (field) => series.points.map((p) => ({ x: p.t, y: p[field] }));
    datasets.push(
      { label: `${series.variant} band low`, data: points("low"), borderWidth: 0, pointRadius: 0,
        fill: false },
      { label: `${series.variant} always-valid band`, data: points("high"), borderWidth: 0,
        pointRadius: 0, backgroundColor: `${color}33`, fill: "-1" },
      { label: `${series.variant} lift`, data: points("lift"), borderColor: color,
        backgroundColor: color, pointRadius: 3 },
    );
  });
  datasets.push({
    label: "decisions",
    type: "scatter",
    data: spec.decisions.map((d) => ({ x: d.t, y: 0, label: d.label })),
    pointStyle: "triangle",
    pointRadius: 7,
    backgroundColor: COLORS.tolerance,
  });
  return new Chart(canvas, {
    type: "line",
    data: { datasets },
    options: {
      animation: false,
      maintainAspectRatio: false,
      parsing: true,
      scales: {
        x: { type: "linear", ticks: { callback: clock } },
        y: { ticks: { callback: pct } },
      },
      plugins: {
        legend: { labels: { filter: (item) => !item.text.endsWith("band low") } },
        tooltip: {
          callbacks: {
            label: (c) => (c.raw.label ? c.raw.label : `${c.dataset.label}: ${pct(c.raw.y)}`),
          },
        },
      },
    },
  });
}

function drawCharts(root) {
  if (typeof Chart === "undefined") return;
  for (const canvas of root.querySelectorAll("canvas[data-chart]")) {
    const existing = Chart.getChart(canvas);
    if (existing) existing.destroy();
    const spec = JSON.parse(canvas.dataset.chart);
    if (canvas.classList.contains("interval-chart")) intervalChart(canvas, spec);
    else timelineChart(canvas, spec);
  }
}

window.addEventListener("DOMContentLoaded", () => drawCharts(document));
document.addEventListener("htmx:afterSettle", (event) => drawCharts(event.detail.elt));
