// A job page, live: its log follows over server-sent events (one stream per rank tab); state, progress and the
// failure reason update by polling; curves redraw while it runs. Nothing here needs a reload.
"use strict";
(function () {
  const job = document.getElementById("job");
  const id = job.dataset.job;
  const log = document.getElementById("log");
  const logStatus = document.getElementById("log-status");
  const autoscroll = document.getElementById("autoscroll");
  const MAX_SHOWN = 4 * 1024 * 1024; // characters of log kept in the pane
  let shown = 0;
  let stream = null;
  let terminal = job.dataset.terminal === "true";

  function follow(rank) {
    if (stream) stream.close();
    log.textContent = "";
    shown = 0;
    logStatus.textContent = "following…";
    stream = new EventSource(`/api/jobs/${encodeURIComponent(id)}/logs/${rank}`);
    stream.addEventListener("lines", (event) => {
      log.append(document.createTextNode(event.data + "\n"));
      shown += event.data.length + 1;
      // A days-long log would swamp the page: keep the newest few MB (`launcher logs` has the rest).
      while (shown > MAX_SHOWN && log.childNodes.length > 1) {
        shown -= log.firstChild.textContent.length;
        log.firstChild.remove();
      }
      if (autoscroll.checked) log.scrollTop = log.scrollHeight;
    });
    stream.addEventListener("end", () => {
      stream.close();
      logStatus.textContent = "end of log";
      log.dataset.ended = "true";
      poll();
    });
    stream.onerror = () => {
      if (stream.readyState === EventSource.CLOSED) logStatus.textContent = "log stream closed";
    };
  }
  for (const tab of document.querySelectorAll("#rank-tabs .tab")) {
    tab.addEventListener("click", () => {
      document.querySelectorAll("#rank-tabs .tab").forEach((t) => t.classList.toggle("active", t === tab));
      follow(tab.dataset.rank);
    });
  }

  async function poll() {
    let data;
    try {
      const response = await fetch(`/api/jobs/${encodeURIComponent(id)}`);
      if (!response.ok) return;
      data = await response.json();
    } catch (error) {
      return;
    }
    const state = document.getElementById("state");
    state.textContent = data.state;
    state.className = `state state-${data.state.toLowerCase()}`;
    document.getElementById("exit").textContent = data.exit_code === null ? "" : `exit ${data.exit_code}`;
    document.getElementById("duration").textContent = data.duration;
    const p = data.progress;
    if (p) {
      const total = p.total_steps ? `/${p.total_steps}` : "";
      const eta = !data.terminal && p.eta_seconds != null ? ` · ETA ${Math.round(p.eta_seconds)}s` : "";
      const box = document.getElementById("progress");
      box.replaceChildren();
      const bar = document.createElement("progress");
      if (p.total_steps) {
        bar.max = p.total_steps;
        bar.value = p.step;
      }
      const text = document.createElement("span");
      text.className = "progress-text";
      text.textContent = `${p.step}${total}${eta}`;
      const wrap = document.createElement("div");
      wrap.className = "progress";
      wrap.append(bar, text);
      box.append(wrap);
    }
    if (data.failure) {
      document.getElementById("failure").hidden = false;
      document.getElementById("failure-reason").textContent = data.failure.reason;
      document.getElementById("failure-lines").textContent = data.failure.last_lines.join("\n");
    }
    document.getElementById("stop-form").hidden = data.terminal;
    document.getElementById("restart-form").hidden = !data.terminal;
    job.dataset.terminal = String(data.terminal);
    if (data.terminal && !terminal) {
      terminal = true;
      curves();
    }
  }

  async function curves() {
    const box = document.getElementById("curves");
    try {
      const response = await fetch(`/api/jobs/${encodeURIComponent(id)}/curves`);
      if (!response.ok) return;
      const data = await response.json();
      if (!data.series.length) return;
      drawCharts(box, groupBy(data.series, (s) => s.source));
    } catch (error) {
      /* keep the last drawing */
    }
  }

  document.getElementById("stop-form").addEventListener("submit", () => {
    document.getElementById("stop").disabled = true;
    document.getElementById("stop").textContent = "Stopping…";
  });

  follow(0);
  curves();
  setInterval(() => {
    if (!terminal && !document.hidden) poll();
  }, 2000);
  setInterval(() => {
    if (!terminal && !document.hidden) curves();
  }, 5000);
})();
