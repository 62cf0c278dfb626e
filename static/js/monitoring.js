// The monitoring page's charts: one line chart per statistic, a series per domain and adapter version, and the
// threshold as a dashed line. Data from the json_script block "monitoring-charts" (no inline script: CSP).
(function () {
  "use strict";
  var data = document.getElementById("monitoring-charts");
  if (!data || typeof Chart === "undefined") { return; }
  var charts = JSON.parse(data.textContent);
  var palette = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2"];
  charts.forEach(function (chart) {
    var canvas = document.getElementById("chart-" + chart.id);
    if (!canvas) { return; }
    var datasets = chart.series.map(function (series, i) {
      return {label: series.label, data: series.points, borderColor: palette[i % palette.length],
              backgroundColor: palette[i % palette.length], tension: 0, pointRadius: 2};
    });
    if (chart.threshold !== null) {
      var xs = [];
      chart.series.forEach(function (s) { s.points.forEach(function (p) { xs.push(p.x); }); });
      var lo = Math.min.apply(null, xs), hi = Math.max.apply(null, xs);
      datasets.push({label: "threshold", data: [{x: lo, y: chart.threshold}, {x: hi, y: chart.threshold}],
                     borderColor: "#555", borderDash: [6, 4], pointRadius: 0, fill: false});
    }
    new Chart(canvas, {
      type: "line",
      data: {datasets: datasets},
      options: {
        animation: false, parsing: true, responsive: true, maintainAspectRatio: false,
        scales: {x: {type: "linear", title: {display: true, text: "window"}, ticks: {precision: 0}},
                 y: {title: {display: true, text: chart.statistic}}},
        plugins: {legend: {position: "bottom"}}
      }
    });
    canvas.dataset.rendered = "1";
  });
})();
