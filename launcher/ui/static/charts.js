// Curves with the vendored uPlot: one chart per metric, one line per source (a job page) or per job (compare).
"use strict";
const PALETTE = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#ca8a04", "#db2777"];

// lines: [{label, points: [[step, value], ...]}] -> uPlot's aligned columns (null where a line has no point).
function aligned(lines) {
  const steps = [...new Set(lines.flatMap((l) => l.points.map((p) => p[0])))].sort((a, b) => a - b);
  const index = new Map(steps.map((s, i) => [s, i]));
  const columns = lines.map((l) => {
    const column = new Array(steps.length).fill(null);
    for (const [s, v] of l.points) column[index.get(s)] = v;
    return column;
  });
  return [steps, ...columns];
}

// groups: Map(metric name -> lines). Draws into `box`, replacing what was there.
function drawCharts(box, groups) {
  box.replaceChildren();
  const width = Math.max(320, Math.min(box.clientWidth || 560, 560));
  for (const [name, lines] of [...groups.entries()].sort()) {
    const card = document.createElement("div");
    card.className = "chart";
    card.dataset.metric = name;
    const title = document.createElement("h3");
    title.textContent = name;
    card.append(title);
    box.append(card);
    new uPlot(
      {
        width: width,
        height: 220,
        scales: { x: { time: false } },
        axes: [{ label: "step" }, {}],
        series: [
          { label: "step" },
          ...lines.map((l, i) => ({ label: l.label, stroke: PALETTE[i % PALETTE.length], width: 2, spanGaps: true })),
        ],
      },
      aligned(lines),
      card,
    );
  }
  return groups.size;
}

function groupBy(series, labelOf) {
  const groups = new Map();
  for (const s of series) {
    if (!groups.has(s.name)) groups.set(s.name, []);
    groups.get(s.name).push({ label: labelOf(s), points: s.points });
  }
  return groups;
}
