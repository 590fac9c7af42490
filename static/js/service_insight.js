// Draws the service insight chart (requests by category and month) from the figures
// the page prints in the table under it.
(function () {
  "use strict";
  var canvas = document.getElementById("trend-chart");
  if (!canvas) {
    return;
  }
  var data = JSON.parse(document.getElementById("trend-data").textContent);
  var colours = ["#0d6efd", "#fd7e14", "#198754", "#6f42c1", "#dc3545", "#0dcaf0", "#ffc107", "#20c997", "#6c757d"];

  // Each month's total above its stack (the table under the chart has every figure).
  var totals = {
    id: "stackTotals",
    afterDatasetsDraw: function (chart) {
      var ctx = chart.ctx;
      var last = chart.data.datasets.length - 1;
      ctx.save();
      ctx.font = "12px system-ui, sans-serif";
      ctx.fillStyle = "#212529";
      ctx.textAlign = "center";
      ctx.textBaseline = "bottom";
      chart.data.labels.forEach(function (label, j) {
        var sum = 0;
        var top = null;
        chart.data.datasets.forEach(function (dataset, i) {
          var meta = chart.getDatasetMeta(i);
          if (meta.hidden) {
            return;
          }
          sum += dataset.data[j] || 0;
          var bar = meta.data[j];
          if (bar && (top === null || bar.y < top.y)) {
            top = bar;
          }
        });
        if (sum && top) {
          ctx.fillText(String(sum), top.x, top.y - 2);
        }
      });
      ctx.restore();
    }
  };

  new Chart(canvas, {
    type: "bar",
    data: {
      labels: data.labels,
      datasets: data.datasets.map(function (dataset, i) {
        return { label: dataset.label, data: dataset.data, backgroundColor: colours[i % colours.length] };
      })
    },
    plugins: [totals],
    options: {
      animation: false,
      maintainAspectRatio: false,
      // Room above the tallest stack for its total.
      layout: { padding: { top: 18 } },
      scales: {
        x: { stacked: true, ticks: { autoSkip: true, maxRotation: 0 } },
        y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } }
      },
      plugins: { legend: { position: "bottom", labels: { boxWidth: 12, font: { size: 11 } } } }
    }
  });
})();
