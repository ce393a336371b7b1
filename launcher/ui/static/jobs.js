// The jobs table stays live: every 2 s it fetches the same page as `?fragment=rows` and swaps the rows in,
// keeping the boxes ticked for Compare. Filters apply at once.
"use strict";
(function () {
  const body = () => document.getElementById("jobs-body");
  if (!body()) return;
  const ticked = new Set();
  let lastRows = null;
  document.addEventListener("change", (event) => {
    const box = event.target;
    if (box.name === "job") box.checked ? ticked.add(box.value) : ticked.delete(box.value);
    if (box.form && box.form.id === "filters") box.form.submit();
  });
  async function refresh() {
    if (document.hidden) return; // a background tab costs the server nothing
    const url = new URL(location.href);
    url.searchParams.set("fragment", "rows");
    try {
      const response = await fetch(url, { headers: { accept: "text/html" } });
      if (!response.ok) return;
      const doc = new DOMParser().parseFromString(await response.text(), "text/html");
      const rows = doc.getElementById("jobs-body");
      const pager = doc.getElementById("pager");
      const pagerNow = document.getElementById("pager");
      if (pager.outerHTML !== pagerNow.outerHTML) pagerNow.replaceWith(pager);
      if (rows.outerHTML === lastRows) return; // nothing changed: leave the table (and what is ticked) alone
      lastRows = rows.outerHTML;
      for (const box of rows.querySelectorAll("input[name=job]")) box.checked = ticked.has(box.value);
      body().replaceWith(rows);
    } catch (error) {
      /* the server restarting: try again on the next tick */
    }
  }
  setInterval(refresh, 2000);
})();
