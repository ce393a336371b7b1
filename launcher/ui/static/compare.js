// Compare: each metric's curve from every chosen job on one chart (one source per job: progress first).
"use strict";
(async function () {
  const box = document.getElementById("curves");
  if (!box) return;
  const ids = box.dataset.jobs.split(",").filter(Boolean);
  const url = new URL("/api/compare", location.href);
  ids.forEach((id) => url.searchParams.append("job", id));
  const response = await fetch(url);
  if (!response.ok) return;
  const data = await response.json();
  const rank = (source) => (source === "progress" ? 0 : source === "history" ? 1 : 2);
  const series = [];
  for (const job of data.jobs) {
    const best = new Map();
    for (const s of job.series) {
      const kept = best.get(s.name);
      if (!kept || rank(s.source) < rank(kept.source)) best.set(s.name, s);
    }
    for (const s of best.values()) series.push({ ...s, job: job.id });
  }
  if (series.length) drawCharts(box, groupBy(series, (s) => s.job));
})();
