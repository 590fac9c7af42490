// Draws the charts of the sales win/loss and time-in-stage pages from the figures the
// page already prints in its tables (templates/sales/insight_*.html).
(function () {
  "use strict";
  var source = document.getElementById("chart-data");
  if (!source || typeof Chart === "undefined") return;
  var data = JSON.parse(source.textContent);

  // Each bar carries its number, beside it (never inside, where a short bar clips it).
  var valueLabels = {
    id: "valueLabels",
    afterDatasetsDraw: function (chart) {
      var ctx = chart.ctx;
      var horizontal = chart.options.indexAxis === "y";
      ctx.save();
      ctx.font = "12px system-ui, sans-serif";
      ctx.fillStyle = "#212529";
      chart.data.datasets.forEach(function (dataset, i) {
        if (!chart.isDatasetVisible(i)) return;
        chart.getDatasetMeta(i).data.forEach(function (bar, j) {
          var value = dataset.data[j];
          if (value === null || value === undefined) return;
          var text = value.toLocaleString();
          if (horizontal) {
            ctx.textAlign = "left";
            ctx.textBaseline = "middle";
            ctx.fillText(text, bar.x + 4, bar.y);
          } else {
            ctx.textAlign = "center";
            ctx.textBaseline = "bottom";
            ctx.fillText(text, bar.x, bar.y - 2);
          }
        });
      });
      ctx.restore();
    }
  };
  var base = { animation: false, maintainAspectRatio: false };

  var outcomes = document.getElementById("outcomes-chart");
  if (outcomes && data.outcomes) {
    new Chart(outcomes, {
      type: "bar",
      data: {
        labels: data.outcomes.labels,
        datasets: [
          { label: outcomes.dataset.won, data: data.outcomes.won, backgroundColor: "#198754" },
          { label: outcomes.dataset.lost, data: data.outcomes.lost, backgroundColor: "#dc3545" }
        ]
      },
      plugins: [valueLabels],
      options: Object.assign({}, base, {
        // Headroom above the tallest bar for its number.
        scales: { y: { beginAtZero: true, grace: "15%", ticks: { precision: 0 } } }
      })
    });
  }

  var stages = document.getElementById("stages-chart");
  if (stages && data.stages) {
    new Chart(stages, {
      type: "bar",
      data: {
        labels: data.stages.labels,
        datasets: [
          { label: stages.dataset.median, data: data.stages.median, backgroundColor: "#0d6efd" },
          { label: stages.dataset.p90, data: data.stages.p90, backgroundColor: "#adb5bd" }
        ]
      },
      plugins: [valueLabels],
      options: Object.assign({}, base, {
        indexAxis: "y",
        // Room on the right for the number at the end of the longest bar.
        layout: { padding: { right: 40 } },
        scales: { x: { beginAtZero: true } }
      })
    });
  }

  var trend = document.getElementById("trend-chart");
  if (trend && data.trend) {
    var colours = ["#0dcaf0", "#6c757d", "#fd7e14", "#ffc107", "#6f42c1", "#198754"];
    new Chart(trend, {
      type: "line",
      data: {
        labels: data.trend.labels,
        datasets: data.trend.series.map(function (s, i) {
          return { label: s.label, data: s.data, borderColor: colours[i % colours.length], backgroundColor: colours[i % colours.length], spanGaps: true, tension: 0.2 };
        })
      },
      // The exact figures are in the table under the chart; the tooltip says them too.
      options: Object.assign({}, base, {
        scales: { y: { beginAtZero: true } },
        plugins: { legend: { labels: { boxWidth: 12 } } }
      })
    });
  }
})();
