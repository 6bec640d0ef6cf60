// Integration health page: uptime and latency charts from the rollups, per window.
(function () {
  const dataNode = document.getElementById("health-charts");
  if (!dataNode || typeof Chart === "undefined") return;
  const series = JSON.parse(dataNode.textContent);
  const uptimeNode = document.getElementById("uptime-chart");
  let uptimeChart, latencyChart;
  function label(t, win) {
    const d = new Date(t);
    return win === "30d" ? d.toISOString().slice(5, 10) : d.toISOString().slice(5, 16).replace("T", " ");
  }
  function draw(win) {
    const points = series[win] || [];
    const labels = points.map((p) => label(p.t, win));
    if (uptimeChart) uptimeChart.destroy();
    if (latencyChart) latencyChart.destroy();
    uptimeChart = new Chart(uptimeNode, {
      type: "bar",
      // A 0 % hour is a red sliver (minBarLength), not an empty slot like an hour without data.
      data: { labels, datasets: [{ label: uptimeNode.dataset.label || "Uptime %", data: points.map((p) => p.uptime), minBarLength: 3,
        backgroundColor: points.map((p) => (p.uptime === null || p.uptime >= 99 ? "#66bb6a" : p.uptime >= 90 ? "#ffb300" : "#e53935")) }] },
      options: { animation: false, scales: { y: { min: 0, max: 100 } } },
    });
    const latencyNode = document.getElementById("latency-chart");  // absent without probes
    if (!latencyNode) { markPressed(win); return; }
    latencyChart = new Chart(latencyNode, {
      type: "line",
      data: { labels, datasets: [
        { label: "p95 ms", data: points.map((p) => p.p95), borderColor: "#ef6c00", spanGaps: true },
        { label: "avg ms", data: points.map((p) => p.avg), borderColor: "#1e88e5", spanGaps: true },
      ] },
      options: { animation: false, scales: { y: { beginAtZero: true } } },
    });
    markPressed(win);
  }
  function markPressed(win) {
    document.querySelectorAll(".window-switch button").forEach((b) => b.setAttribute("aria-pressed", String(b.dataset.window === win)));
  }
  document.querySelectorAll(".window-switch button").forEach((b) => b.addEventListener("click", () => draw(b.dataset.window)));
  draw("24h");
})();
