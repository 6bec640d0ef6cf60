(function () {
  var el = document.getElementById("chart-data");
  var canvas = document.getElementById("trend");
  if (!el || !canvas || !window.Chart) return;
  var data = JSON.parse(el.textContent);
  var datasets = [{ label: "Value (" + data.unit + ")", data: data.values, spanGaps: true, borderColor: "#1565c0", tension: 0.2 }];
  if (data.target !== null) {
    datasets.push({ label: "Target", data: data.labels.map(function () { return data.target; }), borderColor: "#c62828", borderDash: [6, 4], pointRadius: 0 });
  }
  new Chart(canvas, { type: "line", data: { labels: data.labels, datasets: datasets }, options: { animation: false, scales: { y: { beginAtZero: true } } } });
})();
